/**
 * What compiled code calls out to JavaScript for instead of handing the instruction back to the run
 * loop: the CSR instructions. Linux executes them everywhere on hot paths — interrupts masked and
 * restored around every lock (`csrrc`/`csrs sstatus`), the trap entry and exit (sscratch, sepc, scause,
 * stval), `rdtime` — and each hand-back costs a return from the dispatcher, a run-loop step through the
 * reference executor and a new call into compiled code. A call from wasm to an imported function is a
 * fraction of that, and the region goes on after it.
 *
 * Exactness: the instruction runs through csr.ts's csrAccess, the same code the run loop would run, with
 * the pc and instret it would see. The region goes on only when nothing it was compiled or entered under
 * changed: no trap, no TLB flush (satp, MPRV, MXR, MPP), the same data-access mode (SUM, FS) and no
 * interrupt that could now be taken. Otherwise (RESTART) the code hands back with the count and the pc
 * (the next instruction, or the trap vector) in the hart's jitIo, and the run loop establishes everything
 * again from the hart, as it does after executing the instruction itself.
 */
import * as C from './constants.js';
import { StopReason } from './constants.js';
import { csrAccess } from './csr.js';
import type { Hart } from './hart.js';

/** A region's result (through the dispatcher) when a host call changed what it runs under. */
export const RESTART = -3;

/** Parameters of the host function: inst, the page's virtual address (lo, hi), the page offset, count. */
export const HOST_PARAMS = 5;

/** mstatus bits that the compiled code's arguments (mode, TLB sets) or the fetch translation depend on. */
const MODE_BITS = C.MSTATUS_FS | C.MSTATUS_SUM | C.MSTATUS_MXR | C.MSTATUS_MPRV | C.MSTATUS_MPP;

/** Host calls made on this thread, and how many of them handed back (for tests and profiles). */
export const hostStats = { calls: 0, restarts: 0 };

/** The hart whose run loop is running on this thread (interp.ts sets it before entering compiled code). */
let current: Hart | null = null;

export function setHostHart(h: Hart): void {
  current = h;
}

/** Whether instruction `inst` (an Op.Generic entry's encoding) is one compiled code calls out for. */
export function isHostCall(inst: number): boolean {
  const f3 = (inst >>> 12) & 7;
  return (inst & 0x7f) === 0x73 && f3 !== 0 && f3 !== 4;
}

/**
 * Whether `inst` is a FENCE (any of its forms, FENCE.TSO and PAUSE too: their fields are not looked at;
 * not FENCE.I): a Generic entry
 * only when the RAM is shared with harts on other threads (decode.ts), where compiled code and the
 * interpreter in wasm run it as wasm's atomic.fence — a full barrier of this host thread, what the run
 * loop's Hart.fence does, without handing back. Linux runs one in every smp_mb() and in most locks.
 */
export function isFence(inst: number): boolean {
  return (inst & 0x707f) === 0x0f;
}

/**
 * Execute the CSR instruction `inst` at virtual (pageLo + off, pcHi) as the `n`th instruction of the
 * run loop's current budget; 0 when compiled code goes on at the next instruction, else RESTART.
 */
export function hostCall(inst: number, pageLo: number, pcHi: number, off: number, n: number): number {
  const h = current!;
  hostStats.calls++;
  const before = h.mstatus;
  const irqBefore = h.irqCheck;
  h.pcLo = pageLo | off;
  h.pcHi = pcHi;
  h.ilen = 4;
  h.instretCount = h.jitIc0 + n;
  h.trapped = false;
  csrAccess(h, inst, (inst >>> 7) & 31, (inst >>> 15) & 31, (inst >>> 12) & 7);
  h.x[0] = 0;
  h.x[1] = 0;
  if (!h.trapped) {
    if (
      !h.fetchStale() &&
      h.stop === StopReason.Budget &&
      ((before ^ h.mstatus) & MODE_BITS) === 0 &&
      !irqBefore &&
      // A write that may have enabled an interrupt asks for a check: settle it here when none can be taken.
      (!h.irqCheck || h.readyInterrupts() === 0)
    ) {
      h.irqCheck = false;
      return 0;
    }
    const lo = (h.pcLo + 4) | 0;
    if (lo >>> 0 < h.pcLo >>> 0) h.pcHi = (h.pcHi + 1) | 0;
    h.pcLo = lo;
  }
  hostStats.restarts++;
  const io = h.jitIo;
  io[0] = n;
  io[2] = h.pcLo;
  io[3] = h.pcHi;
  return RESTART;
}
