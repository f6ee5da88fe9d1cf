/**
 * Random instruction streams (test/random-gen.ts) on our hart and on QEMU: every register, fcsr and the
 * scratch memory must match. A bounded number of seeds here; VDESK_LONG=1 runs many more. A failing
 * seed is in the test name: `pnpm --filter @virtio-desktop/cpu-riscv exec vitest run -t "seed 1234"`.
 */
import { describe, expect, it } from 'vitest';
import { CPU_ENGINES, type CpuEngine } from '../src/index.js';
import { build, runOurs, runQemu } from './harness.js';
import { randomProgram } from './random-gen.js';

const LONG = process.env.VDESK_LONG === '1';
const SEEDS = LONG ? 200 : 12;

async function compare(seed: number, fp: boolean, engine: CpuEngine, jitThreshold?: number) {
  // Each comparison blocks on gcc and QEMU: give the worker's event loop a turn first, or a long run
  // (VDESK_LONG=1) starves vitest's own messages until they time out.
  await new Promise((r) => setImmediate(r));
  const elf = build(`random-${fp ? 'fp' : 'int'}-${seed}.c`, {
    text: randomProgram(seed, { length: 400, fp }),
    ext: 'c',
  });
  const ours = runOurs(elf, { engine, jitThreshold });
  const qemu = runQemu(elf);
  expect(qemu.exit).toBe(0);
  expect(ours.exit).toBe(0);
  const a = ours.output.split('\n');
  const b = qemu.output.split('\n');
  expect(b.length).toBeGreaterThan(60);
  for (let i = 0; i < Math.max(a.length, b.length); i++)
    if (a[i] !== b[i]) expect(`line ${i}: ${a[i]}`).toBe(`line ${i}: ${b[i]}`);
}

describe.each(CPU_ENGINES)('random instruction streams vs QEMU (%s)', (engine) => {
  for (let s = 1; s <= SEEDS; s++) {
    it(`integer, M, A, C: seed ${s}`, () => compare(s, false, engine), 60_000);
  }
  for (let s = 1; s <= SEEDS; s++) {
    it(`with F and D: seed ${1000 + s}`, () => compare(1000 + s, true, engine), 60_000);
  }
});

// Nothing compiles: the JIT's interpreter in wasm (jit-interp.ts) runs the streams.
describe('random instruction streams vs QEMU (jit, in wasm)', () => {
  for (let s = 1; s <= SEEDS; s++) {
    it(`integer, M, A, C: seed ${s}`, () => compare(s, false, 'jit', 65535), 60_000);
  }
  for (let s = 1; s <= SEEDS; s++) {
    it(`with F and D: seed ${1000 + s}`, () => compare(1000 + s, true, 'jit', 65535), 60_000);
  }
});
