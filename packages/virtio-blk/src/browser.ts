/**
 * Browser storage: a disk image in the Origin Private File System through the asynchronous
 * FileSystemFileHandle API (the synchronous access handle exists only in workers). Every OPFS commit
 * (createWritable ... close) rewrites the file through a swap copy, so writes are held in memory and
 * committed together at flush, or when too much is pending.
 */
import type { BlockBackend } from './backend.js';
import { SparseBlocks, inDisk, rangeError, spans } from './sparse.js';

/**
 * The part of FileSystemWritableFileStream we use. `data` is an ArrayBuffer, not `Uint8Array<ArrayBuffer>`,
 * so that our .d.ts files still read under TypeScript 5.6 and older, where Uint8Array is not generic.
 */
export interface OpfsWritableLike {
  write(params: { type: 'write'; position: number; data: ArrayBuffer }): Promise<void>;
  close(): Promise<void>;
  abort?(reason?: unknown): Promise<void>;
}

/** The part of FileSystemFileHandle we use; a real handle satisfies it, and tests pass a fake. */
export interface OpfsFileHandleLike {
  getFile(): Promise<{
    readonly size: number;
    slice(start: number, end: number): { arrayBuffer(): Promise<ArrayBuffer> };
  }>;
  createWritable(options: { keepExistingData: boolean }): Promise<OpfsWritableLike>;
}

export interface OpfsBackendOptions {
  readOnly?: boolean;
  /** Pending (unflushed) bytes that trigger a commit on the next write (default 32 MiB). */
  maxDirtyBytes?: number;
  /** Granularity of the write buffer in bytes (power of two >= 512, default 4096). */
  blockSize?: number;
}

export class OpfsBackend implements BlockBackend {
  readonly readOnly: boolean;
  private readonly dirty: SparseBlocks;
  private readonly maxDirty: number;
  /** Serialises commits: OPFS allows one writable stream at a time per file in some browsers. */
  private committing: Promise<void> = Promise.resolve();
  private closed = false;

  private constructor(
    private readonly handle: OpfsFileHandleLike,
    readonly size: number,
    opts: OpfsBackendOptions,
  ) {
    this.readOnly = opts.readOnly ?? false;
    const bs = opts.blockSize ?? 4096;
    if (!Number.isInteger(bs) || bs < 512 || (bs & (bs - 1)) !== 0)
      throw new RangeError(`blockSize must be a power of two >= 512, got ${bs}`);
    this.dirty = new SparseBlocks(bs);
    this.maxDirty = opts.maxDirtyBytes ?? 32 << 20;
  }

  /** Wrap an existing handle; its current file size is the disk size. */
  static async fromHandle(handle: OpfsFileHandleLike, opts: OpfsBackendOptions = {}): Promise<OpfsBackend> {
    const f = await handle.getFile();
    if (f.size < 512) throw new Error('OPFS disk image is smaller than one 512-byte sector');
    return new OpfsBackend(handle, f.size, opts);
  }

  /**
   * Open (or create with `size` bytes) the file `name` in the origin's private file system. Browser
   * only: uses navigator.storage.getDirectory().
   */
  static async open(name: string, opts: OpfsBackendOptions & { size?: number } = {}): Promise<OpfsBackend> {
    const root = await navigator.storage.getDirectory();
    let handle: FileSystemFileHandle;
    try {
      handle = await root.getFileHandle(name);
    } catch (e) {
      if ((e as { name?: string }).name !== 'NotFoundError' || opts.size === undefined || opts.readOnly)
        throw e;
      handle = await root.getFileHandle(name, { create: true });
      const w = await handle.createWritable({ keepExistingData: false });
      await w.truncate(opts.size);
      await w.close();
    }
    return OpfsBackend.fromHandle(handle, opts);
  }

  /** Bytes written but not yet committed to the file. */
  get dirtyBytes(): number {
    return this.dirty.bytesStored;
  }

