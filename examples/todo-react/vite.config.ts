// Nothing special for @lockstep/db: its wasm and its leader worker are found
// with `new URL('…', import.meta.url)`, which Vite follows in the dev server
// and in builds. Top-level await (db.ts) needs an ES2022 target.
import { defineConfig } from 'vite';

export default defineConfig({
  build: { target: 'es2022' },
  worker: { format: 'es' },
});
