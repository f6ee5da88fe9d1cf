/**
 * A read-only disk image on an HTTP server, read in chunks with Range requests as the guest touches it
 * (a lazy disk: a desktop boots after fetching the blocks it reads, not the whole image). Runs wherever
 * `fetch` exists (browsers, workers, Node). Chunks can be kept in a {@link ChunkCache} (OPFS in a
 * browser: see opfs-store.ts), so a second visit fetches nothing it already has.
 */
import { SnapshotError, StateReader, type SavedState } from '@virtio-desktop/virtio-core';
import type { BlockBackend } from './backend.js';
import { inDisk, rangeError } from './sparse.js';

/** Where fetched chunks are kept; a chunk is `chunkSize` bytes (the last one may be shorter). */
export interface ChunkCache {
  /**
   * Fill `dest` with bytes of chunk `index` from byte `start` of it (a small read copies only what it
   * needs) and return true, or return false when the chunk is not there.
   */
  get(index: number, dest: Uint8Array, start?: number): boolean;
  put(index: number, data: Uint8Array): void;
}

export interface HttpRangeBackendOptions {
  url: string;
  /** Bytes per request unit (a power of two >= 4096; default 256 KiB). */
  chunkSize?: number;
  /** Chunks fetched in one request when the guest reads a run of missing ones (default 16). */
  maxChunksPerRequest?: number;
  /** Keep chunks here; absent: an in-memory cache of up to `memoryCacheBytes`. */
  cache?: ChunkCache;
  /** Bound of the default in-memory cache (default 64 MiB; the guest's page cache holds the rest). */
  memoryCacheBytes?: number;
  /** Tries per request on network errors and 5xx answers (default 3). */
  tries?: number;
  /** Called with the body bytes of each answered request (progress, benchmarks). */
  onFetched?: (bytes: number) => void;
  fetch?: typeof fetch;
}

/** What a server said about the image when it was opened: its size and validators. */
export interface HttpImageInfo {
  size: number;
  etag: string | null;
  lastModified: string | null;
}

/** One line saying why an image cannot be read: the URL and what the server answered. */
export class HttpDiskError extends Error {
  override name = 'HttpDiskError';
}

const MAX_CHUNK = 16 << 20;

export class HttpRangeBackend implements BlockBackend {
  readonly readOnly = true;
  readonly size: number;
  readonly chunkSize: number;
  /** Bytes and requests answered so far. */
  readonly stats = { bytesFetched: 0, requests: 0, cacheHits: 0 };
  private readonly cache: ChunkCache;
  private readonly inflight = new Map<number, Promise<Uint8Array>>();
  private readonly fetchFn: typeof fetch;
  private closed = false;

  private constructor(
    private readonly o: HttpRangeBackendOptions,
    readonly info: HttpImageInfo,
  ) {
    const cs = o.chunkSize ?? 256 * 1024;
    if (!Number.isInteger(cs) || cs < 4096 || cs > MAX_CHUNK || (cs & (cs - 1)) !== 0)
      throw new RangeError(`chunkSize must be a power of two from 4096 to 16 MiB, got ${cs}`);
    this.chunkSize = cs;
    this.size = info.size;
    this.cache = o.cache ?? new MemoryChunkCache(o.memoryCacheBytes ?? 64 << 20);
    this.fetchFn = o.fetch ?? globalThis.fetch.bind(globalThis);
  }

  /** Ask the server for the image's size (one 1-byte range request) and open it. */
  static async open(o: HttpRangeBackendOptions): Promise<HttpRangeBackend> {
    const info = await probe(o.url, o.fetch ?? globalThis.fetch.bind(globalThis));
    return new HttpRangeBackend(o, info);
  }

  /** Open with what is already known (no request), e.g. from a manifest that states the size. */
  static withInfo(o: HttpRangeBackendOptions, info: HttpImageInfo): HttpRangeBackend {
    if (!Number.isSafeInteger(info.size) || info.size < 512)
      throw new RangeError(`image size must be at least 512 bytes, got ${info.size}`);
    return new HttpRangeBackend(o, info);
  }

