import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { DeviceId, Ram, type InterruptLine, type Logger, silentLogger } from '@virtio-desktop/virtio-core';
import { VirtioTestDriver } from '@virtio-desktop/virtio-core/testing';
import { describe, expect, it } from 'vitest';
import { ManifestError, SystemBus, VirtioSlots, parseManifest, virtioSlotBase } from '../src/index.js';
import { nodeModuleLoader } from '../src/node.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const fixtures = path.join(here, 'fixtures');

function setup(log: Logger = silentLogger) {
  const ram = new Ram(0x8000_0000, 1 << 20);
  const bus = new SystemBus(log);
  const levels = new Map<number, boolean>();
  const irqs = {
    phandle: 9,
    line: (n: number): InterruptLine => ({ set: (l) => void levels.set(n, l) }),
  };
  const slots = new VirtioSlots({ memory: ram, bus, irqs, log, loadModule: nodeModuleLoader(fixtures, []) });
  return { ram, bus, slots, levels };
}

async function assemble(devices: unknown[]) {
  const s = setup();
  const m = parseManifest({ devices });
  for (const [i, d] of m.devices.entries()) await s.slots.add(d, `devices[${i}]`);
  return s;
}

describe('assembling devices from a manifest', () => {
  it('loads a third-party plugin by path, places it in a slot and serves a driver', async () => {
    const { slots, bus, ram, levels } = await assemble([
      { package: './echo-plugin.mjs', device: 'echo', id: 'e1', options: { tag: 42 } },
      { package: './echo-plugin.mjs', device: 'echo' },
    ]);
    expect(slots.devices.map((d) => [d.id, d.slot, d.irq])).toEqual([
      ['e1', 1, 33],
      ['echo2', 2, 34],
    ]);
    // Through the system bus, as a CPU would see it.
    const base = virtioSlotBase(1);
    expect(bus.read(base, 4)).toBe(0x74726976);
    expect(bus.read(base + 8, 4)).toBe(0x7e);
    expect(bus.read(base + 0x100, 4)).toBe(42);
    expect(bus.read(virtioSlotBase(0), 4)).toBe(-1); // power slot empty: unmapped

    const busDev = {
      name: 'bus-view',
      size: 0x1000,
      read: (o: number, w: 1 | 2 | 4) => bus.read(base + o, w) >>> 0,
      write: (o: number, w: 1 | 2 | 4, v: number) => void bus.write(base + o, w, v),
      reset() {},
    };
    const drv = new VirtioTestDriver(busDev, ram, 0x8001_0000);
    expect(drv.init(0n)).toBe(true);
    const { head, inAddrs } = drv.add(0, { out: [new Uint8Array([5, 6, 7])], inLens: [3] });
    drv.kick(0, true);
    expect(drv.takeUsed(0)).toEqual([{ id: head, len: 3 }]);
    expect([...ram.view(inAddrs[0], 3)!]).toEqual([5, 6, 7]);
    expect(levels.get(33)).toBe(true);

    const dt = slots.describe();
    expect(dt[0]).toMatchObject({
      name: 'virtio_mmio',
      unitAddress: base,
      props: { compatible: 'virtio,mmio', interrupts: 33, 'interrupt-parent': 9 },
    });
  });

  const cases: [string, unknown, RegExp][] = [
    [
      'an unknown package',
      { package: '@nobody/no-such-device' },
      /devices\[0\]: cannot load package "@nobody\/no-such-device": not installed/,
    ],
    [
      'a missing local module',
      { package: './missing.mjs' },
      /devices\[0\]: cannot load package "\.\/missing\.mjs"/,
    ],
    [
      'an ambiguous package',
      { package: './echo-plugin.mjs' },
      /several devices; set "device" to one of: echo, broken/,
    ],
    ['an unknown device', { package: './echo-plugin.mjs', device: 'nope' }, /has no device "nope"/],
    [
      'bad options',
      { package: './echo-plugin.mjs', device: 'echo', options: { tag: 999 } },
      /devices\[0\] \(echo\): option "tag" must be an integer from 0 to 255/,
    ],
    [
      'an unknown option',
      { package: './echo-plugin.mjs', device: 'echo', options: { colour: 1 } },
      /unknown option "colour"/,
    ],
    [
      'a device that fails to load',
      { package: './echo-plugin.mjs', device: 'broken' },
      /could not create the device: backend unavailable/,
    ],
    ['a package with no plugin', { package: './not-a-plugin.mjs' }, /exports no device plugin/],
  ];
  for (const [name, entry, re] of cases) {
    it(`rejects ${name} with one line`, async () => {
      const err = await assemble([entry]).then(
        () => null,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(ManifestError);
      expect((err as Error).message).toMatch(re);
      expect((err as Error).message).not.toContain('\n');
    });
  }

  it('keeps slot 0 for virtio-power and runs out of slots cleanly', () => {
    const { slots } = setup();
    const fake = (id: number) => ({
      deviceId: id,
      features: 0n,
      queueSizes: [4],
      configSize: 0,
      readConfig: () => 0,
      writeConfig() {},
      activate() {},
      queueNotify() {},
      reset() {},
    });
    expect(slots.place(fake(DeviceId.Power), 'power', 'power').slot).toBe(0);
    for (let i = 1; i < 32; i++) expect(slots.place(fake(1), 'x', undefined).slot).toBe(i);
    expect(() => slots.place(fake(1), 'x', undefined)).toThrow(/no free virtio-mmio slot/);
    expect(() => slots.place(fake(DeviceId.Power), 'power', 'p2')).toThrow(/no free/);
    expect(slots.remove('x5')?.slot).toBe(5);
    expect(slots.place(fake(1), 'y', undefined).slot).toBe(5);
  });
});
