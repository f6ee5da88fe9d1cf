/**
 * The architecture-dependent parts a riscv64 machine is built from, as small interfaces. The default
 * implementations come from @virtio-desktop/cpu-riscv, irqchip and timer (see default-parts.ts); another
 * CPU or interrupt model plugs in by implementing these.
 */
import type { BusDevice, DtNode, InterruptLine, PhysicalBus, Placement } from '@virtio-desktop/virtio-core';
import type { SbiHart } from './sbi.js';

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
}

export interface RiscvParts {
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
  createPlic(o: {
    sources: number;
    harts: readonly HartSink[];
    phandle: number;
    intcPhandles: readonly number[];
  }): PlicPart;
  createClint(o: {
    harts: readonly HartSink[];
    clock: ClockPart;
    intcPhandles: readonly number[];
  }): ClintPart;
  createClock(kind: 'wall' | 'instructions'): ClockPart;
  readonly isaExtensions: readonly string[];
  readonly mmuType: 'riscv,sv39' | 'riscv,sv48';
}
