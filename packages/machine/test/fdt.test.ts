import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildFdt } from '../src/index.js';

function dtc(dtb: Uint8Array): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'fdt-'));
  const f = path.join(dir, 't.dtb');
  writeFileSync(f, dtb);
  try {
    return execFileSync('dtc', ['-q', '-I', 'dtb', '-O', 'dts', f], { encoding: 'utf8' });
  } catch (e) {
    if ((e as { code?: string }).code === 'ENOENT')
      throw new Error('dtc not found: apt-get install device-tree-compiler (the setup script does this)');
    throw e;
  }
}

describe('flattened device tree', () => {
  it('produces a DTB that dtc decodes to the same tree', () => {
    const dtb = buildFdt({
      name: '',
      props: { '#address-cells': 2, '#size-cells': 2, compatible: 'virtio-desktop,riscv64', model: 'test' },
      children: [
        { name: 'chosen', props: { bootargs: 'console=ttyS0 quiet', 'linux,initrd-start': [0, 0x88000000] } },
        {
          name: 'memory',
          unitAddress: 0x80000000,
          props: { device_type: 'memory', reg: [0, 0x80000000, 0, 0x20000000] },
        },
        {
          name: 'soc',
          props: { ranges: true, compatible: ['simple-bus'] },
          children: [
            {
              name: 'plic',
              unitAddress: 0xc000000,
              phandle: 3,
              props: { 'interrupt-controller': true, bytes: new Uint8Array([1, 2, 3]), list: ['a', 'bc'] },
            },
          ],
        },
      ],
    });
    const dts = dtc(dtb);
    expect(dts).toContain('compatible = "virtio-desktop,riscv64";');
    expect(dts).toContain('bootargs = "console=ttyS0 quiet";');
    expect(dts).toContain('memory@80000000 {');
    expect(dts).toContain('reg = <0x00 0x80000000 0x00 0x20000000>;');
    expect(dts).toContain('plic@c000000 {');
    expect(dts).toContain('phandle = <0x03>;');
    expect(dts).toContain('interrupt-controller;');
    expect(dts).toContain('bytes = [01 02 03];');
    expect(dts).toContain('list = "a\\0bc";');
    expect(dts).toContain('ranges;');
  });
});
