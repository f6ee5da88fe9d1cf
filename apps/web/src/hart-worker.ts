/**
 * One hart of a threaded machine, in its own module Web Worker: the machine's worker starts it and posts
 * the hart's init (shared RAM, control words) as the first message; the hart then runs until told to
 * exit, and never returns to this worker's event loop meanwhile.
 */
import { threads } from '@virtio-desktop/cpu-riscv';

onmessage = (e: MessageEvent<threads.HartWorkerInit>) => {
  onmessage = null;
  threads.runHartWorker(e.data, (m) => postMessage(m));
};
