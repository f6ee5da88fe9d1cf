import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { BootError, fwDynamicInfo, parseImageHeader, planLayout, trampoline } from '../src/riscv/boot.js';

function disassemble(bytes: Uint8Array): string[] {
  const f = path.join(mkdtempSync(path.join(tmpdir(), 'tr-')), 't.bin');
  writeFileSync(f, bytes);
  let out: string;
  try {
    out = execFileSync(
      'riscv64-linux-gnu-objdump',
      ['-D', '-b', 'binary', '-m', 'riscv:rv64', '-M', 'no-aliases', f],
      {
        encoding: 'utf8',
      },
    );
  } catch (e) {
    if ((e as { code?: string }).code === 'ENOENT')
      throw new Error(
        'riscv64-linux-gnu-objdump missing: apt-get install gcc-riscv64-linux-gnu (scripts/setup.sh does)',
      );
    throw e;
  }
  return out
    .split('\n')
    .filter((l) => /^\s+[0-9a-f]+:\t/.test(l))
    .map((l) => l.split('\t').slice(2).join(' ').replace(/#.*/, '').replace(/\s+/g, ' ').trim());
}

describe('boot', () => {
  it('encodes the reset trampoline as intended (checked with the cross objdump)', () => {
    const w = trampoline(0x80200000);
    const ins = disassemble(new Uint8Array(w.buffer).subarray(0, 22 * 4));
    expect(ins.slice(0, 5)).toEqual([
      'auipc t6,0x0',
      'addi t0,t6,84',
      'csrrw zero,mtvec,t0',
      'ld t0,96(t6)',
      'csrrw zero,medeleg,t0',
    ]);
    expect(ins).toContain('csrrw zero,mideleg,t0');
    expect(ins).toContain('csrrw zero,pmpcfg0,t0');
    expect(ins).toContain('csrrw zero,mepc,t0');
    expect(ins).toContain('csrrw zero,scounteren,t0');
    expect(ins[20]).toBe('mret');
    expect(ins[21]).toBe('wfi');
    const dv = new DataView(w.buffer);
    expect(dv.getBigUint64(96 + 40, true)).toBe(0x80200000n);
  });

  it('parses a RISC-V Image header and rejects other files', () => {
    const img = new Uint8Array(4096);
    const dv = new DataView(img.buffer);
    dv.setUint32(8, 0x200000, true);
    dv.setUint32(16, 0x1000000, true);
    img.set(new TextEncoder().encode('RISCV\0\0\0'), 48);
    dv.setUint32(56, 0x05435352, true);
    expect(parseImageHeader(img)).toEqual({ textOffset: 0x200000, imageSize: 0x1000000 });
    expect(() => parseImageHeader(new Uint8Array(4096))).toThrow(BootError);
    expect(() => parseImageHeader(new Uint8Array(10))).toThrow(/too small/);
  });

  it('lays out kernel, initrd and DTB without overlap, and refuses what does not fit', () => {
    const ram = { base: 0x80000000, size: 256 * 1024 * 1024 };
    const l = planLayout(ram, { textOffset: 0x200000, imageSize: 20 << 20 }, 8 << 20, false);
    expect(l.kernel).toBe(0x80200000);
    expect(l.initrd!.start).toBeGreaterThanOrEqual(l.kernel + (20 << 20));
    expect(l.initrd!.end).toBeLessThan(l.dtb);
    expect(l.dtb + 65536).toBeLessThanOrEqual(ram.base + ram.size);
    expect(l.scratch).toBe(ram.base);
    expect(planLayout(ram, { textOffset: 0x200000, imageSize: 1 << 20 }, 0, true).scratch).toBe(l.dtb - 4096);
    expect(() => planLayout(ram, { textOffset: 0x200000, imageSize: 20 << 20 }, 300 << 20, false)).toThrow(
      /initrd .* does not fit/,
    );
    expect(() =>
      planLayout(
        { base: 0x80000000, size: 16 << 20 },
        { textOffset: 0x200000, imageSize: 30 << 20 },
        0,
        false,
      ),
    ).toThrow(/kernel does not fit/);
  });

  it('builds fw_dynamic_info for OpenSBI', () => {
    const dv = new DataView(fwDynamicInfo(0x80200000, 0).buffer);
    expect(dv.getBigUint64(0, true)).toBe(0x4942534fn);
    expect(dv.getBigUint64(8, true)).toBe(2n);
    expect(dv.getBigUint64(16, true)).toBe(0x80200000n);
    expect(dv.getBigUint64(24, true)).toBe(1n);
  });
});
