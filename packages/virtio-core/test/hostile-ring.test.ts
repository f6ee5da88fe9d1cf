/**
 * Issue 15, items 1 and 2: a guest must not buy unbounded host work with one ring entry, and must not
 * write status bits it does not own.
 */
import { describe, expect, it } from 'vitest';
import {
  DescFlag,
  Feature,
  MmioReg as R,
  MmioTransport,
  Ram,
  Status,
  bit,
  type GuestMemory,
  type Logger,
  type VirtioDevice,
  type VirtioDeviceContext,
} from '../src/index.js';
import { VirtioTestDriver } from '../src/testing.js';

const RAM_BASE = 0x8000_0000;
const ALL = bit(Feature.EventIdx) | bit(Feature.IndirectDesc);

/** Counts every guest-memory access the transport and the device make. */
class CountingMemory implements GuestMemory {
  accesses = 0;
  constructor(private readonly ram: Ram) {}
  get base(): number {
    return this.ram.base;
  }
  get size(): number {
    return this.ram.size;
  }
  contains(a: number, n: number): boolean {
    this.accesses++;
    return this.ram.contains(a, n);
  }
  view(a: number, n: number): Uint8Array | null {
    this.accesses++;
    return this.ram.view(a, n);
  }
  read(a: number, d: Uint8Array): boolean {
    this.accesses++;
    return this.ram.read(a, d);
  }
  write(a: number, s: Uint8Array): boolean {
    this.accesses++;
    return this.ram.write(a, s);
  }
  readU16(a: number): number {
    this.accesses++;
    return this.ram.readU16(a);
  }
  readU32(a: number): number {
    this.accesses++;
    return this.ram.readU32(a);
  }
  readU64(a: number): number {
    this.accesses++;
    return this.ram.readU64(a);
  }
  writeU16(a: number, v: number): boolean {
    this.accesses++;
    return this.ram.writeU16(a, v);
  }
  writeU32(a: number, v: number): boolean {
    this.accesses++;
    return this.ram.writeU32(a, v);
  }
}

/** Pops everything and answers each chain with its segment count. */
class Sink implements VirtioDevice {
  readonly deviceId = 42;
  readonly features = 0n;
  readonly configSize = 0;
  ctx: VirtioDeviceContext | null = null;
  segments: number[] = [];
  constructor(readonly queueSizes: readonly number[] = [8]) {}
  readConfig(): number {
    return 0;
  }
  writeConfig(): void {}
  activate(ctx: VirtioDeviceContext): void {
    this.ctx = ctx;
  }
  queueNotify(i: number): void {
    const q = this.ctx!.queues[i];
    for (let c = q.pop(); c; c = q.pop()) {
      this.segments.push(c.readable.length + c.writable.length);
      q.push(c.head, 0);
    }
    q.signal();
  }
  reset(): void {
    this.ctx = null;
  }
}

function setup(ramSize = 4 << 20, queueSize = 8) {
  const ram = new Ram(RAM_BASE, ramSize);
  const mem = new CountingMemory(ram);
  const dev = new Sink([queueSize]);
  const logs: string[] = [];
  const log: Logger = {
    debug: (m) => logs.push(m),
    info: (m) => logs.push(m),
    warn: (m) => logs.push(m),
    error: (m) => logs.push(m),
  };
  const t = new MmioTransport(dev, { memory: mem, irq: { set() {} }, log });
  const drv = new VirtioTestDriver(t, ram, RAM_BASE + 0x1000);
  drv.init(ALL);
  return { ram, mem, dev, t, drv, logs };
}

