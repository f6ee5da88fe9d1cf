/**
 * ACLINT MTIMER: one 64-bit mtimecmp per hart (at 8·h) and, in the CLINT layout, mtime at 0x7ff8 of the
 * timer's region. MTIP of hart h is high while mtime >= mtimecmp[h]. Values are kept as two 32-bit
 * halves so 32-bit and 64-bit accesses both work without tearing the stored value.
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
import type { HartInterruptSink } from '@virtio-desktop/irqchip';
import type { TimeSource } from './clock.js';

const MTIP = 7;
const TWO32 = 0x1_0000_0000;
/** Offset of mtime inside the MTIMER region (0xbff8 - 0x4000 in the CLINT layout). */
export const MTIME_OFFSET = 0x7ff8;

export class Mtimer implements BusDevice {
  readonly name = 'aclint-mtimer';
  readonly size = 0x8000;
  /** mtimecmp per hart as a float64 tick count (exact below 2^53; larger means "never"). */
  private readonly cmp: Float64Array;
  private readonly mtip: Uint8Array;
  /** mtime = source.now() + offset (the guest may write mtime). */
  private offset = 0;

  constructor(
    private readonly harts: readonly HartInterruptSink[],
    readonly source: TimeSource,
    private readonly intcPhandles: readonly number[] = [],
  ) {
    this.cmp = new Float64Array(harts.length).fill(Infinity);
    this.mtip = new Uint8Array(harts.length);
  }

  get mtime(): number {
    return this.source.now() + this.offset;
  }

  /** Refresh MTIP of every hart; the machine calls this between CPU slices. */
  update(): void {
    const t = this.mtime;
    for (let h = 0; h < this.cmp.length; h++) {
      const on = t >= this.cmp[h] ? 1 : 0;
      if (on !== this.mtip[h]) {
        this.mtip[h] = on;
        this.harts[h].setPending(MTIP, on === 1);
      }
    }
  }

  /** Earliest armed mtimecmp in source ticks (Infinity when none), for sleeping while harts wait. */
  nextDeadline(): number {
    let d = Infinity;
    for (const c of this.cmp) if (c < d) d = c;
    return d - this.offset;
  }

  read(offset: number, width: AccessWidth): number {
    if (width !== 4 || offset % 4 !== 0) return 0;
    const v = this.reg64(offset & ~7);
    if (v === null) return 0;
    return offset & 4 ? Math.floor(v / TWO32) >>> 0 : v >>> 0;
  }

  write(offset: number, width: AccessWidth, value: number): void {
    if (width !== 4 || offset % 4 !== 0) return;
    const base = offset & ~7;
    const old = this.reg64(base);
    if (old === null) return;
    const lo = offset & 4 ? old >>> 0 : value >>> 0;
    const hi = offset & 4 ? value >>> 0 : Math.floor(old / TWO32) >>> 0;
    this.set64(base, hi * TWO32 + lo);
  }

  read64(offset: number): bigint {
    const v = offset % 8 === 0 ? this.reg64(offset) : null;
    return v === null ? 0n : v === Infinity ? 0xffff_ffff_ffff_ffffn : BigInt(v);
  }

  write64(offset: number, value: bigint): void {
    if (offset % 8 !== 0) return;
    const v = BigInt.asUintN(64, value);
    this.set64(offset, v >= 1n << 53n ? Infinity : Number(v));
  }

  reset(): void {
    this.cmp.fill(Infinity);
    this.offset = 0;
    this.update();
  }

  /**
   * Snapshot: mtimecmp per hart, the MTIP levels and mtime's offset from the time source (the source
   * saves its own ticks, so mtime continues where it was).
   */
  saveState(): SavedState {
    return { version: 1, data: { cmp: [...this.cmp], mtip: bytesOf(this.mtip), offset: this.offset } };
  }

  restoreState(s: SavedState): void {
    const r = StateReader.of(s, 'aclint-mtimer', [1]);
    const cmp = r.arr('cmp');
    if (cmp.length !== this.cmp.length)
      throw r.fail('cmp', `has ${cmp.length} harts, not ${this.cmp.length}`);
    for (const v of cmp) if (typeof v !== 'number' || !(v >= 0)) throw r.fail('cmp', 'holds a bad deadline');
    const mtip = r.bytes('mtip', this.mtip.length);
    const offset = r.num('offset', -(2 ** 64), 2 ** 64);
    this.cmp.set(cmp as number[]);
    this.mtip.set(mtip);
    this.offset = offset;
  }

  describe(p: Placement): DtNode {
    return {
      name: 'mtimer',
      unitAddress: p.base,
      props: {
        compatible: ['riscv,aclint-mtimer'],
        reg: [...cells64(p.base), ...cells64(this.size)],
        'interrupts-extended': this.intcPhandles.flatMap((ph) => [ph, MTIP]),
      },
    };
  }

  private reg64(off: number): number | null {
    if (off === MTIME_OFFSET) return this.mtime;
    const h = off >> 3;
    if (off < 8 * this.cmp.length)
      return this.cmp[h] === Infinity ? 0xffff_ffff * TWO32 + 0xffff_ffff : this.cmp[h];
    return null;
  }

  private set64(off: number, v: number): void {
    // Values from two 32-bit halves can exceed 2^53; anything that far away is "never".
    const val = v >= 2 ** 53 ? Infinity : v;
    if (off === MTIME_OFFSET) {
      if (val !== Infinity) this.offset = val - this.source.now();
    } else if (off < 8 * this.cmp.length) {
      this.cmp[off >> 3] = val;
    } else return;
    this.update();
  }
}
