/**
 * Helpers for parts that take part in snapshots (BusDevice/VirtioDevice `saveState`/`restoreState`): a
 * checked reader for saved data, and the encoding of a state tree as bytes.
 *
 * The encoding is JSON for the structure and raw bytes for byte arrays: JSON keeps every part's state
 * readable and lets a part add a field without a binary layout to maintain, while RAM pages, disk blocks
 * and pixels stay binary (base64 in JSON would cost a third more before compression and a slow pass).
 * Layout: u32 LE length of the JSON text, the JSON (UTF-8), then each byte array in order as an f64 LE
 * length and its bytes. In the JSON a byte array is `{"$b": index}` and a non-finite number
 * `{"$n": "Infinity" | "-Infinity" | "NaN"}`; objects with those single keys are never produced otherwise.
 * Nothing here depends on Node.
 */
import { SnapshotError, type SavedState, type StateValue } from './bus.js';

/** Encode a state tree; Uint8Array leaves are stored raw, after the JSON. */
export function encodeState(value: StateValue): Uint8Array {
  const blobs: Uint8Array[] = [];
  const json = JSON.stringify(value, function (this: unknown, key: string, v: unknown) {
    // The replacer sees typed arrays before toJSON-less serialisation: take the original from `this`.
    const orig = (this as Record<string, unknown>)[key];
    if (orig instanceof Uint8Array) {
      blobs.push(orig);
      return { $b: blobs.length - 1 };
    }
    if (typeof v === 'number' && !Number.isFinite(v)) return { $n: String(v) };
    return v;
  });
  const text = new TextEncoder().encode(json);
  let total = 4 + text.length;
  for (const b of blobs) total += 8 + b.length;
  const out = new Uint8Array(total);
  const dv = new DataView(out.buffer);
  dv.setUint32(0, text.length, true);
  out.set(text, 4);
  let at = 4 + text.length;
  for (const b of blobs) {
    dv.setFloat64(at, b.length, true);
    out.set(b, at + 8);
    at += 8 + b.length;
  }
  return out;
}

/** Decode what {@link encodeState} wrote; byte arrays are views into `bytes` (no copy). */
export function decodeState(bytes: Uint8Array): StateValue {
  const bad = (why: string): SnapshotError => new SnapshotError(`snapshot state: ${why}`);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (bytes.length < 4) throw bad('shorter than its header');
  const n = dv.getUint32(0, true);
  if (4 + n > bytes.length) throw bad('JSON runs past the end');
  const blobs: Uint8Array[] = [];
  let at = 4 + n;
  while (at < bytes.length) {
    if (at + 8 > bytes.length) throw bad('byte array header runs past the end');
    const len = dv.getFloat64(at, true);
    if (!Number.isSafeInteger(len) || len < 0 || at + 8 + len > bytes.length)
      throw bad('byte array runs past the end');
    blobs.push(bytes.subarray(at + 8, at + 8 + len));
    at += 8 + len;
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(new TextDecoder().decode(bytes.subarray(4, 4 + n)), (_k, v: unknown) => {
      if (typeof v === 'object' && v !== null && !Array.isArray(v)) {
        const o = v as Record<string, unknown>;
        const keys = Object.keys(o);
        if (keys.length === 1 && keys[0] === '$b') {
          const i = o.$b;
          if (typeof i !== 'number' || !blobs[i]) throw bad(`byte array ${String(i)} missing`);
          return blobs[i];
        }
        if (keys.length === 1 && keys[0] === '$n') {
          if (o.$n === 'Infinity') return Infinity;
          if (o.$n === '-Infinity') return -Infinity;
          if (o.$n === 'NaN') return NaN;
        }
      }
      return v;
    });
  } catch (e) {
    if (e instanceof SnapshotError) throw e;
    throw bad('JSON does not parse');
  }
  return parsed as StateValue;
}

/**
 * Reads a part's saved data with checks, so that a damaged or foreign state becomes one SnapshotError
 * line (naming the part and the field) instead of an exception deep inside a device.
 */
export class StateReader {
  private readonly o: Readonly<Record<string, StateValue>>;

  constructor(
    data: StateValue,
    /** The part, for messages, e.g. "virtio-blk". */
    readonly part: string,
  ) {
    if (typeof data !== 'object' || data === null || Array.isArray(data) || data instanceof Uint8Array)
      throw new SnapshotError(`${part}: saved state is not an object`);
    this.o = data as Readonly<Record<string, StateValue>>;
  }

