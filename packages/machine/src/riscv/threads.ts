/**
 * The machine's harts on worker threads (issue 17): each hart runs in its own worker over the shared
 * guest RAM, while the devices, the PLIC, the CLINT, SBI and the viewer stay on this (the main) thread.
 * This class owns the workers and speaks the CPU's control-block protocol (@virtio-desktop/cpu-riscv's
 * `threads`): MMIO and SBI requests arrive through each hart's mailbox, interrupt lines and IPIs go out
 * as Atomics on its words, remote fences are acknowledged by the workers before the SBI call returns.
 */
import { allocateRam, ramLayoutOf, threads as T, type CpuEngine } from '@virtio-desktop/cpu-riscv';
import {
  SnapshotError,
  decodeState,
  encodeState,
  type Logger,
  type PhysicalBus,
  type SavedState,
  type StateValue,
} from '@virtio-desktop/virtio-core';
import { RiscvMap } from '../memory-map.js';
import type { HartSink } from './parts.js';
import type { SbiHart } from './sbi.js';

type WaitAsync = (
  a: Int32Array,
  i: number,
  v: number,
  t?: number,
) => { async: false; value: string } | { async: true; value: Promise<string> };
const waitAsync = (Atomics as unknown as { waitAsync?: WaitAsync }).waitAsync;

/** What a CPU part offers to run its harts on threads (CpuPart.threads). */
export interface CpuThreadsPart {
  /** Guest RAM in shared memory (at offset 0, at least `size` bytes) that harts on workers can share. */
  allocateSharedRam(size: number, harts: number): ArrayBufferLike;
  /** Start the worker of one hart: it runs the control-block protocol of cpu-riscv's `threads`. */
  spawnHart(o: {
    hartId: number;
    buffer: ArrayBufferLike;
    ramBase: number;
    ramSize: number;
    control: SharedArrayBuffer;
    hostSbi: boolean;
    /** performance.timeOrigin + performance.now() when the machine clock read 0. */
    epochMs: number;
    ticksPerMs: number;
    slice: number;
    /** Stores the worker posts instead of waiting for (the hot ones: see postedStores). */
    posted: T.PostedRange[];
    /** The hart's PLIC claim registers and the mip bit of each context (empty claims answered there). */
    claims: { addr: number; bit: number }[];
    /** Device registers in shared words, read and written without a round trip (see sharedRegisters). */
    registers: T.SharedRegister[];
    registerCells: SharedArrayBuffer;
  }): Promise<T.HartWorkerHandle>;
}

/** The threads part of our CPU, for `engine`. */
export function riscvThreads(engine: CpuEngine, url?: URL | string): CpuThreadsPart {
  return {
    allocateSharedRam: (size, harts) => allocateRam(size, harts, { shared: true }),
    spawnHart: (o) => {
      const r = ramLayoutOf(o.buffer);
      return T.spawnHartWorker(
        {
          hartId: o.hartId,
          memory: r ? r.memory : (o.buffer as SharedArrayBuffer),
          ...(r ? { layout: r.layout } : {}),
          ramBase: o.ramBase,
          ramSize: o.ramSize,
          control: o.control,
          engine,
          hostSbi: o.hostSbi,
          epochMs: o.epochMs,
          ticksPerMs: o.ticksPerMs,
          slice: o.slice,
          posted: o.posted,
          claims: o.claims,
          registers: o.registers,
          registerCells: o.registerCells,
        },
        url ? { url } : {},
      );
    },
  };
}

/**
 * The hot MMIO stores, posted (the hart does not wait for the main thread): virtio-mmio QueueNotify
 * (0x050) of every slot and the PLIC's claim/complete register of every context (a store there is a
 * completion; a source still high is pending again after it, whenever it lands). Their effect comes a
 * little later, as on a posted bus; a hart's later MMIO and SBI requests wait until its earlier posted
 * stores are done. A posted store to an empty slot is dropped instead of faulting. The UART's THR
 * too (1-byte stores: a console byte each); a hart's bytes go out in its order, and another hart's
 * after them, as the console's lock is taken after a round trip (LSR, IER) that drains the ring.
 *
 * InterruptACK is not posted as a plain store: a driver reads the used ring right after it, and a
 * completion that the device signals between that read and a late ACK would be cleared unseen (the
 * desktop boot hung). It is a shared register instead (sharedRegisters): cleared at once, posted as 0.
 */
