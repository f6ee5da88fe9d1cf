/**
 * Browser helpers of the machine package: the default parts with the harts' Web Worker entry, so a page
 * (served cross-origin isolated, for SharedArrayBuffer) can run each hart on its own worker. The entry is
 * the page's own module that hands its first message to cpu-riscv's `threads.runHartWorker`.
 */
import type { CpuEngine } from '@virtio-desktop/cpu-riscv';
import { createRiscvParts } from './riscv/default-parts.js';
import type { RiscvParts } from './riscv/parts.js';
import { riscvThreads } from './riscv/threads.js';

export interface BrowserPartsOptions {
  cpu?: CpuEngine;
  /** The module worker that runs one hart (its first message is the hart's init). */
  hartWorkerUrl: URL | string;
}

/** The default parts, whose harts (with `threads`) start as module Web Workers from `hartWorkerUrl`. */
export function browserParts(o: BrowserPartsOptions): RiscvParts {
  const engine = o.cpu ?? 'jit';
  return { ...createRiscvParts({ cpu: engine }), threads: riscvThreads(engine, o.hartWorkerUrl) };
}
