// Vite needs nothing special for @lockstep/db in a build: its wasm and its
// leader worker are found with `new URL('…', import.meta.url)`. The dev
// server pre-bundles dependencies, which breaks those URLs, hence `exclude`.
import { defineConfig } from 'vite';

export default defineConfig({
  optimizeDeps: { exclude: ['@lockstep/db'] },
  build: { target: 'es2022' },
  worker: { format: 'es' },
});
