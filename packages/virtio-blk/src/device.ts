/**
 * The virtio-blk device model (virtio 1.2 §5.2): one request queue, asynchronous backends, every guest
 * request validated before it reaches storage.
 */
import {
  ConfigSpace,
  DEFAULT_TURN_LIMITS,
  SnapshotError,
  StateReader,
  DeviceId,
  TurnMeter,
  TurnWorker,
  bit,
  silentLogger,
  yieldTurn,
  type DescriptorChain,
  type Logger,
  type SavedState,
  type StateValue,
  type Virtqueue,
  type VirtioDevice,
  type VirtioDeviceContext,
} from '@virtio-desktop/virtio-core';
import type { BlockBackend } from './backend.js';
import {
  BlkConfig,
  BlkFeature,
  BlkStatus,
  BlkType,
  DISCARD_SEGMENT_SIZE,
  HEADER_SIZE,
  ID_BYTES,
  SECTOR_SIZE,
  WRITE_ZEROES_FLAG_UNMAP,
} from './constants.js';

export interface VirtioBlkOptions {
  backend: BlockBackend;
  /** Offer VIRTIO_BLK_F_RO and refuse writes; forced on when the backend is read-only. */
  readOnly?: boolean;
  /** GET_ID answer: printable ASCII, at most 20 bytes (default: empty, i.e. 20 NULs). */
  serial?: string;
  /** Logical block size, a power of two from 512 to 4096 (default 512). */
  blockSize?: number;
  /** Request queue size, a power of two from 2 to 32768 (default 256). */
  queueSize?: number;
  /** Data segments per request advertised in seg_max (default queueSize - 2, as Linux's sg limit). */
  segMax?: number;
  /** Offer DISCARD (default true unless read-only). */
  discard?: boolean;
  /** Offer WRITE_ZEROES (default true unless read-only). */
  writeZeroes?: boolean;
  /** max_discard_sectors and max_write_zeroes_sectors, per segment (default 4194304 = 2 GiB). */
  maxDiscardSectors?: number;
  /** max_discard_seg and max_write_zeroes_seg (default 32). */
  maxDiscardSeg?: number;
  /** discard_sector_alignment in 512-byte sectors (default max(blockSize, 4096) / 512). */
  discardSectorAlignment?: number;
  /** Bytes moved per backend call: bounds the memory one request uses (default 256 KiB). */
  chunkBytes?: number;
  /** Largest data part of one IN/OUT request in bytes (default segMax MiB); larger ones fail with IOERR. */
  maxRequestBytes?: number;
  /**
   * Work done per event-loop turn before the device yields (default 256 requests, 16 MiB): a guest
   * that queues a ring of huge reads must not freeze the viewer and the control socket meanwhile.
   */
  turnLimits?: { requests: number; bytes: number };
  /** Used before the transport hands a logger at activation. */
  log?: Logger;
}

/** Per-request counters, for tests and the inventory. */
export interface BlkStats {
  reads: number;
  writes: number;
  flushes: number;
  discards: number;
  writeZeroes: number;
  getIds: number;
  errors: number;
  unsupported: number;
  malformed: number;
  bytesRead: number;
  bytesWritten: number;
}

/** What a request resolved to: the status byte and how many data bytes were written into the chain. */
interface Outcome {
  status: number;
  written: number;
}

const ok = (written = 0): Outcome => ({ status: BlkStatus.Ok, written });
const IOERR: Outcome = { status: BlkStatus.IoErr, written: 0 };
const UNSUPP: Outcome = { status: BlkStatus.Unsupp, written: 0 };
const TWO32 = 0x1_0000_0000;
/**
 * Descriptors a request may use beyond seg_max (header pieces and the status byte). Bounding the chain
 * bounds the work per copied chunk, which re-walks the segment list.
 */
const MAX_EXTRA_DESCRIPTORS = 18;

