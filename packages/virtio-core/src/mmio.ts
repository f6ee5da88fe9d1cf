import type {
  AccessWidth,
  BusDevice,
  DtNode,
  GuestMemory,
  InterruptLine,
  Logger,
  Placement,
  SavedState,
  StateValue,
} from './bus.js';
import { SnapshotError, cells64, silentLogger } from './bus.js';
import { StateReader } from './snapshot.js';
import {
  Feature,
  Interrupt,
  MAX_QUEUE_SIZE,
  MmioReg as R,
  Status,
  VIRTIO_DESKTOP_VENDOR_ID,
  VIRTIO_MMIO_MAGIC,
  VIRTIO_MMIO_SLOT_SIZE,
  bit,
} from './constants.js';
import type { VirtioDevice, VirtioDeviceContext } from './device.js';
import { Virtqueue, type QueueLayout } from './virtqueue.js';

interface QueueRegs {
  num: number;
  ready: boolean;
  desc: number;
  avail: number;
  used: number;
}

const TWO32 = 0x1_0000_0000;
/** Status bits a driver may write (virtio 1.2 §2.1); DEVICE_NEEDS_RESET (64) is set by the device only. */
const DRIVER_STATUS_BITS =
  Status.Acknowledge | Status.Driver | Status.DriverOk | Status.FeaturesOk | Status.Failed;
const hi32 = (v: number): number => Math.floor(v / TWO32) >>> 0;
const setLo = (v: number, lo: number): number => hi32(v) * TWO32 + (lo >>> 0);
const setHi = (v: number, hi: number): number => (hi >>> 0) * TWO32 + (v >>> 0);

export interface MmioTransportOptions {
  memory: GuestMemory;
  irq: InterruptLine;
  log?: Logger;
  /** Offer VIRTIO_F_INDIRECT_DESC (default true). */
  indirect?: boolean;
  /** Offer VIRTIO_F_EVENT_IDX (default true). */
  eventIdx?: boolean;
  /**
   * Where InterruptStatus lives: word `index` of `cells` (default: a word of its own). A machine whose
   * harts run on other threads puts it in shared memory, where they read it and clear the bits they
   * acknowledge with Atomics themselves; their store to InterruptACK then arrives as 0 and only
   * re-evaluates the interrupt line. The transport sets bits atomically too, so neither side loses the
   * other's update (a completion that lands after the hart's clear keeps its bit and its line).
   */
  interruptStatus?: { cells: Int32Array; index: number };
}

/**
 * The virtio-mmio transport, version 2 ("modern"), as a {@link BusDevice} one slot (4 KiB) wide. It
 * implements the register file, the feature and status handshake and the split rings, and hands a
 * {@link VirtioDevice} its live queues at DRIVER_OK.
 */
export class MmioTransport implements BusDevice {
  readonly name = 'virtio-mmio';
  readonly size = VIRTIO_MMIO_SLOT_SIZE;
  private readonly log: Logger;
  private readonly offered: bigint;
  private status = 0;
  private deviceFeaturesSel = 0;
  private driverFeaturesSel = 0;
  private driverFeatures = 0n;
  private queueSel = 0;
  private readonly isr: Int32Array;
  private readonly isrAt: number;
  private configGeneration = 0;
  private regs: QueueRegs[] = [];
  private live: Virtqueue[] = [];
  private active = false;

  constructor(
    readonly device: VirtioDevice,
    private readonly opts: MmioTransportOptions,
  ) {
    this.log = opts.log ?? silentLogger;
    const cell = opts.interruptStatus;
    if (cell && (!Number.isInteger(cell.index) || cell.index < 0 || cell.index >= cell.cells.length))
      throw new RangeError(`interruptStatus index ${cell.index} outside its cells`);
    this.isr = cell?.cells ?? new Int32Array(1);
    this.isrAt = cell?.index ?? 0;
    let f = device.features | bit(Feature.Version1);
    if (opts.indirect ?? true) f |= bit(Feature.IndirectDesc);
    if (opts.eventIdx ?? true) f |= bit(Feature.EventIdx);
    this.offered = f;
    for (const s of device.queueSizes) {
      if (!Number.isInteger(s) || s < 1 || s > MAX_QUEUE_SIZE) throw new RangeError(`bad queue size ${s}`);
    }
    this.resetState(false);
  }

  /** Features offered to the driver, transport bits included. */
  get offeredFeatures(): bigint {
    return this.offered;
  }

