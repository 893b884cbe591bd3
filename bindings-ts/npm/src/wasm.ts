// Loads the wasm module once per JavaScript realm. The .wasm file ships in
// the package and is found with `new URL(…, import.meta.url)` inside the
// generated glue, which Vite and other bundlers follow without plugins.
import init from '../wasm/lockstep.js';

let loading: Promise<unknown> | undefined;

/** Resolves once the wasm module is compiled and instantiated. */
export function loadWasm(): Promise<unknown> {
  loading ??= init();
  return loading;
}