export class VirtioBlkDevice implements VirtioDevice {
  readonly deviceId = DeviceId.Block;
  readonly features: bigint;
  readonly queueSizes: readonly number[];
  readonly configSize = BlkConfig.Size;
  readonly readOnly: boolean;
  readonly backend: BlockBackend;
  /** Disk size in 512-byte sectors (whole logical blocks only). */
  readonly capacity: number;
  readonly blockSize: number;
  readonly stats: BlkStats = {
    reads: 0,
    writes: 0,
    flushes: 0,
    discards: 0,
    writeZeroes: 0,
    getIds: 0,
    errors: 0,
    unsupported: 0,
    malformed: 0,
    bytesRead: 0,
    bytesWritten: 0,
  };

  private readonly config = new ConfigSpace(BlkConfig.Size);
  private readonly serial = new Uint8Array(ID_BYTES);
  private readonly segMax: number;
  private readonly maxDiscardSectors: number;
  private readonly maxDiscardSeg: number;
  private readonly chunkBytes: number;
  private readonly maxRequestBytes: number;
  private ctx: VirtioDeviceContext | null = null;
  private log: Logger;
  /** Bumped at reset: a request that finishes under an older generation writes nothing. */
  private generation = 0;
  private readonly inflight = new Set<Promise<void>>();
  private readonly meter: TurnMeter;
  private readonly worker: TurnWorker;

  constructor(opts: VirtioBlkOptions) {
    const bs = opts.blockSize ?? 512;
    if (!Number.isInteger(bs) || bs < 512 || bs > 4096 || (bs & (bs - 1)) !== 0)
      throw new RangeError(`blockSize must be 512, 1024, 2048 or 4096, got ${bs}`);
    const qs = opts.queueSize ?? 256;
    if (!Number.isInteger(qs) || qs < 2 || qs > 32768 || (qs & (qs - 1)) !== 0)
      throw new RangeError(`queueSize must be a power of two from 2 to 32768, got ${qs}`);
    const serial = opts.serial ?? '';
    if (serial.length > ID_BYTES || !/^[\x20-\x7e]*$/.test(serial))
      throw new RangeError(`serial must be at most ${ID_BYTES} printable ASCII characters`);
    this.backend = opts.backend;
    this.blockSize = bs;
    this.log = opts.log ?? silentLogger;
    this.readOnly = (opts.readOnly ?? false) || opts.backend.readOnly;
    this.capacity = (Math.floor(opts.backend.size / bs) * bs) / SECTOR_SIZE;
    this.segMax = clampInt(opts.segMax ?? qs - 2, 1, 0xffff_ffff, 'segMax');
    this.maxDiscardSectors = clampInt(opts.maxDiscardSectors ?? 1 << 22, 1, 0xffff_ffff, 'maxDiscardSectors');
    this.maxDiscardSeg = clampInt(opts.maxDiscardSeg ?? 32, 1, 0xffff_ffff, 'maxDiscardSeg');
    const align = clampInt(
      opts.discardSectorAlignment ?? Math.max(bs, 4096) / SECTOR_SIZE,
      1,
      0xffff_ffff,
      'discardSectorAlignment',
    );
    this.chunkBytes = clampInt(opts.chunkBytes ?? 256 * 1024, SECTOR_SIZE, 64 << 20, 'chunkBytes');
    this.maxRequestBytes = clampInt(
      opts.maxRequestBytes ?? this.segMax * 2 ** 20,
      SECTOR_SIZE,
      2 ** 40,
      'maxRequestBytes',
    );
    this.queueSizes = [qs];
    this.meter = new TurnMeter(opts.turnLimits ?? DEFAULT_TURN_LIMITS);
    this.worker = new TurnWorker(() => this.slice());
    this.serial.set(new TextEncoder().encode(serial));

    const discard = !this.readOnly && (opts.discard ?? true);
    const zeroes = !this.readOnly && (opts.writeZeroes ?? true);
    let f = bit(BlkFeature.SegMax) | bit(BlkFeature.BlkSize) | bit(BlkFeature.Flush);
    if (this.readOnly) f |= bit(BlkFeature.Ro);
    if (discard) f |= bit(BlkFeature.Discard);
    if (zeroes) f |= bit(BlkFeature.WriteZeroes);
    this.features = f;

    const c = this.config;
    c.set64(BlkConfig.Capacity, this.capacity);
    c.set32(BlkConfig.SegMax, this.segMax);
    c.set32(BlkConfig.BlkSize, bs);
    c.set16(BlkConfig.NumQueues, 1);
    if (discard) {
      c.set32(BlkConfig.MaxDiscardSectors, this.maxDiscardSectors);
      c.set32(BlkConfig.MaxDiscardSeg, this.maxDiscardSeg);
      c.set32(BlkConfig.DiscardSectorAlignment, align);
    }
    if (zeroes) {
      c.set32(BlkConfig.MaxWriteZeroesSectors, this.maxDiscardSectors);
      // Linux sizes write-zeroes ranges by the discard segment limit, so both share one value.
      c.set32(BlkConfig.MaxWriteZeroesSeg, this.maxDiscardSeg);
      c.set8(BlkConfig.WriteZeroesMayUnmap, 1);
    }
  }

