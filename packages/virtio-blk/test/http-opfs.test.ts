import { describe, expect, it, vi } from 'vitest';
import {
  HttpRangeBackend,
  OpfsBlockStore,
  OpfsChunkCache,
  PersistentOverlayBackend,
  type BlockStoreOptions,
  parseContentRange,
  type SyncFileLike,
} from '../src/browser.js';

const SIZE = 1 << 20;
const image = new Uint8Array(SIZE).map((_, i) => (i * 7 + (i >> 9)) & 0xff);

/** A fetch that serves `image` with Range support, counting requests; `mode` makes it misbehave. */
function server(mode: 'ok' | 'no-range' | 'wrong-range' | '500-once' = 'ok') {
  const log: string[] = [];
  let failed = false;
  const f = (async (_url: string, init?: { headers?: Record<string, string> }) => {
    const range = init?.headers?.Range ?? '';
    log.push(range);
    const m = /^bytes=(\d+)-(\d+)$/.exec(range);
    if (mode === 'no-range' || !m) return new Response(image.slice(), { status: 200 });
    if (mode === '500-once' && !failed && range !== 'bytes=0-0') {
      failed = true;
      return new Response('', { status: 503 });
    }
    let [a, b] = [Number(m[1]), Number(m[2])];
    if (mode === 'wrong-range' && a > 0) [a, b] = [a + 512, b + 512];
    b = Math.min(b, SIZE - 1);
    return new Response(image.slice(a, b + 1), {
      status: 206,
      headers: { 'content-range': `bytes ${a}-${b}/${SIZE}`, etag: '"v1"' },
    });
  }) as unknown as typeof fetch;
  return { f, log };
}

/** An in-memory FileSystemSyncAccessHandle. */
class MemFile implements SyncFileLike {
  buf = new Uint8Array(0);
  read(b: Uint8Array, o: { at: number }): number {
    const n = Math.max(0, Math.min(b.length, this.buf.length - o.at));
    b.set(this.buf.subarray(o.at, o.at + n));
    return n;
  }
  write(b: Uint8Array, o: { at: number }): number {
    if (o.at + b.length > this.buf.length) this.truncate(o.at + b.length);
    this.buf.set(b, o.at);
    return b.length;
  }
  getSize(): number {
    return this.buf.length;
  }
  truncate(n: number): void {
    const nb = new Uint8Array(n);
    nb.set(this.buf.subarray(0, n));
    this.buf = nb;
  }
  flush(): void {}
  close(): void {}
}

describe('HttpRangeBackend', () => {
  it('reads any range lazily, in chunk-aligned requests, and never asks twice for a cached chunk', async () => {
    const s = server();
    const d = await HttpRangeBackend.open({ url: 'http://x/img', fetch: s.f, chunkSize: 4096 });
    expect(d.size).toBe(SIZE);
    const dest = new Uint8Array(10_000);
    await d.read(5000, dest);
    expect(dest).toEqual(image.subarray(5000, 15_000));
    expect(s.log.slice(1)).toEqual(['bytes=4096-16383']);
    await d.read(4096, new Uint8Array(8192));
    expect(s.log.length).toBe(2);
    expect(d.stats.bytesFetched).toBe(12_288);
    await expect(d.read(SIZE - 512, new Uint8Array(1024))).rejects.toThrow(/read/);
    await expect(d.write()).rejects.toThrow(/read-only/);
  });

  it('says clearly when the server cannot serve ranges or answers the wrong one, and retries a 5xx', async () => {
    await expect(HttpRangeBackend.open({ url: 'http://x/img', fetch: server('no-range').f })).rejects.toThrow(
      /does not answer range requests/,
    );
    const w = await HttpRangeBackend.open({ url: 'http://x/img', fetch: server('wrong-range').f });
    await expect(w.read(1 << 19, new Uint8Array(512))).rejects.toThrow(/another range/);
    const r = server('500-once');
    const d = await HttpRangeBackend.open({ url: 'http://x/img', fetch: r.f, chunkSize: 4096 });
    const dest = new Uint8Array(512);
    await d.read(8192, dest);
    expect(dest).toEqual(image.subarray(8192, 8704));
    expect(parseContentRange('bytes 5-1/10')).toBeNull();
    expect(parseContentRange('bytes 0-9/*')).toBeNull();
  });

  it('keeps chunks in an OPFS block store that a second open reuses (same tag) or empties (another)', async () => {
    const [data, index] = [new MemFile(), new MemFile()];
    const opts = { blockSize: 4096, blocks: SIZE / 4096, tag: 'http://x/img 1048576 "v1"' };
    const s = server();
    const first = new OpfsBlockStore(data, index, opts);
    const d = await HttpRangeBackend.open({
      url: 'http://x/img',
      fetch: s.f,
      chunkSize: 4096,
      cache: new OpfsChunkCache(first),
    });
    await d.read(0, new Uint8Array(4096 * 3));
    first.close(); // the page goes; its index words are written
    const s2 = server();
    const again = await HttpRangeBackend.open({
      url: 'http://x/img',
      fetch: s2.f,
      chunkSize: 4096,
      cache: new OpfsChunkCache(new OpfsBlockStore(data, index, opts)),
    });
    const dest = new Uint8Array(4096 * 3);
    await again.read(0, dest);
    expect(dest).toEqual(image.subarray(0, 4096 * 3));
    expect(s2.log).toEqual(['bytes=0-0']);
    const other = new OpfsBlockStore(data, index, { ...opts, tag: 'changed' });
    expect(other.entries).toBe(0);
  });
});

