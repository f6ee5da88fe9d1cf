import type { GuestMemory } from './bus.js';

const TWO32 = 0x1_0000_0000;

/**
 * Guest RAM backed by one ArrayBuffer. The CPU reads and writes the same buffer through its own typed views;
 * devices go through the bounds-checked {@link GuestMemory} methods.
 */
export class Ram implements GuestMemory {
  readonly bytes: Uint8Array;
  private readonly dv: DataView;

  constructor(
    readonly base: number,
    readonly size: number,
    buffer?: ArrayBufferLike,
  ) {
    if (!Number.isSafeInteger(base) || base < 0) throw new RangeError(`bad RAM base ${base}`);
    if (!Number.isSafeInteger(size) || size <= 0 || size % 4096 !== 0)
      throw new RangeError(`RAM size must be a positive multiple of 4096, got ${size}`);
    const buf = buffer ?? new ArrayBuffer(size);
    if (buf.byteLength < size) throw new RangeError('RAM buffer smaller than RAM size');
    this.bytes = new Uint8Array(buf, 0, size);
    this.dv = new DataView(buf, 0, size);
  }

  get buffer(): ArrayBufferLike {
    return this.bytes.buffer;
  }

  contains(addr: number, length: number): boolean {
    // Written so that NaN, negatives, fractions and huge values all fail.
    if (!(length >= 0) || !Number.isSafeInteger(addr) || !Number.isSafeInteger(length)) return false;
    const off = addr - this.base;
    return off >= 0 && off + length <= this.size;
  }

  view(addr: number, length: number): Uint8Array | null {
    if (!this.contains(addr, length)) return null;
    const off = addr - this.base;
    return this.bytes.subarray(off, off + length);
  }

  read(addr: number, dest: Uint8Array): boolean {
    const v = this.view(addr, dest.length);
    if (!v) return false;
    dest.set(v);
    return true;
  }

  write(addr: number, src: Uint8Array): boolean {
    if (!this.contains(addr, src.length)) return false;
    this.bytes.set(src, addr - this.base);
    return true;
  }

  readU16(addr: number): number {
    return this.contains(addr, 2) ? this.dv.getUint16(addr - this.base, true) : -1;
  }

  readU32(addr: number): number {
    return this.contains(addr, 4) ? this.dv.getUint32(addr - this.base, true) : -1;
  }

  readU64(addr: number): number {
    if (!this.contains(addr, 8)) return -1;
    const off = addr - this.base;
    const lo = this.dv.getUint32(off, true);
    const hi = this.dv.getUint32(off + 4, true);
    if (hi >= 0x20_0000) return -1;
    return hi * TWO32 + lo;
  }

  writeU16(addr: number, value: number): boolean {
    if (!this.contains(addr, 2)) return false;
    this.dv.setUint16(addr - this.base, value, true);
    return true;
  }

  writeU32(addr: number, value: number): boolean {
    if (!this.contains(addr, 4)) return false;
    this.dv.setUint32(addr - this.base, value >>> 0, true);
    return true;
  }
}
