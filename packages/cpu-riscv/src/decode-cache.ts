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
import { JitCache, JIT_ENTRY } from './jit-cache.js';
import { jitMemoryOf, MAX_SLOTS, SLOT_ENTRIES, type JitMemory } from './memory.js';

export { JIT_ENTRY };

export { SLOT_ENTRIES };
/** The handler index of the sentinel past the last position (interp.ts's Op.NextPage). */
export const OP_NEXT_PAGE = 1;

const caches = new WeakMap<ArrayBufferLike, DecodeCache>();

export class DecodeCache {
  /** Slot of each RAM page, or -1 when the page holds no decoded instructions. */
  readonly pageSlot: Int32Array;
  /** Per slot: which 128-byte chunks of the page hold decoded instructions (bit i: bytes 128i..). */
  readonly codeMask: Int32Array;
  /** Allocated by {@link prepare} (33 MB at most): harts on the reference loop never pay for them. */
  meta: Int32Array = new Int32Array(0);
  imm: Int32Array = new Int32Array(0);
  /** Bumped whenever slots are unmapped, so a running loop knows its page may be gone. */
  gen = 0;
  /**
   * FENCE must order this host's memory accesses (harts on other threads share the RAM): it is then
   * decoded for execute.ts, which issues a full barrier, instead of as a no-op.
   */
  ordered = false;
  /** The JIT's code cache, made by {@link prepareJit} when the RAM is a JIT memory (memory.ts). */
  jit: JitCache | null = null;
  private jm: JitMemory | undefined;
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
    const pages = Math.ceil(ramSize / 4096);
    this.slots = Math.max(1, Math.min(pages, MAX_SLOTS));
    // In a JIT memory, compiled stores check these two in place.
    const jm = jitMemoryOf(buffer);
    this.jm = jm;
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

  /** Make the JIT's code cache (after {@link prepare}); null when the RAM is not a JIT memory. */
  prepareJit(ramBase: number): JitCache | null {
    if (!this.jit && this.jm) {
      try {
        this.jit = new JitCache(this.jm, ramBase, () => this.meta, this.slots, SLOT_ENTRIES);
      } catch {
        // No WebAssembly compilation here (a Content-Security-Policy without 'wasm-unsafe-eval').
        this.jm = undefined;
      }
    }
    return this.jit;
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
      this.gen++;
    }
    this.slotPage[slot] = page;
    this.pageSlot[page] = slot;
    this.codeMask[slot] = 0;
    const b = slot * SLOT_ENTRIES;
    this.meta.fill(0, b, b + SLOT_ENTRIES - 1);
    this.meta[b + SLOT_ENTRIES - 1] = OP_NEXT_PAGE;
    this.jit?.reset(slot, SLOT_ENTRIES);
    return slot;
  }

  /**
   * Forget the decoded instructions of chunk `chunk` (bytes 128·chunk..) of `slot`, and the one that may
   * start two bytes before it and end inside it.
   */
  invalidateChunk(slot: number, chunk: number): void {
    // Compiled code covers the whole page: it goes with any of its chunks.
    this.jit?.drop(slot);
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
    this.jit?.dropAll();
    for (let s = 0; s < this.used; s++) {
      this.pageSlot[this.slotPage[s]] = -1;
      this.slotPage[s] = -1;
    }
    this.used = 0;
    this.hand = 0;
    this.gen++;
  }
}
