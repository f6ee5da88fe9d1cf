/**
 * The machine's inventory for virtio-power: the interrupt controller's base (irqchip_base), and a
 * hotplugged device flagged as such, described in the device tree the next boot gets, and refused by
 * snapshots (it is not in the manifest).
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { decodeInventory } from '@virtio-desktop/virtio-power';
import { RiscvMap, parseManifest } from '../src/index.js';
import { nodeModuleLoader, nodeSnapshotCodec } from '../src/node.js';
import { RiscvMachine } from '../src/riscv/machine.js';

const here = path.dirname(fileURLToPath(import.meta.url));

function image(): Uint8Array {
  const img = new Uint8Array(8192);
  const dv = new DataView(img.buffer);
  dv.setUint32(8, 0x200000, true);
  dv.setUint32(16, 0x10000, true);
  img.set(new TextEncoder().encode('RISCV\0\0\0'), 48);
  dv.setUint32(56, 0x05435352, true);
  return img;
}

describe('the inventory', () => {
  it('names the interrupt controller by its base, and flags a hotplugged device', async () => {
    const m = await RiscvMachine.create({
      manifest: parseManifest({
        name: 'inv',
        memory: '64M',
        devices: [{ package: '@virtio-desktop/virtio-power' }],
      }),
      images: { kernel: image() },
      loadModule: nodeModuleLoader(here, []),
    });
    expect(m.inventory().irqchipBase).toBe(RiscvMap.plic.base);
    const blob = () => {
      const d = decodeInventory((m.power as unknown as { inventoryBlob(): Uint8Array }).inventoryBlob());
      if (typeof d === 'string') throw new Error(d);
      return d;
    };
    expect(blob().irqchipBase).toBe(RiscvMap.plic.base);

    const p = await m.hotplug({ package: '@virtio-desktop/virtio-blk', options: { size: '1M' } });
    const entry = blob().devices.find((d) => d.base === p.base);
    expect(entry?.hotplugged).toBe(true);
    // The device tree the next boot gets describes it like a device present at start.
    expect(Buffer.from(m.dtb()).includes(`virtio_mmio@${p.base.toString(16)}`)).toBe(true);
    await expect(m.snapshot({ codec: nodeSnapshotCodec() })).rejects.toThrow(
      /hotplugged devices .* manifest/,
    );
  });
});
