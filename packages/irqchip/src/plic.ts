/**
 * A RISC-V PLIC (platform-level interrupt controller) as Linux's `sifive,plic-1.0.0` driver and OpenSBI
 * expect: priorities at 4·id, pending bits at 0x1000, per-context enables at 0x2000 + 0x80·ctx, threshold
 * and claim/complete at 0x200000 + 0x1000·ctx. Sources are level-triggered.
 */
import {
  cells64,
  type AccessWidth,
  type BusDevice,
  type DtNode,
  type InterruptLine,
  type Placement,
  type SavedState,
  StateReader,
  bytesOf,
} from '@virtio-desktop/virtio-core';

/** Where a PLIC context delivers its interrupt: a hart's mip bit. */
export interface HartInterruptSink {
  setPending(bit: number, level: boolean): void;
}

export interface PlicOptions {
  /** Highest source number (sources are 1..sources). */
  sources: number;
  /** One sink per hart. */
  harts: readonly HartInterruptSink[];
  /** Context → (hart, mip bit); default: 2h = M-mode external (11), 2h+1 = S-mode external (9), as QEMU virt. */
  contexts?: readonly { hart: number; bit: number }[];
  /** Device-tree phandle of the PLIC and of each hart's interrupt controller. */
  phandle: number;
  intcPhandles: readonly number[];
}

const PRIORITY_MASK = 7;
const PENDING = 0x1000;
const ENABLE = 0x2000;
const ENABLE_STRIDE = 0x80;
const CONTEXT = 0x200000;
const CONTEXT_STRIDE = 0x1000;

export class Plic implements BusDevice {
  readonly name = 'plic';
  readonly size = 0x4000000;
  private readonly n: number;
  private readonly priority: Uint8Array;
  private readonly level: Uint8Array;
  private readonly pending: Uint8Array;
  private readonly claimed: Uint8Array;
  private readonly enable: Uint8Array[];
  private readonly threshold: Uint8Array;
  private readonly contexts: readonly { hart: number; bit: number }[];
  private readonly outputs: Uint8Array;
  /** Where the enable words are mirrored for harts on other threads ({@link shareEnables}). */
  private mirror: { cells: Int32Array; at: number } | null = null;
  /** Where each context's claim is offered to a hart on another thread ({@link shareClaims}). */
  private offers: { cells: Int32Array; at: number } | null = null;
  /** The source offered to each context (claimed already; 0: none), as this thread last knew it. */
  private readonly offered: Int32Array;

  constructor(private readonly o: PlicOptions) {
    if (!Number.isInteger(o.sources) || o.sources < 1 || o.sources > 1023)
      throw new RangeError('PLIC sources must be 1..1023');
    this.n = o.sources + 1;
    this.priority = new Uint8Array(this.n);
    this.level = new Uint8Array(this.n);
    this.pending = new Uint8Array(this.n);
    this.claimed = new Uint8Array(this.n);
    this.contexts =
      o.contexts ??
      o.harts.flatMap((_, h) => [
        { hart: h, bit: 11 },
        { hart: h, bit: 9 },
      ]);
    this.enable = this.contexts.map(() => new Uint8Array(this.n));
    this.threshold = new Uint8Array(this.contexts.length);
    this.outputs = new Uint8Array(this.contexts.length);
    this.offered = new Int32Array(this.contexts.length);
  }

  /** The interrupt line of source `irq`, for a device. */
  line(irq: number): InterruptLine {
    if (!Number.isInteger(irq) || irq < 1 || irq >= this.n) throw new RangeError(`PLIC has no source ${irq}`);
    return { set: (l) => this.setLevel(irq, l) };
  }

  /** Enable words per context (32 sources each, source 0 included). */
  get enableWords(): number {
    return Math.ceil(this.n / 32);
  }

  /**
   * Keep a copy of the enable words in `cells` from index `at` on (context c's word w at
   * at + c·enableWords + w), for harts on other threads: they read the words there instead of asking
   * this thread (Linux reads one at every end of interrupt), and store into them themselves before
   * their store reaches {@link write} (a store posted to this thread, which then writes the word's
   * current value: the last hart's, whatever order the harts' stores arrive in).
   */
  shareEnables(cells: Int32Array, at: number): void {
    if (!Number.isInteger(at) || at < 0 || at + this.contexts.length * this.enableWords > cells.length)
      throw new RangeError('PLIC enable mirror outside its cells');
    this.mirror = { cells, at };
    for (let ctx = 0; ctx < this.contexts.length; ctx++) this.mirrorContext(ctx);
  }

