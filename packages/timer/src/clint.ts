/**
 * A SiFive-compatible CLINT: MSWI at 0x0 (msip per hart) and MTIMER at 0x4000 (mtimecmp per hart, mtime at
 * 0xbff8), 64 KiB, as QEMU virt and Linux's `riscv,clint0` driver expect. Composed of irqchip's Mswi and
 * this package's Mtimer, so the timer package depends on irqchip and never the reverse.
 */
import {
  cells64,
  type AccessWidth,
  type BusDevice,
  type DtNode,
  type Placement,
  type SavedState,
  type StateValue,
  StateReader,
} from '@virtio-desktop/virtio-core';
import { Mswi, type HartInterruptSink } from '@virtio-desktop/irqchip';
import type { TimeSource } from './clock.js';
import { Mtimer } from './mtimer.js';

const MTIMER_BASE = 0x4000;

export class Clint implements BusDevice {
  readonly name = 'clint';
  readonly size = 0x10000;
  readonly mswi: Mswi;
  readonly mtimer: Mtimer;

  constructor(
    harts: readonly HartInterruptSink[],
    source: TimeSource,
    private readonly intcPhandles: readonly number[] = [],
  ) {
    this.mswi = new Mswi(harts, intcPhandles);
    this.mtimer = new Mtimer(harts, source, intcPhandles);
  }

  update(): void {
    this.mtimer.update();
  }

  nextDeadline(): number {
    return this.mtimer.nextDeadline();
  }

  read(offset: number, width: AccessWidth): number {
    return offset < MTIMER_BASE
      ? this.mswi.read(offset, width)
      : this.mtimer.read(offset - MTIMER_BASE, width);
  }

  write(offset: number, width: AccessWidth, value: number): void {
    if (offset < MTIMER_BASE) this.mswi.write(offset, width, value);
    else this.mtimer.write(offset - MTIMER_BASE, width, value);
  }

  read64(offset: number): bigint {
    if (offset < MTIMER_BASE) {
      return BigInt(this.mswi.read(offset, 4)) | (BigInt(this.mswi.read(offset + 4, 4)) << 32n);
    }
    return this.mtimer.read64(offset - MTIMER_BASE);
  }

  write64(offset: number, value: bigint): void {
    if (offset < MTIMER_BASE) {
      this.mswi.write(offset, 4, Number(value & 0xffffffffn));
      this.mswi.write(offset + 4, 4, Number((value >> 32n) & 0xffffffffn));
    } else this.mtimer.write64(offset - MTIMER_BASE, value);
  }

  reset(): void {
    this.mswi.reset();
    this.mtimer.reset();
  }

  /** Snapshot: its MSWI and MTIMER, each with its own version. */
  saveState(): SavedState {
    return {
      version: 1,
      data: {
        mswi: this.mswi.saveState() as unknown as StateValue,
        mtimer: this.mtimer.saveState() as unknown as StateValue,
      },
    };
  }

  restoreState(s: SavedState): void {
    const r = StateReader.of(s, 'clint', [1]);
    this.mswi.restoreState(r.raw('mswi') as unknown as SavedState);
    this.mtimer.restoreState(r.raw('mtimer') as unknown as SavedState);
  }

  describe(p: Placement): DtNode {
    return {
      name: 'clint',
      unitAddress: p.base,
      props: {
        compatible: ['sifive,clint0', 'riscv,clint0'],
        reg: [...cells64(p.base), ...cells64(this.size)],
        'interrupts-extended': this.intcPhandles.flatMap((ph) => [ph, 3, ph, 7]),
      },
    };
  }
}
