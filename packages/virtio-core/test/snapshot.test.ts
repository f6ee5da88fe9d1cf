import { describe, expect, it } from 'vitest';
import {
  MmioTransport,
  Ram,
  SnapshotError,
  StateReader,
  crc32,
  decodeState,
  encodeState,
  type DescriptorChain,
  type SavedState,
  type VirtioDevice,
  type VirtioDeviceContext,
} from '../src/index.js';
import { VirtioTestDriver } from '../src/testing.js';

const RAM_BASE = 0x8000_0000;
const RAM_SIZE = 1 << 20;

/** Holds every chain it pops until `finish()`, like an input device holding event buffers. */
class HoldingDevice implements VirtioDevice {
  readonly deviceId = 42;
  readonly features = 0n;
  readonly queueSizes = [8];
  readonly configSize = 0;
  ctx: VirtioDeviceContext | null = null;
  held: DescriptorChain[] = [];
  readConfig(): number {
    return 0;
  }
  writeConfig(): void {}
  activate(ctx: VirtioDeviceContext): void {
    this.ctx = ctx;
  }
  queueNotify(i: number): void {
    for (let c = this.ctx!.queues[i].pop(); c; c = this.ctx!.queues[i].pop()) this.held.push(c);
  }
  reset(): void {
    this.ctx = null;
  }
  finish(): void {
    const q = this.ctx!.queues[0];
    for (const c of this.held) q.push(c.head, c.writeBytes(0, new Uint8Array([7, 7])));
    this.held = [];
    q.signal();
  }
  saveState(): SavedState {
    return { version: 3, data: { held: this.held.map((c) => c.head) } };
  }
  restoreState(s: SavedState, ctx: VirtioDeviceContext | null): void {
    const r = StateReader.of(s, 'holding', [3]);
    this.ctx = ctx;
    this.held = r.ints('held', 0, 7).map((h) => ctx!.queues[0].chainAt(h)!);
  }
}

function machine(bytes?: Uint8Array) {
  const ram = new Ram(RAM_BASE, RAM_SIZE);
  if (bytes) ram.bytes.set(bytes);
  const dev = new HoldingDevice();
  const irq = {
    level: false,
    set(l: boolean) {
      this.level = l;
    },
  };
  const t = new MmioTransport(dev, { memory: ram, irq });
  return { ram, dev, irq, t };
}

describe('snapshot state encoding', () => {
  it('round-trips JSON values, non-finite numbers and byte arrays', () => {
    const v = { a: [1, -0.5, Infinity, -Infinity], b: new Uint8Array([1, 2, 3]), c: { d: null, e: 'x' } };
    const out = decodeState(encodeState(v)) as typeof v;
    expect(out.a).toEqual([1, -0.5, Infinity, -Infinity]);
    expect([...out.b]).toEqual([1, 2, 3]);
    expect(out.c).toEqual({ d: null, e: 'x' });
  });

  it('refuses damaged encodings and fields with one-line SnapshotErrors', () => {
    const enc = encodeState({ b: new Uint8Array(100) });
    expect(() => decodeState(enc.subarray(0, enc.length - 1))).toThrow(SnapshotError);
    const r = StateReader.of({ version: 1, data: { n: 'x' } }, 'part', [1]);
    expect(() => r.int('n')).toThrow(/part: saved field "n" is not a number/);
    expect(() => StateReader.of({ version: 2, data: {} }, 'part', [1])).toThrow(/version 2 is not one/);
  });

  it('crc32 is the standard CRC-32', () => {
    expect(crc32(new TextEncoder().encode('123456789'))).toBe(0xcbf43926);
  });
});

describe('MmioTransport snapshots', () => {
  it('restores registers, queue positions and the chains a device held, into another RAM', () => {
    const a = machine();
    const drv = new VirtioTestDriver(a.t, a.ram, RAM_BASE + 0x10000);
    drv.init(0n);
    const { head } = drv.add(0, { out: [new Uint8Array([1])], inLens: [4] });
    drv.kick(0);
    expect(a.dev.held).toHaveLength(1);
    const saved = a.t.saveState();
    const b = machine(a.ram.bytes);
    b.t.restoreState(saved);
    expect(b.t.deviceStatus).toBe(a.t.deviceStatus);
    expect(b.dev.held.map((c) => c.head)).toEqual([head]);
    b.dev.finish();
    // The used ring of the restored machine got the held chain, written, and the interrupt fired.
    const used = (saved.data as { regs: { used: number }[] }).regs[0].used;
    expect(b.ram.readU16(used + 2)).toBe(1);
    expect(b.ram.readU32(used + 4)).toBe(head);
    expect(b.ram.readU32(used + 8)).toBe(2);
    expect(b.irq.level).toBe(true);
    expect(a.ram.readU16(used + 2)).toBe(0);
  });

  it('refuses a device without saveState, naming it', () => {
    const ram = new Ram(RAM_BASE, RAM_SIZE);
    const dev: VirtioDevice = {
      deviceId: 9,
      features: 0n,
      queueSizes: [4],
      configSize: 0,
      readConfig: () => 0,
      writeConfig() {},
      activate() {},
      queueNotify() {},
      reset() {},
    };
    const t = new MmioTransport(dev, { memory: ram, irq: { set() {} } });
    expect(() => t.saveState()).toThrow(/virtio device 9 .* does not implement saveState/);
  });
});