  async read(offset: number, dest: Uint8Array): Promise<void> {
    if (this.closed) throw new Error('HTTP disk is closed');
    if (!inDisk(offset, dest.length, this.size)) throw rangeError('read', offset, dest.length, this.size);
    if (dest.length === 0) return;
    const cs = this.chunkSize;
    const first = Math.floor(offset / cs);
    const last = Math.floor((offset + dest.length - 1) / cs);
    const maxRun = Math.max(1, this.o.maxChunksPerRequest ?? 16);
    const waits: Promise<void>[] = [];
    /** The part of chunk c this read needs: its bytes [s, e) go to dest at s + c * cs - offset. */
    const part = (c: number) => {
      const s = Math.max(offset, c * cs) - c * cs;
      const e = Math.min(offset + dest.length, (c + 1) * cs) - c * cs;
      return { s, e, to: dest.subarray(c * cs + s - offset, c * cs + e - offset) };
    };
    const copyFrom = (c: number, p: Promise<Uint8Array>): void => {
      const { s, e, to } = part(c);
      waits.push(p.then((data) => to.set(data.subarray(s, e))));
    };
    let run: number[] = [];
    const startRun = (): void => {
      if (run.length === 0) return;
      const r = run;
      run = [];
      const all = this.fetchRun(r[0], r[r.length - 1]);
      r.forEach((c, k) => {
        const p = all.then((list) => list[k]);
        this.inflight.set(c, p);
        const done = (): void => void this.inflight.delete(c);
        p.then(done, done);
        copyFrom(c, p);
      });
    };
    for (let c = first; c <= last; c++) {
      const going = this.inflight.get(c);
      if (going) {
        startRun();
        copyFrom(c, going);
        continue;
      }
      const { s, to } = part(c);
      if (this.cache.get(c, to, s)) {
        this.stats.cacheHits++;
        startRun();
        continue;
      }
      run.push(c);
      if (run.length >= maxRun) startRun();
    }
    startRun();
    await Promise.all(waits);
  }

  async write(): Promise<void> {
    throw new Error('HTTP disk image is read-only');
  }

  async flush(): Promise<void> {}

  async close(): Promise<void> {
    this.closed = true;
  }

  /** Snapshots refer to the image by URL, size and validator: its bytes stay on the server. */
  async prepareSnapshot(): Promise<void> {}

  saveState(): SavedState {
    return {
      version: 1,
      data: {
        url: this.o.url,
        size: this.size,
        etag: this.info.etag ?? '',
        lastModified: this.info.lastModified ?? '',
      },
    };
  }

  /** A snapshot of another image (size, ETag or Last-Modified differ) is refused with one line. */
  async restoreState(s: SavedState): Promise<void> {
    const r = StateReader.of(s, 'HTTP disk', [1]);
    if (r.int('size', 0) !== this.size) throw r.fail('size', 'differs: the image on the server changed');
    const same = (saved: string, now: string | null): boolean =>
      saved === '' || now === null || saved === now;
    if (!same(r.str('etag'), this.info.etag) || !same(r.str('lastModified'), this.info.lastModified))
      throw new SnapshotError('HTTP disk: the image on the server changed since the snapshot');
  }

  private chunkLength(c: number): number {
    return Math.min(this.chunkSize, this.size - c * this.chunkSize);
  }

  /** One request for chunks a..b, split into chunks and cached. */
  private async fetchRun(a: number, b: number): Promise<Uint8Array[]> {
    const from = a * this.chunkSize;
    const to = Math.min(this.size, (b + 1) * this.chunkSize); // exclusive
    const body = await this.fetchRange(from, to);
    const list: Uint8Array[] = [];
    for (let c = a; c <= b; c++) {
      const piece = body.slice((c - a) * this.chunkSize, (c - a) * this.chunkSize + this.chunkLength(c));
      try {
        this.cache.put(c, piece);
      } catch {
        // A full or broken cache only costs a refetch later.
      }
      list.push(piece);
    }
    return list;
  }

