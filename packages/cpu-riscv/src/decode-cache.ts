/**
 * The decoded-instruction cache: for each physical RAM page that has been executed, one slot of decoded
 * instructions, one entry per 2-byte position (an RVC instruction may start at any of them). An entry is
 * two int32 words in flat typed arrays — `meta` (handler index, pre-extracted register numbers and the
 * instruction length, packed by interp.ts) and `imm` (the decoded immediate) — so decoding happens once
 * per instruction, not once per execution, and nothing is allocated.
 *
 * The cache is physically indexed, so address translation (satp, SFENCE.VMA) never invalidates it; it is
 * shared by every hart on the same RAM, so a store by any hart keeps it coherent. Stores check a per-slot
 * mask of 128-byte chunks that hold decoded instructions and drop just that chunk's entries (self-
 * modifying code then simply decodes again). Writes the harts do not see — device DMA, the host loading
 * an image — are covered by FENCE.I, which drops everything, as the architecture requires of software.
 */
import { jitMemoryOf, MAX_SLOTS } from './memory.js';

/** Entries per slot: 2048 two-byte positions plus a sentinel that ends the page. */
export const SLOT_ENTRIES = 2049;
/** The handler index of the sentinel past the last position (interp.ts's Op.NextPage). */
export const OP_NEXT_PAGE = 1;
/** Bit 8 of a meta word: the position is an entry of its page's compiled function (jit.ts). */
export const JIT_ENTRY = 0x100;

const caches = new WeakMap<ArrayBufferLike, DecodeCache>();

/**
 * A compiled region (jit.ts): runs from page offset `off` of the virtual page (pageLo, pcHi) on the hart
 * whose state area is at `hs`, with `n` of `budget` instructions done; leaves the count in the hart's
 * jitIo[0] and returns the page offset where the run loop continues (4096: the next page), or -1 with
 * the pc in jitIo[2], jitIo[3]. dBare is 1 when data addresses are physical, else dR/dW select the TLB
 * sets; resv is the RAM offset of the LR reservation (-1: none).
 */
export type PageFn = (
  hs: number,
  off: number,
  n: number,
  budget: number,
  pageLo: number,
  pcHi: number,
  dBare: number,
  dR: number,
  dW: number,
  resv: number,
) => number;

/** Bytes of compiled wasm kept at most before the whole code cache is dropped (QEMU's tb_flush policy). */
export const JIT_CODE_LIMIT = 64 * 1024 * 1024;

export class DecodeCache {
  /** Slot of each RAM page, or -1 when the page holds no decoded instructions. */
  readonly pageSlot: Int32Array;
  /** Per slot: which 128-byte chunks of the page hold decoded instructions (bit i: bytes 128i..). */
  readonly codeMask: Int32Array;
  /** Allocated by {@link prepare} (33 MB at most): harts on the reference loop never pay for them. */
  meta = new Int32Array(0);
  imm = new Int32Array(0);
  /** Bumped whenever slots are unmapped, so a running loop knows its page may be gone. */
  gen = 0;
  /**
   * The JIT's state (allocated by {@link prepareJit}): per slot the compiled regions by entry position
   * (page offset / 2) and the decode indexes of those entries (whose meta carries JIT_ENTRY); per decode
   * index a wrapping count of the times the run loop arrived there by a jump, from another page or
   * after an instruction it executed for compiled code.
   */
  fns: (PageFn[] | undefined)[] = [];
  entries: (number[] | undefined)[] = [];
  heat = new Uint16Array(0);
  /** Bytes of compiled wasm alive, compiles so far, the longest compile in ms. */
  jitSource = 0;
  jitCompiles = 0;
  /** Calls into compiled code so far (from the run loop; chained jumps inside a function not counted). */
  jitEntries = 0;
  jitLongestMs = 0;
  jitTotalMs = 0;
  /** Set when the host forbids generating code (eval blocked by a Content-Security-Policy). */
  jitDisabled = false;
  private readonly jitSize: number[] = [];
  private readonly slotPage: Int32Array;
  private readonly slots: number;
  /** Slots handed out so far (they are handed out in order), then the next one to reuse. */
  private used = 0;
  private hand = 0;

  /** The cache shared by every hart whose RAM is `buffer`. */
  static for(buffer: ArrayBufferLike, ramSize: number): DecodeCache {
    let c = caches.get(buffer);
    if (!c || c.pageSlot.length !== Math.ceil(ramSize / 4096)) {
      c = new DecodeCache(buffer, ramSize);
      caches.set(buffer, c);
    }
    return c;
  }

  private constructor(buffer: ArrayBufferLike, ramSize: number) {
    if (process.env.VDESK_JIT_STATS)
      process.on('exit', () =>
        console.error(
          `jit: ${this.jitCompiles} compiles, ${this.jitTotalMs.toFixed(0)} ms, longest ${this.jitLongestMs.toFixed(1)} ms, entries ${this.jitEntries}, source ${this.jitSource}`,
        ),
      );
    const pages = Math.ceil(ramSize / 4096);
    this.slots = Math.max(1, Math.min(pages, MAX_SLOTS));
    // In a JIT memory, compiled stores check these two in place.
    const jm = jitMemoryOf(buffer);
    this.pageSlot = (jm ? new Int32Array(buffer, jm.pageSlot, pages) : new Int32Array(pages)).fill(-1);
    this.slotPage = new Int32Array(this.slots).fill(-1);
    this.codeMask = jm ? new Int32Array(buffer, jm.codeMask, MAX_SLOTS) : new Int32Array(this.slots);
  }

