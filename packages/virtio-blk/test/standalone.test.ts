/**
 * The proof that the model installs into another emulator: a tiny host written here (no machine
 * package) maps the virtio-mmio transport at an address of its own bus and drives it only through
 * physical read/write calls, the way a CPU's load/store path would.
 */
import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import {
  MmioTransport,
  Ram,
  VIRTIO_MMIO_SLOT_SIZE,
  type AccessWidth,
  type BusDevice,
  type InterruptLine,
} from '@virtio-desktop/virtio-core';
import { VirtioTestDriver } from '@virtio-desktop/virtio-core/testing';
import { BlkStatus, BlkType, MemoryBackend, VirtioBlkDevice } from '../src/index.js';
import { ALL_FEATURES, header, pattern } from './helpers.js';

/** Another emulator's bus: a list of (base, device) windows and a RAM. */
class TinyHost {
  readonly windows: { base: number; dev: BusDevice }[] = [];
  readonly irqs = new Map<number, boolean>();
  constructor(readonly ram: Ram) {}
  map(base: number, dev: BusDevice): void {
    this.windows.push({ base, dev });
  }
  line(n: number): InterruptLine {
    return { set: (level) => void this.irqs.set(n, level) };
  }
  load(addr: number, width: AccessWidth): number {
    const w = this.windows.find((x) => addr >= x.base && addr + width <= x.base + x.dev.size);
    if (w) return w.dev.read(addr - w.base, width);
    const v = this.ram.view(addr, width);
    return v ? v.reduce((acc, b, i) => acc + b * 2 ** (8 * i), 0) : -1;
  }
  store(addr: number, width: AccessWidth, value: number): void {
    const w = this.windows.find((x) => addr >= x.base && addr + width <= x.base + x.dev.size);
    if (w) w.dev.write(addr - w.base, width, value);
  }
}

describe('virtio-blk in a foreign host', () => {
  it('is driven through the host bus at the address the host chose', async () => {
    const ram = new Ram(0x4000_0000, 8 << 20);
    const host = new TinyHost(ram);
    const disk = new VirtioBlkDevice({ backend: new MemoryBackend({ size: 1 << 20 }), serial: 'foreign' });
    const transport = new MmioTransport(disk, { memory: ram, irq: host.line(7) });
    const BASE = 0x1000_8000;
    host.map(BASE, transport);

    // The driver sees only the host's physical address space.
    const viaBus: BusDevice = {
      name: 'bus-window',
      size: VIRTIO_MMIO_SLOT_SIZE,
      read: (off, w) => host.load(BASE + off, w),
      write: (off, w, v) => host.store(BASE + off, w, v),
      reset: () => {},
    };
    expect(host.load(BASE, 4)).toBe(0x74726976);
    expect(host.load(BASE + 8, 4)).toBe(2);
    const drv = new VirtioTestDriver(viaBus, ram, 0x4000_1000);
    expect(drv.init(ALL_FEATURES)).toBe(true);
    expect(host.load(BASE + 0x100, 4)).toBe(2048); // capacity, low word

    const data = pattern(1024, 21);
    drv.add(0, { out: [header(BlkType.Out, 4), data], inLens: [1] });
    drv.kick(0, true);
    await disk.drain();
    expect(host.irqs.get(7)).toBe(true);
    drv.ackInterrupt();
    expect(host.irqs.get(7)).toBe(false);
    drv.takeUsed(0);

    const { inAddrs } = drv.add(0, { out: [header(BlkType.In, 4)], inLens: [1024, 1] });
    drv.kick(0, true);
    await disk.drain();
    expect(drv.takeUsed(0)).toHaveLength(1);
    expect(ram.view(inAddrs[0], 1024)).toEqual(data);
    expect(ram.view(inAddrs[1], 1)![0]).toBe(BlkStatus.Ok);

    // A device-tree node for the host, if it builds one.
    expect(transport.describe?.({ base: BASE, irqs: [7], interruptParent: 1 })).toMatchObject({
      unitAddress: BASE,
    });
  });

  it('keeps the main entry free of Node modules and the Node entry free of DOM globals', async () => {
    const src = (f: string) => readFile(new URL(`../src/${f}`, import.meta.url), 'utf8');
    for (const f of [
      'index.ts',
      'plugin.ts',
      'device.ts',
      'backend.ts',
      'sparse.ts',
      'constants.ts',
      'browser.ts',
    ])
      expect(await src(f), f).not.toMatch(/from '(node:|fs|path)|import\('node:/);
    expect(await src('plugin.ts')).not.toMatch(/await import\('/); // only the variable specifier
    expect(await src('node.ts')).not.toMatch(/\b(navigator|window|document|FileSystem\w+Handle)\b/);
  });
});