  /** Features the driver accepted (valid once FEATURES_OK is set). */
  get negotiatedFeatures(): bigint {
    return this.driverFeatures;
  }

  get deviceStatus(): number {
    return this.status;
  }

  read(offset: number, width: AccessWidth): number {
    if (offset >= R.Config) return this.readConfig(offset - R.Config, width);
    if (width !== 4 || offset % 4 !== 0) return 0;
    const q = this.regs[this.queueSel];
    switch (offset) {
      case R.MagicValue:
        return VIRTIO_MMIO_MAGIC;
      case R.Version:
        return 2;
      case R.DeviceId:
        return this.device.deviceId;
      case R.VendorId:
        return VIRTIO_DESKTOP_VENDOR_ID;
      case R.DeviceFeatures:
        return this.deviceFeaturesSel > 1
          ? 0
          : Number((this.offered >> BigInt(32 * this.deviceFeaturesSel)) & 0xffffffffn);
      case R.QueueNumMax:
        return q ? this.device.queueSizes[this.queueSel] : 0;
      case R.QueueReady:
        return q?.ready ? 1 : 0;
      case R.InterruptStatus:
        return Atomics.load(this.isr, this.isrAt);
      case R.Status:
        return this.status >>> 0;
      case R.ShmLenLow:
      case R.ShmLenHigh:
      case R.ShmBaseLow:
      case R.ShmBaseHigh:
        return 0xffffffff; // no shared-memory regions
      case R.ConfigGeneration:
        return this.configGeneration;
      default:
        return 0;
    }
  }

  write(offset: number, width: AccessWidth, value: number): void {
    if (offset >= R.Config) {
      this.writeConfig(offset - R.Config, width, value);
      return;
    }
    if (width !== 4 || offset % 4 !== 0) return;
    value >>>= 0;
    switch (offset) {
      case R.DeviceFeaturesSel:
        this.deviceFeaturesSel = value;
        return;
      case R.DriverFeaturesSel:
        this.driverFeaturesSel = value;
        return;
      case R.DriverFeatures:
        if (this.status & Status.FeaturesOk || this.driverFeaturesSel > 1) return;
        {
          const shift = BigInt(32 * this.driverFeaturesSel);
          this.driverFeatures = (this.driverFeatures & ~(0xffffffffn << shift)) | (BigInt(value) << shift);
        }
        return;
      case R.QueueSel:
        this.queueSel = value;
        return;
      case R.QueueNotify:
        this.notify(value);
        return;
      case R.InterruptAck:
        Atomics.and(this.isr, this.isrAt, ~value);
        this.updateIrq();
        return;
      case R.Status:
        this.writeStatus(value);
        return;
    }
    const q = this.regs[this.queueSel];
    // Queue registers are frozen once the queue is enabled, and only meaningful for an existing queue.
    if (!q || q.ready) {
      if (q && offset === R.QueueReady && value === 0) q.ready = false;
      return;
    }
    switch (offset) {
      case R.QueueNum:
        q.num = value;
        return;
      case R.QueueReady:
        if (value === 1) this.enableQueue(this.queueSel, q);
        return;
      case R.QueueDescLow:
        q.desc = setLo(q.desc, value);
        return;
      case R.QueueDescHigh:
        q.desc = setHi(q.desc, value);
        return;
      case R.QueueDriverLow:
        q.avail = setLo(q.avail, value);
        return;
      case R.QueueDriverHigh:
        q.avail = setHi(q.avail, value);
        return;
      case R.QueueDeviceLow:
        q.used = setLo(q.used, value);
        return;
      case R.QueueDeviceHigh:
        q.used = setHi(q.used, value);
        return;
    }
  }

  reset(): void {
    this.resetState(true);
  }

  describe(p: Placement): DtNode {
    return {
      name: 'virtio_mmio',
      unitAddress: p.base,
      props: {
        compatible: 'virtio,mmio',
        reg: [...cells64(p.base), ...cells64(this.size)],
        ...(p.irqs.length ? { interrupts: p.irqs[0], 'interrupt-parent': p.interruptParent } : {}),
        'dma-coherent': true,
      },
    };
  }

  /** Host-side work to finish before {@link saveState} (the device's; none of the transport's own). */
  async prepareSnapshot(): Promise<void> {
    this.requireSnapshots();
    await this.device.prepareSnapshot?.();
  }

