/**
 * A sparse, lazily allocated array of fixed-size blocks. Used by the memory and overlay backends so that a
 * large disk costs memory only for what was written.
 */

/** Marks a block known to be all zero without storing its bytes (discarded or zeroed ranges). */
export const ZERO_BLOCK = null;

export type BlockEntry = Uint8Array | typeof ZERO_BLOCK;

/** One piece of a byte range cut at block boundaries. */
export interface BlockSpan {
  /** Block index. */
  block: number;
  /** Offset inside the block. */
  start: number;
  /** Byte count in this block. */
  len: number;
  /** Offset of this piece inside the caller's range. */
  pos: number;
}

/** Cut [offset, offset + length) at multiples of `blockSize`. */
export function* spans(offset: number, length: number, blockSize: number): Generator<BlockSpan> {
  let pos = 0;
  while (pos < length) {
    const abs = offset + pos;
    const block = Math.floor(abs / blockSize);
    const start = abs - block * blockSize;
    const len = Math.min(blockSize - start, length - pos);
    yield { block, start, len, pos };
    pos += len;
  }
}

export class SparseBlocks {
  private readonly map = new Map<number, BlockEntry>();

  constructor(readonly blockSize: number) {}

  /** Number of blocks with an entry (stored or known-zero). */
  get entries(): number {
    return this.map.size;
  }

  /** Bytes of block data held in memory. */
  get bytesStored(): number {
    let n = 0;
    for (const v of this.map.values()) if (v) n += v.length;
    return n;
  }

  has(block: number): boolean {
    return this.map.has(block);
  }

  get(block: number): BlockEntry | undefined {
    return this.map.get(block);
  }

  set(block: number, data: BlockEntry): void {
    this.map.set(block, data);
  }

  delete(block: number): void {
    this.map.delete(block);
  }

  clear(): void {
    this.map.clear();
  }

  /**
   * Snapshot form: the block indices with data, their bytes back to back, and the known-zero indices
   * (indices as float64, exact for any disk under 2^53 bytes).
   */
  pack(): { indices: Uint8Array; data: Uint8Array; zeros: Uint8Array } {
    const idx: number[] = [];
    const zeros: number[] = [];
    for (const b of this.blocks()) (this.map.get(b) ? idx : zeros).push(b);
    const data = new Uint8Array(idx.length * this.blockSize);
    idx.forEach((b, i) => data.set(this.map.get(b)!, i * this.blockSize));
    const f64 = (a: number[]) => new Uint8Array(new Float64Array(a).buffer);
    return { indices: f64(idx), data, zeros: f64(zeros) };
  }

  /** Replace the contents with a {@link pack}ed form; a string says what is wrong (nothing changed). */
  unpack(p: { indices: Uint8Array; data: Uint8Array; zeros: Uint8Array }, maxBlocks: number): string | null {
    if (p.indices.length % 8 || p.zeros.length % 8) return 'index lists are not whole float64s';
    const f64 = (u: Uint8Array) => new Float64Array(u.slice().buffer);
    const idx = f64(p.indices);
    const zeros = f64(p.zeros);
    if (p.data.length !== idx.length * this.blockSize) return 'block data size does not match its index';
    for (const b of [...idx, ...zeros])
      if (!Number.isInteger(b) || b < 0 || b >= maxBlocks) return `block ${b} is outside the disk`;
    this.map.clear();
    idx.forEach((b, i) => this.map.set(b, p.data.slice(i * this.blockSize, (i + 1) * this.blockSize)));
    for (const b of zeros) this.map.set(b, ZERO_BLOCK);
    return null;
  }

  /** Block indices with an entry, ascending. */
  blocks(): number[] {
    return [...this.map.keys()].sort((a, b) => a - b);
  }
}

export function rangeError(what: string, offset: number, length: number, size: number): RangeError {
  return new RangeError(`${what} [${offset}, +${length}) outside a ${size}-byte disk`);
}

/** True when [offset, offset + length) is a valid range of a disk of `size` bytes. */
export function inDisk(offset: number, length: number, size: number): boolean {
  return (
    Number.isSafeInteger(offset) &&
    Number.isSafeInteger(length) &&
    offset >= 0 &&
    length >= 0 &&
    length <= size - offset
  );
}
