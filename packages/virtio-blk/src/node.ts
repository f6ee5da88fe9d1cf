/**
 * Node-only storage: raw disk image files. Kept out of the main entry so browsers never load node:fs.
 */
import { open, type FileHandle } from 'node:fs/promises';
import { realpathSync } from 'node:fs';
import path from 'node:path';
import { SnapshotError, StateReader, type SavedState } from '@virtio-desktop/virtio-core';
import type { BlockBackend } from './backend.js';
import { contentHash } from './hash.js';
import { inDisk, rangeError } from './sparse.js';
import { ImageLock } from './lock.js';

export { DiskInUseError, ImageLock, setLockOwner, type LockEntry } from './lock.js';

export interface FileBackendOptions {
  /** Open read-only (the file is never written). */
  readOnly?: boolean;
  /** Size in bytes of the file to create when it does not exist; ignored for an existing file. */
  size?: number;
  /** Directory a relative path is resolved against (default: the current directory). */
  baseDir?: string;
  /**
   * Name shown to a machine refused because this one holds the image (default: the name given to
   * {@link setLockOwner}, else the pid).
   */
  owner?: string;
  /** Skip the advisory lock (default false: read-write opens are exclusive, read-only ones shared). */
  noLock?: boolean;
}

const ZERO_CHUNK = 1 << 20;

/**
 * A raw image file accessed with positioned reads and writes (pread/pwrite), so concurrent requests do
 * not share a file position. Flush is fdatasync. Node has no hole punching, so discard is a no-op (the
 * spec lets reads of discarded sectors return anything) and write-zeroes writes zero bytes.
 */
export class FileBackend implements BlockBackend {
  private closed = false;
  private zero: Uint8Array | null = null;

  private constructor(
    private readonly fh: FileHandle,
    readonly path: string,
    readonly size: number,
    readonly readOnly: boolean,
    private readonly lock: ImageLock | null,
  ) {}

  /** Whether this open holds an advisory lock on the image (false when its directory is read-only). */
  get locked(): boolean {
    return this.lock !== null;
  }

  /** Open `file`; when missing and `size` is given (and not read-only), create a sparse file of that size. */
  static async open(file: string, opts: FileBackendOptions = {}): Promise<FileBackend> {
    const full = path.resolve(opts.baseDir ?? '.', file);
    const readOnly = opts.readOnly ?? false;
    let fh: FileHandle;
    try {
      fh = await open(full, readOnly ? 'r' : 'r+');
    } catch (e) {
      const code = (e as { code?: string }).code;
      if (code !== 'ENOENT') throw new Error(`cannot open disk image ${full}: ${code ?? String(e)}`);
      if (opts.size === undefined || readOnly)
        throw new Error(`disk image ${full} does not exist${readOnly ? '' : ' (set "size" to create it)'}`);
      if (!Number.isSafeInteger(opts.size) || opts.size <= 0)
        throw new Error(`size must be a positive number of bytes, got ${opts.size}`);
      fh = await open(full, 'wx+');
      await fh.truncate(opts.size);
    }
    const st = await fh.stat();
    if (!st.isFile()) {
      await fh.close();
      throw new Error(`disk image ${full} is not a regular file`);
    }
    if (st.size < 512) {
      await fh.close();
      throw new Error(`disk image ${full} is smaller than one 512-byte sector`);
    }
    let lock: ImageLock | null = null;
    if (!opts.noLock) {
      try {
        // Through symlinks, so two names of one file share one lock.
        lock = ImageLock.acquire(realpathSync(full), readOnly, opts.owner);
      } catch (e) {
        await fh.close();
        throw e;
      }
    }
    return new FileBackend(fh, full, st.size, readOnly, lock);
  }

  async read(offset: number, dest: Uint8Array): Promise<void> {
    this.check();
    if (!inDisk(offset, dest.length, this.size)) throw rangeError('read', offset, dest.length, this.size);
    let done = 0;
    while (done < dest.length) {
      const { bytesRead } = await this.fh.read(dest, done, dest.length - done, offset + done);
      if (bytesRead === 0) {
        // The file shrank under us: what is gone reads as zeroes.
        dest.fill(0, done);
        return;
      }
      done += bytesRead;
    }
  }

  async write(offset: number, src: Uint8Array): Promise<void> {
    this.check();
    if (this.readOnly) throw new Error(`disk image ${this.path} is read-only`);
    if (!inDisk(offset, src.length, this.size)) throw rangeError('write', offset, src.length, this.size);
    let done = 0;
    while (done < src.length) {
      const { bytesWritten } = await this.fh.write(src, done, src.length - done, offset + done);
      done += bytesWritten;
    }
  }

  async flush(): Promise<void> {
    this.check();
    if (!this.readOnly) await this.fh.datasync();
  }

  async discard(offset: number, length: number): Promise<void> {
    this.check();
    if (this.readOnly) throw new Error(`disk image ${this.path} is read-only`);
    if (!inDisk(offset, length, this.size)) throw rangeError('discard', offset, length, this.size);
  }

  async writeZeroes(offset: number, length: number): Promise<void> {
    this.check();
    if (this.readOnly) throw new Error(`disk image ${this.path} is read-only`);
    if (!inDisk(offset, length, this.size)) throw rangeError('write zeroes', offset, length, this.size);
    this.zero ??= new Uint8Array(ZERO_CHUNK);
    for (let pos = 0; pos < length; pos += ZERO_CHUNK)
      await this.write(offset + pos, this.zero.subarray(0, Math.min(ZERO_CHUNK, length - pos)));
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    try {
      await this.fh.close();
    } finally {
      this.lock?.release();
    }
  }

  private hash: string | null = null;

  /** SHA-256 of the image (cached by path, size, mtime and inode; see hash.ts). */
  async contentHash(): Promise<string> {
    this.check();
    if (this.readOnly && this.hash) return this.hash;
    const h = await contentHash(this.fh, this.path);
    if (this.readOnly) this.hash = h;
    return h;
  }

  /** Snapshots reference a read-only image by its content hash; a writable one cannot be captured. */
  async prepareSnapshot(): Promise<void> {
    this.writableRefusal();
    await this.contentHash();
  }

  saveState(): SavedState {
    this.writableRefusal();
    if (!this.hash) throw new SnapshotError(`disk image ${this.path}: prepareSnapshot was not called`);
    return { version: 1, data: { path: this.path, size: this.size, sha256: this.hash } };
  }

  /** Accept the saved reference only for the same contents: one line names the image when it changed. */
  async restoreState(s: SavedState): Promise<void> {
    this.writableRefusal();
    const r = StateReader.of(s, `disk image ${this.path}`, [1]);
    const want = r.str('sha256');
    const size = r.int('size', 0);
    if (size !== this.size || (await this.contentHash()) !== want)
      throw new SnapshotError(
        `disk image ${this.path} changed since the snapshot was taken (its content hash differs from ${want.slice(0, 16)}…); restore needs the image the snapshot was taken with`,
      );
  }

  private writableRefusal(): void {
    if (!this.readOnly)
      throw new SnapshotError(
        `disk image ${this.path} is written in place, so a snapshot cannot capture it: use "overlay": true (copy-on-write) or "readOnly"`,
      );
  }

  private check(): void {
    if (this.closed) throw new Error(`disk image ${this.path} is closed`);
  }
}

/** Shorthand for {@link FileBackend.open}. */
export function openFileBackend(file: string, opts?: FileBackendOptions): Promise<FileBackend> {
  return FileBackend.open(file, opts);
}