  /**
   * Registers, queue positions and the device's own state. A device without `saveState` is refused
   * (SnapshotError), since its state would silently be lost.
   */
  saveState(): SavedState {
    this.requireSnapshots();
    const data: Record<string, StateValue> = {
      status: this.status,
      deviceFeaturesSel: this.deviceFeaturesSel,
      driverFeaturesSel: this.driverFeaturesSel,
      driverFeatures: this.driverFeatures.toString(),
      queueSel: this.queueSel,
      interruptStatus: Atomics.load(this.isr, this.isrAt),
      configGeneration: this.configGeneration,
      active: this.active,
      regs: this.regs.map((q) => ({ ...q })),
      queues: this.active
        ? this.live.map((q, i) => (this.regs[i]?.ready ? { ...q.savePositions(), alive: !q.isBroken } : null))
        : [],
      device: this.device.saveState!() as unknown as StateValue,
    };
    return { version: 1, data };
  }

  /**
   * Put back a saved state on a transport (and device) created the same way and not running yet; the
   * interrupt line's level belongs to the interrupt controller's saved state and is not driven here.
   */
  async restoreState(s: SavedState): Promise<void> {
    this.requireSnapshots();
    const r = StateReader.of(s, `virtio-mmio(${this.device.deviceId})`, [1]);
    const n = this.device.queueSizes.length;
    const regs = r.arr('regs');
    if (regs.length !== n) throw r.fail('regs', `has ${regs.length} queues, the device ${n}`);
    const u32 = 0xffffffff;
    const parsedRegs: QueueRegs[] = regs.map((q, i) => {
      const qr = new StateReader(q, `${r.part}.regs[${i}]`);
      return {
        num: qr.int('num', 0, u32),
        ready: qr.bool('ready'),
        desc: qr.int('desc', 0),
        avail: qr.int('avail', 0),
        used: qr.int('used', 0),
      };
    });
    let features: bigint;
    try {
      features = BigInt(r.str('driverFeatures'));
    } catch {
      throw r.fail('driverFeatures', 'is not an integer');
    }
    this.resetState(false);
    this.status = r.int('status', 0, 255);
    this.deviceFeaturesSel = r.int('deviceFeaturesSel', 0, u32);
    this.driverFeaturesSel = r.int('driverFeaturesSel', 0, u32);
    this.driverFeatures = BigInt.asUintN(64, features);
    this.queueSel = r.int('queueSel', 0, u32);
    Atomics.store(this.isr, this.isrAt, r.int('interruptStatus', 0, 3));
    this.configGeneration = r.int('configGeneration', 0, u32);
    this.regs = parsedRegs;
    const device = r.raw('device') as unknown as SavedState;
    if (!r.bool('active')) {
      await this.device.restoreState!(device, null);
      return;
    }
    const saved = r.arr('queues');
    if (saved.length !== n) throw r.fail('queues', `has ${saved.length} entries, the device ${n}`);
    this.activate(false);
    for (const [i, q] of saved.entries()) {
      if (q === null) continue;
      const qr = new StateReader(q, `${r.part}.queues[${i}]`);
      const live = this.live[i];
      live.restorePositions({
        lastAvail: qr.int('lastAvail', 0, 0xffff),
        usedIdx: qr.int('usedIdx', 0, 0xffff),
        signalledUsed: qr.int('signalledUsed', 0, 0xffff),
        broken: qr.bool('broken'),
      });
      if (!qr.bool('alive')) live.kill();
    }
    await this.device.restoreState!(device, this.context());
  }

  private requireSnapshots(): void {
    if (typeof this.device.saveState !== 'function' || typeof this.device.restoreState !== 'function')
      throw new SnapshotError(
        `virtio device ${this.device.deviceId} (${this.device.constructor.name}) does not implement saveState/restoreState`,
      );
  }

  /**
   * The device's configuration changed (e.g. a new display size): bump the generation and raise the
   * configuration interrupt if the driver is running.
   */
  configChanged(): void {
    this.configGeneration = (this.configGeneration + 1) >>> 0;
    if (this.status & Status.DriverOk) {
      this.raise(Interrupt.ConfigChange);
    }
  }

  private readConfig(off: number, width: AccessWidth): number {
    if (off + width > this.device.configSize) return 0;
    return this.device.readConfig(off, width) >>> 0;
  }

  private writeConfig(off: number, width: AccessWidth, value: number): void {
    if (off + width > this.device.configSize) return;
    this.device.writeConfig(off, width, value >>> 0);
  }