describe('PersistentOverlayBackend', () => {
  it('writes land over the base, survive reopening the store, and clear() drops them', async () => {
    const [data, index] = [new MemFile(), new MemFile()];
    const opts = { blockSize: 4096, blocks: SIZE / 4096, tag: 'overlay' };
    const base = await HttpRangeBackend.open({ url: 'http://x/img', fetch: server().f, chunkSize: 4096 });
    const o = new PersistentOverlayBackend(base, new OpfsBlockStore(data, index, opts));
    // A partial-block write: the rest of the block comes from the base.
    await o.write(4096 + 100, new Uint8Array(50).fill(0xee));
    await o.writeZeroes(8192, 4096);
    await o.flush();
    const check = async (b: PersistentOverlayBackend) => {
      const got = new Uint8Array(3 * 4096);
      await b.read(4096, got);
      const want = image.slice(4096, 4 * 4096);
      want.fill(0xee, 100, 150);
      want.fill(0, 4096, 8192);
      expect(got).toEqual(want);
    };
    await check(o);
    // A reload: a new store over the same files.
    const store = new OpfsBlockStore(data, index, opts);
    const o2 = new PersistentOverlayBackend(base, store);
    await check(o2);
    expect(o2.blocksChanged).toBe(2);
    store.clear();
    const got = new Uint8Array(4096);
    await o2.read(4096, got);
    expect(got).toEqual(image.subarray(4096, 8192));
  });

  it('an index that points past the blocks file (a write cut short) reads the base there', async () => {
    const [data, index] = [new MemFile(), new MemFile()];
    const opts = { blockSize: 4096, blocks: SIZE / 4096, tag: 't' };
    const s = new OpfsBlockStore(data, index, opts);
    s.write(3, new Uint8Array(4096).fill(1));
    s.flush();
    data.truncate(100);
    expect(new OpfsBlockStore(data, index, opts).has(3)).toBe(false);
  });
});

describe('snapshots of the HTTP disk and its OPFS overlay', () => {
  it('the overlay saves its blocks and the image by reference; a restore brings them back, a changed image is refused', async () => {
    const opts = { blockSize: 4096, blocks: SIZE / 4096, tag: 'snap' };
    const base = await HttpRangeBackend.open({ url: 'http://x/img', fetch: server().f, chunkSize: 4096 });
    const o = new PersistentOverlayBackend(base, new OpfsBlockStore(new MemFile(), new MemFile(), opts));
    await o.write(8192, new Uint8Array(4096).fill(7));
    await o.writeZeroes(0, 4096);
    await o.prepareSnapshot();
    const saved = o.saveState();
    // Later writes are undone by the restore.
    await o.write(8192, new Uint8Array(4096).fill(1));
    const other = new PersistentOverlayBackend(base, new OpfsBlockStore(new MemFile(), new MemFile(), opts));
    await other.restoreState(saved);
    const got = new Uint8Array(3 * 4096);
    await other.read(0, got);
    const want = image.slice(0, 3 * 4096);
    want.fill(0, 0, 4096);
    want.fill(7, 8192);
    expect(got).toEqual(want);
    expect(other.blocksChanged).toBe(2);
    // The same image served with another ETag: refused, nothing changed.
    const changed = HttpRangeBackend.withInfo(
      { url: 'http://x/img', fetch: server().f },
      { size: SIZE, etag: '"v2"', lastModified: null },
    );
    const o3 = new PersistentOverlayBackend(changed, new OpfsBlockStore(new MemFile(), new MemFile(), opts));
    await expect(o3.restoreState(saved)).rejects.toThrow(/image on the server changed/);
    expect(o3.blocksChanged).toBe(0);
  });
});

/** A MemFile that counts the calls made on it. */
class CountingFile extends MemFile {
  reads = 0;
  writes = 0;
  override read(b: Uint8Array, o: { at: number }): number {
    this.reads++;
    return super.read(b, o);
  }
  override write(b: Uint8Array, o: { at: number }): number {
    this.writes++;
    return super.write(b, o);
  }
}

