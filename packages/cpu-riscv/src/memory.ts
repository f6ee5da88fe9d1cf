/**
 * Guest RAM the JIT can compile against: one WebAssembly.Memory holding the guest's RAM at offset 0,
 * then the decoded-instruction cache's page tables (shared by the harts), then one state area per hart
 * (its registers, the TLB, and the cells compiled code hands results back in). Compiled code reaches
 * all of it with plain loads and stores; the hart, the interpreter and the devices see the same bytes
 * through typed arrays on the memory's buffer, so nothing is copied between them.
 *
 * A machine that wants the JIT allocates its RAM with {@link allocateRam}; harts on any other buffer run
 * the interpreter (the JIT needs the memory object, which a plain ArrayBuffer does not lead back to).
 * With `shared: true` the memory is a shared one (threads, see src/threads/): each hart's worker adopts
 * it ({@link adoptSharedRam}) and gets its own decode-cache and code-cache tables in it.
 */
import { TLB_SIZE } from './constants.js';

/** Bytes per hart state area. */
export const HART_AREA = 256 * 1024;
/** Offsets in a hart's area: x0..x31 as (lo, hi) int32 pairs = little-endian int64. */
export const HS_X = 0;
/** Cells compiled code writes: int32 instruction count, then (8-aligned) the int64 pc when it leaves. */
export const HS_IO = 256;
export const HS_PC = HS_IO + 8;
/**
 * The LR reservation: the int32 RAM offset of the reserved address (-1: none), then (8-aligned) the int64
 * value LR loaded (sign-extended for LR.W), which SC compares on shared RAM.
 */
export const HS_RESV = HS_IO + 16;
export const HS_RESV_VAL = HS_IO + 24;
/** int32: calls of the dispatcher from the interpreter in wasm (jit-interp.ts), for tests and profiles. */
export const HS_INTERP_ENTRIES = HS_IO + 32;
/**
 * int32: the kick. Another thread sets it (threads/control.ts ring) when it needs this hart to look at
 * its control block — an interrupt line, an IPI, a remote fence, a command — and the hart ends its
 * slice soon after: compiled code at its next straight run (at most 64 instructions), the interpreter
 * in wasm at its next jump or page change, the run loop when wasm returns or the page changes. A busy
 * hart then answers in microseconds instead of at the end of its slice. Checked only on shared RAM.
 */
export const HS_KICK = HS_IO + 40;
/** f0..f31 as raw 64-bit patterns (singles NaN-boxed). */
export const HS_F = 512;
/** The TLB's tags and physical pages (Float64Array each, 9 sets of TLB_SIZE). */
export const HS_TLB_TAG = 1024;
export const HS_TLB_PA = HS_TLB_TAG + 9 * TLB_SIZE * 8;
/**
 * The same entries as compiled code reads them: the virtual page address as an int64 (lo, hi int32
 * pairs; low 12 bits all set when empty or not RAM, so no address matches), then the int32 RAM offset
 * of the page. One i64 compare of (address & (~4095 | size - 1)) finds a RAM page and checks the
 * alignment at once, where the doubles took conversions and a bounds check.
 */
export const HS_TLB_W64 = HS_TLB_PA + 9 * TLB_SIZE * 8;
export const HS_TLB_RAM = HS_TLB_W64 + 9 * TLB_SIZE * 8;
// The layout must fit the area (a larger TLB_SIZE needs a larger HART_AREA).
if (HS_TLB_RAM + 9 * TLB_SIZE * 4 > HART_AREA)
  throw new Error('cpu-riscv: the hart area is too small for the TLB');
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
   * and of the JIT's regionIdx (Int32Array, one per decode index). In a shared memory (threads) each
   * hart has its own three tables: every worker keeps its own decoded-instruction and code caches.
   */
  readonly pageSlot: number;
  readonly codeMask: number;
  readonly regionIdx: number;
  /**
   * Byte offsets of the decode cache's entry words (meta and imm, Int32Array, one per decode index) and
   * of the JIT's arrival counts (heat, Uint16Array), so that the interpreter in wasm (jit-interp.ts) runs
   * from the same entries as the run loop.
   */
  readonly meta: number;
  readonly imm: number;
  readonly heat: number;
  /** 64 KiB pages of the whole memory (its initial and maximum size: it never grows). */
  readonly pages: number;
  /**
   * Whether the memory is shared (a SharedArrayBuffer behind it, for harts on worker threads). A wasm
   * module importing a shared memory must declare it shared with a maximum: limits flag 0x03, then
   * `pages` as both minimum and maximum (the unshared import is flag 0x00 and the minimum alone).
   */
  readonly shared: boolean;
  /** Byte offset of hart h's state area. */
  hartArea(h: number): number;
}

/**
 * Where everything lies in a memory made by {@link allocateRam}: enough for another thread to rebuild
 * its {@link JitMemory} over the same memory ({@link adoptSharedRam}). Plain numbers, so it can be posted.
 */
export interface RamLayout {
  readonly ramSize: number;
  readonly harts: number;
  readonly pages: number;
  readonly shared: boolean;
  /** Offset of the first table set (pageSlot, codeMask, regionIdx) and the bytes of one set. */
  readonly tables: number;
  readonly tableStride: number;
  /** Offset of hart 0's state area. */
  readonly firstArea: number;
}

