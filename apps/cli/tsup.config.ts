import { defineConfig } from 'tsup';

export default defineConfig([
  {
    entry: ['src/index.ts'],
    format: ['esm'],
    dts: true,
    clean: true,
    sourcemap: true,
    target: 'es2022',
  },
  {
    // The viewer page's script: a self-contained browser bundle served by the viewer.
    entry: { 'viewer-client': 'src/viewer/client.ts' },
    format: ['iife'],
    platform: 'browser',
    target: 'es2022',
    minify: true,
    clean: false,
  },
]);