  async read(offset: number, dest: Uint8Array): Promise<void> {
    this.check();
    if (!inDisk(offset, dest.length, this.size)) throw rangeError('read', offset, dest.length, this.size);
    const file = await this.handle.getFile();
    const data = new Uint8Array(await file.slice(offset, offset + dest.length).arrayBuffer());
    dest.set(data.subarray(0, dest.length));
    if (data.length < dest.length) dest.fill(0, data.length);
    // Pending writes are newer than the file. Applied after the await, so a write that landed while the
    // file was being read is seen too.
    for (const s of spans(offset, dest.length, this.dirty.blockSize)) {
      const b = this.dirty.get(s.block);
      if (b) overlay(dest, s.pos, b, s.start, s.len);
    }
  }

  async write(offset: number, src: Uint8Array): Promise<void> {
    this.check();
    if (this.readOnly) throw new Error('OPFS disk image is read-only');
    if (!inDisk(offset, src.length, this.size)) throw rangeError('write', offset, src.length, this.size);
    for (const s of spans(offset, src.length, this.dirty.blockSize)) {
      let b = this.dirty.get(s.block) as DirtyBlock | undefined;
      if (!b) {
        b = Object.assign(new Uint8Array(this.dirty.blockSize), { lo: s.start, hi: s.start + s.len });
        this.dirty.set(s.block, b);
      }
      b.set(src.subarray(s.pos, s.pos + s.len), s.start);
      b.lo = Math.min(b.lo, s.start);
      b.hi = Math.max(b.hi, s.start + s.len);
    }
    if (this.dirty.bytesStored >= this.maxDirty) await this.commit();
  }

  async writeZeroes(offset: number, length: number): Promise<void> {
    const zero = new Uint8Array(Math.min(length, 1 << 20));
    for (let pos = 0; pos < length; pos += zero.length)
      await this.write(offset + pos, zero.subarray(0, Math.min(zero.length, length - pos)));
  }

  async flush(): Promise<void> {
    this.check();
    await this.commit();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    await this.commit();
    this.closed = true;
  }

  /**
   * Write every pending block in one writable stream. Blocks are taken out of the buffer only after
   * close() succeeded, and a block rewritten during the commit stays pending, so a failed or racing
   * commit loses nothing.
   */
  private commit(): Promise<void> {
    const run = async (): Promise<void> => {
      const blocks = this.dirty.blocks();
      if (blocks.length === 0) return;
      const snap = blocks.map((i) => {
        const b = this.dirty.get(i) as DirtyBlock;
        return { i, b, copy: b.slice(b.lo, b.hi), lo: b.lo };
      });
      const w = await this.handle.createWritable({ keepExistingData: true });
      try {
        for (const s of snap)
          await w.write({ type: 'write', position: s.i * this.dirty.blockSize + s.lo, data: s.copy.buffer });
        await w.close();
      } catch (e) {
        await w.abort?.(e).catch(() => {});
        throw e;
      }
      for (const s of snap) {
        const now = this.dirty.get(s.i) as DirtyBlock | undefined;
        if (now === s.b && equalRange(now, s.lo, s.copy)) this.dirty.delete(s.i);
      }
    };
    const p = this.committing.then(run, run);
    this.committing = p.catch(() => {});
    return p;
  }

  private check(): void {
    if (this.closed) throw new Error('OPFS disk image is closed');
  }
}

/** A pending block and the byte range [lo, hi) of it that was written. */
type DirtyBlock = Uint8Array & { lo: number; hi: number };

function overlay(dest: Uint8Array, at: number, b: Uint8Array, start: number, len: number): void {
  const d = b as DirtyBlock;
  const lo = Math.max(start, d.lo);
  const hi = Math.min(start + len, d.hi);
  if (lo < hi) dest.set(b.subarray(lo, hi), at + (lo - start));
}

function equalRange(b: DirtyBlock, lo: number, copy: Uint8Array): boolean {
  if (b.lo !== lo || b.hi !== lo + copy.length) return false;
  for (let k = 0; k < copy.length; k++) if (b[lo + k] !== copy[k]) return false;
  return true;
}

export {
  HttpDiskError,
  HttpRangeBackend,
  MemoryChunkCache,
  parseContentRange,
  type ChunkCache,
  type HttpImageInfo,
  type HttpRangeBackendOptions,
} from './http.js';
export {
  OpfsBlockStore,
  OpfsChunkCache,
  PersistentOverlayBackend,
  type BlockStoreOptions,
  type OpfsDirectoryLike,
  type SyncFileLike,
} from './opfs-store.js';
