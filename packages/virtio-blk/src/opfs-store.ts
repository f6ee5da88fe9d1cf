/**
 * Disk blocks kept in the Origin Private File System through synchronous access handles (dedicated
 * workers only, where they are fast and writes need no swap copy): a block store of two files — the
 * blocks, appended as they arrive, and an index of one 32-bit word per block — and on it a chunk cache
 * for the HTTP disk and a copy-on-write overlay that survives a page reload.
 *
 * Each call on a synchronous handle costs far more than its bytes (Chromium: about a millisecond in a
 * private window, where every call is an IPC to the browser process; thousands of index words at boot).
 * So index words are written in batches — the changed 4 KiB pages of the index, at flush(), close() and
 * at most INDEX_DELAY_MS after a change — and runs of whole blocks in one write.
 */
import { SnapshotError, StateReader, type SavedState, type StateValue } from '@virtio-desktop/virtio-core';
import type { BlockBackend } from './backend.js';
import { MemoryChunkCache, type ChunkCache } from './http.js';
import { inDisk, rangeError, spans } from './sparse.js';

/** The part of FileSystemSyncAccessHandle we use; tests pass an in-memory one. */
export interface SyncFileLike {
  read(buffer: Uint8Array, options: { at: number }): number;
  write(buffer: Uint8Array, options: { at: number }): number;
  getSize(): number;
  truncate(size: number): void;
  flush(): void;
  close(): void;
}

/** The part of FileSystemDirectoryHandle we use to open and remove a store's files. */
export interface OpfsDirectoryLike {
  getFileHandle(
    name: string,
    options?: { create?: boolean },
  ): Promise<{ createSyncAccessHandle(): Promise<SyncFileLike> }>;
  removeEntry(name: string): Promise<void>;
}

const MAGIC = 0x4b4c4256; // "VBLK"
const HEADER = 64;
/** Index word: block absent (read the base), or known to be zeroes; otherwise slot + 1. */
const ABSENT = 0;
const ZERO = 0xffffffff;
/** Index words per page of the index written together (4 KiB). */
const INDEX_PAGE_WORDS = 1024;
/** A changed index word is in the file this long after the change at the latest (or at flush/close). */
export const INDEX_DELAY_MS = 500;

export interface BlockStoreOptions {
  blockSize: number;
  blocks: number;
  /** Identifies what the blocks belong to (an image's URL, size and ETag): a store with another is emptied. */
  tag: string;
}

/**
 * Blocks by index, in two synchronous files; written data is in the file at once, the index word that
 * points at it within INDEX_DELAY_MS (a store reopened sooner, without close(), does not have the block),
 * and both are durable at flush().
 */
export class OpfsBlockStore {
  private readonly index: Uint32Array;
  private slots: number;
  /** Pages of the index changed in memory and not yet written. */
  private readonly dirtyPages = new Set<number>();
  private indexTimer: ReturnType<typeof setTimeout> | null = null;
  /** Bytes of the header as it must be (the tag in it). */
  private readonly header: Uint8Array;

  constructor(
    private readonly data: SyncFileLike,
    private readonly indexFile: SyncFileLike,
    readonly o: BlockStoreOptions,
  ) {
    if (!Number.isInteger(o.blocks) || o.blocks <= 0 || o.blocks >= ZERO)
      throw new RangeError(`block count out of range: ${o.blocks}`);
    this.header = makeHeader(o);
    this.index = new Uint32Array(o.blocks);
    const head = new Uint8Array(HEADER);
    const ok =
      indexFile.getSize() === HEADER + o.blocks * 4 &&
      indexFile.read(head, { at: 0 }) === HEADER &&
      head.every((b, i) => b === this.header[i]);
    if (ok) {
      const bytes = new Uint8Array(this.index.buffer);
      indexFile.read(bytes, { at: HEADER });
      // Slots past the end of the data file were never written whole: forget them.
      const have = Math.floor(data.getSize() / o.blockSize);
      let max = 0;
      for (let b = 0; b < o.blocks; b++) {
        const v = this.index[b];
        if (v !== ABSENT && v !== ZERO && v > have) this.index[b] = ABSENT;
        else if (v !== ZERO && v > max) max = v;
      }
      this.slots = Math.max(max, 0);
    } else {
      this.slots = 0;
      this.reset();
    }
  }

