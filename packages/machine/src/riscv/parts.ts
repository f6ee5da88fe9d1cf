/**
 * The architecture-dependent parts a riscv64 machine is built from, as small interfaces. The default
 * implementations come from @virtio-desktop/cpu-riscv, irqchip and timer (see default-parts.ts); another
 * CPU or interrupt model plugs in by implementing these.
 */
import type {
  BusDevice,
  DtNode,
  InterruptLine,
  PhysicalBus,
  Placement,
  SavedState,
} from '@virtio-desktop/virtio-core';
import type { SbiHart } from './sbi.js';
import type { CpuThreadsPart } from './threads.js';

/** Why `HartPart.run` returned. */
export const StopReason = { Budget: 0, Wfi: 1, Sbi: 2 } as const;

/** The mip bits a platform drives. */
export const Mip = { SSIP: 1, MSIP: 3, STIP: 5, MTIP: 7, SEIP: 9, MEIP: 11 } as const;

export interface HartPart extends SbiHart {
  pc: number;
  /** Instructions retired so far. */
  readonly instret: number;
  /** The hart's own timer deadline (Sstc), in clock ticks; Infinity when it has none. */
  readonly timerDeadline: number;
  /** Run up to `budget` instructions; returns a {@link StopReason}. After Sbi, pc is past the ECALL. */
  run(budget: number): number;
  clearReservation(): void;
  /** Back to the reset state, in M-mode, at `pc`. */
  reset(pc: number): void;
}

/** Where a platform interrupt model delivers interrupts: a hart's mip bits. */
export interface HartSink {
  setPending(bit: number, level: boolean): void;
}

export interface PlicPart extends BusDevice {
  line(irq: number): InterruptLine;
  describe(p: Placement): DtNode;
  /** Enable words per context, when the part can mirror them for harts on threads (shareEnables). */
  readonly enableWords?: number;
  /**
   * Keep the enable words in `cells` from `at` on (context c's word w at at + c·enableWords + w): harts
   * on threads read them there and store into them before their store reaches the part (irqchip's Plic).
   */
  shareEnables?(cells: Int32Array, at: number): void;
  /**
   * Offer each context's claim in `cells[at + context]`, which a hart on a thread takes with
   * Atomics.exchange instead of a load through the main thread (irqchip's Plic).
   */
  shareClaims?(cells: Int32Array, at: number): void;
}

export interface ClintPart extends BusDevice {
  /** Refresh MTIP of every hart from the time source. */
  update(): void;
  /** Earliest mtimecmp of any hart, in ticks (Infinity when none is armed). */
  nextDeadline(): number;
  describe(p: Placement): DtNode;
}

/** The machine's clock, in mtime ticks. */
export interface ClockPart {
  now(): number;
  /** Deterministic clocks advance with retired instructions; wall clocks ignore this. */
  advance(instructions: number): void;
  /** When every hart waits: deterministic clocks jump to `tick`; wall clocks ignore it. */
  skipTo(tick: number): void;
  readonly deterministic: boolean;
  /** Snapshots (optional; without them a snapshot is refused): the clock's ticks, continued on restore. */
  saveState?(): SavedState;
  restoreState?(s: SavedState): void;
}

/** The CPU of a riscv64 machine: its harts and what the device tree says about them. */
export interface CpuPart {
  /**
   * The buffer guest RAM lives in (at offset 0, at least `size` bytes), when the CPU needs its own kind
   * (the JIT compiles against a WebAssembly.Memory); a plain ArrayBuffer when absent.
   */
  allocateRam?(size: number, harts: number): ArrayBufferLike;
  createHart(o: {
    hartId: number;
    ram: { base: number; size: number; buffer: ArrayBufferLike };
    bus: PhysicalBus;
    time: () => number;
    hostSbi: boolean;
  }): HartPart;
  readonly isaExtensions: readonly string[];
  readonly mmuType: 'riscv,sv39' | 'riscv,sv48';
  /** Harts on worker threads over shared RAM (the machine's `threads` option); absent: one thread. */
  readonly threads?: CpuThreadsPart;
  /**
   * Snapshots (optional; without them a snapshot is refused): a hart's architectural state, and putting
   * it back (the hart then starts with empty TLBs and code caches).
   */
  saveHart?(hart: HartPart): SavedState;
  restoreHart?(hart: HartPart, s: SavedState): void;
  /**
   * Snapshots, optional: what the CPU learnt about the guest's code that is worth keeping (a JIT's
   * working set), saved once for all harts and given back after the RAM and the harts are restored,
   * so that a restored machine runs its hot code at full speed at once. Only a hint: restoreCode may
   * ignore what it cannot use; without these, a restored machine compiles its code again as it runs.
   */
  saveCode?(harts: readonly HartPart[]): SavedState;
  restoreCode?(harts: readonly HartPart[], s: SavedState): void;
}

/** The platform interrupt controller (a PLIC or a model of the same contract). */
export interface IrqchipPart {
  createPlic(o: {
    sources: number;
    harts: readonly HartSink[];
    phandle: number;
    intcPhandles: readonly number[];
  }): PlicPart;
  /** How the machine inventory names it (e.g. "RiscvPlic"); "RiscvPlic" when absent. */
  readonly interruptControllerKind?: string;
}

/** The timer: the machine clock and the CLINT-compatible device that raises timer interrupts. */
export interface TimerPart {
  createClint(o: {
    harts: readonly HartSink[];
    clock: ClockPart;
    intcPhandles: readonly number[];
  }): ClintPart;
  createClock(kind: 'wall' | 'instructions'): ClockPart;
  /** How the machine inventory names it (e.g. "RiscvAclintMtimer"); that when absent. */
  readonly timerKind?: string;
}

/** Every architecture part of a riscv64 machine. */
export type RiscvParts = CpuPart & IrqchipPart & TimerPart;

/** What each kind of part plugin creates. */
export interface PartKinds {
  'riscv-cpu': CpuPart;
  'riscv-irqchip': IrqchipPart;
  'riscv-timer': TimerPart;
}
export type PartKind = keyof PartKinds;

/**
 * A CPU, interrupt-controller or timer plugin: what a manifest's `cpu`, `irqchip` or `timer` entry names,
 * resolved like a device plugin (a package default-exports it, or a record of plugins). A third-party
 * package implements it structurally, with no runtime dependency on this package.
 */
export interface PartPlugin<K extends PartKind = PartKind, Options = unknown> {
  readonly kind: K;
  /** Identifies the plugin in messages, e.g. "cpu-riscv". */
  readonly name: string;
  /** Check the entry's options (throw a PluginOptionError with one line); absent options arrive as undefined. */
  parseOptions(raw: unknown): Options;
  create(options: Options): PartKinds[K];
  /** JSON Schema of the options, folded into the manifest schema for editors. */
  readonly optionsSchema?: Readonly<Record<string, unknown>>;
}

/** True when `v` has the shape of a {@link PartPlugin} of `kind`. */
export function isPartPlugin<K extends PartKind>(v: unknown, kind: K): v is PartPlugin<K> {
  if (typeof v !== 'object' || v === null) return false;
  const p = v as Record<string, unknown>;
  return (
    p.kind === kind &&
    typeof p.name === 'string' &&
    typeof p.parseOptions === 'function' &&
    typeof p.create === 'function'
  );
}
