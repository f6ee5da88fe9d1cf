/**
 * Guest RAM the JIT can compile against: one WebAssembly.Memory holding the guest's RAM at offset 0,
 * then the decoded-instruction cache's page tables (shared by the harts), then one state area per hart
 * (its registers, the TLB, and the cells compiled code hands results back in). Compiled code reaches
 * all of it with plain loads and stores; the hart, the interpreter and the devices see the same bytes
 * through typed arrays on the memory's buffer, so nothing is copied between them.
 *
 * A machine that wants the JIT allocates its RAM with {@link allocateRam}; harts on any other buffer run
 * the interpreter (the JIT needs the memory object, which a plain ArrayBuffer does not lead back to).
 */
import { TLB_SIZE } from './constants.js';

/** Bytes per hart state area. */
export const HART_AREA = 256 * 1024;
/** Offsets in a hart's area: x0..x31 as (lo, hi) int32 pairs = little-endian int64. */
export const HS_X = 0;
/** Cells compiled code writes: int32 instruction count, then (8-aligned) the int64 pc when it leaves. */
export const HS_IO = 256;
export const HS_PC = HS_IO + 8;
/** The TLB's tags and physical pages (Float64Array each, 9 sets of TLB_SIZE). */
export const HS_TLB_TAG = 1024;
export const HS_TLB_PA = HS_TLB_TAG + 9 * TLB_SIZE * 8;
/** Slots of the decoded-instruction cache at most (one RAM page of code each). */
export const MAX_SLOTS = 2048;
/** Entries per slot: 2048 two-byte positions plus a sentinel that ends the page. */
export const SLOT_ENTRIES = 2049;

const PAGE = 65536;
/** wasm32 memories end below 4 GiB. */
const MAX_BYTES = 65536 * PAGE - PAGE;

export interface JitMemory {
  readonly memory: WebAssembly.Memory;
  readonly ramSize: number;
  /** Harts with a state area. */
  readonly harts: number;
  /**
   * Byte offsets of the decode cache's pageSlot (Int32Array, one per RAM page) and codeMask (MAX_SLOTS),
   * and of the JIT's regionIdx (Int32Array, one per decode index).
   */
  readonly pageSlot: number;
  readonly codeMask: number;
  readonly regionIdx: number;
  /** 64 KiB pages of the whole memory. */
  readonly pages: number;
  /** Byte offset of hart h's state area. */
  hartArea(h: number): number;
}

const memories = new WeakMap<ArrayBufferLike, JitMemory>();

/**
 * An ArrayBuffer for `ramSize` bytes of guest RAM (at offset 0) that `harts` harts can compile code
 * against; a plain ArrayBuffer (interpreter only) when WebAssembly is missing or the RAM is too large
 * for a wasm32 memory.
 */
export function allocateRam(ramSize: number, harts: number): ArrayBuffer {
  const pages = Math.ceil(ramSize / 4096);
  const pageSlot = ramSize;
  const codeMask = pageSlot + pages * 4;
  const regionIdx = codeMask + MAX_SLOTS * 4;
  const first = Math.ceil((regionIdx + MAX_SLOTS * SLOT_ENTRIES * 4) / 4096) * 4096;
  const total = Math.ceil((first + harts * HART_AREA) / PAGE) * PAGE;
  if (typeof WebAssembly === 'undefined' || total > MAX_BYTES) return new ArrayBuffer(ramSize);
  const memory = new WebAssembly.Memory({ initial: total / PAGE, maximum: total / PAGE });
  const jm: JitMemory = {
    memory,
    ramSize,
    harts,
    pageSlot,
    codeMask,
    regionIdx,
    pages: total / PAGE,
    hartArea: (h) => first + h * HART_AREA,
  };
  memories.set(memory.buffer, jm);
  return memory.buffer;
}

/** The JIT memory `buffer` belongs to, if it came from {@link allocateRam}. */
export function jitMemoryOf(buffer: ArrayBufferLike): JitMemory | undefined {
  return memories.get(buffer);
}
