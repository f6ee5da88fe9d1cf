import { describe, expect, it } from 'vitest';
import {
  DescFlag,
  Feature,
  Interrupt,
  MmioReg as R,
  MmioTransport,
  Ram,
  Status,
  bit,
  type Logger,
  type VirtioDevice,
  type VirtioDeviceContext,
} from '../src/index.js';
import { VirtioTestDriver } from '../src/testing.js';

const RAM_BASE = 0x8000_0000;
const RAM_SIZE = 1 << 20;

/** Reverses what it reads into what it writes; config is 8 bytes of which byte 4.. is writable. */
class EchoDevice implements VirtioDevice {
  readonly deviceId = 42;
  readonly features = bit(3);
  readonly queueSizes = [8];
  readonly configSize = 8;
  config = new Uint8Array([1, 2, 3, 4, 0, 0, 0, 0]);
  ctx: VirtioDeviceContext | null = null;
  resets = 0;
  explode = false;

  readConfig(off: number, width: 1 | 2 | 4): number {
    let v = 0;
    for (let i = width - 1; i >= 0; i--) v = (v << 8) | this.config[off + i];
    return v >>> 0;
  }
  writeConfig(off: number, width: 1 | 2 | 4, value: number): void {
    for (let i = 0; i < width; i++) if (off + i >= 4) this.config[off + i] = (value >>> (8 * i)) & 0xff;
  }
  activate(ctx: VirtioDeviceContext): void {
    this.ctx = ctx;
  }
  queueNotify(i: number): void {
    if (this.explode) throw new Error('boom');
    const q = this.ctx!.queues[i];
    for (let c = q.pop(); c; c = q.pop()) {
      const data = c.readBytes(0, c.readableLength)!.reverse();
      q.push(c.head, c.writeBytes(0, data));
    }
    q.signal();
  }
  reset(): void {
    this.resets++;
    this.ctx = null;
  }
}

function setup(
  opts: {
    eventIdx?: boolean;
    indirect?: boolean;
    interruptStatus?: { cells: Int32Array; index: number };
  } = {},
) {
  const ram = new Ram(RAM_BASE, RAM_SIZE);
  const dev = new EchoDevice();
  const irq = {
    level: false,
    set(l: boolean) {
      this.level = l;
    },
  };
  const logs: string[] = [];
  const log: Logger = {
    debug: (m) => logs.push(m),
    info: (m) => logs.push(m),
    warn: (m) => logs.push(m),
    error: (m) => logs.push(m),
  };
  const t = new MmioTransport(dev, { memory: ram, irq, log, ...opts });
  const drv = new VirtioTestDriver(t, ram, RAM_BASE + 0x1000);
  return { ram, dev, irq, t, drv, logs };
}

const ALL = bit(Feature.EventIdx) | bit(Feature.IndirectDesc) | bit(3);

describe('virtio-mmio registers', () => {
  it('identifies itself as a version 2 device', () => {
    const { drv } = setup();
    expect(drv.reg(R.MagicValue)).toBe(0x74726976);
    expect(drv.reg(R.Version)).toBe(2);
    expect(drv.reg(R.DeviceId)).toBe(42);
    expect(drv.reg(R.VendorId)).toBe(0x4b534456);
    expect(drv.deviceFeatures()).toBe(
      bit(3) | bit(Feature.Version1) | bit(Feature.EventIdx) | bit(Feature.IndirectDesc),
    );
  });

  it('ignores non-word accesses below the config space', () => {
    const { t } = setup();
    expect(t.read(R.MagicValue, 1)).toBe(0);
    expect(t.read(R.MagicValue + 1, 4)).toBe(0);
    t.write(R.Status, 2, Status.Acknowledge);
    expect(t.read(R.Status, 4)).toBe(0);
  });

  it('reports no shared memory regions', () => {
    const { drv } = setup();
    expect(drv.reg(R.ShmLenLow)).toBe(0xffffffff);
    expect(drv.reg(R.ShmLenHigh)).toBe(0xffffffff);
  });

  it('negotiates a subset and rejects features it never offered or a driver without VERSION_1', () => {
    const { drv, t } = setup();
    expect(drv.init(ALL)).toBe(true);
    expect(t.negotiatedFeatures).toBe(ALL | bit(Feature.Version1));

    const b = setup();
    b.drv.setReg(R.Status, Status.Acknowledge | Status.Driver);
    b.drv.setReg(R.DriverFeaturesSel, 0);
    b.drv.setReg(R.DriverFeatures, 1 << 5); // never offered
    b.drv.setReg(R.DriverFeaturesSel, 1);
    b.drv.setReg(R.DriverFeatures, 1);
    b.drv.setReg(R.Status, Status.Acknowledge | Status.Driver | Status.FeaturesOk);
    expect(b.drv.status & Status.FeaturesOk).toBe(0);

    const c = setup();
    c.drv.setReg(R.Status, Status.Acknowledge | Status.Driver);
    c.drv.setReg(R.DriverFeatures, 1 << 3); // legacy driver: no VERSION_1
    c.drv.setReg(R.Status, Status.Acknowledge | Status.Driver | Status.FeaturesOk);
    expect(c.drv.status & Status.FeaturesOk).toBe(0);
  });

  it('exposes the device config with narrow accesses and bumps the generation on change', () => {
    const { t, drv } = setup();
    drv.init(ALL);
    expect(t.read(R.Config, 1)).toBe(1);
    expect(t.read(R.Config + 1, 2)).toBe(0x0302);
    expect(t.read(R.Config, 4)).toBe(0x04030201);
    expect(t.read(R.Config + 6, 4)).toBe(0); // past the end
    t.write(R.Config + 4, 4, 0xaabbccdd);
    expect(t.read(R.Config + 4, 4)).toBe(0xaabbccdd);
    const g = drv.reg(R.ConfigGeneration);
    t.configChanged();
    expect(drv.reg(R.ConfigGeneration)).toBe(g + 1);
    expect(drv.reg(R.InterruptStatus) & Interrupt.ConfigChange).toBeTruthy();
  });
});