  /**
   * Offer each context's claim in `cells[at + ctx]`, for harts on other threads: whenever a context has
   * a source to claim, the best one is claimed for it and its id stored there, and the context's output
   * stays high while it is offered. A hart claims by taking the word (Atomics.exchange with 0) — no
   * round trip to this thread — and lowers its own view of the output as it takes; this PLIC finds the
   * word taken the next time it looks (any line change, a completion, a register access) and then offers
   * the next source and raises the output again. An offer nobody took is withdrawn when its source stops
   * being the one to claim (its line dropped, disabled, masked by the threshold, a higher priority).
   */
  shareClaims(cells: Int32Array, at: number): void {
    if (!Number.isInteger(at) || at < 0 || at + this.contexts.length > cells.length)
      throw new RangeError('PLIC claim offers outside their cells');
    this.withdrawAll();
    this.offers = { cells, at };
    for (let ctx = 0; ctx < this.contexts.length; ctx++) Atomics.store(cells, at + ctx, 0);
    this.update();
  }

  /** A taken offer: its source stays claimed until completed; the hart lowered its line as it took it. */
  private settle(ctx: number): void {
    const o = this.offers;
    if (o === null || this.offered[ctx] === 0 || Atomics.load(o.cells, o.at + ctx) !== 0) return;
    this.offered[ctx] = 0;
    this.outputs[ctx] = 0;
  }

  /** Take back ctx's offer if no hart took it (its source is pending again, if its line is high). */
  private withdraw(ctx: number): void {
    const o = this.offers;
    const id = this.offered[ctx];
    if (o === null || id === 0) return;
    this.offered[ctx] = 0;
    if (Atomics.compareExchange(o.cells, o.at + ctx, id, 0) === id) {
      this.claimed[id] = 0;
      if (this.level[id]) this.pending[id] = 1;
    } else this.outputs[ctx] = 0;
  }

  private withdrawAll(): void {
    for (let ctx = 0; ctx < this.contexts.length; ctx++) this.withdraw(ctx);
  }

  private mirrorContext(ctx: number): void {
    const m = this.mirror;
    if (!m) return;
    const words = this.enableWords;
    for (let w = 0; w < words; w++)
      Atomics.store(m.cells, m.at + ctx * words + w, this.bitsWord(this.enable[ctx], w) | 0);
  }

  setLevel(irq: number, high: boolean): void {
    const v = high ? 1 : 0;
    if (this.level[irq] === v) return;
    this.level[irq] = v;
    // A level source is pending while high, unless a context has claimed it and not completed yet.
    if (high && !this.claimed[irq]) this.pending[irq] = 1;
    if (!high) this.pending[irq] = 0;
    this.update();
  }

  read(offset: number, width: AccessWidth): number {
    if (width !== 4 || offset % 4 !== 0) return 0;
    if (offset < PENDING) {
      const id = offset >> 2;
      return id < this.n ? this.priority[id] : 0;
    }
    if (offset < ENABLE) return this.bitsWord(this.pending, (offset - PENDING) >> 2);
    if (offset < CONTEXT) {
      const ctx = Math.floor((offset - ENABLE) / ENABLE_STRIDE);
      if (ctx >= this.contexts.length) return 0;
      return this.bitsWord(this.enable[ctx], ((offset - ENABLE) % ENABLE_STRIDE) >> 2);
    }
    const ctx = Math.floor((offset - CONTEXT) / CONTEXT_STRIDE);
    if (ctx >= this.contexts.length) return 0;
    const reg = (offset - CONTEXT) % CONTEXT_STRIDE;
    if (reg === 0) return this.threshold[ctx];
    if (reg === 4) return this.claim(ctx);
    return 0;
  }