export function postedStores(harts: number): T.PostedRange[] {
  const v = RiscvMap.virtio;
  return [
    { base: v.base, count: v.slots, stride: v.slotSize, offset: 0x050 },
    { base: RiscvMap.uart.base, count: 1, stride: 1, offset: 0, width: 1 },
    // Two contexts (M, S) per hart, as the device tree describes them.
    { base: RiscvMap.plic.base + 0x20_0000, count: 2 * harts, stride: 0x1000, offset: 4 },
  ];
}

/**
 * What sharedRegisters needs of the PLIC part: its enable words mirrored, its claims offered (irqchip's
 * Plic does both).
 */
export interface PlicShares {
  readonly enableWords: number;
  shareEnables(cells: Int32Array, at: number): void;
  shareClaims(cells: Int32Array, at: number): void;
}

/** What sharedRegisters needs of the UART: its LSR mirrored (platform/uart16550.ts does). */
export interface LsrMirror {
  shareLsr(cells: Int32Array, index: number): void;
}

/**
 * Words of the register cells: a virtio-mmio slot's InterruptStatus each, the UART's LSR, the PLIC's
 * enables, then the PLIC's claim offers (a word per context).
 */
export function registerCellCount(harts: number): number {
  return RiscvMap.virtio.slots + 1 + 2 * harts * Math.ceil((RiscvMap.plicSources + 1) / 32) + 2 * harts;
}

/**
 * The device registers harts on threads keep in shared words (cpu-riscv's threads SharedRegister):
 * every virtio-mmio slot's InterruptStatus and InterruptACK (cell = slot; the transport keeps its
 * status there) and, when the PLIC part mirrors them, its enable words of every context — the loads
 * of each interrupt Linux handles but the claim (the desktop's start-up made ~1,700 of its ~2,600
 * round trips on them) — the UART's LSR (loads only), which Linux's console polls before each byte,
 * and, when the PLIC part offers them, each context's claim (a load takes the offer; the ~600 claims
 * of the desktop's start-up were its last common round trips). An empty slot's InterruptStatus reads 0
 * and its ACK is dropped.
 */
export function sharedRegisters(
  harts: number,
  cells: Int32Array,
  plic?: Partial<PlicShares>,
  uart?: LsrMirror,
): T.SharedRegister[] {
  const v = RiscvMap.virtio;
  const list: T.SharedRegister[] = [];
  for (let s = 0; s < v.slots; s++) {
    list.push({ addr: v.base + s * v.slotSize + 0x060, cell: s, readOnly: true });
    list.push({ addr: v.base + s * v.slotSize + 0x064, cell: s, clear: true });
  }
  const lsr = v.slots;
  if (uart) {
    uart.shareLsr(cells, lsr);
    list.push({ addr: RiscvMap.uart.base + 5, cell: lsr, width: 1, readOnly: true });
  }
  const words = Math.ceil((RiscvMap.plicSources + 1) / 32);
  const offers = lsr + 1 + 2 * harts * words;
  if (plic?.shareClaims && offers + 2 * harts <= cells.length) {
    plic.shareClaims(cells, offers);
    // A take lowers the context's mip bit; the completion (a store) stays posted.
    for (let h = 0; h < harts; h++)
      plicClaims(h).forEach((c, k) =>
        list.push({ addr: c.addr, cell: offers + 2 * h + k, readOnly: true, take: c.bit }),
      );
  }
  if (plic?.shareEnables && plic.enableWords === words) {
    const at = lsr + 1;
    if (at + 2 * harts * words > cells.length) return list;
    plic.shareEnables(cells, at);
    // The bits of sources 1..plicSources only, as the PLIC's own words read.
    const mask = (w: number): number => {
      let m = 0;
      for (let b = 0; b < 32; b++) if (32 * w + b >= 1 && 32 * w + b <= RiscvMap.plicSources) m |= 1 << b;
      return m;
    };
    for (let ctx = 0; ctx < 2 * harts; ctx++)
      for (let w = 0; w < words; w++)
        list.push({
          addr: RiscvMap.plic.base + 0x2000 + 0x80 * ctx + 4 * w,
          cell: at + ctx * words + w,
          mask: mask(w),
        });
  }
  return list;
}

/**
 * The shared registers hart h's worker answers itself: all but the claims of other harts' contexts. A
 * take lowers the taking hart's own line, so another hart's claim goes through the main thread, whose
 * PLIC hands over the offer and moves the owner's line itself (Linux never does this; other guests may).
 */