  /** Requests handed to the backend and not yet completed (VirtioDevice.requestsInFlight). */
  get requestsInFlight(): number {
    // Requests still in the ring because a turn's slice ran out count too: the guest is waiting on them.
    return this.inflight.size + (this.worker.pending ? 1 : 0);
  }

  /** Resolves once every request in flight has completed (or been dropped by a reset). */
  async drain(): Promise<void> {
    for (;;) {
      if (this.inflight.size > 0) await Promise.all([...this.inflight]);
      else if (this.worker.pending) await yieldTurn();
      else return;
    }
  }

  /** Wait for in-flight requests, then close the backend. */
  async close(): Promise<void> {
    await this.drain();
    await this.backend.close?.();
  }

  /**
   * Snapshot, step 1 (the guest paused): let every request in flight finish, so the saved state holds
   * none (the guest sees them completed in its used ring), then let the backend get ready (hash a base).
   */
  async prepareSnapshot(): Promise<void> {
    if (!this.backend.saveState)
      throw new SnapshotError(`its storage (${this.backend.constructor.name}) cannot be snapshotted`);
    await this.drain();
    await this.backend.prepareSnapshot?.();
  }

  /** The counters and the backend's state; nothing is in flight after {@link prepareSnapshot}. */
  saveState(): SavedState {
    if (!this.backend.saveState)
      throw new SnapshotError(`its storage (${this.backend.constructor.name}) cannot be snapshotted`);
    if (this.requestsInFlight > 0)
      throw new SnapshotError('requests still in flight (prepareSnapshot first)');
    return {
      version: 1,
      data: {
        capacity: this.capacity,
        stats: { ...this.stats },
        backend: this.backend.saveState() as unknown as StateValue,
      },
    };
  }

  async restoreState(s: SavedState, ctx: VirtioDeviceContext | null): Promise<void> {
    const r = StateReader.of(s, 'virtio-blk', [1]);
    if (r.int('capacity') !== this.capacity) throw r.fail('capacity', 'differs from this disk');
    if (!this.backend.restoreState)
      throw new SnapshotError(`its storage (${this.backend.constructor.name}) cannot be restored`);
    const stats = r.sub('stats');
    await this.backend.restoreState(r.raw('backend') as unknown as SavedState);
    for (const k of Object.keys(this.stats) as (keyof BlkStats)[])
      if (stats.has(k)) this.stats[k] = stats.int(k, 0);
    if (ctx) {
      this.ctx = ctx;
      this.log = ctx.log;
    }
  }