  write(offset: number, width: AccessWidth, value: number): void {
    if (width !== 4 || offset % 4 !== 0) return;
    if (offset < PENDING) {
      const id = offset >> 2;
      if (id > 0 && id < this.n) {
        this.priority[id] = value & PRIORITY_MASK;
        this.update();
      }
      return;
    }
    if (offset < ENABLE) return; // pending bits are read-only
    if (offset < CONTEXT) {
      const ctx = Math.floor((offset - ENABLE) / ENABLE_STRIDE);
      if (ctx >= this.contexts.length) return;
      const word = ((offset - ENABLE) % ENABLE_STRIDE) >> 2;
      const en = this.enable[ctx];
      for (let b = 0; b < 32; b++) {
        const id = word * 32 + b;
        if (id === 0 || id >= this.n) continue;
        en[id] = (value >>> b) & 1;
      }
      // Not mirrored here: with a mirror, the store came from a hart that wrote the word already (and
      // rewriting it could undo a newer store another hart made meanwhile).
      this.update();
      return;
    }
    const ctx = Math.floor((offset - CONTEXT) / CONTEXT_STRIDE);
    if (ctx >= this.contexts.length) return;
    const reg = (offset - CONTEXT) % CONTEXT_STRIDE;
    if (reg === 0) {
      this.threshold[ctx] = value & PRIORITY_MASK;
      this.update();
    } else if (reg === 4) {
      this.complete(ctx, value >>> 0);
    }
  }

  reset(): void {
    this.offered.fill(0);
    if (this.offers)
      for (let ctx = 0; ctx < this.contexts.length; ctx++)
        Atomics.store(this.offers.cells, this.offers.at + ctx, 0);
    this.priority.fill(0);
    this.pending.fill(0);
    this.claimed.fill(0);
    this.threshold.fill(0);
    for (const e of this.enable) e.fill(0);
    for (let ctx = 0; ctx < this.contexts.length; ctx++) this.mirrorContext(ctx);
    // Lines keep their level: a device that is still asserting stays pending.
    for (let id = 1; id < this.n; id++) if (this.level[id]) this.pending[id] = 1;
    this.update();
  }

  /**
   * Snapshot: priorities, line levels, pending and claimed sources, enables, thresholds and the level of
   * each context's output (the harts' saved mip bits match it, so restoring drives no line).
   */
  saveState(): SavedState {
    // An offer nobody took is saved as what it stands for: its source pending, not claimed.
    const pending = this.pending.slice();
    const claimed = this.claimed.slice();
    for (let ctx = 0; ctx < this.contexts.length; ctx++) {
      this.settle(ctx);
      const id = this.offered[ctx];
      if (id !== 0) {
        claimed[id] = 0;
        pending[id] = this.level[id];
      }
    }
    return {
      version: 1,
      data: {
        sources: this.n - 1,
        contexts: this.contexts.length,
        priority: bytesOf(this.priority),
        level: bytesOf(this.level),
        pending: bytesOf(pending),
        claimed: bytesOf(claimed),
        enable: this.enable.map((e) => bytesOf(e)),
        threshold: bytesOf(this.threshold),
        outputs: bytesOf(this.outputs),
      },
    };
  }

  restoreState(s: SavedState): void {
    const r = StateReader.of(s, 'plic', [1]);
    if (r.int('sources') !== this.n - 1 || r.int('contexts') !== this.contexts.length)
      throw r.fail('sources', 'or contexts differ from this machine');
    const n = this.n;
    const c = this.contexts.length;
    const enable = r.arr('enable');
    if (enable.length !== c) throw r.fail('enable', `has ${enable.length} contexts`);
    const en = enable.map((e) => {
      if (!(e instanceof Uint8Array) || e.length !== n) throw r.fail('enable', 'has a wrong size');
      return e;
    });
    const parts: [Uint8Array, Uint8Array][] = [
      [this.priority, r.bytes('priority', n)],
      [this.level, r.bytes('level', n)],
      [this.pending, r.bytes('pending', n)],
      [this.claimed, r.bytes('claimed', n)],
      [this.threshold, r.bytes('threshold', c)],
      [this.outputs, r.bytes('outputs', c)],
    ];
    for (const [dst, src] of parts) dst.set(src);
    en.forEach((e, i) => this.enable[i].set(e));
    for (let ctx = 0; ctx < c; ctx++) this.mirrorContext(ctx);
    if (this.offers) {
      // Offers again from the restored state: a context whose output was high gets its source offered
      // (the output stays as saved, so no line moves).
      this.offered.fill(0);
      for (let ctx = 0; ctx < c; ctx++) Atomics.store(this.offers.cells, this.offers.at + ctx, 0);
      this.update();
    }
  }

