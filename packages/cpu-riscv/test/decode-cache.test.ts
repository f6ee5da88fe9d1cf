/**
 * The decoded-instruction cache (src/decode-cache.ts, src/interp.ts): a store by a hart over decoded code
 * takes effect at once, a write the hart does not see (device DMA, the host) takes effect after FENCE.I,
 * and the fast path retires exactly what the reference executor does, slice by slice, on random programs.
 */
import type { PhysicalBus } from '@virtio-desktop/virtio-core';
import { readFileSync } from 'node:fs';
import { beforeEach, describe, expect, it } from 'vitest';
import { allocateRam, Hart, StopReason, type CpuEngine } from '../src/index.js';
import { build, loadElf } from './harness.js';
import { randomProgram } from './random-gen.js';

const RAM_BASE = 0x8000_0000;
const ADDI_A0_1 = 0x00150513; // addi a0, a0, 1
const ADDI_A0_100 = 0x06450513; // addi a0, a0, 100
const SW_T0_T1 = 0x00532023; // sw t0, 0(t1)
const WFI = 0x10500073;
const FENCE_I = 0x0000100f;
const J_BACK_12 = 0xff5ff06f; // jal x0, -12

const A0 = 10 * 2;
const T0 = 5 * 2;
const T1 = 6 * 2;

function bareHart(
  words: number[],
  opts: { uart?: (c: string) => void; ram?: Uint8Array; hartId?: number } = {},
) {
  const size = 16 << 20;
  // RAM the JIT can compile against (room for two harts' state).
  const ram = opts.ram ?? new Uint8Array(allocateRam(size, 2), 0, size);
  const dv = new DataView(ram.buffer);
  words.forEach((w, i) => dv.setUint32(i * 4, w >>> 0, true));
  let exit = -1;
  const bus: PhysicalBus = {
    read: (addr) => (addr === 0x10000005 ? 0x60 : 0),
    write(addr, _w, v) {
      if (addr === 0x10000000) opts.uart?.(String.fromCharCode(v & 0xff));
      else if (addr === 0x100000) exit = (v & 0xffff) === 0x5555 ? 0 : v >>> 16;
      return true;
    },
  };
  const hart = new Hart({
    hartId: opts.hartId ?? 0,
    ram: { base: RAM_BASE, size, buffer: ram.buffer },
    bus,
    time: () => 0,
    engine: engine,
    jitThreshold: 2,
    jitSync: true,
  });
  hart.reset(RAM_BASE);
  return { hart, dv, exited: () => exit >= 0 };
}

let engine: CpuEngine = 'jit';