  readConfig(offset: number, width: 1 | 2 | 4): number {
    return this.config.read(offset, width);
  }

  writeConfig(): void {
    // No writable fields: CONFIG_WCE is not offered.
  }

  activate(ctx: VirtioDeviceContext): void {
    this.ctx = ctx;
    this.log = ctx.log;
  }

  reset(): void {
    // The transport kills the old queues; the generation stops late completions from copying read data
    // into guest memory that the driver may already have reused.
    this.generation++;
    this.ctx = null;
    this.worker.cancel();
  }

  queueNotify(index: number): void {
    if (index === 0) this.worker.kick();
  }

  /** Start requests until the ring is empty or this turn's slice is used; true when some are left. */
  private slice(): boolean {
    const ctx = this.ctx;
    const q = ctx?.queues[0];
    if (!ctx || !q) return false;
    let synchronous = false;
    while (!this.meter.exhausted) {
      const c = q.pop();
      if (!c) break;
      // The data moves later, chunk by chunk, each chunk counted; the request itself is counted here.
      this.meter.spend(0);
      if (this.start(q, c, ctx)) synchronous = true;
    }
    if (synchronous) q.signal();
    return q.pending() > 0;
  }

  /** Validate and start one request; true when it already completed (pushed, not yet signalled). */
  private start(q: Virtqueue, c: DescriptorChain, ctx: VirtioDeviceContext): boolean {
    const rlen = c.readableLength;
    const wlen = c.writableLength;
    if (rlen < HEADER_SIZE || wlen < 1) {
      this.stats.malformed++;
      this.log.warn(
        `virtio-blk: request ${c.head} has ${rlen} readable and ${wlen} writable bytes; needs a 16-byte header and a status byte`,
      );
      q.push(c.head, 0);
      return true;
    }
    const hdr = c.readBytes(0, HEADER_SIZE);
    if (!hdr || c.readable.length + c.writable.length > this.segMax + MAX_EXTRA_DESCRIPTORS) {
      this.stats.malformed++;
      this.log.warn(`virtio-blk: request ${c.head} uses more descriptors than seg_max allows`);
      q.push(c.head, 0);
      return true;
    }
    const dv = new DataView(hdr.buffer);
    const type = dv.getUint32(0, true);
    const hi = dv.getUint32(12, true);
    // Sectors past 2^53 cannot be exact, but they are far past any capacity, so Infinity fails the range check.
    const sector = hi >= 0x20_0000 ? Infinity : hi * TWO32 + dv.getUint32(8, true);
    const gen = this.generation;

    let work: Outcome | Promise<Outcome>;
    try {
      work = this.dispatch(type, sector, c, ctx, gen);
    } catch (e) {
      this.log.error(`virtio-blk: request ${c.head} failed: ${String(e)}`);
      work = IOERR;
    }
    if (!(work instanceof Promise)) {
      this.finish(q, c, work, gen);
      return true;
    }
    const p: Promise<void> = work
      .catch((e: unknown): Outcome => {
        this.log.warn(`virtio-blk: backend error on request type ${type}: ${String(e)}`);
        return IOERR;
      })
      .then((o) => {
        this.inflight.delete(p);
        if (this.finish(q, c, o, gen)) q.signal();
      });
    this.inflight.add(p);
    return false;
  }

  /** Write the status and push; false when the device was reset meanwhile (nothing is written). */
  private finish(q: Virtqueue, c: DescriptorChain, o: Outcome, gen: number): boolean {
    if (gen !== this.generation || q.isBroken) return false;
    if (o.status === BlkStatus.IoErr) this.stats.errors++;
    else if (o.status === BlkStatus.Unsupp) this.stats.unsupported++;
    const wlen = c.writableLength;
    c.writeBytes(wlen - 1, new Uint8Array([o.status]));
    q.push(c.head, o.written + 1);
    return true;
  }

