/**
 * Differential tests: each bare-metal program runs on our hart and on qemu-system-riscv64 (virt,
 * -bios none); their UART output (architectural results printed in hex) and exit codes must be equal.
 * Every CPU engine is checked: the JIT, the decoded-instruction interpreter and the reference executor.
 */
import { describe, expect, it } from 'vitest';
import { build, runOurs, runQemu } from './harness.js';

const PROGRAMS = [
  'alu.c',
  'mem.c',
  'int.c',
  'priv.c',
  'priv2.c',
  'vm.c',
  'warl.c',
  'fp.c',
  'fp2.c',
  'chain.c',
];

// Runs that end after 1..97 instructions stop the fast loops at every kind of point: mid-page, on a
// page's last instruction, after a branch or a trap, inside compiled code.
const short = (k: number): number => 1 + ((k * 37) % 97);

// 'jit, in wasm': nothing compiles, so the JIT's interpreter in wasm (jit-interp.ts) runs what it can;
// 'jit, no wasm interpreter': the regions and the JavaScript run loop alone.
const NEVER = 65535;
describe.each([
  ['jit', 'jit', undefined, undefined, undefined],
  ['interp', 'interp', undefined, undefined, undefined],
  ['reference', 'reference', undefined, undefined, undefined],
  ['jit, short runs', 'jit', short, undefined, undefined],
  ['interp, short runs', 'interp', short, undefined, undefined],
  ['jit, in wasm', 'jit', undefined, NEVER, undefined],
  ['jit, in wasm, short runs', 'jit', short, NEVER, undefined],
  ['jit, no wasm interpreter', 'jit', undefined, undefined, false],
] as const)('hart (%s) vs QEMU', (_name, engine, slice, jitThreshold, jitInterp) => {
  for (const p of PROGRAMS) {
    it(`${p} gives QEMU's output`, () => {
      const elf = build(p);
      const ours = runOurs(elf, { engine, slice, jitThreshold, jitInterp });
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
