/**
 * The HTTP disk's chunk cache with its OPFS writes put off until the guest is up and the disk has been
 * quiet for a while.
 *
 * Writing a fetched 256 KiB chunk to OPFS costs the worker ~4 ms (Chromium, a synchronous access handle),
 * and a first boot of the desktop fetches ~190 of them: ~0.8 s of the machine's thread while the guest
 * waits to become usable. The writes only serve a later visit, so while `held` (the worker holds them
 * until the guest's ready line) and until no chunk has arrived for `quietMs` they wait, and then go out
 * a few at a time, between the guest's slices. (A quiet disk alone is not enough: the desktop's boot
 * reads nothing new for ~10 s while X starts, and the writes then landed in the middle of it.) Until
 * written, a chunk is served from here. What is still pending when the page closes is fetched again
 * next time: a cache miss, never wrong data.
 */
import type { ChunkCache } from '@virtio-desktop/virtio-blk/browser';

export interface DeferredChunkCacheOptions {
  /** How long no chunk must arrive before writes start (default 2000 ms). */
  quietMs?: number;
  /** Chunks written per turn of the event loop once writing (default 2). */
  perTurn?: number;
  /** Pending bytes above which the oldest chunks are written at once (default 64 MiB). */
  maxPendingBytes?: number;
  /** Start held: nothing is written (but past maxPendingBytes) until release() (default false). */
  held?: boolean;
}

export class DeferredChunkCache implements ChunkCache {
  private readonly pending = new Map<number, Uint8Array>();
  private pendingBytes = 0;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private readonly quietMs: number;
  private readonly perTurn: number;
  private readonly maxPendingBytes: number;
  private held: boolean;

  constructor(
    private readonly inner: ChunkCache,
    o: DeferredChunkCacheOptions = {},
  ) {
    this.quietMs = o.quietMs ?? 2000;
    this.perTurn = Math.max(1, o.perTurn ?? 2);
    this.maxPendingBytes = o.maxPendingBytes ?? 64 << 20;
    this.held = o.held ?? false;
  }

  /** Let the writes start (after `quietMs` without a new chunk). */
  release(): void {
    if (!this.held) return;
    this.held = false;
    this.schedule(this.quietMs);
  }

  /** Chunks not yet handed to the inner cache. */
  get pendingChunks(): number {
    return this.pending.size;
  }

  get(index: number, dest: Uint8Array, start = 0): boolean {
    const d = this.pending.get(index);
    if (!d) return this.inner.get(index, dest, start);
    if (start + dest.length > d.length) return false;
    dest.set(d.subarray(start, start + dest.length));
    return true;
  }

  put(index: number, data: Uint8Array): void {
    const old = this.pending.get(index);
    if (old) this.pendingBytes -= old.length;
    this.pending.delete(index);
    this.pending.set(index, data);
    this.pendingBytes += data.length;
    // Bounded: past the limit the oldest go to the inner cache now, as they did before this class.
    while (this.pendingBytes > this.maxPendingBytes) this.writeOne();
    this.schedule(this.quietMs);
  }

  /** Write everything pending now (before the store closes). */
  flush(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    while (this.pending.size) this.writeOne();
  }

  private schedule(ms: number): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = this.pending.size && !this.held ? setTimeout(() => this.turn(), ms) : null;
  }

  private turn(): void {
    this.timer = null;
    for (let i = 0; i < this.perTurn && this.pending.size; i++) this.writeOne();
    // The next few on a later turn, so the guest keeps running in between.
    this.schedule(0);
  }

  private writeOne(): void {
    const first = this.pending.entries().next();
    if (first.done) return;
    const [index, data] = first.value;
    this.pending.delete(index);
    this.pendingBytes -= data.length;
    try {
      this.inner.put(index, data);
    } catch {
      // A full or broken cache only costs a refetch later (as HttpRangeBackend treats it).
    }
  }
}