  /** Open (or create) the store `name` in `dir`: files `name.blocks` and `name.index`. */
  static async open(dir: OpfsDirectoryLike, name: string, o: BlockStoreOptions): Promise<OpfsBlockStore> {
    const data = await (await dir.getFileHandle(`${name}.blocks`, { create: true })).createSyncAccessHandle();
    let index: SyncFileLike;
    try {
      index = await (await dir.getFileHandle(`${name}.index`, { create: true })).createSyncAccessHandle();
    } catch (e) {
      data.close();
      throw e;
    }
    return new OpfsBlockStore(data, index, o);
  }

  /** Remove a store's files (it must be closed, e.g. by the worker that had it, first). */
  static async remove(dir: OpfsDirectoryLike, name: string): Promise<void> {
    for (const f of [`${name}.index`, `${name}.blocks`])
      await dir.removeEntry(f).catch((e: unknown) => {
        if ((e as { name?: string }).name !== 'NotFoundError') throw e;
      });
  }

  get blockSize(): number {
    return this.o.blockSize;
  }

  /** Blocks that hold data or are known zeroes. */
  get entries(): number {
    let n = 0;
    for (const v of this.index) if (v !== ABSENT) n++;
    return n;
  }

  has(block: number): boolean {
    return this.index[block] !== ABSENT;
  }

  /** Blocks with data and blocks known to be zeroes, in index order. */
  list(): { data: number[]; zeros: number[] } {
    const data: number[] = [];
    const zeros: number[] = [];
    this.index.forEach((v, b) => (v === ZERO ? zeros.push(b) : v !== ABSENT && data.push(b)));
    return { data, zeros };
  }

  /** Copy block `block` (from byte `start`) into dest; false when the store does not have it. */
  read(block: number, dest: Uint8Array, start = 0): boolean {
    const v = this.index[block];
    if (v === ABSENT || v === undefined) return false;
    if (v === ZERO) dest.fill(0);
    else {
      const n = this.data.read(dest, { at: (v - 1) * this.o.blockSize + start });
      if (n < dest.length) dest.fill(0, n);
    }
    return true;
  }

  /**
   * Store whole blocks `first`, `first + 1`... from src (a multiple of the block size long): one write
   * for each run of them whose slots follow each other (new blocks always do).
   */
  writeBlocks(first: number, src: Uint8Array): void {
    const bs = this.o.blockSize;
    if (src.length % bs)
      throw new RangeError(`writeBlocks: ${src.length} bytes is not a whole number of blocks`);
    const n = src.length / bs;
    for (let k = 0; k < n;) {
      const at = this.index[first + k];
      const fresh = at === ABSENT || at === ZERO;
      const v = fresh ? ++this.slots : at;
      let m = 1;
      for (; k + m < n; m++) {
        const w = this.index[first + k + m];
        const wFresh = w === ABSENT || w === ZERO;
        if (fresh !== wFresh || (!fresh && w !== v + m)) break;
        if (wFresh) ++this.slots;
      }
      // The blocks first, then the index words that point at them: an index never points at a hole.
      this.data.write(src.subarray(k * bs, (k + m) * bs), { at: (v - 1) * bs });
      if (fresh) for (let j = 0; j < m; j++) this.setIndex(first + k + j, v + j);
      k += m;
    }
  }