export function registersFor(h: number, list: readonly T.SharedRegister[]): T.SharedRegister[] {
  const own = new Set(plicClaims(h).map((c) => c.addr));
  return list.filter((r) => r.take === undefined || own.has(r.addr));
}

/** Hart h's PLIC claim registers: context 2h drives MEIP (bit 11), 2h + 1 SEIP (bit 9). */
export function plicClaims(h: number): { addr: number; bit: number }[] {
  const claim = (ctx: number): number => RiscvMap.plic.base + 0x20_0000 + 0x1000 * ctx + 4;
  return [
    { addr: claim(2 * h), bit: 11 },
    { addr: claim(2 * h + 1), bit: 9 },
  ];
}

/** The platform's level-driven mip bits (MSIP, STIP, MTIP, SEIP, MEIP) as the hart workers keep them. */
const LEVEL_MASK = (1 << 3) | (1 << 5) | (1 << 7) | (1 << 9) | (1 << 11);

export interface MachineThreadsOptions {
  harts: number;
  part: CpuThreadsPart;
  buffer: ArrayBufferLike;
  ramBase: number;
  ramSize: number;
  hostSbi: boolean;
  slice: number;
  bus: PhysicalBus;
  log: Logger;
  /** After an MMIO store (the CLINT may have a new deadline). */
  afterWrite(addr: number): void;
  /** Hart h's SBI call (its a0..a7 readable through `sbiHarts[h]`). */
  sbi(h: number): void;
  /** A worker failed: one line. */
  fail(message: string): void;
}

export class MachineThreads {
  readonly control: SharedArrayBuffer;
  readonly controls: T.HartControl[];
  /** Where the PLIC and CLINT deliver interrupts: Atomics on each hart's words. */
  readonly sinks: HartSink[];
  /** What SBI sees of each hart: the registers of its call in progress, fences through the workers. */
  readonly sbiHarts: SbiHart[];
  /** Whether the harts compile (the JIT works on this shared memory), known once spawned. */
  jit = false;
  /**
   * The shared words of device registers (sharedRegisters): virtio InterruptStatus, UART LSR, PLIC
   * enables and claim offers.
   */
  readonly registerCells: Int32Array;
  private registers: T.SharedRegister[] = [];
  private workers: T.HartWorkerHandle[] = [];
  private readonly host: T.MailboxHost;
  /** Fences asked during the SBI call in progress, (hart, sequence), to wait for before it returns. */
  private pending: [number, number][] = [];
  private caller = -1;
  private failed = false;
  private started = performance.now();

  constructor(private readonly o: MachineThreadsOptions) {
    this.control = T.createControl(o.harts);
    this.registerCells = new Int32Array(new SharedArrayBuffer(4 * registerCellCount(o.harts)));
    this.controls = Array.from({ length: o.harts }, (_, h) => {
      const c = new T.HartControl(this.control, h);
      c.attachKick(o.buffer);
      return c;
    });
    this.sinks = this.controls.map((c) => ({ setPending: (bit, level) => c.setPending(bit, level) }));
    const regs = (h: number): Int32Array => this.controls[h].i32.subarray(T.W.SBI_REGS, T.W.SBI_REGS + 16);
    this.sbiHarts = this.controls.map((c, h) => ({
      // Only a0..a7 of the caller travel with an SBI call; SBI reads nothing else.
      getX: (i) => {
        if (i < 10 || i > 17) return 0n;
        const r = regs(h);
        return BigInt.asUintN(64, (BigInt(r[2 * (i - 10) + 1]) << 32n) | BigInt(r[2 * (i - 10)] >>> 0));
      },
      setX: (i, v) => {
        if (i < 10 || i > 11) return;
        const r = regs(h);
        r[2 * (i - 10)] = Number(v & 0xffffffffn) | 0;
        r[2 * (i - 10) + 1] = Number((v >> 32n) & 0xffffffffn) | 0;
      },
      setPending: (bit, level) => c.setPending(bit, level),
      flushTlb: () => this.fence(h, T.Fence.TLB),
      flushICache: () => this.fence(h, T.Fence.ICACHE),
    }));
    this.host = new T.MailboxHost(this.controls, {
      read: (_h, addr, width) => o.bus.read(addr, width),
      write: (_h, addr, width, value) => {
        const ok = o.bus.write(addr, width, value);
        o.afterWrite(addr);
        return ok;
      },
      sbi: (h) => this.sbiCall(h),
    });
  }

