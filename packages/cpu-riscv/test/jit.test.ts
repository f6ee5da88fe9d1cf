/**
 * The JIT in lockstep with the reference executor while the test injects machine software interrupts at
 * random run boundaries and the program takes load access faults (test/programs/inject.c): after every
 * run of up to 3,000 instructions, the pc, instret and every register must be equal. Both harts get the
 * same interrupts at the same boundaries, so any difference is the JIT's.
 */
import type { PhysicalBus } from '@virtio-desktop/virtio-core';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { allocateRam, Hart } from '../src/index.js';
import { build, loadElf } from './harness.js';

const RAM_BASE = 0x8000_0000;
const SIZE = 16 << 20;

function machine(image: Uint8Array, engine: 'jit' | 'reference') {
  const buffer = allocateRam(SIZE, 1);
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
    jitThreshold: 2,
  });
  hart.reset(entry);
  return { hart, out: () => out, exited: () => exit >= 0 };
}

/**
 * A region that leaves its page (a call to the next page) while another region is entered at the page's
 * last position (0xffe): the dispatcher once read "the pc is in the hart" (-1) as a jump inside the page
 * to 0xfff and ran that other region.
 */
const EDGE = `
    .text
    .globl main
    .balign 4096
main:
    mv s0, ra
    li a0, 0
    li a1, 0
    li t1, 3000
1:  jal ra, edge
    addi t1, t1, -1
    bnez t1, 1b
    li t0, 3000
2:  jal ra, far
    addi t0, t0, -1
    bnez t0, 2b
    mv ra, s0
    li a0, 0
    ret
    .org main + 0xffe
edge:
    c.addi a0, 1
    ret
    .balign 4096
far:
    addi a1, a1, 1
    ret
`;

describe('JIT against the reference, with interrupts and faults injected', () => {
  it("a jump out of a page never enters the region at the page's last position", () => {
    const image = new Uint8Array(readFileSync(build('edge.S', { text: EDGE, ext: 'S' })));
    const jit = machine(image, 'jit');
    const ref = machine(image, 'reference');
    for (let k = 0; !jit.exited() && k < 10_000; k++) {
      const budget = 1 + ((k * 7919) % 5000);
      expect(jit.hart.run(budget)).toBe(ref.hart.runReference(budget));
      expect(jit.hart.pc).toBe(ref.hart.pc);
      expect(Array.from(jit.hart.x)).toEqual(Array.from(ref.hart.x));
    }
    expect(jit.exited()).toBe(true);
    expect(jit.hart.dcache.jit!.entries).toBeGreaterThan(0);
  });

  it('retires the same instructions with the same state at every run boundary', () => {
    const image = new Uint8Array(readFileSync(build('inject.c')));
    const jit = machine(image, 'jit');
    const ref = machine(image, 'reference');
    let seed = 12345;
    const rnd = (n: number): number => {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      return (seed >>> 8) % n;
    };
    let interrupts = 0;
    for (let k = 0; !jit.exited() && k < 200_000; k++) {
      if (rnd(4) === 0) {
        jit.hart.setPending(3, true);
        ref.hart.setPending(3, true);
        interrupts++;
      }
      const budget = 1 + rnd(3000);
      expect(jit.hart.run(budget)).toBe(ref.hart.runReference(budget));
      expect(jit.hart.instret).toBe(ref.hart.instret);
      expect(jit.hart.pc).toBe(ref.hart.pc);
      expect(Array.from(jit.hart.x)).toEqual(Array.from(ref.hart.x));
    }
    expect(jit.exited()).toBe(true);
    expect(jit.out()).toBe(ref.out());
    expect(jit.out()).toContain('faults=0000000000000076');
    expect(interrupts).toBeGreaterThan(50);
    // Most of it ran compiled.
    expect(jit.hart.dcache.jit!.entries).toBeGreaterThan(1000);
  }, 120_000);
});
