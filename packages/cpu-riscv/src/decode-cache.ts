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
import { dispatcherBytes, LABEL_SHIFT } from './jit-dispatch.js';
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
  /** The dispatcher is being compiled in the background (see {@link prepareJit}). */
  private jitCompiling = false;
  private readonly slotPage: Int32Array;
  private readonly slots: number;
  /**
   * FENCE.I keeps what was decoded: each slot is unmapped and parked under its page; the next time the
   * page is entered, the bytes of its decoded chunks are compared with `copy` (taken when they were
   * decoded) and only chunks that changed behind the cache's back (device DMA, the host, harts on other
   * threads) are dropped. Linux runs FENCE.I for every executable page it maps: the desktop's start-up
   * did 5,538 of them, and dropping everything at each left most of its code interpreted.
   */
  private readonly parked: Int32Array;
  private copy32: Int32Array = new Int32Array(0);
  private readonly ram32: Int32Array;
  /**
   * A code profile given to {@link warm}: per RAM page, the page offsets where compiled regions were
   * entered, and the heat that makes the second arrival there compile (the threshold less two: at the
   * first, the instruction is not decoded yet, and compileRegion passes over undecoded positions).
   */
  private warmPages: Map<number, number[]> | null = null;
  private warmHeat = 0;
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
    this.parked = new Int32Array(pages).fill(-1);
    this.ram32 = new Int32Array(buffer, 0, Math.min(pages * 1024, buffer.byteLength >> 2));
  }

  /** Allocate the entry arrays: before the first slotFor, and before a run loop captures them. */
  prepare(): void {
    if (this.meta.length) return;
    const jm = this.jm;
    const n = this.slots * SLOT_ENTRIES;
    this.meta = jm ? new Int32Array(jm.memory.buffer, jm.meta, n) : new Int32Array(n);
    this.imm = jm ? new Int32Array(jm.memory.buffer, jm.imm, n) : new Int32Array(n);
    // In a JIT memory they start zeroed: one cache per memory and thread (DecodeCache.for), and a hart
    // worker adopts the table set of its own hart once.
    this.copy32 = new Int32Array(this.slots * 1024);
  }

  /** Record the bytes of chunks `bits` of `slot` (fill calls it as it decodes into them). */
  snap(slot: number, bits: number): void {
    const from = this.slotPage[slot] * 1024;
    const to = slot * 1024;
    for (let c = 0; c < 32; c++)
      if (bits & (1 << c))
        this.copy32.set(this.ram32.subarray(from + c * 32, from + c * 32 + 32), to + c * 32);
  }

  /** A parked slot comes back: drop the decoded chunks whose bytes are not what was decoded. */
  private verify(slot: number): void {
    const from = this.slotPage[slot] * 1024;
    const to = slot * 1024;
    const mask = this.codeMask[slot];
    for (let c = 0; c < 32; c++) {
      if ((mask & (1 << c)) === 0) continue;
      for (let k = c * 32; k < c * 32 + 32; k++)
        if (this.ram32[from + k] !== this.copy32[to + k]) {
          this.invalidateChunk(slot, c);
          break;
        }
    }
  }

  /** Make the JIT's code cache (after {@link prepare}); null when the RAM is not a JIT memory. */
  prepareJit(ramBase: number): JitCache | null {
    const jm = this.jm;
    if (!this.jit && jm && !this.jitCompiling) {
      try {
        this.jit = new JitCache(jm, ramBase, () => this.meta, this.slots, SLOT_ENTRIES);
      } catch (e) {
        if (e instanceof RangeError) {
          // A browser's main thread refuses synchronous compiles over 4 KiB: compile the dispatcher
          // in the background and interpret until it is ready.
          this.jitCompiling = true;
          WebAssembly.compile(dispatcherBytes(jm, ramBase)).then(
            (m) => {
              this.jitCompiling = false;
              this.jit = new JitCache(jm, ramBase, () => this.meta, this.slots, SLOT_ENTRIES, m);
            },
            () => {
              this.jm = undefined;
            },
          );
        } else {
          // No WebAssembly compilation here (a Content-Security-Policy without 'wasm-unsafe-eval').
          this.jm = undefined;
        }
      }
    }
    return this.jit;
  }

  /** The slot for RAM page `page`, mapping a fresh one (reusing the oldest when full) if needed. */
  slotFor(page: number): number {
    const s = this.pageSlot[page];
    if (s >= 0) return s;
    const k = this.parked[page];
    if (k >= 0) {
      this.parked[page] = -1;
      if (this.slotPage[k] === page) {
        this.pageSlot[page] = k;
        this.verify(k);
        return k;
      }
    }
    let slot: number;
    if (this.used < this.slots) slot = this.used++;
    else {
      slot = this.hand;
      this.hand = (this.hand + 1) % this.slots;
      const old = this.slotPage[slot];
      if (this.pageSlot[old] === slot) this.pageSlot[old] = -1;
      if (this.parked[old] === slot) this.parked[old] = -1;
      this.gen++;
    }
    this.slotPage[slot] = page;
    this.pageSlot[page] = slot;
    this.codeMask[slot] = 0;
    const b = slot * SLOT_ENTRIES;
    this.meta.fill(0, b, b + SLOT_ENTRIES - 1);
    this.meta[b + SLOT_ENTRIES - 1] = OP_NEXT_PAGE;
    this.jit?.reset(slot, SLOT_ENTRIES);
    if (this.warmPages !== null) this.warmSlot(slot, page);
    return slot;
  }

  /**
   * The RAM offsets of the positions where compiled regions are entered (their first label): what this
   * cache learnt about the guest's hot code, to give to {@link warm} in a later run of the same code (a
   * restored snapshot, the next boot of the same kernel).
   */
  profile(): Uint32Array {
    const jit = this.jit;
    const out: number[] = [];
    if (jit === null) return new Uint32Array(0);
    for (let slot = 0; slot < this.used; slot++) {
      const page = this.slotPage[slot];
      if (page < 0 || (this.pageSlot[page] !== slot && this.parked[page] !== slot)) continue;
      const b = slot * SLOT_ENTRIES;
      for (let k = 0; k < SLOT_ENTRIES - 1; k++)
        if (this.meta[b + k] & JIT_ENTRY && jit.regionIdx[b + k] >>> LABEL_SHIFT === 0)
          out.push(page * 4096 + 2 * k);
    }
    return Uint32Array.from(out);
  }

  /**
   * Take a code profile (from {@link profile}): the second arrival at each of its positions compiles the
   * region there, as the `hot`th would. Only a hint — what is compiled still comes from the bytes in
   * RAM when it is compiled, so a profile of other code costs compile time and nothing else.
   */
  warm(profile: ArrayLike<number>, hot: number): void {
    const pages = new Map<number, number[]>();
    for (let k = 0; k < profile.length; k++) {
      const o = profile[k];
      if (!Number.isInteger(o) || o < 0 || o >= this.pageSlot.length * 4096 || o & 1) continue;
      const list = pages.get(o >>> 12);
      if (list) list.push(o & 0xfff);
      else pages.set(o >>> 12, [o & 0xfff]);
    }
    this.warmPages = pages.size ? pages : null;
    this.warmHeat = Math.max(0, hot - 2);
    if (this.warmPages === null) return;
    for (let slot = 0; slot < this.used; slot++) {
      const page = this.slotPage[slot];
      if (page >= 0 && this.pageSlot[page] === slot) this.warmSlot(slot, page);
    }
  }

  private warmSlot(slot: number, page: number): void {
    const offs = this.warmPages!.get(page);
    const jit = this.jit;
    if (!offs || !jit) return;
    for (const off of offs) {
      const i = slot * SLOT_ENTRIES + (off >>> 1);
      if (jit.heat[i] < this.warmHeat) jit.heat[i] = this.warmHeat;
    }
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

  /**
   * FENCE.I, reset, the host rewriting RAM: nothing decoded may be used before its bytes are checked
   * again. Every slot is parked (see `parked`), with its decoded instructions and compiled regions.
   */
  flush(): void {
    for (let s = 0; s < this.used; s++) {
      const page = this.slotPage[s];
      if (page >= 0 && this.pageSlot[page] === s) {
        this.pageSlot[page] = -1;
        this.parked[page] = s;
      }
    }
    this.gen++;
  }
}
