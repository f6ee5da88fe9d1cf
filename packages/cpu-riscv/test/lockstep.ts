/**
 * Harts for the JIT's lockstep tests: a small machine (RAM, a UART, the test finisher, MSIP) on the JIT
 * or the reference executor, and a lockstep of the two with interrupts injected.
 */
import type { PhysicalBus } from '@virtio-desktop/virtio-core';
import { readFileSync } from 'node:fs';
import { expect } from 'vitest';
import { adoptSharedRam, allocateRam, Hart, ramLayoutOf } from '../src/index.js';
import { build, loadElf } from './harness.js';

export const RAM_BASE = 0x8000_0000;
export const SIZE = 16 << 20;

export function machine(
  image: Uint8Array,
  engine: 'jit' | 'interp' | 'reference',
  shared = false,
  jitSync = true,
  jitThreshold = 2,
  jitInterp?: boolean,
) {
  let buffer = allocateRam(SIZE, 1, { shared });
  if (shared) {
    // This thread runs the hart: it adopts the memory, as a hart's worker does.
    const { memory, layout } = ramLayoutOf(buffer)!;
    buffer = adoptSharedRam(memory, layout, 0);
  }
  const entry = loadElf(image, new Uint8Array(buffer, 0, SIZE));
  let out = '';
  let exit = -1;
  // eslint-disable-next-line prefer-const
  let hart: Hart;
  const bus: PhysicalBus = {
    read: (addr) => (addr === 0x1000_0005 ? 0x60 : addr >= 0x1000_0000 && addr < 0x1000_0100 ? 0 : -1),
    write(addr, _w, v) {
      if (addr === 0x1000_0000) out += String.fromCharCode(v & 0xff);
      else if (addr === 0x10_0000) exit = (v & 0xffff) === 0x5555 ? 0 : v >>> 16;
      else if (addr === 0x200_0000) hart.setPending(3, (v & 1) === 1);
      else return addr > 0x1000_0000 && addr < 0x1000_0100;
      return true;
    },
  };
  hart = new Hart({
    hartId: 0,
    ram: { base: RAM_BASE, size: SIZE, buffer },
    bus,
    time: () => 0,
    engine,
    jitThreshold,
    jitInterp,
    jitSync,
  });
  hart.reset(entry);
  return { hart, out: () => out, exited: () => exit >= 0 };
}

/**
 * Run `m` and the reference machine `ref` in lockstep with budgets of 1..`maxBudget` until `m` exits (at
 * most `rounds` runs): the same stop reason, pc and registers after every run; `m` must exit.
 */
export function runTogether(
  m: ReturnType<typeof machine>,
  ref: ReturnType<typeof machine>,
  rounds: number,
  maxBudget: number,
): void {
  for (let k = 0; !m.exited() && k < rounds; k++) {
    const budget = 1 + ((k * 7919) % maxBudget);
    expect(m.hart.run(budget)).toBe(ref.hart.runReference(budget));
    expect(m.hart.pc).toBe(ref.hart.pc);
    expect(Array.from(m.hart.x)).toEqual(Array.from(ref.hart.x));
  }
  expect(m.exited()).toBe(true);
}

/**
 * Run test program `name` on the JIT and the reference in lockstep, raising MSIP on both at one run
 * boundary in `every` (random, from `seed`), with budgets of 1..maxBudget: pc, instret, registers and
 * mstatus must be equal after every run, and the program must finish.
 */
export function lockstepWithInterrupts(
  name: string,
  seed: number,
  every: number,
  maxBudget: number,
  jitThreshold = 2,
) {
  const image = new Uint8Array(readFileSync(build(name)));
  const jit = machine(image, 'jit', false, true, jitThreshold);
  const ref = machine(image, 'reference');
  const rnd = (n: number): number => {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    return (seed >>> 8) % n;
  };
  let interrupts = 0;
  for (let k = 0; !jit.exited() && k < 200_000; k++) {
    if (rnd(every) === 0) {
      jit.hart.setPending(3, true);
      ref.hart.setPending(3, true);
      interrupts++;
    }
    const budget = 1 + rnd(maxBudget);
    expect(jit.hart.run(budget)).toBe(ref.hart.runReference(budget));
    expect(jit.hart.instret).toBe(ref.hart.instret);
    expect(jit.hart.pc).toBe(ref.hart.pc);
    expect(Array.from(jit.hart.x)).toEqual(Array.from(ref.hart.x));
    expect(jit.hart.mstatus).toBe(ref.hart.mstatus);
  }
  expect(jit.exited()).toBe(true);
  return { jit, ref, interrupts };
}