  private writeStatus(value: number): void {
    if (value === 0) {
      this.resetState(true);
      return;
    }
    // Only the bits the driver owns: DEVICE_NEEDS_RESET is the device's to set (a driver setting it
    // would hide a real one), and undefined bits would make later reads negative or meaningless.
    value &= DRIVER_STATUS_BITS;
    // The driver may only add bits; clearing one without a reset is a driver bug we ignore.
    const added = value & ~this.status;
    if (added & Status.FeaturesOk) {
      const ok =
        (this.driverFeatures & ~this.offered) === 0n && (this.driverFeatures & bit(Feature.Version1)) !== 0n;
      if (!ok) {
        this.log.warn(`virtio-mmio(${this.device.deviceId}): driver features rejected`);
        this.status |= value & ~Status.FeaturesOk;
        return;
      }
    }
    if (added & Status.DriverOk && !(this.status & Status.FeaturesOk) && !(added & Status.FeaturesOk)) {
      this.log.warn(`virtio-mmio(${this.device.deviceId}): DRIVER_OK before FEATURES_OK ignored`);
      this.status |= value & ~Status.DriverOk;
      return;
    }
    this.status |= value;
    if (added & Status.DriverOk) this.activate();
  }

  private enableQueue(index: number, q: QueueRegs): void {
    const max = this.device.queueSizes[index];
    const layout: QueueLayout = { size: q.num, desc: q.desc, avail: q.avail, used: q.used };
    if (q.num < 1 || q.num > max || !Virtqueue.layoutFits(layout, this.opts.memory)) {
      this.needsReset(`queue ${index}: size ${q.num} or ring addresses invalid`);
      return;
    }
    q.ready = true;
  }

  private activate(notifyDevice = true): void {
    if (this.active) return;
    const eventIdx = (this.driverFeatures & bit(Feature.EventIdx)) !== 0n;
    const indirect = (this.driverFeatures & bit(Feature.IndirectDesc)) !== 0n;
    this.live = this.regs.map((q, i) =>
      q.ready
        ? new Virtqueue(i, { size: q.num, desc: q.desc, avail: q.avail, used: q.used }, this.opts.memory, {
            indirect,
            eventIdx,
            log: this.log,
            interrupt: () => this.raise(Interrupt.UsedBuffer),
            fatal: (r) => this.needsReset(r),
          })
        : this.deadQueue(i),
    );
    this.active = true;
    if (notifyDevice) this.device.activate(this.context());
  }

  private context(): VirtioDeviceContext {
    return {
      queues: this.live,
      negotiated: this.driverFeatures,
      memory: this.opts.memory,
      log: this.log,
      configChanged: () => this.configChanged(),
      needsReset: (r) => this.needsReset(r),
    };
  }

  /** A stand-in for a queue the driver did not enable: always empty. */
  private deadQueue(i: number): Virtqueue {
    const q = new Virtqueue(i, { size: 1, desc: 0, avail: 0, used: 0 }, this.opts.memory, {
      indirect: false,
      eventIdx: false,
      log: this.log,
      interrupt: () => {},
      fatal: () => {},
    });
    q.kill();
    return q;
  }

  private notify(index: number): void {
    if (!this.active || !(this.status & Status.DriverOk)) return;
    const q = this.live[index];
    if (!q || q.isBroken) return;
    try {
      this.device.queueNotify(index);
    } catch (e) {
      // A device bug must not take the machine down with it.
      this.needsReset(`device ${this.device.deviceId} failed on queue ${index}: ${String(e)}`);
    }
  }

  private needsReset(reason: string): void {
    this.log.error(`virtio-mmio(${this.device.deviceId}): ${reason}`);
    if (this.status & Status.DeviceNeedsReset) return;
    this.status |= Status.DeviceNeedsReset;
    for (const q of this.live) q.kill();
    if (this.status & Status.DriverOk) this.raise(Interrupt.ConfigChange);
  }

  private raise(bits: number): void {
    Atomics.or(this.isr, this.isrAt, bits);
    this.updateIrq();
  }

  private updateIrq(): void {
    this.opts.irq.set(Atomics.load(this.isr, this.isrAt) !== 0);
  }

  private resetState(resetDevice: boolean): void {
    for (const q of this.live) q.kill();
    this.live = [];
    this.active = false;
    this.status = 0;
    this.deviceFeaturesSel = 0;
    this.driverFeaturesSel = 0;
    this.driverFeatures = 0n;
    this.queueSel = 0;
    Atomics.store(this.isr, this.isrAt, 0);
    this.regs = this.device.queueSizes.map((s) => ({ num: s, ready: false, desc: 0, avail: 0, used: 0 }));
    this.opts.irq.set(false);
    if (resetDevice) this.device.reset();
  }
}
