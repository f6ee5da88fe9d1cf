/**
 * Block storage behind a virtio-blk device, and the two backends that run anywhere (browser or Node): a
 * sparse in-memory disk and a copy-on-write overlay over any read-only base.
 */
import { SnapshotError, StateReader, type SavedState, type StateValue } from '@virtio-desktop/virtio-core';
import { SparseBlocks, ZERO_BLOCK, inDisk, rangeError, spans } from './sparse.js';

/**
 * Byte-addressed storage. The device only issues ranges inside [0, size) and never calls `write`,
 * `discard` or `writeZeroes` on a read-only backend, but backends still check and reject (never throw
 * synchronously). Promises may resolve in any order; the device copes.
 *
 * Buffer ownership: `read` must not touch `dest` after its promise settles, and `write` must not keep
 * `src` (the device reuses it).
 */
export interface BlockBackend {
  /** Size in bytes. The device exposes floor(size / blockSize) blocks. */
  readonly size: number;
  readonly readOnly: boolean;
  read(offset: number, dest: Uint8Array): Promise<void>;
  write(offset: number, src: Uint8Array): Promise<void>;
  /** Make every completed write durable. */
  flush(): Promise<void>;
  /** Forget a range; reads of it afterwards may return anything. Absent: discard is a no-op. */
  discard?(offset: number, length: number): Promise<void>;
  /** Make a range read as zeroes. Absent: the device writes zero buffers. */
  writeZeroes?(offset: number, length: number): Promise<void>;
  /** Release files or handles; the backend is unusable afterwards. */
  close?(): Promise<void>;
  /**
   * Snapshots (optional; without them a snapshot of the machine is refused with a line naming the disk):
   * compute what {@link saveState} needs (a read-only image's content hash); no request runs meanwhile.
   */
  prepareSnapshot?(): Promise<void>;
  /** The contents a snapshot must carry (memory and overlay blocks), or a reference (an image's hash). */
  saveState?(): SavedState;
  /** Take a saved state back; a SnapshotError (one line) when it does not fit (e.g. another image). */
  restoreState?(s: SavedState): Promise<void>;
}

const packedOf = (r: StateReader) => ({
  indices: r.bytes('indices'),
  data: r.bytes('data'),
  zeros: r.bytes('zeros'),
});

/** Largest in-memory disk we accept: sparse, so only written blocks cost memory. */
export const MAX_MEMORY_DISK = 2 ** 44;

export interface MemoryBackendOptions {
  /** Disk size in bytes (a positive safe integer). */
  size: number;
  /** Initial contents, copied; shorter than `size` means the rest is zero. */
  initial?: Uint8Array;
  readOnly?: boolean;
  /** Allocation granularity in bytes (a power of two, default 64 KiB). */
  chunkSize?: number;
}

/** A RAM disk that allocates only the chunks that hold non-zero data. */
export class MemoryBackend implements BlockBackend {
  readonly size: number;
  readonly readOnly: boolean;
  private readonly store: SparseBlocks;

  constructor(opts: MemoryBackendOptions) {
    const chunk = opts.chunkSize ?? 65536;
    if (!Number.isSafeInteger(opts.size) || opts.size <= 0 || opts.size > MAX_MEMORY_DISK)
      throw new RangeError(`memory disk size must be a positive integer up to 2^44, got ${opts.size}`);
    if (!Number.isInteger(chunk) || chunk < 512 || (chunk & (chunk - 1)) !== 0)
      throw new RangeError(`chunk size must be a power of two >= 512, got ${chunk}`);
    if (opts.initial && opts.initial.length > opts.size)
      throw new RangeError(`initial contents (${opts.initial.length} bytes) larger than the disk`);
    this.size = opts.size;
    this.readOnly = opts.readOnly ?? false;
    this.store = new SparseBlocks(chunk);
    if (opts.initial) this.put(0, opts.initial);
  }

  /** Bytes of disk data held in memory. */
  get bytesStored(): number {
    return this.store.bytesStored;
  }