  /** Store a whole block (data shorter than a block: the rest reads as zeroes). */
  write(block: number, src: Uint8Array): void {
    let v = this.index[block];
    if (v === ABSENT || v === ZERO) {
      v = ++this.slots;
      // The block first, then the index word that points at it: an index never points at a hole.
      if (src.length < this.o.blockSize)
        this.data.write(new Uint8Array(this.o.blockSize), { at: (v - 1) * this.o.blockSize });
      this.data.write(src, { at: (v - 1) * this.o.blockSize });
      this.setIndex(block, v);
    } else this.data.write(src, { at: (v - 1) * this.o.blockSize });
  }

  /** Update part of a block the store has. */
  patch(block: number, start: number, src: Uint8Array): void {
    const v = this.index[block];
    if (v === ABSENT || v === ZERO) throw new Error(`block ${block} is not stored`);
    this.data.write(src, { at: (v - 1) * this.o.blockSize + start });
  }

  /** The block reads as zeroes (its slot is not reused: the data file only grows until clear()). */
  markZero(block: number): void {
    this.setIndex(block, ZERO);
  }

  flush(): void {
    this.data.flush();
    this.writeIndex();
    this.indexFile.flush();
  }

  /** Forget every block. */
  clear(): void {
    this.reset();
  }

  close(): void {
    this.writeIndex();
    this.data.close();
    this.indexFile.close();
  }

  private setIndex(block: number, v: number): void {
    this.index[block] = v;
    this.dirtyPages.add(Math.floor(block / INDEX_PAGE_WORDS));
    if (this.indexTimer) return;
    this.indexTimer = setTimeout(() => {
      this.indexTimer = null;
      this.writeIndex();
    }, INDEX_DELAY_MS);
    // On Node (tests), a pending write must not keep the process alive; close() writes it anyway.
    (this.indexTimer as { unref?: () => void }).unref?.();
  }

  /** Write the changed pages of the index, one write per run of adjacent pages (words in host order, as read). */
  private writeIndex(): void {
    if (this.indexTimer) clearTimeout(this.indexTimer);
    this.indexTimer = null;
    if (this.dirtyPages.size === 0) return;
    const pages = [...this.dirtyPages].sort((a, b) => a - b);
    this.dirtyPages.clear();
    const bytes = new Uint8Array(this.index.buffer);
    for (let i = 0; i < pages.length;) {
      let j = i + 1;
      while (j < pages.length && pages[j] === pages[j - 1] + 1) j++;
      const from = pages[i] * INDEX_PAGE_WORDS * 4;
      const to = Math.min((pages[j - 1] + 1) * INDEX_PAGE_WORDS * 4, bytes.length);
      this.indexFile.write(bytes.subarray(from, to), { at: HEADER + from });
      i = j;
    }
  }

  private reset(): void {
    this.dirtyPages.clear();
    if (this.indexTimer) clearTimeout(this.indexTimer);
    this.indexTimer = null;
    this.index.fill(ABSENT);
    this.slots = 0;
    this.data.truncate(0);
    this.indexFile.truncate(0);
    this.indexFile.truncate(HEADER + this.o.blocks * 4);
    this.indexFile.write(this.header, { at: 0 });
    this.flush();
  }
}

function makeHeader(o: BlockStoreOptions): Uint8Array {
  const h = new Uint8Array(HEADER);
  const dv = new DataView(h.buffer);
  dv.setUint32(0, MAGIC, true);
  dv.setUint32(4, o.blockSize, true);
  dv.setUint32(8, o.blocks, true);
  // The tag by a 32-bit FNV-1a hash plus its length: enough to tell images apart, fixed size.
  let hash = 0x811c9dc5;
  for (let i = 0; i < o.tag.length; i++) hash = Math.imul(hash ^ o.tag.charCodeAt(i), 0x01000193) >>> 0;
  dv.setUint32(12, hash, true);
  dv.setUint32(16, o.tag.length, true);
  return h;
}

/**
 * The HTTP disk's chunks in an OPFS block store (chunk = block); with `memoryBytes`, the chunks used
 * most recently also in memory, so that the many small reads of one chunk cost one read of the file.
 */
