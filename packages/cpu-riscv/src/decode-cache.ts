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

/** Entries per slot: 2048 two-byte positions plus a sentinel that ends the page. */
export const SLOT_ENTRIES = 2049;
/** The handler index of the sentinel past the last position (interp.ts's Op.NextPage). */
export const OP_NEXT_PAGE = 1;
/** Pages of decoded code kept at most (16 KiB of typed arrays each); the oldest slot is reused after. */
const MAX_SLOTS = 2048;

const caches = new WeakMap<ArrayBufferLike, DecodeCache>();

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
  private readonly slotPage: Int32Array;
  private readonly slots: number;
  /** Slots handed out so far (they are handed out in order), then the next one to reuse. */
  private used = 0;
  private hand = 0;

  /** The cache shared by every hart whose RAM is `buffer`. */
  static for(buffer: ArrayBufferLike, ramSize: number): DecodeCache {
    let c = caches.get(buffer);
    if (!c || c.pageSlot.length !== Math.ceil(ramSize / 4096)) {
      c = new DecodeCache(ramSize);
      caches.set(buffer, c);
    }
    return c;
  }

  private constructor(ramSize: number) {
    const pages = Math.ceil(ramSize / 4096);
    this.slots = Math.max(1, Math.min(pages, MAX_SLOTS));
    this.pageSlot = new Int32Array(pages).fill(-1);
    this.slotPage = new Int32Array(this.slots).fill(-1);
    this.codeMask = new Int32Array(this.slots);
  }

  /** Allocate the entry arrays: before the first slotFor, and before a run loop captures them. */
  prepare(): void {
    if (this.meta.length) return;
    this.meta = new Int32Array(this.slots * SLOT_ENTRIES);
    this.imm = new Int32Array(this.slots * SLOT_ENTRIES);
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
    return slot;
  }

  /**
   * Forget the decoded instructions of chunk `chunk` (bytes 128·chunk..) of `slot`, and the one that may
   * start two bytes before it and end inside it.
   */
  invalidateChunk(slot: number, chunk: number): void {
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
    for (let s = 0; s < this.used; s++) {
      this.pageSlot[this.slotPage[s]] = -1;
      this.slotPage[s] = -1;
    }
    this.used = 0;
    this.hand = 0;
    this.gen++;
  }
}
