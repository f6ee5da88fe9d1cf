/**
 * Host-side 2D resources and their guest backing stores. A resource owns a copy of its pixels; its backing
 * is only a list of guest-physical ranges, read through GuestMemory.view at transfer time, so the device
 * never keeps a copy of guest memory.
 */
import type { GuestMemory } from '@virtio-desktop/virtio-core';
import { BYTES_PER_PIXEL, type PixelFormatCode, type Rect } from './protocol.js';

/** Scattered guest ranges, in the order they make up the backing store. */
export class Backing {
  /** End offset (exclusive) of each entry inside the backing store: a prefix sum for binary search. */
  private readonly ends: Float64Array;

  constructor(
    private readonly addrs: Float64Array,
    private readonly lens: Uint32Array,
  ) {
    this.ends = new Float64Array(lens.length);
    let total = 0;
    for (let i = 0; i < lens.length; i++) this.ends[i] = total += lens[i];
  }

  get entries(): number {
    return this.lens.length;
  }

  /** Snapshot form: the ranges' addresses (float64) and lengths (uint32) as bytes. */
  save(): { addrs: Uint8Array; lens: Uint8Array } {
    return {
      addrs: new Uint8Array(this.addrs.slice().buffer),
      lens: new Uint8Array(this.lens.slice().buffer),
    };
  }

  /** The backing of a {@link save}d form; null when its sizes do not match. */
  static load(addrs: Uint8Array, lens: Uint8Array): Backing | null {
    if (addrs.length % 8 || lens.length % 4 || addrs.length / 8 !== lens.length / 4) return null;
    return new Backing(new Float64Array(addrs.slice().buffer), new Uint32Array(lens.slice().buffer));
  }

  /** Length of the backing store in bytes. */
  get total(): number {
    return this.ends.length ? this.ends[this.ends.length - 1] : 0;
  }

  /**
   * Copy `len` bytes from offset `src` of the backing store to `dst[dstOff..]`. False when the range runs
   * past the store or memory refuses a view; the caller checked both, so that means a bug, not the guest.
   */
  copyOut(memory: GuestMemory, src: number, dst: Uint8Array, dstOff: number, len: number): boolean {
    if (len <= 0) return true;
    if (src < 0 || src + len > this.total) return false;
    let lo = 0;
    let hi = this.ends.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.ends[mid] > src) hi = mid;
      else lo = mid + 1;
    }
    let i = lo;
    let inner = src - (this.ends[i] - this.lens[i]);
    while (len > 0) {
      if (i >= this.lens.length) return false;
      const n = Math.min(this.lens[i] - inner, len);
      if (n > 0) {
        const v = memory.view(this.addrs[i] + inner, n);
        if (!v) return false;
        dst.set(v, dstOff);
        dstOff += n;
        len -= n;
      }
      inner = 0;
      i++;
    }
    return true;
  }
}

export class Resource {
  readonly stride: number;
  backing: Backing | null = null;

  constructor(
    readonly id: number,
    readonly format: PixelFormatCode,
    readonly width: number,
    readonly height: number,
    /** width * height * 4 bytes, row after row. */
    readonly data: Uint8Array,
  ) {
    this.stride = width * BYTES_PER_PIXEL;
  }

  get bytes(): number {
    return this.data.length;
  }

  /** True when `r` lies inside the resource; compared without sums, the way a C host must to avoid u32 wrap. */
  contains(r: Rect): boolean {
    return (
      r.x <= this.width && r.width <= this.width - r.x && r.y <= this.height && r.height <= this.height - r.y
    );
  }

  /**
   * TRANSFER_TO_HOST_2D as Linux's virtio_gpu_update_dumb_bo means it: the backing store has this
   * resource's stride, `offset` is where the rect's top-left pixel sits in it, and row k of the rect
   * starts `offset + k * stride` bytes in. The caller has checked the rect and the backing length.
   */
  transfer(memory: GuestMemory, r: Rect, offset: number): boolean {
    const b = this.backing;
    if (!b || r.width === 0 || r.height === 0) return true;
    const rowBytes = r.width * BYTES_PER_PIXEL;
    const dst = r.y * this.stride + r.x * BYTES_PER_PIXEL;
    if (rowBytes === this.stride) return b.copyOut(memory, offset, this.data, dst, rowBytes * r.height);
    for (let k = 0; k < r.height; k++)
      if (!b.copyOut(memory, offset + k * this.stride, this.data, dst + k * this.stride, rowBytes))
        return false;
    return true;
  }

  /** Bytes of backing store a transfer of `r` at `offset` reads up to (exclusive). */
  transferEnd(r: Rect, offset: number): number {
    return offset + (r.height - 1) * this.stride + r.width * BYTES_PER_PIXEL;
  }
}