export class OpfsChunkCache implements ChunkCache {
  private readonly recent: MemoryChunkCache | null;

  constructor(
    readonly store: OpfsBlockStore,
    o: { memoryBytes?: number } = {},
  ) {
    this.recent = o.memoryBytes ? new MemoryChunkCache(o.memoryBytes) : null;
  }

  get(index: number, dest: Uint8Array, start = 0): boolean {
    if (!this.recent) return this.store.read(index, dest, start);
    if (this.recent.get(index, dest, start)) return true;
    const whole = new Uint8Array(this.store.blockSize);
    if (!this.store.read(index, whole)) return false;
    this.recent.put(index, whole);
    dest.set(whole.subarray(start, start + dest.length));
    return true;
  }

  put(index: number, data: Uint8Array): void {
    this.store.write(index, data);
    this.recent?.put(index, data);
  }
}

/**
 * A writable copy-on-write disk over a read-only base whose changes live in a block store, so they
 * survive a reload (in OPFS) where {@link OverlayBackend}'s live in memory. Partial-block writes read the
 * rest of the block from the base; writes run one after another so two of them never race on a block.
 */
export class PersistentOverlayBackend implements BlockBackend {
  readonly readOnly = false;
  readonly size: number;
  private writing: Promise<void> = Promise.resolve();
  private closed = false;

  constructor(
    readonly base: BlockBackend,
    readonly store: OpfsBlockStore,
  ) {
    this.size = base.size;
    if (Math.ceil(base.size / store.blockSize) > store.o.blocks)
      throw new RangeError('the overlay store has fewer blocks than the disk');
  }

  /** Blocks the overlay holds (written or zeroed). */
  get blocksChanged(): number {
    return this.store.entries;
  }

  async read(offset: number, dest: Uint8Array): Promise<void> {
    this.check();
    if (!inDisk(offset, dest.length, this.size)) throw rangeError('read', offset, dest.length, this.size);
    let runStart = -1;
    let runEnd = -1;
    const pending: Promise<void>[] = [];
    const endRun = (): void => {
      if (runStart >= 0) pending.push(this.base.read(offset + runStart, dest.subarray(runStart, runEnd)));
      runStart = -1;
    };
    for (const s of spans(offset, dest.length, this.store.blockSize)) {
      if (this.store.read(s.block, dest.subarray(s.pos, s.pos + s.len), s.start)) {
        endRun();
        continue;
      }
      if (runStart < 0) runStart = s.pos;
      runEnd = s.pos + s.len;
    }
    endRun();
    await Promise.all(pending);
  }

  write(offset: number, src: Uint8Array): Promise<void> {
    this.check();
    if (!inDisk(offset, src.length, this.size)) throw rangeError('write', offset, src.length, this.size);
    // The device reuses `src` after the promise settles, not before: a copy is needed only while queued.
    const copy = src.slice();
    return this.queue(() => this.put(offset, copy));
  }

  writeZeroes(offset: number, length: number): Promise<void> {
    this.check();
    if (!inDisk(offset, length, this.size)) throw rangeError('write zeroes', offset, length, this.size);
    return this.queue(async () => {
      const bs = this.store.blockSize;
      for (const s of spans(offset, length, bs)) {
        if (s.len === bs) this.store.markZero(s.block);
        else await this.putPiece(s.block, s.start, new Uint8Array(s.len));
      }
    });
  }

  discard(offset: number, length: number): Promise<void> {
    return this.writeZeroes(offset, length);
  }

  async flush(): Promise<void> {
    this.check();
    await this.writing;
    this.store.flush();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    await this.writing;
    this.closed = true;
    this.store.flush();
    this.store.close();
    await this.base.close?.();
  }

  async prepareSnapshot(): Promise<void> {
    if (!this.base.saveState)
      throw new SnapshotError('the base of a copy-on-write disk cannot be snapshotted');
    await this.writing;
    await this.base.prepareSnapshot?.();
  }

