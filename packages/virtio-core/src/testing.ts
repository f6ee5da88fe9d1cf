/**
 * A virtio driver for tests: it drives a virtio-mmio {@link BusDevice} through the same register sequence
 * as Linux's virtio_mmio.c and lays out split rings in guest memory the way virtio_ring.c does. Device
 * packages use it to test their models without a CPU or a guest kernel.
 */
import type { BusDevice, GuestMemory } from './bus.js';
import { DescFlag, Feature, MmioReg as R, Status, bit } from './constants.js';

export interface TestQueue {
  index: number;
  size: number;
  desc: number;
  avail: number;
  used: number;
  /** Next free descriptor (a simple bump + free list allocator). */
  free: number[];
  availIdx: number;
  /** avail idx at the previous kick, for vring_need_event. */
  kickedIdx: number;
  lastUsed: number;
  /** Descriptors owned by each head, to free when it comes back. */
  owned: Map<number, number[]>;
}

export interface UsedElem {
  id: number;
  len: number;
}

export interface ChainSpec {
  /** Buffers the device reads. */
  out?: Uint8Array[];
  /** Sizes of buffers the device writes; their addresses come back in the returned `inAddrs`. */
  inLens?: number[];
  /** Put the chain in an indirect table. */
  indirect?: boolean;
}

export class VirtioTestDriver {
  private brk: number;
  readonly queues: TestQueue[] = [];
  negotiated = 0n;

  constructor(
    readonly dev: BusDevice,
    readonly ram: GuestMemory,
    /** Where the driver may allocate rings and buffers (grows upward). */
    heap: number,
  ) {
    this.brk = heap;
  }

  reg(off: number): number {
    return this.dev.read(off, 4);
  }

  setReg(off: number, v: number): void {
    this.dev.write(off, 4, v);
  }

  /** Allocate zeroed guest memory. */
  alloc(size: number, align = 16): number {
    this.brk = Math.ceil(this.brk / align) * align;
    const a = this.brk;
    this.brk += size;
    this.ram.view(a, size)!.fill(0);
    return a;
  }

  get status(): number {
    return this.reg(R.Status);
  }

  deviceFeatures(): bigint {
    this.setReg(R.DeviceFeaturesSel, 1);
    const hi = BigInt(this.reg(R.DeviceFeatures));
    this.setReg(R.DeviceFeaturesSel, 0);
    return (hi << 32n) | BigInt(this.reg(R.DeviceFeatures));
  }

  /**
   * Probe and initialise as Linux does: reset, ACK, DRIVER, features, FEATURES_OK (checked), queues,
   * DRIVER_OK. `want` is the set of features the driver supports; returns false if the device refused.
   */
  init(want: bigint, queueSizes?: number[], opts: { driverOk?: boolean } = {}): boolean {
    if (this.reg(R.MagicValue) !== 0x74726976 || this.reg(R.Version) !== 2) return false;
    this.setReg(R.Status, 0);
    this.setReg(R.Status, Status.Acknowledge);
    this.setReg(R.Status, Status.Acknowledge | Status.Driver);
    this.negotiated = this.deviceFeatures() & (want | bit(Feature.Version1));
    this.setReg(R.DriverFeaturesSel, 1);
    this.setReg(R.DriverFeatures, Number(this.negotiated >> 32n));
    this.setReg(R.DriverFeaturesSel, 0);
    this.setReg(R.DriverFeatures, Number(this.negotiated & 0xffffffffn));
    this.setReg(R.Status, Status.Acknowledge | Status.Driver | Status.FeaturesOk);
    if (!(this.status & Status.FeaturesOk)) return false;
    this.queues.length = 0;
    for (let i = 0; ; i++) {
      this.setReg(R.QueueSel, i);
      if (this.reg(R.QueueReady) !== 0) return false;
      const max = this.reg(R.QueueNumMax);
      if (max === 0) break;
      const size = Math.min(max, queueSizes?.[i] ?? max);
      this.setupQueue(i, size);
    }
    if (opts.driverOk ?? true) this.driverOk();
    return true;
  }

  driverOk(): void {
    this.setReg(R.Status, this.status | Status.DriverOk);
  }

  setupQueue(i: number, size: number): TestQueue {
    const q: TestQueue = {
      index: i,
      size,
      desc: this.alloc(16 * size, 16),
      avail: this.alloc(6 + 2 * size, 2),
      used: this.alloc(6 + 8 * size, 4),
      free: Array.from({ length: size }, (_, k) => k),
      availIdx: 0,
      kickedIdx: 0,
      lastUsed: 0,
      owned: new Map(),
    };
    this.setReg(R.QueueSel, i);
    this.setReg(R.QueueNum, size);
    const set64 = (lo: number, a: number): void => {
      this.setReg(lo, a >>> 0);
      this.setReg(lo + 4, Math.floor(a / 0x1_0000_0000));
    };
    set64(R.QueueDescLow, q.desc);
    set64(R.QueueDriverLow, q.avail);
    set64(R.QueueDeviceLow, q.used);
    this.setReg(R.QueueReady, 1);
    this.queues[i] = q;
    return q;
  }

