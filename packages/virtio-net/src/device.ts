/**
 * The virtio-net device model: one receive and one transmit queue, MAC and link status in the
 * configuration, mergeable receive buffers and checksum offload. It moves Ethernet frames between the
 * guest's rings and a {@link NetBackend}; what the frames mean is the backend's business.
 */
import {
  ConfigSpace,
  SnapshotError,
  StateReader,
  TurnMeter,
  TurnWorker,
  bit,
  silentLogger,
  type DescriptorChain,
  type Logger,
  type SavedState,
  type VirtioDevice,
  type VirtioDeviceContext,
} from '@virtio-desktop/virtio-core';
import type { NetBackend } from './backend.js';
import {
  CONFIG_SIZE,
  ConfigOffset,
  HDR_SIZE,
  HdrFlag,
  LINK_UP,
  MAX_FRAME,
  MIN_FRAME,
  MTU,
  NET_DEVICE_ID,
  NetFeature,
  QueueIndex,
  decodeHdr,
  encodeHdr,
  inetChecksum,
} from './protocol.js';

/** Frames for the guest waiting for receive buffers; past either bound new frames are dropped. */
export const MAX_RX_PENDING = 256;
export const MAX_RX_PENDING_BYTES = 4 << 20;

export interface NetStats {
  txFrames: number;
  rxFrames: number;
  txDropped: number;
  rxDropped: number;
}

export interface NetDeviceOptions {
  mac: Uint8Array;
  backend: NetBackend;
  log?: Logger;
  /** Transmit frames and bytes handled per event-loop turn before the device yields (default 256, 4 MiB). */
  turnLimits?: { requests: number; bytes: number };
}

export class VirtioNetDevice implements VirtioDevice {
  readonly deviceId = NET_DEVICE_ID;
  readonly features =
    bit(NetFeature.Csum) |
    bit(NetFeature.GuestCsum) |
    bit(NetFeature.Mtu) |
    bit(NetFeature.Mac) |
    bit(NetFeature.MrgRxbuf) |
    bit(NetFeature.Status);
  readonly queueSizes = [256, 256];
  readonly configSize = CONFIG_SIZE;
  readonly stats: NetStats = { txFrames: 0, rxFrames: 0, txDropped: 0, rxDropped: 0 };
  readonly mac: Uint8Array;
  readonly backend: NetBackend;

  private readonly log: Logger;
  private readonly config = new ConfigSpace(CONFIG_SIZE);
  private ctx: VirtioDeviceContext | null = null;
  private mergeable = false;
  private csum = false;
  private guestCsum = false;
  private rxPending: Uint8Array[] = [];
  private rxPendingBytes = 0;
  private held: DescriptorChain[] = [];
  private lastWarn = 0;
  /** Transmit frames per turn: each goes through the user-mode stack, which may write a host socket. */
  private readonly txMeter: TurnMeter;
  private readonly txWorker = new TurnWorker(() => this.drainTx());

  constructor(o: NetDeviceOptions) {
    if (o.mac.length !== 6) throw new RangeError('a MAC address has 6 bytes');
    this.mac = o.mac.slice();
    this.backend = o.backend;
    this.log = o.log ?? silentLogger;
    this.txMeter = new TurnMeter(o.turnLimits ?? { requests: 256, bytes: 4 << 20 });
    this.config.setBytes(ConfigOffset.Mac, this.mac);
    this.config.set16(ConfigOffset.Status, LINK_UP);
    this.config.set16(ConfigOffset.MaxPairs, 1);
    this.config.set16(ConfigOffset.Mtu, MTU);
    this.backend.attach((f) => this.receive(f));
  }

  readConfig(offset: number, width: 1 | 2 | 4): number {
    return this.config.read(offset, width);
  }

  writeConfig(): void {
    // The MAC is read-only with VERSION_1 (drivers change it with a control queue we do not offer).
  }

  activate(ctx: VirtioDeviceContext): void {
    this.ctx = ctx;
    this.mergeable = (ctx.negotiated & bit(NetFeature.MrgRxbuf)) !== 0n;
    this.csum = (ctx.negotiated & bit(NetFeature.Csum)) !== 0n;
    this.guestCsum = (ctx.negotiated & bit(NetFeature.GuestCsum)) !== 0n;
    this.held = [];
    this.txWorker.kick();
    this.flushRx();
  }

