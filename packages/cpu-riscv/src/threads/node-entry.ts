/** The Node glue of a hart worker (worker_threads): the init arrives as workerData. */
import { parentPort, workerData } from 'node:worker_threads';
import { runHartWorker, type HartWorkerInit } from './hart-worker.js';

runHartWorker(workerData as HartWorkerInit, (m) => parentPort?.postMessage(m));
