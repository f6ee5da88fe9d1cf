/**
 * The JIT's code cache, one per RAM (like the decoded-instruction cache it hangs off): how often the run
 * loop arrived at each decoded position, the compiled regions — wasm functions in one WebAssembly.Table,
 * found by decode index through `regionIdx`, which lives in the JIT memory so that the dispatcher
 * (jit-dispatch.ts) can chain from region to region without coming back to JavaScript — and the
 * bookkeeping that drops a page's regions whenever its decoded instructions go.
 *
 * Memory: at most JIT_CODE_LIMIT bytes of wasm modules alive (the whole cache is dropped past it, as
 * QEMU's tb_flush does), plus V8's compiled code for them (measured about 4× the module bytes).
 */
import { buildDispatcher, LABEL_SHIFT, type DispatchFn, type PageFn } from './jit-dispatch.js';
import type { InterpFn } from './jit-interp.js';
import type { JitMemory } from './memory.js';

/** Bit 8 of a meta word: the position is the entry of a compiled region. */
export const JIT_ENTRY = 0x100;

/** Bytes of wasm modules kept at most before the whole code cache is dropped. */
export const JIT_CODE_LIMIT = 32 * 1024 * 1024;

export class JitCache {
  /** Arrivals of the run loop at each decode index, by a jump, from another page or after a slow path. */
  readonly heat: Uint16Array;
  /** Table index and label of the region entered at each decode index (0: none), in the JIT memory. */
  readonly regionIdx: Int32Array;
  readonly table: WebAssembly.Table;
  /** Entry 0: the host call of compiled regions (wasm.ts HostSpec), written once. */
  readonly hostTable: WebAssembly.Table;
  /** Runs compiled regions from one entry, chaining between them in wasm. */
  dispatch: DispatchFn;
  /** Runs decoded instructions without a region in wasm (jit-interp.ts): the same module as dispatch. */
  interp: InterpFn;
  /** The dispatcher's compiled module (renewDispatcher instantiates it again on shared memory). */
  private readonly dispatcherModule: WebAssembly.Module;
  /** Set when the host forbids compiling wasm: the harts stay on the interpreter. */
  disabled = false;
  /** Set when the host refuses synchronous compiling (a browser's main thread): always compile async. */
  asyncOnly = false;
  /** Decode indices of the regions waiting to be compiled in one batch (jit.ts compileQueued). */
  readonly pending: number[] = [];
  /** performance.now() when the first of `pending` was queued. */
  pendingSince = 0;
  /** Per slot: how often its decoded instructions were dropped (a batch compiled before is stale). */
  readonly epoch: Uint32Array;
  /** Batches being compiled in the background. */
  inFlight = 0;
  /**
   * Statistics: regions compiled, batches (one module each), their total and longest time in ms, calls
   * from the run loop, bytes of code.
   */
  compiles = 0;
  batches = 0;
  totalMs = 0;
  longestMs = 0;
  entries = 0;
  /** Calls from the run loop into the interpreter in wasm. */
  interps = 0;
  codeBytes = 0;
  private readonly free: number[] = [];
  private readonly bySlot: ({ at: number[]; idx: number[] } | undefined)[];
  private readonly slotBytes: Float64Array;

  constructor(
    readonly jm: JitMemory,
    readonly ramBase: number,
    private readonly meta: () => Int32Array,
    slots: number,
    slotEntries: number,
    dispatcher?: WebAssembly.Module,
  ) {
    this.heat = new Uint16Array(jm.memory.buffer, jm.heat, slots * slotEntries);
    this.regionIdx = new Int32Array(jm.memory.buffer, jm.regionIdx, slots * slotEntries);
    this.table = new WebAssembly.Table({ element: 'anyfunc', initial: 64 });
    this.bySlot = new Array<{ at: number[]; idx: number[] } | undefined>(slots).fill(undefined);
    this.slotBytes = new Float64Array(slots);
    this.epoch = new Uint32Array(slots);
    const d = buildDispatcher(jm, this.table, ramBase, dispatcher);
    this.dispatcherModule = d.module;
    this.dispatch = d.dispatch;
    this.interp = d.interp;
    this.hostTable = new WebAssembly.Table({ element: 'anyfunc', initial: 1 });
    this.hostTable.set(0, d.host);
    // A dispatcher compiled in the background means the host refuses synchronous compiles.
    this.asyncOnly = dispatcher !== undefined;
    for (let k = 63; k >= 1; k--) this.free.push(k); // 0 means "none"
  }