  /** The changed blocks (read from the store) and the base's reference, as OverlayBackend saves them. */
  saveState(): SavedState {
    if (!this.base.saveState)
      throw new SnapshotError('the base of a copy-on-write disk cannot be snapshotted');
    const bs = this.store.blockSize;
    const { data: idx, zeros } = this.store.list();
    const data = new Uint8Array(idx.length * bs);
    idx.forEach((b, i) => this.store.read(b, data.subarray(i * bs, (i + 1) * bs)));
    const f64 = (a: number[]): Uint8Array => new Uint8Array(new Float64Array(a).buffer);
    return {
      version: 1,
      data: {
        blockSize: bs,
        base: this.base.saveState() as unknown as StateValue,
        indices: f64(idx),
        data,
        zeros: f64(zeros),
      },
    };
  }

  /** The base is checked first (a changed image is refused), then the store holds the saved blocks. */
  async restoreState(s: SavedState): Promise<void> {
    const r = StateReader.of(s, 'copy-on-write disk', [1]);
    const bs = this.store.blockSize;
    if (r.int('blockSize') !== bs) throw r.fail('blockSize', 'differs from this disk');
    if (!this.base.restoreState)
      throw new SnapshotError('the base of a copy-on-write disk cannot be restored');
    await this.base.restoreState(r.raw('base') as unknown as SavedState);
    const [ib, data, zb] = [r.bytes('indices'), r.bytes('data'), r.bytes('zeros')];
    if (ib.length % 8 || zb.length % 8)
      throw new SnapshotError('copy-on-write disk: index lists are not whole float64s');
    const idx = new Float64Array(ib.slice().buffer);
    const zeros = new Float64Array(zb.slice().buffer);
    if (data.length !== idx.length * bs)
      throw new SnapshotError('copy-on-write disk: block data size does not match its index');
    const max = Math.ceil(this.size / bs);
    for (const b of [...idx, ...zeros])
      if (!Number.isInteger(b) || b < 0 || b >= max)
        throw new SnapshotError(`copy-on-write disk: block ${b} is outside the disk`);
    await this.writing;
    this.store.clear();
    idx.forEach((b, i) => this.store.write(b, data.subarray(i * bs, (i + 1) * bs)));
    for (const b of zeros) this.store.markZero(b);
    this.store.flush();
  }

  private queue(f: () => Promise<void>): Promise<void> {
    const p = this.writing.then(f);
    this.writing = p.catch(() => {});
    return p;
  }

  /** Whole blocks go to the store together (one write for a run of new ones), pieces one by one. */
  private async put(offset: number, src: Uint8Array): Promise<void> {
    const bs = this.store.blockSize;
    let first = -1;
    let from = 0;
    let len = 0;
    const whole = (): void => {
      if (len) this.store.writeBlocks(first, src.subarray(from, from + len));
      len = 0;
    };
    for (const s of spans(offset, src.length, bs)) {
      if (s.len === bs) {
        if (!len) [first, from] = [s.block, s.pos];
        len += bs;
        continue;
      }
      whole();
      await this.putPiece(s.block, s.start, src.subarray(s.pos, s.pos + s.len));
    }
    whole();
  }

  private async putPiece(block: number, start: number, piece: Uint8Array): Promise<void> {
    const bs = this.store.blockSize;
    if (piece.length === bs) return this.store.write(block, piece);
    if (this.store.has(block)) {
      const whole = new Uint8Array(bs);
      this.store.read(block, whole);
      whole.set(piece, start);
      return this.store.write(block, whole);
    }
    const whole = new Uint8Array(bs);
    const at = block * bs;
    await this.base.read(at, whole.subarray(0, Math.min(bs, this.size - at)));
    whole.set(piece, start);
    this.store.write(block, whole);
  }

  private check(): void {
    if (this.closed) throw new Error('overlay disk is closed');
  }
}
