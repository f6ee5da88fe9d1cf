/**
 * A device's configuration space as little-endian bytes (virtio 1.2 §2.5): the device sets fields with
 * typed setters when they change, the transport's reads of any width and offset come from one place, and
 * guest writes are split into bytes for the device to apply to its writable fields.
 */
export class ConfigSpace {
  readonly bytes: Uint8Array;
  private readonly dv: DataView;

  constructor(readonly size: number) {
    this.bytes = new Uint8Array(size);
    this.dv = new DataView(this.bytes.buffer);
  }

  set8(offset: number, v: number): void {
    this.dv.setUint8(offset, v);
  }
  set16(offset: number, v: number): void {
    this.dv.setUint16(offset, v, true);
  }
  set32(offset: number, v: number): void {
    this.dv.setUint32(offset, v >>> 0, true);
  }
  /** A 64-bit field from a number up to 2^53. */
  set64(offset: number, v: number): void {
    this.dv.setUint32(offset, v >>> 0, true);
    this.dv.setUint32(offset + 4, Math.floor(v / 0x1_0000_0000) >>> 0, true);
  }
  /** Copy `src` at `offset`, zero-filling up to `length` when given (fixed-size string fields). */
  setBytes(offset: number, src: Uint8Array, length = src.length): void {
    this.bytes.fill(0, offset, offset + length);
    this.bytes.set(src.subarray(0, length), offset);
  }

  /** A guest read: bytes outside the space read as 0, so a read can never throw. */
  read(offset: number, width: 1 | 2 | 4): number {
    let v = 0;
    for (let i = width - 1; i >= 0; i--) v = v * 256 + (this.bytes[offset + i] ?? 0);
    return v >>> 0;
  }

  /** Split a guest write of `width` bytes at `offset` into byte writes, lowest address first. */
  static splitWrite(
    offset: number,
    width: 1 | 2 | 4,
    value: number,
    each: (offset: number, byte: number) => void,
  ): void {
    for (let i = 0; i < width; i++) each(offset + i, (value >>> (8 * i)) & 0xff);
  }
}
