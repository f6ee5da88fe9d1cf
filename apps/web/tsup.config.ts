import { defineConfig, type Options } from 'tsup';

type Plugin = NonNullable<Options['esbuildPlugins']>[number];

/**
 * Node built-ins that the packages reach only on Node (hart threads through worker_threads, image files,
 * snapshots on disk) become empty modules: the browser never takes those paths, and a bundle that
 * names them would not load at all.
 */
const nodeBuiltinsStub: Plugin = {
  name: 'node-builtins-stub',
  setup(b) {
    b.onResolve(
      {
        filter:
          /^(node:)?(fs|fs\/promises|worker_threads|path|url|module|os|crypto|zlib|util|dgram|dns|dns\/promises|net|timers\/promises)$/,
      },
      (a) => ({ path: a.path, namespace: 'node-stub' }),
    );
    b.onLoad({ filter: /.*/, namespace: 'node-stub' }, () => ({
      contents: 'module.exports = {};',
      loader: 'js',
    }));
  },
};

// Everything is bundled: the site is static files (index.html, app.js, embed.js, worker.js) that any web
// server can serve.
const common: Options = {
  format: ['esm'],
  platform: 'browser',
  target: 'es2022',
  sourcemap: true,
  splitting: false,
  minify: true,
  noExternal: [/.*/],
  esbuildPlugins: [nodeBuiltinsStub],
  // Diagnostics that read process.env or process.on must not stop a worker that has no process: a
  // module-scoped stand-in, so that globalThis.process (how the CPU package detects Node) stays undefined.
  banner: { js: 'const process = globalThis.process ?? { env: {}, on() {}, versions: {} };' },
};

export default defineConfig([
  { ...common, entry: { embed: 'src/embed.ts' }, dts: true, clean: true, publicDir: 'public' },
  {
    ...common,
    entry: { app: 'src/app.ts', worker: 'src/worker.ts', 'hart-worker': 'src/hart-worker.ts' },
    clean: false,
  },
]);