  private dispatch(
    type: number,
    sector: number,
    c: DescriptorChain,
    ctx: VirtioDeviceContext,
    gen: number,
  ): Outcome | Promise<Outcome> {
    const rdata = c.readableLength - HEADER_SIZE;
    const wdata = c.writableLength - 1;
    switch (type) {
      case BlkType.In:
        if (rdata !== 0) return this.bad(`IN request carries ${rdata} device-readable data bytes`);
        if (!this.rangeOk(sector, wdata, 'IN')) return IOERR;
        this.stats.reads++;
        return this.doRead(c, sector * SECTOR_SIZE, wdata, gen);
      case BlkType.Out:
        if (wdata !== 0) return this.bad(`OUT request has ${wdata} device-writable data bytes`);
        if (this.readOnly) return this.bad('write to a read-only disk');
        if (!this.rangeOk(sector, rdata, 'OUT')) return IOERR;
        this.stats.writes++;
        return this.doWrite(c, sector * SECTOR_SIZE, rdata, gen);
      case BlkType.Flush:
        this.stats.flushes++;
        return this.readOnly ? ok() : this.backend.flush().then(() => ok());
      case BlkType.GetId: {
        if (rdata !== 0) return this.bad(`GET_ID request carries ${rdata} device-readable data bytes`);
        this.stats.getIds++;
        const n = c.writeBytes(0, this.serial.subarray(0, Math.min(ID_BYTES, wdata)));
        return ok(n);
      }
      case BlkType.Discard:
      case BlkType.WriteZeroes:
        return this.doRanges(type, c, rdata, ctx, gen);
      default:
        this.log.debug(`virtio-blk: unsupported request type ${type}`);
        return UNSUPP;
    }
  }

  private bad(why: string): Outcome {
    this.log.warn(`virtio-blk: ${why}`);
    return IOERR;
  }

  /** Checks a data transfer of `bytes` at `sector`, overflow-safe (all values stay below 2^53). */
  private rangeOk(sector: number, bytes: number, what: string): boolean {
    if (bytes > this.maxRequestBytes) {
      this.bad(`${what} data length ${bytes} exceeds the ${this.maxRequestBytes}-byte request limit`);
      return false;
    }
    if (bytes % SECTOR_SIZE !== 0) {
      this.bad(`${what} data length ${bytes} not a multiple of 512`);
      return false;
    }
    if (!(sector <= this.capacity) || bytes / SECTOR_SIZE > this.capacity - sector) {
      this.bad(`${what} sectors [${sector}, +${bytes / SECTOR_SIZE}) beyond capacity ${this.capacity}`);
      return false;
    }
    return true;
  }

  private alive(gen: number): boolean {
    return gen === this.generation;
  }

  /** Read in bounded chunks through a bounce buffer, so a reset mid-way writes nothing to the guest. */
  private async doRead(c: DescriptorChain, offset: number, length: number, gen: number): Promise<Outcome> {
    const bounce = new Uint8Array(Math.min(length, this.chunkBytes));
    for (let pos = 0; pos < length; pos += bounce.length) {
      const piece = bounce.subarray(0, Math.min(bounce.length, length - pos));
      // A memory disk resolves at once: without this, a ring of huge reads runs to the end in microtasks.
      if (this.meter.exhausted) await this.meter.room();
      if (!this.alive(gen)) return IOERR;
      this.meter.spend(piece.length, 0);
      await this.backend.read(offset + pos, piece);
      if (!this.alive(gen)) return IOERR;
      if (c.writeBytes(pos, piece) !== piece.length) return IOERR;
    }
    this.stats.bytesRead += length;
    return ok(length);
  }