  /** Snapshot, step 1: let transmit work left for later turns run, so none is in flight. */
  async prepareSnapshot(): Promise<void> {
    for (let i = 0; this.txWorker.pending; i++) {
      if (i > 1000) throw new SnapshotError('virtio-net: transmit queue did not drain');
      await new Promise<void>((r) => setTimeout(r, 1));
    }
  }

  /**
   * Held receive buffers (by head), frames waiting for buffers, counters. The backend's connections
   * (the user-mode stack's NAT table, host sockets) are not saved: after a restore the guest's open TCP
   * connections get resets, and new ones work (the guest keeps its address).
   */
  saveState(): SavedState {
    return {
      version: 1,
      data: {
        mac: this.mac.slice(),
        held: this.held.map((c) => c.head),
        rxPending: this.rxPending.map((f) => f.slice()),
        stats: { ...this.stats },
      },
    };
  }

  restoreState(s: SavedState, ctx: VirtioDeviceContext | null): void {
    const r = StateReader.of(s, 'virtio-net', [1]);
    const mac = r.bytes('mac', 6);
    if (mac.some((b, i) => b !== this.mac[i])) throw r.fail('mac', 'differs from this device');
    const heads = r.ints('held', 0, 0xffff);
    const frames = r.arr('rxPending', MAX_RX_PENDING);
    const pending: Uint8Array[] = [];
    for (const f of frames) {
      if (!(f instanceof Uint8Array) || f.length < MIN_FRAME || f.length > MAX_FRAME)
        throw r.fail('rxPending', 'holds a bad frame');
      pending.push(f.slice());
    }
    const stats = r.sub('stats');
    for (const k of Object.keys(this.stats) as (keyof NetStats)[])
      if (stats.has(k)) this.stats[k] = stats.int(k, 0);
    if (!ctx) return;
    // activate() without its kicks: the restored rings are exactly as saved, and nothing may move yet.
    this.ctx = ctx;
    this.mergeable = (ctx.negotiated & bit(NetFeature.MrgRxbuf)) !== 0n;
    this.csum = (ctx.negotiated & bit(NetFeature.Csum)) !== 0n;
    this.guestCsum = (ctx.negotiated & bit(NetFeature.GuestCsum)) !== 0n;
    const q = ctx.queues[QueueIndex.Rx];
    const held: DescriptorChain[] = [];
    for (const h of heads) {
      const c = q.chainAt(h);
      if (!c) throw r.fail('held', `names receive buffer ${h}, which is not a valid chain`);
      held.push(c);
    }
    this.held = held;
    this.rxPending = pending;
    this.rxPendingBytes = pending.reduce((n, f) => n + f.length, 0);
  }

  queueNotify(index: number): void {
    if (index === QueueIndex.Tx) this.txWorker.kick();
    else if (index === QueueIndex.Rx) this.flushRx();
  }

  /** Transmit chains left for a later turn (VirtioDevice.requestsInFlight). */
  get requestsInFlight(): number {
    return this.txWorker.pending ? 1 : 0;
  }

  reset(): void {
    this.ctx = null;
    this.txWorker.cancel();
    try {
      this.backend.reset?.();
    } catch (e) {
      this.log.error(`virtio-net: backend reset failed: ${String(e)}`);
    }
    this.held = [];
    this.rxPending = [];
    this.rxPendingBytes = 0;
  }

  /** A frame from the backend for the guest. Kept while the guest has no buffers, within bounds. */
  receive(frame: Uint8Array): void {
    if (!this.ctx) {
      this.stats.rxDropped++;
      return;
    }
    if (frame.length < MIN_FRAME || frame.length > MAX_FRAME) {
      this.stats.rxDropped++;
      this.warn(`dropped a ${frame.length}-byte frame from the backend`);
      return;
    }
    if (
      this.rxPending.length >= MAX_RX_PENDING ||
      this.rxPendingBytes + frame.length > MAX_RX_PENDING_BYTES
    ) {
      this.stats.rxDropped++;
      this.warn('the guest is not taking frames; dropping');
      return;
    }
    this.rxPending.push(frame);
    this.rxPendingBytes += frame.length;
    this.flushRx();
  }

  private warn(msg: string): void {
    // Hostile or stuck guests could otherwise flood the log at line rate.
    const now = Date.now();
    if (now - this.lastWarn < 1000) return;
    this.lastWarn = now;
    this.log.warn(`virtio-net: ${msg}`);
  }