describe('descriptor chains are bounded by the queue size', () => {
  it('walks a looping indirect table of 1 MiB in at most queue-size steps', () => {
    const s = setup(4 << 20, 8);
    const q = s.drv.queues[0];
    const table = s.drv.alloc(1 << 20, 16);
    // Entry 0 chains to itself: before the fix this was visited len/16 = 65536 times.
    s.drv.writeDesc(table, 0, table, 0, DescFlag.Next, 0);
    s.drv.writeDesc(q.desc, 0, table, 1 << 20, DescFlag.Indirect, 0);
    s.drv.publish(0, 0);
    s.mem.accesses = 0;
    s.drv.kick(0, true);
    expect(s.drv.takeUsed(0)).toEqual([{ id: 0, len: 0 }]);
    expect(s.dev.segments).toEqual([]);
    expect(s.mem.accesses).toBeLessThan(200);
    expect(s.logs.join('\n')).toMatch(/indirect table of 65536 entries/);
  });

  it('drops an indirect table with more entries than the queue has', () => {
    const s = setup(4 << 20, 8);
    const q = s.drv.queues[0];
    const table = s.drv.alloc(16 * 9, 16);
    const buf = s.drv.alloc(64);
    for (let k = 0; k < 9; k++) s.drv.writeDesc(table, k, buf, 4, k < 8 ? DescFlag.Next : 0, k + 1);
    s.drv.writeDesc(q.desc, 0, table, 16 * 9, DescFlag.Indirect, 0);
    s.drv.publish(0, 0);
    s.drv.kick(0, true);
    expect(s.drv.takeUsed(0)).toEqual([{ id: 0, len: 0 }]);
    expect(s.dev.segments).toEqual([]);
  });

  it('accepts an indirect table exactly the queue size long', () => {
    const s = setup(4 << 20, 8);
    const q = s.drv.queues[0];
    const table = s.drv.alloc(16 * 8, 16);
    const buf = s.drv.alloc(64);
    for (let k = 0; k < 8; k++) s.drv.writeDesc(table, k, buf, 4, k < 7 ? DescFlag.Next : 0, k + 1);
    s.drv.writeDesc(q.desc, 0, table, 16 * 8, DescFlag.Indirect, 0);
    s.drv.publish(0, 0);
    s.drv.kick(0, true);
    expect(s.dev.segments).toEqual([8]);
  });

  it('bounds the work of a full ring of looping chains and logs a bounded number of lines', () => {
    const size = 256;
    const s = setup(8 << 20, size);
    const q = s.drv.queues[0];
    const table = s.drv.alloc(16 * size, 16);
    s.drv.writeDesc(table, 0, table, 0, DescFlag.Next, 0);
    for (let i = 0; i < size; i++) {
      s.drv.writeDesc(q.desc, i, table, 16 * size, DescFlag.Indirect, 0);
      s.drv.publish(0, i);
    }
    s.logs.length = 0;
    let used = 0;
    let kicks = 0;
    while (used < size && kicks < size) {
      s.mem.accesses = 0;
      s.drv.kick(0, true);
      kicks++;
      used += s.drv.takeUsed(0).length;
      // One notification walks at most a few queue sizes of descriptors (five accesses a visit).
      expect(s.mem.accesses).toBeLessThan(4 * size * 6);
    }
    expect(used).toBe(size);
    expect(s.logs.length).toBeLessThan(10);
  });

  it('drops a direct chain that loops back to its head', () => {
    const s = setup(4 << 20, 8);
    const q = s.drv.queues[0];
    const buf = s.drv.alloc(64);
    for (let k = 0; k < 8; k++) s.drv.writeDesc(q.desc, k, buf, 0, DescFlag.Next, (k + 1) % 8);
    s.drv.publish(0, 0);
    s.drv.kick(0, true);
    expect(s.drv.takeUsed(0)).toEqual([{ id: 0, len: 0 }]);
    expect(s.logs.join('\n')).toMatch(/loop/);
  });
});

describe('the Status register', () => {
  it('keeps only the defined bits and never reads negative', () => {
    const s = setup();
    s.drv.setReg(R.Status, 0xffff_fff0 | s.drv.status);
    const v = s.drv.status;
    expect(v).toBeGreaterThanOrEqual(0);
    expect(v & ~0xcf).toBe(0);
    expect(v & Status.DeviceNeedsReset).toBe(0);
  });

  it('does not let the driver set DEVICE_NEEDS_RESET, nor hide a real one', () => {
    const s = setup();
    s.drv.setReg(R.Status, s.drv.status | Status.DeviceNeedsReset);
    expect(s.drv.status & Status.DeviceNeedsReset).toBe(0);
    // A real one: the avail index runs ahead of the ring.
    s.ram.writeU16(s.drv.queues[0].avail + 2, 100);
    s.drv.kick(0, true);
    expect(s.drv.status & Status.DeviceNeedsReset).toBeTruthy();
    s.drv.setReg(R.Status, Status.Acknowledge | Status.Driver | Status.FeaturesOk | Status.DriverOk);
    expect(s.drv.status & Status.DeviceNeedsReset).toBeTruthy();
  });

  it('still resets on 0 and accepts FAILED', () => {
    const s = setup();
    s.drv.setReg(R.Status, s.drv.status | Status.Failed);
    expect(s.drv.status & Status.Failed).toBeTruthy();
    s.drv.setReg(R.Status, 0);
    expect(s.drv.status).toBe(0);
  });
});
