// Served at /bench/ of the one origin `cargo xtask bench --browser` serves.
import { defineConfig } from 'vite';

export default defineConfig({
  base: '/bench/',
  build: { target: 'es2022' },
  worker: { format: 'es' },
});
