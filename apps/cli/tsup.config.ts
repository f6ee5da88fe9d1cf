import { defineConfig } from 'tsup';

export default defineConfig([
  {
    // index.ts is the vdesk binary, lib.ts what import('@virtio-desktop/cli') gets.
    entry: ['src/index.ts', 'src/lib.ts'],
    format: ['esm'],
    // Only the library has types: the binary exports nothing.
    dts: { entry: 'src/lib.ts' },
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