  async read(offset: number, dest: Uint8Array): Promise<void> {
    if (!inDisk(offset, dest.length, this.size)) throw rangeError('read', offset, dest.length, this.size);
    for (const s of spans(offset, dest.length, this.store.blockSize)) {
      const b = this.store.get(s.block);
      if (b) dest.set(b.subarray(s.start, s.start + s.len), s.pos);
      else dest.fill(0, s.pos, s.pos + s.len);
    }
  }

  async write(offset: number, src: Uint8Array): Promise<void> {
    if (this.readOnly) throw new Error('write to a read-only disk');
    if (!inDisk(offset, src.length, this.size)) throw rangeError('write', offset, src.length, this.size);
    this.put(offset, src);
  }

  async flush(): Promise<void> {}

  async discard(offset: number, length: number): Promise<void> {
    await this.writeZeroes(offset, length);
  }

  async writeZeroes(offset: number, length: number): Promise<void> {
    if (this.readOnly) throw new Error('write to a read-only disk');
    if (!inDisk(offset, length, this.size)) throw rangeError('write zeroes', offset, length, this.size);
    const bs = this.store.blockSize;
    for (const s of spans(offset, length, bs)) {
      if (s.len === bs) this.store.delete(s.block);
      else this.store.get(s.block)?.fill(0, s.start, s.start + s.len);
    }
  }

  /** Snapshot: the chunks written (the disk is in memory only, so its contents go in the snapshot). */
  saveState(): SavedState {
    return {
      version: 1,
      data: { size: this.size, chunkSize: this.store.blockSize, ...this.store.pack() },
    };
  }

  async restoreState(s: SavedState): Promise<void> {
    const r = StateReader.of(s, 'memory disk', [1]);
    if (r.int('size') !== this.size || r.int('chunkSize') !== this.store.blockSize)
      throw r.fail('size', 'or chunk size differs from this disk');
    const why = this.store.unpack(packedOf(r), Math.ceil(this.size / this.store.blockSize));
    if (why) throw new SnapshotError(`memory disk: ${why}`);
  }

  private put(offset: number, src: Uint8Array): void {
    const bs = this.store.blockSize;
    for (const s of spans(offset, src.length, bs)) {
      const piece = src.subarray(s.pos, s.pos + s.len);
      let b = this.store.get(s.block);
      if (!b) {
        // Writing zeroes into an absent chunk changes nothing: keep it sparse.
        if (isZero(piece)) continue;
        b = new Uint8Array(bs);
        this.store.set(s.block, b);
      }
      b.set(piece, s.start);
    }
  }
}

export interface OverlayBackendOptions {
  /** Copy-on-write granularity in bytes (a power of two >= 512, default 4096). */
  blockSize?: number;
}

/**
 * A writable copy-on-write layer over a base backend that is never written. Changed blocks live in
 * memory (so the overlay grows up to the disk size if the guest rewrites everything); discarded and
 * zeroed blocks are recorded as markers without storage. Everything is lost at close, by design: this is
 * the "scratch session over a golden image" mode.
 */
export class OverlayBackend implements BlockBackend {
  readonly size: number;
  readonly readOnly = false;
  private readonly blocks: SparseBlocks;

  constructor(
    readonly base: BlockBackend,
    opts: OverlayBackendOptions = {},
  ) {
    const bs = opts.blockSize ?? 4096;
    if (!Number.isInteger(bs) || bs < 512 || (bs & (bs - 1)) !== 0)
      throw new RangeError(`overlay block size must be a power of two >= 512, got ${bs}`);
    this.size = base.size;
    this.blocks = new SparseBlocks(bs);
  }

  /** Number of blocks the overlay holds (written, discarded or zeroed). */
  get blocksChanged(): number {
    return this.blocks.entries;
  }

  /** Bytes of block data held in memory. */
  get bytesStored(): number {
    return this.blocks.bytesStored;
  }

  /** Forget every change: the disk reads as the base again. */
  revert(): void {
    this.blocks.clear();
  }

