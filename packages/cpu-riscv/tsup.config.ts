import { defineConfig } from 'tsup';

export default defineConfig({
  // The hart worker's Node entry is its own file: worker_threads loads it by URL (src/threads/spawn.ts).
  entry: { index: 'src/index.ts', 'hart-worker.node': 'src/threads/node-entry.ts' },
  format: ['esm'],
  dts: { entry: { index: 'src/index.ts' } },
  clean: true,
  sourcemap: true,
  target: 'es2022',
});