  /** Allocate the entry arrays: before the first slotFor, and before a run loop captures them. */
  prepare(): void {
    if (this.meta.length) return;
    this.meta = new Int32Array(this.slots * SLOT_ENTRIES);
    this.imm = new Int32Array(this.slots * SLOT_ENTRIES);
  }

  /** Allocate the JIT's arrays (after {@link prepare}); harts on the other engines never pay for them. */
  prepareJit(): void {
    if (this.heat.length) return;
    this.heat = new Uint16Array(this.slots * SLOT_ENTRIES);
    this.fns = new Array<PageFn[] | undefined>(this.slots).fill(undefined);
    this.entries = new Array<number[] | undefined>(this.slots).fill(undefined);
  }

  /** Install `fn` as the compiled code entered at decode index `i` of `slot`. */
  setRegion(slot: number, i: number, fn: PageFn, sourceChars: number): void {
    if (this.jitSource + sourceChars > JIT_CODE_LIMIT) this.dropAllPageFns();
    let f = this.fns[slot];
    let e = this.entries[slot];
    if (f === undefined || e === undefined) {
      f = this.fns[slot] = new Array<PageFn>(SLOT_ENTRIES);
      e = this.entries[slot] = [];
    }
    f[i - slot * SLOT_ENTRIES] = fn;
    e.push(i);
    this.jitSize[slot] = (this.jitSize[slot] ?? 0) + sourceChars;
    this.jitSource += sourceChars;
    this.meta[i] |= JIT_ENTRY;
  }

  /** Forget slot's compiled code: its entries run on the interpreter until compiled again. */
  dropPageFn(slot: number): void {
    const e = this.entries[slot];
    if (e === undefined) return;
    for (let k = 0; k < e.length; k++) this.meta[e[k]] &= ~JIT_ENTRY;
    this.fns[slot] = undefined;
    this.entries[slot] = undefined;
    this.jitSource -= this.jitSize[slot];
    this.jitSize[slot] = 0;
  }

  private dropAllPageFns(): void {
    for (let s = 0; s < this.fns.length; s++) this.dropPageFn(s);
  }

  /** The slot for RAM page `page`, mapping a fresh one (reusing the oldest when full) if needed. */
  slotFor(page: number): number {
    const s = this.pageSlot[page];
    if (s >= 0) return s;
    let slot: number;
    if (this.used < this.slots) slot = this.used++;
    else {
      slot = this.hand;
      this.hand = (this.hand + 1) % this.slots;
      this.pageSlot[this.slotPage[slot]] = -1;
      this.dropPageFn(slot);
      this.gen++;
    }
    this.slotPage[slot] = page;
    this.pageSlot[page] = slot;
    this.codeMask[slot] = 0;
    const b = slot * SLOT_ENTRIES;
    this.meta.fill(0, b, b + SLOT_ENTRIES - 1);
    this.meta[b + SLOT_ENTRIES - 1] = OP_NEXT_PAGE;
    if (this.heat.length) this.heat.fill(0, b, b + SLOT_ENTRIES);
    return slot;
  }

  /**
   * Forget the decoded instructions of chunk `chunk` (bytes 128·chunk..) of `slot`, and the one that may
   * start two bytes before it and end inside it.
   */
  invalidateChunk(slot: number, chunk: number): void {
    // Compiled code covers the whole page: it goes with any of its chunks.
    if (this.entries.length && this.entries[slot] !== undefined) this.dropPageFn(slot);
    const b = slot * SLOT_ENTRIES + chunk * 64;
    this.meta.fill(0, chunk === 0 ? b : b - 1, b + 64);
    this.codeMask[slot] &= ~(1 << chunk);
  }

  /** A store of `size` bytes at RAM offset `off` (any alignment): drop what it overwrites. */
  written(off: number, size: number): void {
    const s = this.pageSlot[off >>> 12];
    if (s < 0) return;
    const first = (off >>> 7) & 31;
    const last = ((off + size - 1) >>> 7) & 31;
    if (this.codeMask[s] & (1 << first)) this.invalidateChunk(s, first);
    if (last !== first && (off + size - 1) >>> 12 === off >>> 12 && this.codeMask[s] & (1 << last))
      this.invalidateChunk(s, last);
    if ((off + size - 1) >>> 12 !== off >>> 12) this.written((off + size - 1) & ~0xfff, 1);
  }

  /** Drop everything (FENCE.I, reset, the host rewriting RAM). */
  flush(): void {
    if (this.fns.length) this.dropAllPageFns();
    for (let s = 0; s < this.used; s++) {
      this.pageSlot[this.slotPage[s]] = -1;
      this.slotPage[s] = -1;
    }
    this.used = 0;
    this.hand = 0;
    this.gen++;
  }
}
