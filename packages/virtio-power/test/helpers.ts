/**
 * A test-side virtio-power driver that follows the same steps as guest/linux/virtio_power/virtio_power.c:
 * probe, negotiate, post event buffers, synchronous requests on the requestq.
 */
import { Feature, MmioReg as R, MmioTransport, Ram, bit, type Logger } from '@virtio-desktop/virtio-core';
import { VirtioTestDriver } from '@virtio-desktop/virtio-core/testing';
import { VirtioPowerDevice, type PowerDeviceOptions } from '../src/device.js';
import {
  EVENT_SIZE,
  PowerFeature,
  QueueIndex,
  RESPONSE_HEADER_SIZE,
  RequestType,
  VIRTIO_ID_POWER,
  decodeEvent,
  decodeResponse,
  encodeRequest,
  type Inventory,
  type PowerEvent,
  type PowerRequest,
  type PowerResponse,
} from '../src/protocol.js';

export const RAM_BASE = 0x8000_0000;
export const RAM_SIZE = 4 << 20;

export const ALL_POWER =
  bit(PowerFeature.Inventory) | bit(PowerFeature.HostRequests) | bit(PowerFeature.Hotplug);

export function sampleInventory(devices = 3): Omit<Inventory, 'uuid' | 'name'> {
  return {
    harts: 4,
    ramBase: RAM_BASE,
    ramSize: 2 ** 31,
    interruptController: 'RiscvPlic',
    irqchipBase: 0x0c00_0000,
    timer: 'RiscvAclintMtimer',
    specVersion: [0, 1],
    devices: Array.from({ length: devices }, (_, i) => ({
      deviceId: i === 0 ? VIRTIO_ID_POWER : 2,
      base: 0x1000_1000 + i * 0x1000,
      size: 0x1000,
      irq: 32 + i,
      name: i === 0 ? 'virtio-power' : `virtio-blk-${i}`,
      self: i === 0,
    })),
  };
}

export function setup(opts: PowerDeviceOptions = {}, ramSize = RAM_SIZE) {
  const ram = new Ram(RAM_BASE, ramSize);
  const logs: string[] = [];
  const log: Logger = {
    debug: (m) => logs.push(m),
    info: (m) => logs.push(m),
    warn: (m) => logs.push(m),
    error: (m) => logs.push(m),
  };
  const irq = {
    level: false,
    set(l: boolean) {
      this.level = l;
    },
  };
  const dev = new VirtioPowerDevice({ log, ...opts });
  const t = new MmioTransport(dev, { memory: ram, irq, log });
  const drv = new PowerTestDriver(t, ram);
  return { ram, dev, t, drv, logs, irq };
}

export class PowerTestDriver extends VirtioTestDriver {
  constructor(t: MmioTransport, ram: Ram) {
    super(t, ram, RAM_BASE + 0x1000);
  }

  /** Probe like the Linux driver: negotiate `want` (plus ring features), post `eventBufs` event buffers. */
  probe(want: bigint, eventBufs = 8): boolean {
    if (!this.init(want | bit(Feature.EventIdx) | bit(Feature.IndirectDesc))) return false;
    for (let i = 0; i < eventBufs; i++) this.add(QueueIndex.Event, { inLens: [EVENT_SIZE] });
    this.kick(QueueIndex.Event, true);
    return true;
  }

  cfg32(off: number): number {
    return this.dev.read(R.Config + off, 4);
  }

  /** Read config fields consistently, as virtio_cread under a ConfigGeneration loop. */
  cfgStable(offs: number[]): number[] {
    for (;;) {
      const g = this.reg(R.ConfigGeneration);
      const v = offs.map((o) => this.cfg32(o));
      if (this.reg(R.ConfigGeneration) === g) return v;
    }
  }

  /** One synchronous request; `inLen` is the writable size, header included. */
  request(
    r: Partial<PowerRequest> & { type: number },
    inLen = RESPONSE_HEADER_SIZE,
  ): { resp: PowerResponse | null; used: number; data: Uint8Array } {
    const { head, inAddrs } = this.add(QueueIndex.Request, {
      out: [encodeRequest({ flags: 0, arg0: 0, arg1: 0, ...r })],
      inLens: [inLen],
    });
    this.kick(QueueIndex.Request, true);
    const used = this.takeUsed(QueueIndex.Request);
    const e = used.find((u) => u.id === head);
    if (!e) throw new Error('request not completed');
    const buf = this.ram.view(inAddrs[0], inLen)!.slice();
    return { resp: decodeResponse(buf), used: e.len, data: buf.subarray(RESPONSE_HEADER_SIZE, e.len) };
  }

  /** Read the whole inventory `page` bytes at a time, restarting if the generation moves. */
  readInventory(page = 4096): { blob: Uint8Array; reads: number; generation: number } {
    let reads = 0;
    for (let attempt = 0; attempt < 4; attempt++) {
      const parts: Uint8Array[] = [];
      let off = 0;
      let total = Infinity;
      let gen = -1;
      let restart = false;
      while (off < total) {
        const { resp, data } = this.request(
          { type: RequestType.InventoryRead, arg0: off, arg1: page },
          16 + page,
        );
        reads++;
        if (!resp || resp.status !== 0) throw new Error(`inventory read failed: ${JSON.stringify(resp)}`);
        if (gen >= 0 && resp.generation !== gen) {
          restart = true;
          break;
        }
        gen = resp.generation;
        total = resp.totalSize;
        parts.push(data.slice(0, resp.length));
        off += resp.length;
        if (resp.length === 0) break;
      }
      if (restart) continue;
      const blob = new Uint8Array(off);
      let p = 0;
      for (const x of parts) {
        blob.set(x, p);
        p += x.length;
      }
      return { blob, reads, generation: gen };
    }
    throw new Error('inventory kept changing');
  }

  /** Events delivered since the last call; each buffer is re-posted like the Linux driver does. */
  events(): PowerEvent[] {
    const out: PowerEvent[] = [];
    const q = this.queues[QueueIndex.Event];
    // Addresses of the buffers are in the descriptors: read them back before the ids are recycled.
    for (const u of this.takeUsed(QueueIndex.Event)) {
      const addr = this.ram.readU32(q.desc + 16 * u.id);
      if (u.len >= EVENT_SIZE) {
        const ev = decodeEvent(this.ram.view(addr, EVENT_SIZE)!.slice());
        if (ev) out.push(ev);
      }
      this.add(QueueIndex.Event, { inLens: [EVENT_SIZE] });
    }
    this.kick(QueueIndex.Event, true);
    return out;
  }
}
