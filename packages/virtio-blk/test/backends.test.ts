import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { MemoryBackend, OverlayBackend, type BlockBackend } from '../src/index.js';
import { FileBackend } from '../src/node.js';
import { OpfsBackend, type OpfsFileHandleLike, type OpfsWritableLike } from '../src/browser.js';
import { pattern, same } from './helpers.js';

async function readAll(b: BlockBackend, off = 0, len = b.size): Promise<Uint8Array> {
  const d = new Uint8Array(len);
  await b.read(off, d);
  return d;
}

describe('MemoryBackend', () => {
  it('reads zeroes, stores writes sparsely and keeps initial contents', async () => {
    const m = new MemoryBackend({ size: 1 << 30, initial: pattern(1000, 1) });
    expect(m.bytesStored).toBe(65536);
    expect(await readAll(m, 0, 1000)).toEqual(pattern(1000, 1));
    await m.write((1 << 30) - 512, pattern(512, 2));
    expect(await readAll(m, (1 << 30) - 512, 512)).toEqual(pattern(512, 2));
    expect(m.bytesStored).toBe(2 * 65536);
    await m.write(1 << 20, new Uint8Array(4096)); // zeroes into an absent chunk allocate nothing
    expect(m.bytesStored).toBe(2 * 65536);
  });

  it('zeroes and frees ranges', async () => {
    const m = new MemoryBackend({ size: 1 << 20, initial: pattern(1 << 20, 3) });
    await m.writeZeroes(100, 65536 * 2);
    const all = await readAll(m);
    const want = pattern(1 << 20, 3);
    want.fill(0, 100, 100 + 65536 * 2);
    expect(same(all, want)).toBe(true);
    expect(m.bytesStored).toBe((1 << 20) - 65536); // the one whole chunk inside the range was freed
  });

  it('rejects ranges outside the disk and writes when read-only', async () => {
    const m = new MemoryBackend({ size: 4096 });
    await expect(m.read(4000, new Uint8Array(100))).rejects.toThrow(RangeError);
    await expect(m.write(-1, new Uint8Array(1))).rejects.toThrow(RangeError);
    await expect(m.writeZeroes(0, 2 ** 60)).rejects.toThrow(RangeError);
    const ro = new MemoryBackend({ size: 4096, readOnly: true });
    await expect(ro.write(0, new Uint8Array(1))).rejects.toThrow(/read-only/);
    expect(() => new MemoryBackend({ size: 0 })).toThrow();
  });
});

describe('OverlayBackend', () => {
  function base() {
    const b = new MemoryBackend({ size: 64 * 1024, initial: pattern(64 * 1024, 5), readOnly: true });
    const writes = vi.spyOn(b, 'write');
    return { b, writes };
  }

  it('reads the base until written, then its own blocks; the base stays untouched', async () => {
    const { b, writes } = base();
    const o = new OverlayBackend(b);
    expect(o.readOnly).toBe(false);
    expect(same(await readAll(o), pattern(64 * 1024, 5))).toBe(true);
    await o.write(1000, pattern(5000, 6)); // partial first and last blocks
    const want = pattern(64 * 1024, 5);
    want.set(pattern(5000, 6), 1000);
    expect(same(await readAll(o), want)).toBe(true);
    expect(same(await readAll(b), pattern(64 * 1024, 5))).toBe(true);
    expect(writes).not.toHaveBeenCalled();
    expect(o.blocksChanged).toBe(2);
  });

  it('records discard and write zeroes in the overlay', async () => {
    const { b } = base();
    const o = new OverlayBackend(b);
    await o.writeZeroes(4096, 8192);
    await o.discard(512, 512);
    const want = pattern(64 * 1024, 5);
    want.fill(0, 4096, 4096 + 8192);
    want.fill(0, 512, 1024);
    expect(same(await readAll(o), want)).toBe(true);
    expect(o.bytesStored).toBe(4096); // whole zeroed blocks are markers; only the partial one is stored
    expect(same(await readAll(b), pattern(64 * 1024, 5))).toBe(true);
    o.revert();
    expect(same(await readAll(o), pattern(64 * 1024, 5))).toBe(true);
  });

  it('keeps both of two concurrent partial writes to one block', async () => {
    const { b } = base();
    const o = new OverlayBackend(b);
    await Promise.all([o.write(0, new Uint8Array(512).fill(1)), o.write(512, new Uint8Array(512).fill(2))]);
    const got = await readAll(o, 0, 1024);
    expect(got.subarray(0, 512).every((x) => x === 1)).toBe(true);
    expect(got.subarray(512).every((x) => x === 2)).toBe(true);
  });
});