  private flushRx(): void {
    const q = this.ctx?.queues[QueueIndex.Rx];
    if (!q) return;
    let any = false;
    while (this.rxPending.length) {
      const frame = this.rxPending[0];
      const total = HDR_SIZE + frame.length;
      let room = this.held.reduce((n, c) => n + c.writableLength, 0);
      while (room < total && (this.mergeable || this.held.length === 0)) {
        const c = q.pop();
        if (!c) break;
        if (c.readableLength > 0 || c.writableLength < HDR_SIZE) {
          this.warn(`receive buffer ${c.head} is not a writable buffer of at least ${HDR_SIZE} bytes`);
          q.push(c.head, 0);
          any = true;
          continue;
        }
        this.held.push(c);
        room += c.writableLength;
      }
      if (room < total) {
        if (this.mergeable || this.held.length === 0) break; // wait for more buffers
        // One buffer per frame and this one is too small: the frame can never fit it.
        const c = this.held.shift()!;
        q.push(c.head, 0);
        this.rxPending.shift();
        this.rxPendingBytes -= frame.length;
        this.stats.rxDropped++;
        this.warn(`a ${frame.length}-byte frame does not fit a ${c.writableLength}-byte receive buffer`);
        any = true;
        continue;
      }
      const data = new Uint8Array(total);
      const chains: DescriptorChain[] = [];
      let left = total;
      while (left > 0) {
        const c = this.held.shift()!;
        chains.push(c);
        left -= c.writableLength;
      }
      encodeHdr(
        { flags: this.guestCsum ? HdrFlag.DataValid : 0, numBuffers: this.mergeable ? chains.length : 0 },
        data,
      );
      data.set(frame, HDR_SIZE);
      let off = 0;
      for (const c of chains) {
        const n = Math.min(c.writableLength, total - off);
        c.writeBytes(0, data.subarray(off, off + n));
        q.push(c.head, n);
        off += n;
      }
      this.rxPending.shift();
      this.rxPendingBytes -= frame.length;
      this.stats.rxFrames++;
      any = true;
    }
    if (any) q.signal();
  }

  /** Send frames until the ring is empty or this turn's slice is used; true when some are left. */
  private drainTx(): boolean {
    const q = this.ctx?.queues[QueueIndex.Tx];
    if (!q) return false;
    let any = false;
    while (!this.txMeter.exhausted) {
      const c = q.pop();
      if (!c) break;
      this.txMeter.spend(c.readableLength);
      any = true;
      const frame = this.takeFrame(c);
      q.push(c.head, 0);
      if (!frame) {
        this.stats.txDropped++;
        continue;
      }
      this.stats.txFrames++;
      try {
        this.backend.send(frame);
      } catch (e) {
        this.warn(`backend failed to send: ${(e as Error).message}`);
      }
    }
    if (any) q.signal();
    return q.pending() > 0;
  }

  /** The Ethernet frame of a transmit chain, checksum completed; null (and a log line) if malformed. */
  private takeFrame(c: DescriptorChain): Uint8Array | null {
    const len = c.readableLength;
    if (c.writableLength > 0) return this.bad('a transmit buffer is device-writable');
    if (len < HDR_SIZE + MIN_FRAME || len > HDR_SIZE + MAX_FRAME)
      return this.bad(`a transmit frame of ${len - HDR_SIZE} bytes`);
    const bytes = c.readBytes(0, len);
    if (!bytes) return this.bad('a transmit buffer outside guest memory');
    const h = decodeHdr(bytes)!;
    if (h.gsoType !== 0) return this.bad(`GSO type ${h.gsoType} was not offered`);
    const frame = bytes.subarray(HDR_SIZE);
    if (h.flags & HdrFlag.NeedsCsum) {
      if (!this.csum) return this.bad('NEEDS_CSUM without the CSUM feature');
      const at = h.csumStart + h.csumOffset;
      if (at + 2 > frame.length)
        return this.bad(`checksum field at ${at} beyond a ${frame.length}-byte frame`);
      // The field holds the pseudo-header sum; summing from csum_start over the rest completes it.
      let sum = inetChecksum(frame, h.csumStart, frame.length);
      if (sum === 0) sum = 0xffff; // UDP sends 0 as all ones; TCP never produces 0 here
      frame[at] = sum >>> 8;
      frame[at + 1] = sum & 0xff;
    }
    return frame;
  }

  private bad(why: string): null {
    this.warn(`dropped a frame from the guest: ${why}`);
    return null;
  }
}
