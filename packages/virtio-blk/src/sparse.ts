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