  async read(offset: number, dest: Uint8Array): Promise<void> {
    if (!inDisk(offset, dest.length, this.size)) throw rangeError('read', offset, dest.length, this.size);
    // Coalesce runs of untouched blocks into one base read.
    let runStart = -1;
    let runEnd = -1;
    const pending: Promise<void>[] = [];
    const flushRun = (): void => {
      if (runStart < 0) return;
      pending.push(this.base.read(offset + runStart, dest.subarray(runStart, runEnd)));
      runStart = -1;
    };
    for (const s of spans(offset, dest.length, this.blocks.blockSize)) {
      const b = this.blocks.get(s.block);
      if (b === undefined) {
        if (runStart < 0) runStart = s.pos;
        runEnd = s.pos + s.len;
        continue;
      }
      flushRun();
      if (b === ZERO_BLOCK) dest.fill(0, s.pos, s.pos + s.len);
      else dest.set(b.subarray(s.start, s.start + s.len), s.pos);
    }
    flushRun();
    await Promise.all(pending);
  }

  async write(offset: number, src: Uint8Array): Promise<void> {
    if (!inDisk(offset, src.length, this.size)) throw rangeError('write', offset, src.length, this.size);
    await this.modify(offset, src.length, src);
  }

  async flush(): Promise<void> {}

  async discard(offset: number, length: number): Promise<void> {
    await this.writeZeroes(offset, length);
  }

  async writeZeroes(offset: number, length: number): Promise<void> {
    if (!inDisk(offset, length, this.size)) throw rangeError('write zeroes', offset, length, this.size);
    await this.modify(offset, length, null);
  }

  async close(): Promise<void> {
    this.blocks.clear();
    await this.base.close?.();
  }

  async prepareSnapshot(): Promise<void> {
    if (!this.base.saveState)
      throw new SnapshotError('the base of a copy-on-write disk cannot be snapshotted');
    await this.base.prepareSnapshot?.();
  }

  /** Snapshot: the changed blocks, and the base's reference (an image by content hash). */
  saveState(): SavedState {
    if (!this.base.saveState)
      throw new SnapshotError('the base of a copy-on-write disk cannot be snapshotted');
    return {
      version: 1,
      data: {
        blockSize: this.blocks.blockSize,
        base: this.base.saveState() as unknown as StateValue,
        ...this.blocks.pack(),
      },
    };
  }

  /** The base is checked first (a changed image is refused), then the blocks replace the overlay's. */
  async restoreState(s: SavedState): Promise<void> {
    const r = StateReader.of(s, 'copy-on-write disk', [1]);
    if (r.int('blockSize') !== this.blocks.blockSize) throw r.fail('blockSize', 'differs from this disk');
    if (!this.base.restoreState)
      throw new SnapshotError('the base of a copy-on-write disk cannot be restored');
    await this.base.restoreState(r.raw('base') as unknown as SavedState);
    const why = this.blocks.unpack(packedOf(r), Math.ceil(this.size / this.blocks.blockSize));
    if (why) throw new SnapshotError(`copy-on-write disk: ${why}`);
  }

  /** Apply `src` (or zeroes when null) to the range, copying partial blocks up from the base first. */
  private async modify(offset: number, length: number, src: Uint8Array | null): Promise<void> {
    const bs = this.blocks.blockSize;
    for (const s of spans(offset, length, bs)) {
      const whole = s.len === bs;
      if (whole && !src) {
        this.blocks.set(s.block, ZERO_BLOCK);
        continue;
      }
      let b = this.blocks.get(s.block);
      if (b === undefined && !whole) {
        const copy = new Uint8Array(bs);
        const at = s.block * bs;
        await this.base.read(at, copy.subarray(0, Math.min(bs, this.size - at)));
        // Another request may have filled this block while we waited: its copy is newer than ours.
        b = this.blocks.get(s.block);
        if (b === undefined) b = copy;
      }
      if (!b) b = new Uint8Array(bs);
      if (src) b.set(src.subarray(s.pos, s.pos + s.len), s.start);
      else b.fill(0, s.start, s.start + s.len);
      this.blocks.set(s.block, b);
    }
  }
}

function isZero(a: Uint8Array): boolean {
  for (let i = 0; i < a.length; i++) if (a[i] !== 0) return false;
  return true;
}