  /**
   * Another instance of the dispatcher (the same code over the same memory and table, so nothing else
   * changes): for the warm-up (warmup.ts), so that the run loop's call of it sees several targets.
   * On shared memory (a hart's worker, whose warm-up delays the guest's boot) an instance of the
   * module it has, not a new compile: the workers' warm-ups took 54–89 ms, 31–51 ms so (boot to init
   * on 2 threaded harts 1.05 → 1.01 s, medians of 6 alternating pairs); on one thread the warm-up runs
   * while the machine is created and a new module each time kept its measured effect.
   */
  renewDispatcher(): void {
    try {
      const d = buildDispatcher(
        this.jm,
        this.table,
        this.ramBase,
        this.jm.shared ? this.dispatcherModule : undefined,
      );
      this.dispatch = d.dispatch;
      this.interp = d.interp;
    } catch {
      // A host that refuses synchronous compiles (a browser's main thread) keeps the one it has.
    }
  }

  /**
   * Install `fn`, a region of `slot` (`bytes`: the size of its code), as the one entered at decode
   * indices `at[k]` with label `labels[k]`; positions that already enter a region keep theirs.
   */
  install(slot: number, at: readonly number[], labels: ArrayLike<number>, fn: PageFn, bytes: number): void {
    let idx = this.free.pop();
    if (idx === undefined) {
      idx = this.table.length;
      this.table.grow(Math.max(64, idx >> 1));
      for (let k = this.table.length - 1; k > idx; k--) this.free.push(k);
    }
    this.table.set(idx, fn);
    const meta = this.meta();
    const e = (this.bySlot[slot] ??= { at: [], idx: [] });
    e.idx.push(idx);
    for (let k = 0; k < at.length; k++) {
      const i = at[k];
      if (meta[i] & JIT_ENTRY) continue;
      this.regionIdx[i] = idx | (labels[k] << LABEL_SHIFT);
      meta[i] |= JIT_ENTRY;
      e.at.push(i);
    }
    this.slotBytes[slot] += bytes;
    this.codeBytes += bytes;
  }

  /**
   * Forget slot's regions, because its decoded instructions go: its entries run on the interpreter until
   * compiled again, and regions of it compiled before now are not installed (its epoch moves on).
   */
  drop(slot: number): void {
    this.epoch[slot]++;
    this.evict(slot);
  }

  /** Forget slot's regions to free their memory (the slot's decoded instructions stay valid). */
  private evict(slot: number): void {
    const e = this.bySlot[slot];
    if (e === undefined) return;
    const meta = this.meta();
    for (const i of e.at) {
      meta[i] &= ~JIT_ENTRY;
      this.regionIdx[i] = 0;
    }
    for (const idx of e.idx) {
      this.table.set(idx, null);
      this.free.push(idx);
    }
    this.bySlot[slot] = undefined;
    this.codeBytes -= this.slotBytes[slot];
    this.slotBytes[slot] = 0;
  }

  dropAll(): void {
    for (let s = 0; s < this.bySlot.length; s++) this.drop(s);
  }

  /** Empty the code cache (it is full): the code is compiled again as it gets hot. */
  evictAll(): void {
    for (let s = 0; s < this.bySlot.length; s++) this.evict(s);
  }

  /** A slot handed to another page: its counts start again. */
  reset(slot: number, slotEntries: number): void {
    this.drop(slot);
    this.heat.fill(0, slot * slotEntries, (slot + 1) * slotEntries);
  }
}