  describe(p: Placement): DtNode {
    const ext: number[] = [];
    for (const c of this.contexts) ext.push(this.o.intcPhandles[c.hart], c.bit);
    return {
      name: 'plic',
      unitAddress: p.base,
      phandle: this.o.phandle,
      props: {
        compatible: ['sifive,plic-1.0.0', 'riscv,plic0'],
        reg: [...cells64(p.base), ...cells64(this.size)],
        '#interrupt-cells': 1,
        '#address-cells': 0,
        'interrupt-controller': true,
        'riscv,ndev': this.n - 1,
        'interrupts-extended': ext,
      },
    };
  }

  /** Highest-priority pending, enabled source above the context's threshold (ties: lowest id); 0 if none. */
  private best(ctx: number): number {
    const en = this.enable[ctx];
    let best = 0;
    let bestPrio = this.threshold[ctx];
    for (let id = 1; id < this.n; id++) {
      if (this.pending[id] && en[id] && this.priority[id] > bestPrio) {
        best = id;
        bestPrio = this.priority[id];
      }
    }
    return best;
  }

  private claim(ctx: number): number {
    // A claim through this thread while the context has an offer out: the offered source is the answer.
    if (this.offers !== null && this.offered[ctx] !== 0) {
      const o = this.offers;
      const offered = this.offered[ctx];
      this.settle(ctx);
      if (this.offered[ctx] !== 0 && Atomics.compareExchange(o.cells, o.at + ctx, offered, 0) === offered) {
        this.offered[ctx] = 0;
        this.update();
        return offered;
      }
    }
    const id = this.best(ctx);
    if (id) {
      this.pending[id] = 0;
      this.claimed[id] = 1;
      this.update();
    }
    return id;
  }

  private complete(ctx: number, id: number): void {
    // Completing a source the context cannot see (not enabled) is ignored, as the spec allows.
    if (id === 0 || id >= this.n || !this.enable[ctx][id] || !this.claimed[id]) return;
    this.claimed[id] = 0;
    if (this.level[id]) this.pending[id] = 1;
    this.update();
  }

  private bitsWord(bits: Uint8Array, word: number): number {
    let v = 0;
    for (let b = 0; b < 32; b++) {
      const id = word * 32 + b;
      if (id < this.n && bits[id]) v |= 1 << b;
    }
    return v >>> 0;
  }

  /** Whether ctx's offered source `id` is still the one its claim would return. */
  private stillBest(ctx: number, id: number): boolean {
    if (!this.level[id] || !this.enable[ctx][id] || this.priority[id] <= this.threshold[ctx]) return false;
    const b = this.best(ctx);
    return b === 0 || this.priority[b] <= this.priority[id];
  }

  private offer(ctx: number): number {
    const o = this.offers!;
    this.settle(ctx);
    if (this.offered[ctx] !== 0 && !this.stillBest(ctx, this.offered[ctx])) this.withdraw(ctx);
    if (this.offered[ctx] === 0) {
      const id = this.best(ctx);
      if (id !== 0) {
        this.pending[id] = 0;
        this.claimed[id] = 1;
        this.offered[ctx] = id;
        Atomics.store(o.cells, o.at + ctx, id);
      }
    }
    return this.offered[ctx] !== 0 ? 1 : 0;
  }

  private update(): void {
    for (let ctx = 0; ctx < this.contexts.length; ctx++) {
      const on = this.offers !== null ? this.offer(ctx) : this.best(ctx) !== 0 ? 1 : 0;
      if (on === this.outputs[ctx]) continue;
      this.outputs[ctx] = on;
      const c = this.contexts[ctx];
      this.o.harts[c.hart]?.setPending(c.bit, on === 1);
    }
  }
}