  private async fetchRange(from: number, to: number): Promise<Uint8Array> {
    const tries = Math.max(1, this.o.tries ?? 3);
    let last: unknown;
    for (let t = 0; t < tries; t++) {
      if (t > 0) await new Promise((r) => setTimeout(r, 200 * 2 ** t));
      try {
        const headers: Record<string, string> = { Range: `bytes=${from}-${to - 1}` };
        // The image changed on the server since it was opened: a 200 with the whole new file instead of
        // a piece of the old one, which is then refused below.
        if (this.info.etag) headers['If-Range'] = this.info.etag;
        const res = await this.fetchFn(this.o.url, { headers });
        if (res.status >= 500) {
          last = new HttpDiskError(`${this.o.url}: HTTP ${res.status} for bytes ${from}-${to - 1}`);
          continue;
        }
        if (res.status !== 206)
          throw new HttpDiskError(
            res.status === 200
              ? `${this.o.url}: the server ignored the range request (or the image changed)`
              : `${this.o.url}: HTTP ${res.status} for bytes ${from}-${to - 1}`,
          );
        const cr = parseContentRange(res.headers.get('content-range'));
        if (!cr || cr.start !== from || cr.end !== to - 1 || cr.total !== this.size)
          throw new HttpDiskError(
            `${this.o.url}: the server answered another range than bytes ${from}-${to - 1}`,
          );
        const body = new Uint8Array(await res.arrayBuffer());
        if (body.length !== to - from)
          throw new HttpDiskError(`${this.o.url}: ${body.length} bytes for a range of ${to - from}`);
        this.stats.requests++;
        this.stats.bytesFetched += body.length;
        this.o.onFetched?.(body.length);
        return body;
      } catch (e) {
        if (e instanceof HttpDiskError) throw e;
        last = e; // network error: try again
      }
    }
    throw last instanceof Error ? last : new HttpDiskError(`${this.o.url}: ${String(last)}`);
  }
}

/** `bytes START-END/TOTAL`; null for anything else (a total of `*` included: we need the size). */
export function parseContentRange(v: string | null): { start: number; end: number; total: number } | null {
  const m = v === null ? null : /^bytes (\d{1,16})-(\d{1,16})\/(\d{1,16})$/.exec(v.trim());
  if (!m) return null;
  const [start, end, total] = [Number(m[1]), Number(m[2]), Number(m[3])];
  return start <= end && end < total ? { start, end, total } : null;
}

async function probe(url: string, f: typeof fetch): Promise<HttpImageInfo> {
  let res: Response;
  try {
    res = await f(url, { headers: { Range: 'bytes=0-0' } });
  } catch (e) {
    throw new HttpDiskError(`${url}: ${(e as Error).message}`);
  }
  if (res.status !== 206) {
    void res.body?.cancel().catch(() => {});
    throw new HttpDiskError(
      res.status === 200
        ? `${url}: the server does not answer range requests (a lazy disk needs them)`
        : `${url}: HTTP ${res.status}`,
    );
  }
  await res.arrayBuffer();
  const cr = parseContentRange(res.headers.get('content-range'));
  if (!cr || cr.total < 512) throw new HttpDiskError(`${url}: no usable Content-Range in the answer`);
  return { size: cr.total, etag: res.headers.get('etag'), lastModified: res.headers.get('last-modified') };
}

/** Chunks in memory, the least recently used dropped past a byte bound. */
export class MemoryChunkCache implements ChunkCache {
  private readonly map = new Map<number, Uint8Array>();
  private bytes = 0;

  constructor(private readonly maxBytes: number) {}

  get(index: number, dest: Uint8Array, start = 0): boolean {
    const d = this.map.get(index);
    if (!d || start + dest.length > d.length) return false;
    this.map.delete(index);
    this.map.set(index, d);
    dest.set(d.subarray(start, start + dest.length));
    return true;
  }

  put(index: number, data: Uint8Array): void {
    const old = this.map.get(index);
    if (old) this.bytes -= old.length;
    this.map.delete(index);
    this.map.set(index, data);
    this.bytes += data.length;
    for (const [k, v] of this.map) {
      if (this.bytes <= this.maxBytes) break;
      this.map.delete(k);
      this.bytes -= v.length;
    }
  }
}