  /** Write one raw descriptor (for malformed-chain tests). */
  writeDesc(table: number, i: number, addr: number, len: number, flags: number, next: number): void {
    const d = table + 16 * i;
    this.ram.writeU32(d, addr >>> 0);
    this.ram.writeU32(d + 4, Math.floor(addr / 0x1_0000_0000));
    this.ram.writeU32(d + 8, len);
    this.ram.writeU16(d + 12, flags);
    this.ram.writeU16(d + 14, next);
  }

  /** Make `head` available without building a chain (for malformed-chain tests). */
  publish(qi: number, head: number): void {
    const q = this.queues[qi];
    this.ram.writeU16(q.avail + 4 + 2 * (q.availIdx % q.size), head);
    q.availIdx = (q.availIdx + 1) & 0xffff;
    this.ram.writeU16(q.avail + 2, q.availIdx);
  }

  /** Add a chain; returns its head and the guest addresses of the writable buffers. */
  add(qi: number, spec: ChainSpec): { head: number; inAddrs: number[] } {
    const q = this.queues[qi];
    const bufs: { addr: number; len: number; write: boolean }[] = [];
    for (const b of spec.out ?? []) {
      const a = this.alloc(b.length || 1);
      this.ram.write(a, b);
      bufs.push({ addr: a, len: b.length, write: false });
    }
    const inAddrs: number[] = [];
    for (const n of spec.inLens ?? []) {
      const a = this.alloc(n || 1);
      inAddrs.push(a);
      bufs.push({ addr: a, len: n, write: true });
    }
    let head: number;
    if (spec.indirect) {
      const table = this.alloc(16 * bufs.length, 16);
      bufs.forEach((b, k) =>
        this.writeDesc(
          table,
          k,
          b.addr,
          b.len,
          (b.write ? DescFlag.Write : 0) | (k + 1 < bufs.length ? DescFlag.Next : 0),
          k + 1,
        ),
      );
      head = this.take(q, 1)[0];
      this.writeDesc(q.desc, head, table, 16 * bufs.length, DescFlag.Indirect, 0);
      q.owned.set(head, [head]);
    } else {
      const ids = this.take(q, bufs.length);
      bufs.forEach((b, k) =>
        this.writeDesc(
          q.desc,
          ids[k],
          b.addr,
          b.len,
          (b.write ? DescFlag.Write : 0) | (k + 1 < bufs.length ? DescFlag.Next : 0),
          ids[k + 1] ?? 0,
        ),
      );
      head = ids[0];
      q.owned.set(head, ids);
    }
    this.publish(qi, head);
    return { head, inAddrs };
  }

  /** Notify the device, honouring VIRTQ_USED_F_NO_NOTIFY or avail_event like virtqueue_kick_prepare. */
  kick(qi: number, force = false): boolean {
    const q = this.queues[qi];
    let need = true;
    if (!force) {
      if (this.negotiated & bit(Feature.EventIdx)) {
        const availEvent = this.ram.readU16(q.used + 4 + 8 * q.size);
        need = ((q.availIdx - availEvent - 1) & 0xffff) < ((q.availIdx - q.kickedIdx) & 0xffff);
      } else {
        need = (this.ram.readU16(q.used) & 1) === 0;
      }
    }
    q.kickedIdx = q.availIdx;
    if (need) this.setReg(R.QueueNotify, qi);
    return need;
  }

  /** Used entries that arrived since the last call. */
  takeUsed(qi: number): UsedElem[] {
    const q = this.queues[qi];
    const out: UsedElem[] = [];
    const idx = this.ram.readU16(q.used + 2);
    while (q.lastUsed !== idx) {
      const e = q.used + 4 + 8 * (q.lastUsed % q.size);
      const id = this.ram.readU32(e);
      out.push({ id, len: this.ram.readU32(e + 4) });
      const ids = q.owned.get(id);
      if (ids) {
        q.free.push(...ids);
        q.owned.delete(id);
      }
      q.lastUsed = (q.lastUsed + 1) & 0xffff;
    }
    return out;
  }

  /** Ask to be interrupted only once used idx passes `n` (EVENT_IDX used_event). */
  setUsedEvent(qi: number, n: number): void {
    const q = this.queues[qi];
    this.ram.writeU16(q.avail + 4 + 2 * q.size, n & 0xffff);
  }

  /** Acknowledge every pending interrupt; returns the bits that were set. */
  ackInterrupt(): number {
    const s = this.reg(R.InterruptStatus);
    this.setReg(R.InterruptAck, s);
    return s;
  }

  private take(q: TestQueue, n: number): number[] {
    if (q.free.length < n) throw new Error('test driver: ring full');
    return q.free.splice(0, n);
  }
}
