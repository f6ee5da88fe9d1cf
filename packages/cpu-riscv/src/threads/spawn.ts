/**
 * Starting hart workers. The worker's code is `hart-worker.ts`; this finds an entry for the host: Node's
 * worker_threads (node-entry.ts, built as dist/hart-worker.node.js) or, where `Worker` is a global, a
 * module Web Worker that receives the init as its first message (the page supplies that entry's URL).
 */
import type { HartWorkerInit, HartWorkerMessage } from './hart-worker.js';

export interface HartWorkerHandle {
  /** Messages the worker posts; `error` also covers a worker that could not start or died. */
  onMessage(fn: (m: HartWorkerMessage) => void): void;
  /** End the thread now (after EXIT was asked, or when it does not answer). */
  terminate(): Promise<void>;
}

export interface SpawnOptions {
  /** The worker entry (default: dist/hart-worker.node.js beside this package's build). */
  url?: URL | string;
  /** Node only: arguments for the worker's Node (tests run the TypeScript entry with `--import tsx`). */
  execArgv?: string[];
}

/** The Node entry, beside the built index.js. */
export const HART_WORKER_NODE_URL = new URL('./hart-worker.node.js', import.meta.url);

interface WebWorkerLike {
  postMessage(m: unknown): void;
  terminate(): void;
  addEventListener(t: 'message' | 'error', fn: (e: { data?: unknown; message?: string }) => void): void;
}

/** Start a worker for one hart. */
export async function spawnHartWorker(
  init: HartWorkerInit,
  opts: SpawnOptions = {},
): Promise<HartWorkerHandle> {
  const g = globalThis as { Worker?: new (u: URL | string, o: object) => WebWorkerLike; process?: unknown };
  if (g.process === undefined && g.Worker) {
    if (!opts.url) throw new Error('spawnHartWorker: a browser needs the URL of its worker entry');
    const w = new g.Worker(opts.url, { type: 'module' });
    w.postMessage(init);
    return {
      onMessage(fn) {
        w.addEventListener('message', (e) => fn(e.data as HartWorkerMessage));
        w.addEventListener('error', (e) =>
          fn({ type: 'error', hartId: init.hartId, message: e.message ?? 'worker error' }),
        );
      },
      terminate: () => {
        w.terminate();
        return Promise.resolve();
      },
    };
  }
  const { Worker } = await import('node:worker_threads');
  const w = new Worker(opts.url ?? HART_WORKER_NODE_URL, {
    workerData: init,
    ...(opts.execArgv ? { execArgv: opts.execArgv } : {}),
  });
  // Left referenced: the waitAsync promises of the main thread's mailbox host keep no event loop alive,
  // so the workers are what keeps the process up while the harts run (the machine terminates them).
  let exited = false;
  const done = new Promise<void>((resolve) => w.once('exit', () => resolve()));
  return {
    onMessage(fn) {
      w.on('message', (m: HartWorkerMessage) => fn(m));
      w.on('error', (e: Error) =>
        fn({ type: 'error', hartId: init.hartId, message: `${e.name}: ${e.message}` }),
      );
      w.once('exit', (code) => {
        if (!exited && code !== 0)
          fn({ type: 'error', hartId: init.hartId, message: `worker exited with code ${code}` });
        exited = true;
      });
    },
    terminate: async () => {
      exited = true;
      await w.terminate();
      await done;
    },
  };
}