  private async doWrite(c: DescriptorChain, offset: number, length: number, gen: number): Promise<Outcome> {
    const chunk = Math.min(length, this.chunkBytes);
    for (let pos = 0; pos < length; pos += chunk) {
      // Stop at a reset: the driver no longer owns this request and may reuse the buffers.
      if (this.meter.exhausted) await this.meter.room();
      if (!this.alive(gen)) return IOERR;
      const n = Math.min(chunk, length - pos);
      this.meter.spend(n, 0);
      // readBytes copies, so the backend never holds a view of guest memory.
      const piece = c.readBytes(HEADER_SIZE + pos, n);
      if (!piece) return IOERR;
      await this.backend.write(offset + pos, piece);
    }
    this.stats.bytesWritten += length;
    return ok();
  }

  private doRanges(
    type: number,
    c: DescriptorChain,
    rdata: number,
    ctx: VirtioDeviceContext,
    gen: number,
  ): Outcome | Promise<Outcome> {
    const discard = type === BlkType.Discard;
    const name = discard ? 'DISCARD' : 'WRITE_ZEROES';
    const feature = discard ? BlkFeature.Discard : BlkFeature.WriteZeroes;
    if (!(ctx.negotiated & bit(feature))) return UNSUPP;
    if (c.writableLength !== 1) return this.bad(`${name} request has device-writable data`);
    if (this.readOnly) return this.bad(`${name} on a read-only disk`);
    if (rdata % DISCARD_SEGMENT_SIZE !== 0)
      return this.bad(`${name} data length ${rdata} not a multiple of 16`);
    const count = rdata / DISCARD_SEGMENT_SIZE;
    if (count > this.maxDiscardSeg)
      return this.bad(`${name} with ${count} segments, max ${this.maxDiscardSeg}`);
    const raw = c.readBytes(HEADER_SIZE, rdata);
    if (!raw) return IOERR;
    const dv = new DataView(raw.buffer);
    const ranges: [number, number][] = [];
    for (let i = 0; i < count; i++) {
      const o = i * DISCARD_SEGMENT_SIZE;
      const hi = dv.getUint32(o + 4, true);
      const sector = hi >= 0x20_0000 ? Infinity : hi * TWO32 + dv.getUint32(o, true);
      const num = dv.getUint32(o + 8, true);
      const flags = dv.getUint32(o + 12, true);
      // Spec: unknown flags, and unmap on a discard, are UNSUPP.
      if (flags & ~WRITE_ZEROES_FLAG_UNMAP || (discard && flags !== 0)) return UNSUPP;
      if (num > this.maxDiscardSectors)
        return this.bad(`${name} of ${num} sectors, max ${this.maxDiscardSectors}`);
      if (!(sector <= this.capacity) || num > this.capacity - sector)
        return this.bad(`${name} sectors [${sector}, +${num}) beyond capacity ${this.capacity}`);
      ranges.push([sector * SECTOR_SIZE, num * SECTOR_SIZE]);
    }
    if (discard) this.stats.discards++;
    else this.stats.writeZeroes++;
    return this.applyRanges(discard, ranges, gen);
  }

  private async applyRanges(discard: boolean, ranges: [number, number][], gen: number): Promise<Outcome> {
    const b = this.backend;
    for (const [off, len] of ranges) {
      if (!this.alive(gen)) return IOERR;
      if (len === 0) continue;
      if (discard) {
        if (b.discard) await b.discard(off, len);
      } else if (b.writeZeroes) {
        await b.writeZeroes(off, len);
      } else {
        const zero = new Uint8Array(Math.min(len, this.chunkBytes));
        for (let pos = 0; pos < len; pos += zero.length) {
          if (this.meter.exhausted) await this.meter.room();
          if (!this.alive(gen)) return IOERR;
          this.meter.spend(zero.length, 0);
          await b.write(off + pos, zero.subarray(0, Math.min(zero.length, len - pos)));
        }
      }
    }
    return ok();
  }
}

function clampInt(v: number, min: number, max: number, name: string): number {
  if (!Number.isInteger(v) || v < min || v > max)
    throw new RangeError(`${name} must be an integer from ${min} to ${max}`);
  return v;
}