  /** Keep these registers in {@link registerCells} (before spawn): see sharedRegisters. */
  shareRegisters(list: T.SharedRegister[]): void {
    this.registers = list;
    this.host.share(list, this.registerCells.buffer as SharedArrayBuffer);
  }

  /** Start one worker per hart (parked) and serve their mailboxes. */
  async spawn(epochMs: number, ticksPerMs: number): Promise<void> {
    const o = this.o;
    this.workers = await Promise.all(
      this.controls.map((_, h) =>
        o.part.spawnHart({
          hartId: h,
          buffer: o.buffer,
          ramBase: o.ramBase,
          ramSize: o.ramSize,
          control: this.control,
          hostSbi: o.hostSbi,
          epochMs,
          ticksPerMs,
          slice: o.slice,
          posted: postedStores(o.harts),
          claims: plicClaims(h),
          registers: registersFor(h, this.registers),
          registerCells: this.registerCells.buffer as SharedArrayBuffer,
        }),
      ),
    );
    const ready = this.workers.map(
      (w) =>
        new Promise<void>((resolve) =>
          w.onMessage((m) => {
            if (m.type === 'ready') {
              if (m.hartId === 0) this.jit = m.jit;
              resolve();
            } else if (m.type === 'error') {
              resolve();
              this.fail(`hart ${m.hartId} failed: ${m.message}`);
            }
          }),
        ),
    );
    this.host.start();
    this.started = performance.now();
    await Promise.all(ready);
  }

  private fail(message: string): void {
    if (this.failed) return;
    this.failed = true;
    this.o.fail(message);
  }

  /** Reset hart h to `pc` with a0..a2 and run it. */
  start(h: number, pc: number, a: readonly bigint[]): void {
    const c = this.controls[h];
    c.f64[T.D.START_PC] = pc;
    for (let k = 0; k < 3; k++) {
      const v = a[k] ?? 0n;
      c.i32[T.W.START_REGS + 2 * k] = Number(v & 0xffffffffn) | 0;
      c.i32[T.W.START_REGS + 2 * k + 1] = Number((v >> 32n) & 0xffffffffn) | 0;
    }
    c.command(T.Cmd.START);
  }

  /** Stop running hart h (SBI HSM stop); it parks after its current call. */
  park(h: number): void {
    this.controls[h].command(T.Cmd.PARK);
  }

  /** Park every hart and wait until they are (before a reboot resets RAM and devices). */
  async parkAll(): Promise<void> {
    for (const c of this.controls) c.command(T.Cmd.PARK);
    await Promise.all(
      this.controls.map((c) => this.waitFor(c.i32, T.W.RUN, (v) => v === T.HartRun.PARKED, 2000)),
    );
    for (const c of this.controls) c.clear();
  }

  /**
   * Snapshot: stop every hart between two slices and return their states, with the stores they posted
   * done; {@link release} lets them go on. Throws a SnapshotError (the harts released) when a hart does
   * not stop within `timeoutMs`.
   */
  async hold(timeoutMs = 10_000): Promise<SavedState[]> {
    // One command word per hart: a START or PARK the worker has not taken yet must not be replaced.
    const end = performance.now() + timeoutMs;
    while (this.controls.some((c) => Atomics.load(c.i32, T.W.CMD) !== T.Cmd.NONE) && performance.now() < end)
      await new Promise((r) => setTimeout(r, 1));
    for (const c of this.controls) c.command(T.Cmd.SAVE);
    const stopped = (v: number): boolean => v === T.HartRun.HELD || v === T.HartRun.EXITED;
    await Promise.all(this.controls.map((c) => this.waitFor(c.i32, T.W.RUN, stopped, timeoutMs)));
    const late = this.controls.findIndex((c) => c.run !== T.HartRun.HELD);
    if (late >= 0) {
      this.release();
      throw new SnapshotError(`hart ${late} did not stop for the snapshot within ${timeoutMs} ms`);
    }
    try {
      this.host.drainAll();
      return this.controls.map((c, h) => {
        const x = c.takeExchange();
        if ('error' in x) throw new SnapshotError(`hart ${h}: ${x.error}`);
        return decodeState(x.bytes) as unknown as SavedState;
      });
    } catch (e) {
      this.release();
      throw e;
    }
  }

  /** Let the harts go on after {@link hold}. */
  release(): void {
    for (const c of this.controls) c.command(T.Cmd.RESUME);
  }

  /** The host SBI's timer deadline of hart h (clock ticks; Infinity: none). */
  timer(h: number): number {
    return this.controls[h].timer;
  }

