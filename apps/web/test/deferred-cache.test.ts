import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { ChunkCache } from '@virtio-desktop/virtio-blk/browser';
import { DeferredChunkCache } from '../src/deferred-cache.js';

/** A chunk cache that records its writes (the OPFS one, without OPFS). */
function recording(): ChunkCache & { writes: number[]; map: Map<number, Uint8Array> } {
  const map = new Map<number, Uint8Array>();
  const writes: number[] = [];
  return {
    map,
    writes,
    get(index, dest, start = 0) {
      const d = map.get(index);
      if (!d) return false;
      dest.set(d.subarray(start, start + dest.length));
      return true;
    },
    put(index, data) {
      writes.push(index);
      map.set(index, data);
    },
  };
}

const chunk = (fill: number, n = 16): Uint8Array => new Uint8Array(n).fill(fill);

describe('DeferredChunkCache', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('writes nothing while chunks keep arriving, serves them meanwhile, then writes them all', () => {
    const inner = recording();
    const c = new DeferredChunkCache(inner, { quietMs: 100, perTurn: 2 });
    for (let i = 0; i < 5; i++) {
      c.put(i, chunk(i + 1));
      vi.advanceTimersByTime(60); // less than quietMs between chunks: a boot still fetching
    }
    expect(inner.writes).toEqual([]);
    const dest = new Uint8Array(4);
    expect(c.get(3, dest, 2)).toBe(true);
    expect([...dest]).toEqual([4, 4, 4, 4]);
    vi.advanceTimersByTime(39); // the last chunk came 60 ms ago: still not quiet for 100
    expect(inner.writes).toEqual([]);
    vi.advanceTimersToNextTimer();
    // A few per turn, so the guest runs in between.
    expect(inner.writes).toEqual([0, 1]);
    vi.runAllTimers();
    expect(inner.writes).toEqual([0, 1, 2, 3, 4]);
    expect(c.pendingChunks).toBe(0);
    expect(c.get(4, dest)).toBe(true);
    expect([...dest]).toEqual([5, 5, 5, 5]);
    expect(c.get(9, dest)).toBe(false);
  });

  it('held, it writes nothing however quiet the disk is, until release()', () => {
    const inner = recording();
    const c = new DeferredChunkCache(inner, { quietMs: 100, held: true });
    c.put(1, chunk(1));
    vi.advanceTimersByTime(60_000);
    expect(inner.writes).toEqual([]);
    c.release();
    vi.advanceTimersByTime(99);
    expect(inner.writes).toEqual([]);
    vi.runAllTimers();
    expect(inner.writes).toEqual([1]);
  });

  it('flush() writes what is pending at once (before the store closes)', () => {
    const inner = recording();
    const c = new DeferredChunkCache(inner, { quietMs: 10_000 });
    c.put(7, chunk(7));
    c.put(8, chunk(8));
    c.flush();
    expect(inner.writes).toEqual([7, 8]);
    vi.runAllTimers();
    expect(inner.writes).toEqual([7, 8]);
  });

  it('holds at most maxPendingBytes: past it the oldest chunks are written at once', () => {
    const inner = recording();
    const c = new DeferredChunkCache(inner, { quietMs: 10_000, maxPendingBytes: 32 });
    c.put(1, chunk(1));
    c.put(2, chunk(2));
    expect(inner.writes).toEqual([]);
    c.put(3, chunk(3));
    expect(inner.writes).toEqual([1]);
    expect(c.pendingChunks).toBe(2);
  });

  it('a cache that throws on a write costs only that chunk', () => {
    const inner = recording();
    const put = inner.put.bind(inner);
    inner.put = (i, d) => {
      if (i === 1) throw new Error('quota');
      put(i, d);
    };
    const c = new DeferredChunkCache(inner, { quietMs: 1 });
    c.put(1, chunk(1));
    c.put(2, chunk(2));
    expect(() => vi.runAllTimers()).not.toThrow();
    expect(inner.writes).toEqual([2]);
  });
});