describe('split virtqueue', () => {
  for (const indirect of [false, true]) {
    it(`round-trips a ${indirect ? 'indirect' : 'direct'} chain and interrupts`, () => {
      const { drv, ram, irq } = setup();
      drv.init(ALL);
      const { head, inAddrs } = drv.add(0, {
        out: [new Uint8Array([1, 2]), new Uint8Array([3])],
        inLens: [2, 4],
        indirect,
      });
      drv.kick(0, true);
      expect(drv.takeUsed(0)).toEqual([{ id: head, len: 3 }]);
      expect([...ram.view(inAddrs[0], 2)!]).toEqual([3, 2]);
      expect([...ram.view(inAddrs[1], 1)!]).toEqual([1]);
      expect(irq.level).toBe(true);
      expect(drv.ackInterrupt()).toBe(Interrupt.UsedBuffer);
      expect(irq.level).toBe(false);
    });
  }

  it('keeps InterruptStatus in a given shared word: a hart clears it there and its ACK of 0 lowers the line', () => {
    const cells = new Int32Array(new SharedArrayBuffer(16));
    const { drv, irq, t } = setup({ interruptStatus: { cells, index: 2 } });
    drv.init(bit(Feature.IndirectDesc)); // an interrupt for every used buffer
    drv.add(0, { out: [new Uint8Array([1])], inLens: [1] });
    drv.kick(0, true);
    expect(cells[2]).toBe(Interrupt.UsedBuffer);
    expect(drv.reg(R.InterruptStatus)).toBe(Interrupt.UsedBuffer);
    // What a hart on another thread does: clear the bit in the word, then post InterruptACK.
    Atomics.and(cells, 2, ~Interrupt.UsedBuffer);
    expect(irq.level).toBe(true); // the line follows when the posted store arrives
    // A completion that lands between the hart's clear and its posted ACK keeps its bit and its line.
    drv.takeUsed(0);
    drv.add(0, { out: [new Uint8Array([2])], inLens: [1] });
    drv.kick(0, true);
    drv.setReg(R.InterruptAck, 0);
    expect(irq.level).toBe(true);
    expect(cells[2]).toBe(Interrupt.UsedBuffer);
    Atomics.and(cells, 2, ~Interrupt.UsedBuffer);
    drv.setReg(R.InterruptAck, 0);
    expect(irq.level).toBe(false);
    expect([cells[0], cells[1], cells[3]]).toEqual([0, 0, 0]);
    expect(
      () =>
        new MmioTransport(new EchoDevice(), { memory: drv.ram, irq, interruptStatus: { cells, index: 4 } }),
    ).toThrow(RangeError);
    Atomics.store(cells, 2, Interrupt.ConfigChange);
    t.reset();
    expect(cells[2]).toBe(0);
  });

  it('honours used_event with EVENT_IDX and publishes avail_event', () => {
    const { drv, ram, irq } = setup();
    drv.init(ALL);
    drv.setUsedEvent(0, 1); // interrupt only once entry #1 is used
    drv.add(0, { out: [new Uint8Array([1])], inLens: [1] });
    drv.kick(0, true);
    expect(irq.level).toBe(false);
    const q = drv.queues[0];
    expect(ram.readU16(q.used + 4 + 8 * q.size)).toBe(1);
    drv.add(0, { out: [new Uint8Array([1])], inLens: [1] });
    expect(drv.kick(0)).toBe(true);
    expect(irq.level).toBe(true);
    expect(drv.takeUsed(0)).toHaveLength(2);
  });

  it('honours VIRTQ_AVAIL_F_NO_INTERRUPT without EVENT_IDX', () => {
    const { drv, ram, irq } = setup();
    drv.init(bit(Feature.IndirectDesc));
    ram.writeU16(drv.queues[0].avail, 1);
    drv.add(0, { out: [new Uint8Array([1])], inLens: [1] });
    drv.kick(0, true);
    expect(drv.takeUsed(0)).toHaveLength(1);
    expect(irq.level).toBe(false);
  });

  it('ignores notifications before DRIVER_OK', () => {
    const { drv } = setup();
    drv.init(ALL, undefined, { driverOk: false });
    drv.add(0, { out: [new Uint8Array([1])], inLens: [1] });
    drv.kick(0, true);
    expect(drv.takeUsed(0)).toHaveLength(0);
  });

  it('resets: status 0 resets the device and a late completion writes nothing', () => {
    const { drv, dev, ram } = setup();
    drv.init(ALL);
    const ctx = dev.ctx!;
    const q = drv.queues[0];
    drv.setReg(R.Status, 0);
    expect(drv.status).toBe(0);
    expect(dev.resets).toBeGreaterThan(0);
    ctx.queues[0].complete(0, 1);
    expect(ram.readU16(q.used + 2)).toBe(0);
    drv.setReg(R.QueueSel, 0);
    expect(drv.reg(R.QueueReady)).toBe(0);
  });
});