  /**
   * Restore: give each (spawned, parked) hart its saved state, its timer deadline and its interrupt
   * lines, and run those that `run` says. A state the worker refuses throws a SnapshotError.
   */
  async load(
    states: readonly SavedState[],
    run: readonly boolean[],
    timers: readonly number[],
  ): Promise<void> {
    for (const [h, c] of this.controls.entries()) {
      if (!c.putExchange(encodeState(states[h] as unknown as StateValue)))
        throw new SnapshotError(`hart ${h}: its saved state is too large`);
      c.setTimer(timers[h]);
      // The state comes from a file: the worker checks it whole, this only must not throw on it.
      const data: unknown = states[h].data;
      const mipHw = data !== null && typeof data === 'object' ? (data as { mipHw?: unknown }).mipHw : 0;
      const lines = typeof mipHw === 'number' ? mipHw & LEVEL_MASK : 0;
      Atomics.store(c.i32, T.W.MIP_LEVEL, lines);
      Atomics.store(c.i32, T.W.LOAD_RUN, run[h] ? 1 : 0);
      const seq = (Atomics.add(c.i32, T.W.STATE_SEQ, 1) + 1) | 0;
      c.command(T.Cmd.LOAD);
      await this.waitFor(c.i32, T.W.STATE_ACK, (v) => v === seq, 10_000);
      if (Atomics.load(c.i32, T.W.STATE_ACK) !== seq)
        throw new SnapshotError(`hart ${h} did not take its saved state`);
      const x = c.takeExchange();
      // The worker's message names the hart.
      if ('error' in x) throw new SnapshotError(x.error);
    }
  }

  /** Tests: make hart h's worker throw. */
  crash(h: number): void {
    this.controls[h].command(T.Cmd.CRASH);
  }

  /** Instructions hart h has retired (published once per slice). */
  instret(h: number): number {
    return this.controls[h].instret;
  }

  /** MMIO and SBI round trips answered so far. */
  get requests(): number {
    return this.host.requests;
  }

  /** Posted MMIO stores done so far. */
  get posted(): number {
    return this.host.posted;
  }

  /** End every worker: EXIT, a short grace, then terminate (a worker stuck in MMIO cannot answer). */
  async shutdown(): Promise<void> {
    this.host.stop();
    const s = (performance.now() - this.started) / 1000;
    const h = this.host;
    this.o.log.info(
      `threads: ${h.requests} mailbox round trips (${h.requests - h.sbiRequests} MMIO, ${h.sbiRequests} SBI; ` +
        `${(h.requests / s).toFixed(0)}/s), ${h.posted} posted stores (${(h.posted / s).toFixed(0)}/s) in ${s.toFixed(1)} s`,
    );
    for (const c of this.controls) c.command(T.Cmd.EXIT);
    await Promise.all(
      this.controls.map((c) => this.waitFor(c.i32, T.W.RUN, (v) => v === T.HartRun.EXITED, 500)),
    );
    await Promise.all(this.workers.map((w) => w.terminate()));
    this.workers = [];
  }

  private fence(h: number, bits: number): void {
    const seq = this.controls[h].requestFence(bits);
    // The caller does its own fences before it resumes; waiting for it here would deadlock.
    if (h !== this.caller) this.pending.push([h, seq]);
  }

  private sbiCall(h: number): void | Promise<void> {
    this.caller = h;
    this.pending = [];
    try {
      this.o.sbi(h);
    } finally {
      this.caller = -1;
    }
    const p = this.pending;
    if (!p.length) return;
    // A remote fence returns once every target has done it (harts in WFI or parked do it at once).
    return Promise.all(
      p.map(([t, seq]) =>
        this.waitFor(this.controls[t].i32, T.W.FENCE_ACK, () => this.controls[t].fenced(seq), 5000),
      ),
    ).then(() => undefined);
  }

  /** Resolve once `ok(i32[i])` holds, woken by notifies on that word (or after `timeoutMs`). */
  private async waitFor(
    i32: Int32Array,
    i: number,
    ok: (v: number) => boolean,
    timeoutMs: number,
  ): Promise<void> {
    const end = performance.now() + timeoutMs;
    for (;;) {
      const v = Atomics.load(i32, i);
      if (ok(v)) return;
      const left = end - performance.now();
      if (left <= 0) return;
      const w = waitAsync!(i32, i, v, left);
      if (w.async) await w.value;
    }
  }
}
