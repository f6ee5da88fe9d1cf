/**
 * Differential tests: each bare-metal program runs on our hart and on qemu-system-riscv64 (virt,
 * -bios none); their UART output (architectural results printed in hex) and exit codes must be equal.
 * Both of the hart's run loops are checked: the decoded-instruction cache and the reference executor.
 */
import { describe, expect, it } from 'vitest';
import { build, runOurs, runQemu } from './harness.js';

const PROGRAMS = ['alu.c', 'mem.c', 'int.c', 'priv.c', 'priv2.c', 'vm.c', 'warl.c', 'fp.c', 'fp2.c'];

describe.each([
  ['fast path', true, undefined],
  ['reference loop', false, undefined],
  // Runs that end after 1..97 instructions stop the fast loop at every kind of point: mid-page, on a
  // page's last instruction, after a branch or a trap.
  ['fast path, short runs', true, (k: number) => 1 + ((k * 37) % 97)],
])('hart (%s) vs QEMU', (_name, fastPath, slice) => {
  for (const p of PROGRAMS) {
    it(`${p} gives QEMU's output`, () => {
      const elf = build(p);
      const ours = runOurs(elf, { fastPath, slice });
      const qemu = runQemu(elf);
      expect(qemu.exit).toBe(0);
      expect(ours.exit).toBe(0);
      const a = ours.output.split('\n');
      const b = qemu.output.split('\n');
      for (let i = 0; i < Math.max(a.length, b.length); i++) {
        if (a[i] !== b[i]) expect(`line ${i}: ${a[i]}`).toBe(`line ${i}: ${b[i]}`);
      }
    }, 120_000);
  }
});