  /** The state of `s` for `part` at one of `versions`, or a SnapshotError saying which it has. */
  static of(s: SavedState | undefined, part: string, versions: readonly number[]): StateReader {
    if (!s || typeof s !== 'object') throw new SnapshotError(`${part}: no saved state in the snapshot`);
    if (!versions.includes(s.version))
      throw new SnapshotError(
        `${part}: saved state version ${String(s.version)} is not one this version reads (${versions.join(', ')})`,
      );
    return new StateReader(s.data, part);
  }

  fail(field: string, what: string): SnapshotError {
    return new SnapshotError(`${this.part}: saved field "${field}" ${what}`);
  }

  has(k: string): boolean {
    return Object.prototype.hasOwnProperty.call(this.o, k);
  }

  raw(k: string): StateValue {
    if (!this.has(k)) throw this.fail(k, 'is missing');
    return this.o[k];
  }

  /** A number (Infinity allowed unless `finite`), optionally an integer within [lo, hi]. */
  num(k: string, lo = -Infinity, hi = Infinity): number {
    const v = this.raw(k);
    if (typeof v !== 'number' || Number.isNaN(v) || v < lo || v > hi)
      throw this.fail(k, `is not a number in ${lo}..${hi}`);
    return v;
  }

  int(k: string, lo = Number.MIN_SAFE_INTEGER, hi = Number.MAX_SAFE_INTEGER): number {
    const v = this.num(k, lo, hi);
    if (!Number.isInteger(v)) throw this.fail(k, 'is not an integer');
    return v;
  }

  bool(k: string): boolean {
    const v = this.raw(k);
    if (typeof v !== 'boolean') throw this.fail(k, 'is not a boolean');
    return v;
  }

  str(k: string): string {
    const v = this.raw(k);
    if (typeof v !== 'string') throw this.fail(k, 'is not a string');
    return v;
  }

  /** A byte array, of exactly `length` bytes when given. */
  bytes(k: string, length?: number): Uint8Array {
    const v = this.raw(k);
    if (!(v instanceof Uint8Array)) throw this.fail(k, 'is not bytes');
    if (length !== undefined && v.length !== length)
      throw this.fail(k, `has ${v.length} bytes, not ${length}`);
    return v;
  }

  arr(k: string, maxLength = 1 << 24): readonly StateValue[] {
    const v = this.raw(k);
    if (!Array.isArray(v)) throw this.fail(k, 'is not a list');
    if (v.length > maxLength) throw this.fail(k, `has more than ${maxLength} entries`);
    return v as readonly StateValue[];
  }

  /** A list of integers within [lo, hi], of exactly `length` entries when given. */
  ints(k: string, lo: number, hi: number, length?: number): number[] {
    const a = this.arr(k);
    if (length !== undefined && a.length !== length)
      throw this.fail(k, `has ${a.length} entries, not ${length}`);
    for (const v of a)
      if (typeof v !== 'number' || !Number.isInteger(v) || v < lo || v > hi)
        throw this.fail(k, `holds a value outside ${lo}..${hi}`);
    return a as number[];
  }

  /** A nested object, read with its own checks. */
  sub(k: string): StateReader {
    return new StateReader(this.raw(k), `${this.part}.${k}`);
  }
}

/** Bytes of a typed array, copied (the saved state must not alias live device memory). */
export function bytesOf(a: ArrayBufferView): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength).slice();
}

/** Fill a typed array from saved bytes of exactly its size; false when the size differs. */
export function fillFrom(a: ArrayBufferView, bytes: Uint8Array): boolean {
  if (bytes.length !== a.byteLength) return false;
  new Uint8Array(a.buffer, a.byteOffset, a.byteLength).set(bytes);
  return true;
}

const CRC_TABLE = ((): Int32Array => {
  const t = new Int32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c;
  }
  return t;
})();

/** CRC-32 (IEEE, as zlib and PNG), continuing from `crc` (0 to start). */
export function crc32(data: Uint8Array, crc = 0): number {
  let c = ~crc;
  for (let i = 0; i < data.length; i++) c = CRC_TABLE[(c ^ data[i]) & 0xff] ^ (c >>> 8);
  return ~c >>> 0;
}