describe.each(['interp', 'jit'] as const)('decoded-instruction cache (%s)', (e) => {
  beforeEach(() => {
    engine = e;
  });

  it('a store by the hart over decoded code takes effect without FENCE.I', () => {
    const { hart } = bareHart([ADDI_A0_1, SW_T0_T1, WFI, J_BACK_12]);
    hart.x[T0] = ADDI_A0_100;
    hart.x[T1] = RAM_BASE | 0;
    expect(hart.run(100)).toBe(StopReason.Wfi);
    expect(hart.x[A0]).toBe(1);
    // Back to the top: the decoded `addi a0, a0, 1` at 0 was overwritten by the hart's own store.
    expect(hart.run(100)).toBe(StopReason.Wfi);
    expect(hart.x[A0]).toBe(101);
  });

  it('code written behind the hart (DMA, the host) runs after FENCE.I', () => {
    const { hart, dv } = bareHart([ADDI_A0_1, WFI, FENCE_I, J_BACK_12]);
    expect(hart.run(100)).toBe(StopReason.Wfi);
    expect(hart.x[A0]).toBe(1);
    dv.setUint32(0, ADDI_A0_100, true);
    expect(hart.run(100)).toBe(StopReason.Wfi);
    expect(hart.x[A0]).toBe(101);
  });

  it('harts on the same RAM share it: one hart’s store is seen by the other', () => {
    const a = bareHart([ADDI_A0_1, WFI, J_BACK_12 + 0x400000 /* j -8 */]);
    const ram = new Uint8Array(a.hart.mem8.buffer as ArrayBuffer);
    const b = bareHart([ADDI_A0_1, WFI, J_BACK_12 + 0x400000], { ram, hartId: 1 });
    expect(a.hart.run(100)).toBe(StopReason.Wfi);
    expect(b.hart.run(100)).toBe(StopReason.Wfi);
    expect(a.hart.dcache).toBe(b.hart.dcache);
    // Hart b stores a new instruction over the code both have decoded.
    expect(b.hart.store(RAM_BASE | 0, 0, 4, ADDI_A0_100, 0)).toBe(true);
    expect(a.hart.run(100)).toBe(StopReason.Wfi);
    expect(a.hart.x[A0]).toBe(101);
  });

  it('a budget that ends on the last instruction of a page leaves the pc on the next page', () => {
    // The page at RAM_BASE + 0x1000 has bit 12 set in its address, so writing the pc back as
    // (page | 4096) instead of page + 4096 lands on this page's start again (Xorg crashed on that).
    const words = new Array<number>(0x2010 / 4).fill(0);
    words[0x1ff8 / 4] = ADDI_A0_1;
    words[0x1ffc / 4] = ADDI_A0_1;
    words[0x2000 / 4] = ADDI_A0_100;
    words[0x2004 / 4] = WFI;
    const { hart } = bareHart(words);
    hart.pc = RAM_BASE + 0x1ff8;
    expect(hart.run(2)).toBe(StopReason.Budget);
    expect(hart.pc).toBe(RAM_BASE + 0x2000);
    expect(hart.run(100)).toBe(StopReason.Wfi);
    expect(hart.x[A0]).toBe(102);
    expect(hart.instret).toBe(4);
  });

  it('runs ending anywhere in straight-line code across five pages retire what the reference does', () => {
    // Alternating 2- and 4-byte instructions, so page ends fall between, after and inside (a 4-byte
    // instruction straddling two pages) instructions; pages with and without bit 12 in their address.
    const C_ADDI_A0_1 = 0x0505;
    const start = 0xf00;
    const end = 0x5100;
    const make = () => {
      const ram = new Uint8Array(allocateRam(16 << 20, 2), 0, 16 << 20);
      const h16 = new Uint16Array(ram.buffer);
      let p = start;
      for (let k = 0; p < end; k++) {
        if (k % 2 === 0) h16[p >>> 1] = C_ADDI_A0_1;
        else {
          h16[p >>> 1] = ADDI_A0_1 & 0xffff;
          h16[(p >>> 1) + 1] = ADDI_A0_1 >>> 16;
          p += 2;
        }
        p += 2;
      }
      new DataView(ram.buffer).setUint32(p, WFI, true);
      const m = bareHart([], { ram });
      m.hart.pc = RAM_BASE + start;
      return m.hart;
    };
    // One instruction per run ends a run at every page end; the mixed budgets end them elsewhere too.
    for (const slice of [() => 1, (k: number) => 1 + ((k * 7) % 13)]) {
      const fast = make();
      const ref = make();
      for (let k = 0; ; k++) {
        const budget = slice(k);
        const r = fast.run(budget);
        expect(ref.runReference(budget)).toBe(r);
        expect(fast.pc).toBe(ref.pc);
        expect(fast.x[A0]).toBe(ref.x[A0]);
        expect(fast.instret).toBe(ref.instret);
        if (r === StopReason.Wfi) break;
      }
      expect(fast.x[A0]).toBe(ref.instret - 1);
    }
  });

  it('an encoding the fast path hands to execute.ts traps as illegal with the whole instruction', () => {
    // clz a0, a0 (Zbb, not implemented): OP-IMM with a funct6 the fast decoder does not specialise.
    const CLZ = 0x60051513;
    const { hart } = bareHart([CLZ, WFI]);
    hart.run(1);
    expect(hart.csr64[2 * 0x342]).toBe(2); // mcause: illegal instruction
    expect(hart.csr64[2 * 0x343] >>> 0).toBe(CLZ); // mtval: the instruction
  });

  /** Run `image` on this engine and on the reference in lockstep, comparing after every run. */
  function lockstep(image: Uint8Array, budget: (k: number) => number) {
    const runs = [0, 1].map(() => {
      const ram = new Uint8Array(allocateRam(16 << 20, 2), 0, 16 << 20);
      const entry = loadElf(image, ram);
      let out = '';
      const m = bareHart([], { ram, uart: (c) => (out += c) });
      m.hart.reset(entry);
      return { ...m, out: () => out };
    });
    const [fast, ref] = runs;
    for (let k = 0; !fast.exited() && k < 200_000; k++) {
      const b = budget(k);
      fast.hart.run(b);
      ref.hart.runReference(b);
      expect(fast.hart.instret).toBe(ref.hart.instret);
      expect(fast.hart.pc).toBe(ref.hart.pc);
      expect(Array.from(fast.hart.x)).toEqual(Array.from(ref.hart.x));
    }
    expect(fast.exited()).toBe(true);
    expect(ref.exited()).toBe(true);
    expect(fast.out()).toBe(ref.out());
    return fast;
  }

  it('chained compiled code (calls, returns and loops across pages) retires what the reference does', () => {
    // Long runs, so that the dispatcher chains through many regions in one call.
    lockstep(new Uint8Array(readFileSync(build('chain.c'))), (k) => 1 + ((k * 7919) % 5000));
  });

  for (const [seed, fp] of [
    [7, false],
    [8, false],
    [1007, true],
  ] as const) {
    it(`the fast path retires what the reference executor does, slice by slice (seed ${seed})`, () => {
      const elf = build(`random-${fp ? 'fp' : 'int'}-${seed}.c`, {
        text: randomProgram(seed, { length: 400, fp }),
        ext: 'c',
      });
      // Odd slice lengths end runs in the middle of pages, branches and straight-line code alike.
      const fast = lockstep(new Uint8Array(readFileSync(elf)), (k) => 1 + ((k * 37) % 113));
      expect(fast.out().split('\n').length).toBeGreaterThan(60);
      // On the JIT engine most of it ran as compiled code.
      if (e === 'jit') expect(fast.hart.dcache.jit!.entries).toBeGreaterThan(100);
    }, 120_000);
  }
});