describe('few calls on the synchronous handles (each one is costly in a browser)', () => {
  const opts: BlockStoreOptions = { blockSize: 4096, blocks: SIZE / 4096, tag: 'calls' };
  const fresh = () => {
    const [data, index] = [new CountingFile(), new CountingFile()];
    const store = new OpfsBlockStore(data, index, opts);
    [data.writes, index.writes] = [0, 0];
    return { data, index, store };
  };

  it('index words are written in a batch at flush, and a reopened store then has every block', () => {
    const { data, index, store } = fresh();
    for (let b = 0; b < 200; b++) store.markZero(b);
    for (let b = 200; b < 210; b++) store.write(b, new Uint8Array(4096).fill(b));
    store.markZero(250); // the last page of the index: a second run
    expect(index.writes).toBe(0);
    store.flush();
    expect(index.writes).toBe(1);
    const again = new OpfsBlockStore(data, index, opts);
    expect(again.list().zeros).toEqual([...Array(200).keys(), 250]);
    const got = new Uint8Array(4096);
    expect(again.read(205, got)).toBe(true);
    expect(got).toEqual(new Uint8Array(4096).fill(205));
  });

  it('without a flush, the index reaches the file within INDEX_DELAY_MS, and close() writes it', () => {
    vi.useFakeTimers();
    try {
      const { data, index, store } = fresh();
      store.markZero(7);
      store.markZero(8);
      expect(new OpfsBlockStore(data, index, opts).has(7)).toBe(false);
      vi.advanceTimersByTime(600);
      expect(index.writes).toBe(1);
      expect(new OpfsBlockStore(data, index, opts).has(8)).toBe(true);
      store.markZero(9);
      store.close();
      expect(new OpfsBlockStore(data, index, opts).has(9)).toBe(true);
    } finally {
      vi.useRealTimers();
    }
  });

  it('a run of whole blocks is one write; rewriting a mix of stored and new blocks keeps each right', () => {
    const { data, store } = fresh();
    const blocks = (n: number, v: number) => new Uint8Array(n * 4096).map((_, i) => (v + (i >> 12)) & 0xff);
    store.writeBlocks(10, blocks(16, 1));
    expect(data.writes).toBe(1);
    store.write(30, new Uint8Array(4096).fill(0x30)); // a slot between
    // Blocks 24..33: 24..25 new, 26 stored (from the run), ... a mix of runs.
    store.writeBlocks(24, blocks(10, 100));
    const got = new Uint8Array(4096);
    for (let b = 10; b < 34; b++) {
      expect(store.read(b, got)).toBe(true);
      const v = b >= 24 ? 100 + (b - 24) : 1 + (b - 10);
      expect(got[0], `block ${b}`).toBe(v & 0xff);
      expect(got[4095]).toBe(v & 0xff);
    }
    expect(() => store.writeBlocks(0, new Uint8Array(100))).toThrow(RangeError);
  });

  it('an overlay write of many blocks is one write to the blocks file; pieces still merge with the base', async () => {
    const { data, store } = fresh();
    const base = await HttpRangeBackend.open({ url: 'http://x/img', fetch: server().f, chunkSize: 4096 });
    const o = new PersistentOverlayBackend(base, store);
    await o.write(100 * 4096, new Uint8Array(64 * 1024).fill(0xab));
    expect(data.writes).toBe(1);
    await o.write(200 * 4096 + 10, new Uint8Array(3 * 4096).fill(0xcd)); // piece, 2 whole, piece
    const got = new Uint8Array(4 * 4096);
    await o.read(200 * 4096, got);
    const want = image.slice(200 * 4096, 204 * 4096);
    want.fill(0xcd, 10, 10 + 3 * 4096);
    expect(got).toEqual(want);
  });

  it('with memoryBytes, the chunk cache reads a chunk from the file once for many small reads', () => {
    const { data, store } = fresh();
    const cache = new OpfsChunkCache(store, { memoryBytes: 1 << 20 });
    const chunk = new Uint8Array(4096).map((_, i) => i & 0xff);
    store.write(3, chunk); // there from an earlier visit: not in memory yet
    data.reads = 0;
    const got = new Uint8Array(512);
    for (let k = 0; k < 8; k++) {
      expect(cache.get(3, got, k * 512)).toBe(true);
      expect(got).toEqual(chunk.subarray(k * 512, (k + 1) * 512));
    }
    expect(data.reads).toBe(1);
    expect(cache.get(4, got)).toBe(false);
    cache.put(5, chunk);
    expect(cache.get(5, got, 512)).toBe(true);
    expect(data.reads).toBe(1);
  });
});
