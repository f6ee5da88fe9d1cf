/**
 * Every 16-bit encoding except jumps and branches (those are in programs/int.c) runs on our hart and on
 * QEMU, with a register checkpoint after each one (test/rvc-gen.ts): ALU forms and their HINTs, loads and
 * stores, FP loads and stores, and every reserved encoding, which must trap with the same cause and tval.
 */
import { describe, expect, it } from 'vitest';
import { build, runOurs, runQemu } from './harness.js';
import { rvcEncodings, rvcProgram } from './rvc-gen.js';

describe('RVC vs QEMU', () => {
  it(`all ${rvcEncodings().length} non-control 16-bit encodings give QEMU's state`, () => {
    const elf = build('rvc-all.c', { text: rvcProgram(), ext: 'c' });
    const ours = runOurs(elf);
    const qemu = runQemu(elf);
    expect(qemu.exit).toBe(0);
    expect(ours.exit).toBe(0);
    const a = ours.output.split('\n');
    const b = qemu.output.split('\n');
    expect(b.length).toBeGreaterThan(600);
    // Each line is "block hash": the first differing block is where to look (rvcEncodings() order).
    for (let i = 0; i < Math.max(a.length, b.length); i++)
      if (a[i] !== b[i]) expect(`block line ${i}: ${a[i]}`).toBe(`block line ${i}: ${b[i]}`);
  }, 120_000);
});