describe('FileBackend (Node)', () => {
  const dirs: string[] = [];
  const tmp = async (): Promise<string> => {
    const d = await mkdtemp(path.join(tmpdir(), 'vblk-'));
    dirs.push(d);
    return d;
  };
  afterAll(async () => {
    for (const d of dirs) await rm(d, { recursive: true, force: true });
  });

  it('creates a sparse image of the given size and persists writes', async () => {
    const dir = await tmp();
    const f = await FileBackend.open('disk.img', { baseDir: dir, size: 1 << 20 });
    expect(f.size).toBe(1 << 20);
    await f.write(4096, pattern(8192, 7));
    await f.flush();
    await f.close();
    const raw = await readFile(path.join(dir, 'disk.img'));
    expect(raw.length).toBe(1 << 20);
    expect(same(raw.subarray(4096, 4096 + 8192), pattern(8192, 7))).toBe(true);
    // Reopen: size is ignored for an existing file, contents are there.
    const g = await FileBackend.open(path.join(dir, 'disk.img'), { size: 4096 });
    expect(g.size).toBe(1 << 20);
    expect(same(await readAll(g, 4096, 8192), pattern(8192, 7))).toBe(true);
    await g.writeZeroes(4096, 4096);
    expect((await readAll(g, 4096, 4096)).every((x) => x === 0)).toBe(true);
    await g.discard(0, 512);
    await g.close();
    await expect(g.read(0, new Uint8Array(1))).rejects.toThrow(/closed/);
  });

  it('flushes with fdatasync', async () => {
    const dir = await tmp();
    const f = await FileBackend.open(path.join(dir, 'x.img'), { size: 65536 });
    const fh = (f as unknown as { fh: object }).fh;
    const spy = vi.spyOn(Object.getPrototypeOf(fh) as { datasync(): Promise<void> }, 'datasync');
    await f.write(0, pattern(512, 1));
    await f.flush();
    expect(spy).toHaveBeenCalledTimes(1);
    spy.mockRestore();
    await f.close();
  });

  it('opens read-only without ever writing, and explains missing files', async () => {
    const dir = await tmp();
    const file = path.join(dir, 'base.img');
    await writeFile(file, pattern(4096, 9));
    const before = (await stat(file)).mtimeMs;
    const f = await FileBackend.open(file, { readOnly: true });
    expect(f.readOnly).toBe(true);
    await expect(f.write(0, new Uint8Array(512))).rejects.toThrow(/read-only/);
    await expect(f.read(4000, new Uint8Array(512))).rejects.toThrow(RangeError);
    await f.flush();
    await f.close();
    expect(same(await readFile(file), pattern(4096, 9))).toBe(true);
    expect((await stat(file)).mtimeMs).toBe(before);
    await expect(FileBackend.open(path.join(dir, 'nope.img'))).rejects.toThrow(/does not exist.*size/);
    await expect(FileBackend.open(dir)).rejects.toThrow(/not a regular file|EISDIR/);
  });
});

/** An in-memory stand-in for FileSystemFileHandle with OPFS's commit-on-close semantics. */
class FakeOpfsHandle implements OpfsFileHandleLike {
  data: Uint8Array;
  commits = 0;
  failNextClose = false;
  constructor(size: number) {
    this.data = new Uint8Array(size);
  }
  async getFile() {
    const snap = this.data.slice();
    return {
      size: snap.length,
      slice: (a: number, b: number) => ({ arrayBuffer: async () => snap.slice(a, b).buffer }),
    };
  }
  async createWritable(options: { keepExistingData: boolean }): Promise<OpfsWritableLike> {
    const swap = options.keepExistingData ? this.data.slice() : new Uint8Array(0);
    return {
      write: async (p) => {
        swap.set(new Uint8Array(p.data), p.position);
      },
      close: async () => {
        if (this.failNextClose) {
          this.failNextClose = false;
          throw new Error('QuotaExceededError');
        }
        this.data = swap;
        this.commits++;
      },
      abort: async () => {},
    };
  }
}

describe('OpfsBackend (with a fake OPFS handle; the real API needs a browser)', () => {
  it('buffers writes, reads them back, and commits them at flush', async () => {
    const h = new FakeOpfsHandle(1 << 20);
    const o = await OpfsBackend.fromHandle(h);
    expect(o.size).toBe(1 << 20);
    await o.write(1000, pattern(5000, 1));
    expect(h.commits).toBe(0);
    expect(await readAll(o, 1000, 5000)).toEqual(pattern(5000, 1));
    expect(h.data.subarray(1000, 6000).every((x) => x === 0)).toBe(true);
    await o.flush();
    expect(h.commits).toBe(1);
    expect(h.data.subarray(1000, 6000)).toEqual(pattern(5000, 1));
    // Bytes of a partly written block outside what was written are not clobbered.
    expect(h.data[999]).toBe(0);
    expect(o.dirtyBytes).toBe(0);
  });

  it('loses nothing when a commit fails', async () => {
    const h = new FakeOpfsHandle(65536);
    const o = await OpfsBackend.fromHandle(h);
    await o.write(0, pattern(512, 2));
    h.failNextClose = true;
    await expect(o.flush()).rejects.toThrow(/Quota/);
    expect(o.dirtyBytes).toBeGreaterThan(0);
    await o.flush();
    expect(h.data.subarray(0, 512)).toEqual(pattern(512, 2));
  });

  it('keeps a block rewritten while a commit runs pending', async () => {
    const h = new FakeOpfsHandle(65536);
    const o = await OpfsBackend.fromHandle(h);
    await o.write(0, new Uint8Array(512).fill(1));
    const f = o.flush();
    await o.write(0, new Uint8Array(512).fill(2)); // lands during the commit
    await f;
    await o.flush();
    expect(h.data[0]).toBe(2);
    expect(o.dirtyBytes).toBe(0);
  });

  it('commits by itself when too much is pending, and refuses writes when read-only', async () => {
    const h = new FakeOpfsHandle(1 << 20);
    const o = await OpfsBackend.fromHandle(h, { maxDirtyBytes: 16384 });
    await o.write(0, pattern(32768, 3));
    expect(h.commits).toBe(1);
    expect(h.data.subarray(0, 32768)).toEqual(pattern(32768, 3));
    const ro = await OpfsBackend.fromHandle(h, { readOnly: true });
    await expect(ro.write(0, new Uint8Array(1))).rejects.toThrow(/read-only/);
    await o.writeZeroes(0, 4096);
    await o.close();
    expect(h.data.subarray(0, 4096).every((x) => x === 0)).toBe(true);
  });
});
