/**
 * ACLINT MSWI (machine software interrupts: one msip word per hart, bit 0 drives MSIP) and SSWI (setssip:
 * writing 1 raises SSIP; reads 0). The MSWI layout is the first 16 KiB of a SiFive CLINT.
 */
import {
  cells64,
  type AccessWidth,
  type BusDevice,
  type DtNode,
  type Placement,
  type SavedState,
  StateReader,
  bytesOf,
} from '@virtio-desktop/virtio-core';
import type { HartInterruptSink } from './plic.js';

const MSIP = 3;
const SSIP = 1;

export class Mswi implements BusDevice {
  readonly name = 'aclint-mswi';
  readonly size = 0x4000;
  private readonly msip: Uint8Array;

  constructor(
    private readonly harts: readonly HartInterruptSink[],
    private readonly intcPhandles: readonly number[] = [],
  ) {
    this.msip = new Uint8Array(harts.length);
  }

  read(offset: number, width: AccessWidth): number {
    if (width !== 4 || offset % 4 !== 0) return 0;
    const h = offset >> 2;
    return h < this.msip.length ? this.msip[h] : 0;
  }

  write(offset: number, width: AccessWidth, value: number): void {
    if (width !== 4 || offset % 4 !== 0) return;
    const h = offset >> 2;
    if (h >= this.msip.length) return;
    this.msip[h] = value & 1;
    this.harts[h].setPending(MSIP, (value & 1) === 1);
  }

  reset(): void {
    this.msip.fill(0);
    this.harts.forEach((s) => s.setPending(MSIP, false));
  }

  /** Snapshot: the msip bits (the harts' saved MSIP matches them; restoring drives nothing). */
  saveState(): SavedState {
    return { version: 1, data: { msip: bytesOf(this.msip) } };
  }

  restoreState(s: SavedState): void {
    this.msip.set(StateReader.of(s, 'aclint-mswi', [1]).bytes('msip', this.msip.length));
  }

  describe(p: Placement): DtNode {
    return {
      name: 'mswi',
      unitAddress: p.base,
      props: {
        compatible: ['riscv,aclint-mswi'],
        reg: [...cells64(p.base), ...cells64(this.size)],
        'interrupts-extended': this.intcPhandles.flatMap((ph) => [ph, MSIP]),
      },
    };
  }
}

export class Sswi implements BusDevice {
  readonly name = 'aclint-sswi';
  readonly size = 0x4000;

  constructor(
    private readonly harts: readonly HartInterruptSink[],
    private readonly intcPhandles: readonly number[] = [],
  ) {}

  read(): number {
    return 0;
  }

  write(offset: number, width: AccessWidth, value: number): void {
    if (width !== 4 || offset % 4 !== 0) return;
    const h = offset >> 2;
    if (h < this.harts.length && value & 1) this.harts[h].setPending(SSIP, true);
  }

  reset(): void {}

  describe(p: Placement): DtNode {
    return {
      name: 'sswi',
      unitAddress: p.base,
      props: {
        compatible: ['riscv,aclint-sswi'],
        reg: [...cells64(p.base), ...cells64(this.size)],
        'interrupt-controller': true,
        '#interrupt-cells': 0,
        'interrupts-extended': this.intcPhandles.flatMap((ph) => [ph, SSIP]),
      },
    };
  }
}