describe('hostile drivers', () => {
  function malformed(build: (d: VirtioTestDriver) => number, opts?: { indirect?: boolean }) {
    const s = setup(opts);
    s.drv.init(opts?.indirect === false ? bit(Feature.EventIdx) : ALL);
    const head = build(s.drv);
    s.drv.publish(0, head);
    s.drv.kick(0, true);
    return { ...s, used: s.drv.takeUsed(0) };
  }
  const q0 = (d: VirtioTestDriver) => d.queues[0];
  const buf = (d: VirtioTestDriver) => d.alloc(16);

  const cases: [string, (d: VirtioTestDriver) => number, string][] = [
    [
      'a descriptor loop',
      (d) => {
        d.writeDesc(q0(d).desc, 0, buf(d), 4, DescFlag.Next, 1);
        d.writeDesc(q0(d).desc, 1, buf(d), 4, DescFlag.Next, 0);
        return 0;
      },
      'loop',
    ],
    [
      'a buffer outside guest RAM',
      (d) => {
        d.writeDesc(q0(d).desc, 0, RAM_BASE + RAM_SIZE - 2, 4, 0, 0);
        return 0;
      },
      'outside guest RAM',
    ],
    [
      'a buffer at a 64-bit address',
      (d) => {
        d.writeDesc(q0(d).desc, 0, 2 ** 60, 4, 0, 0);
        return 0;
      },
      'outside guest RAM',
    ],
    [
      'a readable buffer after a writable one',
      (d) => {
        d.writeDesc(q0(d).desc, 0, buf(d), 4, DescFlag.Write | DescFlag.Next, 1);
        d.writeDesc(q0(d).desc, 1, buf(d), 4, 0, 0);
        return 0;
      },
      'after a device-writable',
    ],
    [
      'a next index beyond the table',
      (d) => {
        d.writeDesc(q0(d).desc, 0, buf(d), 4, DescFlag.Next, 200);
        return 0;
      },
      'beyond table',
    ],
    [
      'a nested indirect table',
      (d) => {
        const t = d.alloc(32);
        d.writeDesc(t, 0, t, 32, DescFlag.Indirect, 0);
        d.writeDesc(q0(d).desc, 0, t, 32, DescFlag.Indirect, 0);
        return 0;
      },
      'nested indirect',
    ],
    [
      'an indirect table with NEXT set',
      (d) => {
        const t = d.alloc(16);
        d.writeDesc(t, 0, buf(d), 4, 0, 0);
        d.writeDesc(q0(d).desc, 0, t, 16, DescFlag.Indirect | DescFlag.Next, 1);
        return 0;
      },
      'NEXT set',
    ],
    [
      'an indirect table of odd length',
      (d) => {
        const t = d.alloc(24);
        d.writeDesc(q0(d).desc, 0, t, 24, DescFlag.Indirect, 0);
        return 0;
      },
      'not a multiple of 16',
    ],
    [
      'an indirect loop longer than its table',
      (d) => {
        const t = d.alloc(32);
        d.writeDesc(t, 0, buf(d), 4, DescFlag.Next, 1);
        d.writeDesc(t, 1, buf(d), 4, DescFlag.Next, 0);
        d.writeDesc(q0(d).desc, 0, t, 32, DescFlag.Indirect, 0);
        return 0;
      },
      'loop',
    ],
  ];
  for (const [name, build, msg] of cases) {
    it(`drops ${name} with a log line and keeps serving`, () => {
      const s = malformed(build);
      expect(s.used).toEqual([{ id: 0, len: 0 }]);
      expect(s.logs.join('\n')).toContain(msg);
      // The queue still works afterwards.
      s.drv.queues[0].free = [3, 4, 5];
      const { head } = s.drv.add(0, { out: [new Uint8Array([9])], inLens: [1] });
      s.drv.kick(0, true);
      expect(s.drv.takeUsed(0)).toEqual([{ id: head, len: 1 }]);
    });
  }

  it('rejects indirect descriptors when INDIRECT_DESC was not negotiated', () => {
    const s = malformed(
      (d) => {
        const t = d.alloc(16);
        d.writeDesc(t, 0, d.alloc(4), 4, 0, 0);
        d.writeDesc(q0(d).desc, 0, t, 16, DescFlag.Indirect, 0);
        return 0;
      },
      { indirect: false },
    );
    expect(s.used).toEqual([{ id: 0, len: 0 }]);
    expect(s.logs.join('\n')).toContain('without INDIRECT_DESC');
  });

  it('marks the device NEEDS_RESET when avail idx runs ahead of the ring', () => {
    const { drv, ram, irq } = setup();
    drv.init(ALL);
    ram.writeU16(drv.queues[0].avail + 2, 100);
    drv.kick(0, true);
    expect(drv.status & Status.DeviceNeedsReset).toBeTruthy();
    expect(irq.level).toBe(true);
    expect(drv.reg(R.InterruptStatus) & Interrupt.ConfigChange).toBeTruthy();
  });

  it('marks the device NEEDS_RESET for a head index outside the ring', () => {
    const { drv } = setup();
    drv.init(ALL);
    drv.publish(0, 77);
    drv.kick(0, true);
    expect(drv.status & Status.DeviceNeedsReset).toBeTruthy();
  });

  it('refuses a queue larger than QueueNumMax or with rings outside RAM', () => {
    const a = setup();
    a.drv.init(ALL, undefined, { driverOk: false });
    a.drv.setReg(R.Status, 0);
    a.drv.init(ALL, [8], { driverOk: false });
    expect(a.drv.status & Status.DeviceNeedsReset).toBe(0);
    const b = setup();
    b.drv.setReg(R.QueueSel, 0);
    b.drv.setReg(R.QueueNum, 64);
    b.drv.setReg(R.QueueReady, 1);
    expect(b.drv.reg(R.QueueReady)).toBe(0);
    expect(b.drv.status & Status.DeviceNeedsReset).toBeTruthy();
    const c = setup();
    c.drv.setReg(R.QueueSel, 0);
    c.drv.setReg(R.QueueDescLow, 0x1000); // below RAM
    c.drv.setReg(R.QueueReady, 1);
    expect(c.drv.reg(R.QueueReady)).toBe(0);
  });

  it('contains a device that throws', () => {
    const { drv, dev } = setup();
    drv.init(ALL);
    dev.explode = true;
    drv.add(0, { out: [new Uint8Array([1])], inLens: [1] });
    expect(() => drv.kick(0, true)).not.toThrow();
    expect(drv.status & Status.DeviceNeedsReset).toBeTruthy();
  });

  it('survives random register traffic', () => {
    const { t } = setup();
    let seed = 12345;
    const rnd = () => (seed = (seed * 1103515245 + 12345) >>> 0) >>> 8;
    for (let i = 0; i < 20000; i++) {
      const off = rnd() % 0x120;
      const w = ([1, 2, 4] as const)[rnd() % 3];
      if (rnd() & 1) t.write(off, w, rnd() * 7);
      else t.read(off, w);
      if (i % 50 === 0) t.write(R.QueueNotify, 4, rnd() % 3);
    }
  });
});
