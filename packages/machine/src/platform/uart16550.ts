import type {
  AccessWidth,
  BusDevice,
  DtNode,
  InterruptLine,
  Placement,
  SavedState,
} from '@virtio-desktop/virtio-core';
import { StateReader, cells64 } from '@virtio-desktop/virtio-core';

const IER_RDI = 1;
const IER_THRI = 2;
const LSR_DR = 1;
const LSR_THRE = 0x20;
const LSR_TEMT = 0x40;

/**
 * A 16550A UART with just what Linux's 8250 driver and OpenSBI use: THR/RBR, IER, IIR, LCR (DLAB), MCR,
 * LSR, SCR, a receive FIFO, and the interrupt for received data and an empty transmitter.
 */
export class Uart16550 implements BusDevice {
  readonly name = 'uart16550';
  readonly size = 0x100;
  private rx: number[] = [];
  private ier = 0;
  private lcr = 0;
  private mcr = 0;
  private scr = 0;
  private dll = 0;
  private dlm = 0;
  /** The transmitter-empty interrupt is pending until IIR is read or THR written. */
  private thrEmptyPending = false;
  /** Where LSR is mirrored for harts on other threads ({@link shareLsr}). */
  private lsrCell: { cells: Int32Array; index: number } | null = null;

  constructor(
    private readonly irq: InterruptLine,
    private readonly output: (byte: number) => void,
    /** Cap on buffered input: a host that types faster than the guest reads loses the excess. */
    private readonly rxLimit = 4096,
  ) {}

  /**
   * Keep LSR in word `index` of `cells` (shared memory), for harts on other threads: they read it there
   * instead of asking this thread — Linux's console polls it before every byte it writes.
   */
  shareLsr(cells: Int32Array, index: number): void {
    if (!Number.isInteger(index) || index < 0 || index >= cells.length)
      throw new RangeError(`UART LSR cell ${index} outside its cells`);
    this.lsrCell = { cells, index };
    this.mirrorLsr();
  }

  /** Host → guest bytes (keyboard input). */
  input(bytes: Uint8Array): void {
    for (const b of bytes) if (this.rx.length < this.rxLimit) this.rx.push(b);
    this.update();
  }

  private lsr(): number {
    return (this.rx.length ? LSR_DR : 0) | LSR_THRE | LSR_TEMT;
  }

  private mirrorLsr(): void {
    if (this.lsrCell) Atomics.store(this.lsrCell.cells, this.lsrCell.index, this.lsr());
  }

  read(offset: number, _w: AccessWidth): number {
    const dlab = (this.lcr & 0x80) !== 0;
    switch (offset) {
      case 0:
        if (dlab) return this.dll;
        {
          const v = this.rx.shift() ?? 0;
          this.update();
          return v;
        }
      case 1:
        return dlab ? this.dlm : this.ier;
      case 2: {
        let iir = 0xc1; // FIFOs enabled, no interrupt
        if (this.ier & IER_RDI && this.rx.length) iir = 0xc4;
        else if (this.ier & IER_THRI && this.thrEmptyPending) {
          iir = 0xc2;
          this.thrEmptyPending = false;
          this.update();
        }
        return iir;
      }
      case 3:
        return this.lcr;
      case 4:
        return this.mcr;
      case 5:
        return this.lsr();
      case 6:
        return 0xb0; // DCD, DSR, CTS
      case 7:
        return this.scr;
      default:
        return 0;
    }
  }

  write(offset: number, _w: AccessWidth, value: number): void {
    value &= 0xff;
    const dlab = (this.lcr & 0x80) !== 0;
    switch (offset) {
      case 0:
        if (dlab) this.dll = value;
        else {
          this.output(value);
          this.thrEmptyPending = true;
          this.update();
        }
        return;
      case 1:
        if (dlab) this.dlm = value;
        else {
          const enablingThri = !(this.ier & IER_THRI) && value & IER_THRI;
          this.ier = value & 0x0f;
          if (enablingThri) this.thrEmptyPending = true;
          this.update();
        }
        return;
      case 3:
        this.lcr = value;
        return;
      case 4:
        this.mcr = value;
        return;
      case 7:
        this.scr = value;
        return;
    }
  }

  reset(): void {
    this.rx = [];
    this.ier = this.lcr = this.mcr = this.scr = this.dll = this.dlm = 0;
    this.thrEmptyPending = false;
    this.mirrorLsr();
    this.irq.set(false);
  }

  describe(p: Placement): DtNode {
    return {
      name: 'serial',
      unitAddress: p.base,
      props: {
        compatible: 'ns16550a',
        reg: [...cells64(p.base), ...cells64(this.size)],
        'clock-frequency': 3686400,
        interrupts: p.irqs[0],
        'interrupt-parent': p.interruptParent,
      },
    };
  }

  /** Snapshot: registers and the bytes typed but not read yet (the line level is the PLIC's). */
  saveState(): SavedState {
    const { ier, lcr, mcr, scr, dll, dlm, thrEmptyPending } = this;
    return {
      version: 1,
      data: { rx: new Uint8Array(this.rx), ier, lcr, mcr, scr, dll, dlm, thrEmptyPending },
    };
  }

  restoreState(s: SavedState): void {
    const r = StateReader.of(s, 'uart16550', [1]);
    const rx = r.bytes('rx');
    if (rx.length > this.rxLimit) throw r.fail('rx', `holds more than ${this.rxLimit} bytes`);
    const reg = (k: string): number => r.int(k, 0, 255);
    const v = {
      ier: reg('ier'),
      lcr: reg('lcr'),
      mcr: reg('mcr'),
      scr: reg('scr'),
      dll: reg('dll'),
      dlm: reg('dlm'),
    };
    const thr = r.bool('thrEmptyPending');
    this.rx = [...rx];
    Object.assign(this, v);
    this.thrEmptyPending = thr;
    this.mirrorLsr();
  }

  private update(): void {
    this.mirrorLsr();
    const rxi = (this.ier & IER_RDI) !== 0 && this.rx.length > 0;
    const txi = (this.ier & IER_THRI) !== 0 && this.thrEmptyPending;
    this.irq.set(rxi || txi);
  }
}
