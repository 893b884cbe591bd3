// Loads the wasm module once per JavaScript realm. The .wasm file ships in
// the package and is found with `new URL(…, import.meta.url)` inside the
// generated glue, which Vite and other bundlers follow without plugins.
import init, { type InitOutput } from '../wasm/lockstep.js';

let loading: Promise<InitOutput> | undefined;
let loaded: InitOutput | undefined;

/** Resolves once the wasm module is compiled and instantiated. */
export function loadWasm(): Promise<InitOutput> {
  loading ??= init().then((output) => (loaded = output));
  return loading;
}

/**
 * Bytes of wasm linear memory this page (or worker) holds for Lockstep: a
 * diagnostic for leaks and for the memory a collection costs. 0 before the
 * first `openDatabase`. Linear memory grows but never shrinks, so compare
 * readings: a steady value across open/close cycles means nothing leaks.
 */
export function wasmMemoryBytes(): number {
  return loaded?.memory.buffer.byteLength ?? 0;
}