const memories = new WeakMap<ArrayBufferLike, JitMemory>();
const layouts = new WeakMap<ArrayBufferLike, { memory: WebAssembly.Memory; layout: RamLayout }>();

export interface AllocateRamOptions {
  /**
   * A shared memory (SharedArrayBuffer) that harts on other threads can run on, with one set of cache
   * tables per hart; a plain SharedArrayBuffer when WebAssembly is missing or the RAM is too large.
   */
  shared?: boolean;
}

function tableSetBytes(ramSize: number): number {
  const pages = Math.ceil(ramSize / 4096);
  // pageSlot, codeMask, then per decode index: regionIdx, meta, imm (4 bytes each) and heat (2).
  return Math.ceil((pages * 4 + MAX_SLOTS * 4 + MAX_SLOTS * SLOT_ENTRIES * 14) / 4096) * 4096;
}

function viewOf(memory: WebAssembly.Memory, l: RamLayout, tableSet: number): JitMemory {
  const pageSlot = l.tables + tableSet * l.tableStride;
  const codeMask = pageSlot + Math.ceil(l.ramSize / 4096) * 4;
  const regionIdx = codeMask + MAX_SLOTS * 4;
  const meta = regionIdx + MAX_SLOTS * SLOT_ENTRIES * 4;
  const imm = meta + MAX_SLOTS * SLOT_ENTRIES * 4;
  return {
    memory,
    ramSize: l.ramSize,
    harts: l.harts,
    pageSlot,
    codeMask,
    regionIdx,
    meta,
    imm,
    heat: imm + MAX_SLOTS * SLOT_ENTRIES * 4,
    pages: l.pages,
    shared: l.shared,
    hartArea: (h) => l.firstArea + h * HART_AREA,
  };
}

/**
 * An ArrayBuffer for `ramSize` bytes of guest RAM (at offset 0) that `harts` harts can compile code
 * against; a plain ArrayBuffer (interpreter only) when WebAssembly is missing or the RAM is too large
 * for a wasm32 memory. With `shared`, a SharedArrayBuffer (see {@link AllocateRamOptions}).
 */
export function allocateRam(ramSize: number, harts: number, opts: AllocateRamOptions = {}): ArrayBuffer {
  const shared = opts.shared === true;
  const stride = tableSetBytes(ramSize);
  const tables = Math.ceil(ramSize / 4096) * 4096;
  const firstArea = tables + stride * (shared ? harts : 1);
  const total = Math.ceil((firstArea + harts * HART_AREA) / PAGE) * PAGE;
  if (typeof WebAssembly === 'undefined' || total > MAX_BYTES)
    return (shared ? new SharedArrayBuffer(ramSize) : new ArrayBuffer(ramSize)) as ArrayBuffer;
  const pages = total / PAGE;
  const memory = new WebAssembly.Memory({ initial: pages, maximum: pages, shared });
  const layout: RamLayout = { ramSize, harts, pages, shared, tables, tableStride: stride, firstArea };
  const buffer = memory.buffer;
  // A shared memory's own thread runs no hart (threads run them), so it gets no JIT view: the decoded
  // caches are per worker. The unshared memory has one table set, shared by the harts of this thread.
  if (!shared) memories.set(buffer, viewOf(memory, layout, 0));
  layouts.set(buffer, { memory, layout });
  // The typed result stays ArrayBuffer for callers that predate shared RAM; a SharedArrayBuffer has the
  // same shape for every use they make of it (typed arrays and DataViews over it).
  return buffer as ArrayBuffer;
}

/** The memory object and layout behind `buffer`, if {@link allocateRam} made it (to post to a worker). */
export function ramLayoutOf(
  buffer: ArrayBufferLike,
): { memory: WebAssembly.Memory; layout: RamLayout } | undefined {
  return layouts.get(buffer);
}

/**
 * On a hart's own thread: the buffer of a shared memory made elsewhere by {@link allocateRam}, with hart
 * `hartId`'s cache tables registered as this thread's JIT view of it, so `new Hart` over the returned
 * buffer compiles (and decodes) into its own tables.
 */
export function adoptSharedRam(memory: WebAssembly.Memory, layout: RamLayout, hartId: number): ArrayBuffer {
  const buffer = memory.buffer;
  memories.set(buffer, viewOf(memory, layout, layout.shared ? hartId : 0));
  layouts.set(buffer, { memory, layout });
  return buffer as ArrayBuffer;
}

/**
 * Hart h's kick cell ({@link HS_KICK}) in a shared memory made by {@link allocateRam}, for any thread;
 * null for other buffers (harts on one thread need no kick).
 */
export function kickCell(buffer: ArrayBufferLike, h: number): Int32Array | null {
  const r = layouts.get(buffer);
  if (!r || !r.layout.shared || h < 0 || h >= r.layout.harts) return null;
  return new Int32Array(r.memory.buffer, r.layout.firstArea + h * HART_AREA + HS_KICK, 1);
}

/** The JIT memory `buffer` belongs to, if it came from {@link allocateRam}. */
export function jitMemoryOf(buffer: ArrayBufferLike): JitMemory | undefined {
  return memories.get(buffer);
}
