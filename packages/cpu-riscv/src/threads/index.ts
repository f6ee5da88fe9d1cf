export * from './control.js';
export { runHartWorker, type HartWorkerInit, type HartWorkerMessage } from './hart-worker.js';
export { MailboxHost, type MailboxHandler } from './host.js';
export { spawnHartWorker, HART_WORKER_NODE_URL, type HartWorkerHandle, type SpawnOptions } from './spawn.js';
