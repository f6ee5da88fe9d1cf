/**
 * The JIT in lockstep with the reference executor while the test injects machine software interrupts at
 * random run boundaries and the program takes load access faults (test/programs/inject.c): after every
 * run of up to 3,000 instructions, the pc, instret and every register must be equal. Both harts get the
 * same interrupts at the same boundaries, so any difference is the JIT's.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it, vi } from 'vitest';
import { SLOT_ENTRIES } from '../src/decode-cache.js';
import { lockstepWithInterrupts, machine, RAM_BASE, runTogether, SIZE } from './lockstep.js';
import { JIT_ENTRY } from '../src/jit-cache.js';
import { hostStats } from '../src/jit-host.js';
import { build } from './harness.js';

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

/**
 * Hot loops of the instructions the JIT compiles although the decoder leaves them to the reference
 * executor: FLD/FSD/FLW/FSW under every FPU state but Off (a load in Clean or Initial goes back to make FS
 * Dirty), LR/SC with and without a reservation, with the reservation broken by a store beside it or
 * taken on another word, and the AMOs (with rd = x0 too). s2 counts failed SCs; s3, s4 sum results.
 */
const ATOMICS_FP = `
    .text
    .globl main
main:
    mv s0, ra
    la s1, buf
    li a0, 0
    li a1, 0
    li a2, 0
    li t1, 1500
    li t2, 3 << 13
1:  csrc mstatus, t2
    li t3, 3
    remu t3, t1, t3
    addi t3, t3, 1
    slli t3, t3, 13
    csrs mstatus, t3
    fld f1, 0(s1)
    fsd f1, 8(s1)
    flw f2, 16(s1)
    fsw f2, 20(s1)
    fld f3, 8(s1)
    fmv.x.d a3, f3
    add a1, a1, a3
    fsd f2, 32(s1)
    addi a4, s1, 40
    amoadd.d a5, t1, (a4)
    add a1, a1, a5
    amoswap.w a5, t1, (a4)
    add a2, a2, a5
    amoxor.d a5, t1, (a4)
    amoor.w x0, t1, (a4)
    amoand.d a5, a5, (a4)
    add a2, a2, a5
    amoadd.w a5, a1, (a4)
    addi a6, s1, 48
    lr.d a5, (a6)
    addi a5, a5, 3
    sc.d a7, a5, (a6)
    add a0, a0, a7
    lr.w a5, (a6)
    sw a5, 4(a6)
    sc.w a7, t1, (a6)
    add a0, a0, a7
    sc.d a7, t1, (a6)
    add a0, a0, a7
    lr.d a5, (a6)
    sc.d a7, a5, (a4)
    add a0, a0, a7
    lr.w a5, (a6)
    sc.w x0, t1, (a6)
    ld a5, 48(s1)
    add a2, a2, a5
    addi t1, t1, -1
    bnez t1, 1b
    mv s2, a0
    mv s3, a1
    mv s4, a2
    mv ra, s0
    li a0, 0
    ret
    .data
    .balign 64
buf:
    .dword 0x400921fb54442d18, 0, 0x3f800000bf800000, 0, 0, 7, 11, 0
`;

describe('compiled FP loads and stores, LR/SC and AMOs', () => {
  // Threshold 65,535: nothing compiles, the interpreter in wasm runs LR/SC and the AMOs.
  for (const [shared, threshold] of [
    [false, 2],
    [true, 2],
    [false, 65_535],
    [true, 65_535],
  ] as const)
    it(`equal the reference at every run boundary${shared ? ' on shared RAM' : ''}${threshold > 2 ? ', in the wasm interpreter' : ''}`, () => {
      const image = new Uint8Array(readFileSync(build('atomics-fp.S', { text: ATOMICS_FP, ext: 'S' })));
      const jit = machine(image, 'jit', shared, true, threshold);
      const ref = machine(image, 'reference', shared);
      const retire = vi.spyOn(jit.hart, 'retire');
      for (let k = 0; !jit.exited() && k < 20_000; k++) {
        const budget = 1 + ((k * 7919) % 700);
        expect(jit.hart.run(budget)).toBe(ref.hart.runReference(budget));
        expect(jit.hart.instret).toBe(ref.hart.instret);
        expect(jit.hart.pc).toBe(ref.hart.pc);
        expect(Array.from(jit.hart.x)).toEqual(Array.from(ref.hart.x));
        expect(Array.from(jit.hart.fi)).toEqual(Array.from(ref.hart.fi));
        expect(jit.hart.mstatus).toBe(ref.hart.mstatus);
        expect(jit.hart.reservation).toBe(ref.hart.reservation);
      }
      expect(jit.exited()).toBe(true);
      // Three of each iteration's five SCs fail.
      expect(jit.hart.x[2 * 18]).toBe(4500);
      expect(Buffer.compare(jit.hart.mem8, ref.hart.mem8)).toBe(0);
      if (threshold === 2) expect(jit.hart.dcache.jit!.entries).toBeGreaterThan(1000);
      else expect(jit.hart.dcache.jit!.compiles).toBe(0);
      // The 1,500 iterations' LR/SC and AMOs ran in wasm: the run loop executed only the first of each
      // (as it decodes it) and those where a budget ended just before one.
      const inRunLoop = retire.mock.calls.filter(([inst]) => (inst & 0x7f) === 0x2f).length;
      expect(inRunLoop).toBeLessThan(200);
    });
});

/** A hot loop whose add the test rewrites (from 1 to 2) while its region is compiled in the background. */
const REWRITE = `
    .text
    .globl main
main:
    li a0, 0
    li t1, 20000
    la s1, 1f
    .option push
    .option norvc
1:  addi a0, a0, 1
    addi t1, t1, -1
    bnez t1, 1b
    .option pop
    mv s2, a0
    li a0, 0
    ret
`;

/** A loop around a straight line five times longer than a run: an unrolled hash's shape. */
const LONG = `
    .text
    .globl main
    .balign 4096
main:
    li t1, 40
1:
    .rept 320
    addi a0, a0, 3
    .endr
    addi t1, t1, -1
    bnez t1, 1b
    li a0, 0
    ret
`;

/** A loop with an instruction regions leave to the run loop (MULHU) in the middle of its body. */
const MULHU = `
    .text
    .globl main
    .balign 4096
main:
    li t1, 300
    li a0, 12345
1:  addi a0, a0, 7
    mulhu a1, a0, a0
    xor a0, a0, a1
    addi a0, a0, 1
    addi t1, t1, -1
    bnez t1, 1b
    li a0, 0
    ret
`;

/** Run `src` in lockstep with the reference; the compiled entries in its page after the first batch. */
function entriesAfterFirstBatch(name: string, src: string): number {
  const image = new Uint8Array(readFileSync(build(name, { text: src, ext: 'S' })));
  const jit = machine(image, 'jit');
  const ref = machine(image, 'reference');
  let entries = -1;
  for (let k = 0; !jit.exited() && k < 20_000; k++) {
    const budget = 1 + ((k * 7919) % 97);
    expect(jit.hart.run(budget)).toBe(ref.hart.runReference(budget));
    expect(jit.hart.pc).toBe(ref.hart.pc);
    expect(Array.from(jit.hart.x)).toEqual(Array.from(ref.hart.x));
    if (entries < 0 && (jit.hart.dcache.jit?.batches ?? 0) > 0) {
      const dc = jit.hart.dcache;
      const slot = dc.pageSlot[((jit.hart.pc >>> 0) - RAM_BASE) >>> 12];
      entries = 0;
      for (let i = 0; i < SLOT_ENTRIES; i++) if (dc.meta[slot * SLOT_ENTRIES + i] & JIT_ENTRY) entries++;
    }
  }
  expect(jit.exited()).toBe(true);
  return entries;
}

describe('what a region covers', () => {
  it('the rest of a loop after an instruction the run loop executes is an entry (runs compiled)', () => {
    // Before: the loop head only; the xor and what follows were interpreted on every iteration.
    expect(entriesAfterFirstBatch('mulhu.S', MULHU)).toBeGreaterThanOrEqual(2);
  });

  it('long straight lines are compiled whole when their entry gets hot, and run in lockstep', () => {
    // One label per 64-instruction run, and the regions past the first one's 256 instructions in the
    // same batch (before: the loop head alone, the rest each after JIT_HOT more arrivals).
    expect(entriesAfterFirstBatch('long.S', LONG)).toBeGreaterThanOrEqual(5);
  });
});

const FENCES = `
    .text
    .globl main
main:
    li t1, 100
1:  sd t1, -8(sp)
    fence rw, rw
    ld t2, -8(sp)
    addi t1, t1, -1
    bnez t1, 1b
    li a0, 0
    ret
`;

describe('FENCE', () => {
  it('is a host barrier on RAM shared with other threads (wasm atomic.fence with the JIT), and free otherwise', () => {
    const image = new Uint8Array(readFileSync(build('fences.S', { text: FENCES, ext: 'S' })));
    // [engine, shared RAM, JIT threshold (65,535: nothing compiles, the wasm interpreter runs it)]
    for (const [engine, shared, threshold] of [
      ['jit', false, 2],
      ['interp', true, 2],
      ['jit', true, 65_535],
      ['jit', true, 2],
    ] as const) {
      const m = machine(image, engine, shared, true, threshold);
      const ref = machine(image, 'reference', shared);
      const spy = vi.spyOn(m.hart, 'fence');
      runTogether(m, ref, 1000, 97);
      const label = `${engine}${shared ? ', shared' : ''}, threshold ${threshold}`;
      // The run loop's barrier for each of the 100 FENCEs without the JIT; with it, wasm's atomic.fence
      // (the interpreter in wasm, then the compiled region), the run loop only at the first, as it
      // decodes it (and where a budget ends just before it).
      if (!shared) expect(spy, label).not.toHaveBeenCalled();
      else if (engine === 'interp') expect(spy.mock.calls.length, label).toBeGreaterThanOrEqual(100);
      else expect(spy.mock.calls.length, label).toBeLessThan(20);
    }
  });
});

const FENCE_I_LOOP = `
    .option norvc
    .text
    .globl main
main:
    li t1, 2000
1:  addi a0, a0, 1
    fence.i
    addi t1, t1, -1
    bnez t1, 1b
    li a0, 0
    ret
`;

describe('FENCE.I', () => {
  it('keeps decoded and compiled code whose bytes did not change, and drops what DMA rewrote', () => {
    const image = new Uint8Array(readFileSync(build('fencei.S', { text: FENCE_I_LOOP, ext: 'S' })));
    const jit = machine(image, 'jit');
    const ref = machine(image, 'reference');
    // The FENCE.I's address: its encoding, found in RAM.
    const ram = new DataView(jit.hart.mem8.buffer);
    let fence = -1;
    for (let o = 0; o < SIZE && fence < 0; o += 2) if (ram.getUint32(o, true) === 0x0000100f) fence = o;
    expect(fence).toBeGreaterThan(0);
    let rewritten = false;
    for (let k = 0; !jit.exited() && k < 200_000; k++) {
      const at = (jit.hart.pc >>> 0) - RAM_BASE;
      if (
        !rewritten &&
        at === fence &&
        (jit.hart.dcache.jit?.compiles ?? 0) > 0 &&
        jit.hart.x[2 * 6] < 1000
      ) {
        // `addi a0, a0, 1` (4 bytes before the FENCE.I) becomes `addi a0, a0, 2`, behind both harts.
        for (const m of [jit, ref]) new DataView(m.hart.mem8.buffer).setUint32(fence - 4, 0x00250513, true);
        rewritten = true;
      }
      const budget = rewritten ? 1 + ((k * 7919) % 97) : 1;
      expect(jit.hart.run(budget)).toBe(ref.hart.runReference(budget));
      expect(jit.hart.pc).toBe(ref.hart.pc);
      expect(Array.from(jit.hart.x)).toEqual(Array.from(ref.hart.x));
    }
    expect(jit.exited()).toBe(true);
    expect(rewritten).toBe(true);
    // 2,000 FENCE.Is, and the loop compiled a few times (once before and once after the rewrite), not
    // once per FENCE.I.
    expect(jit.hart.dcache.jit!.compiles).toBeLessThan(20);
    expect(jit.hart.dcache.jit!.entries).toBeGreaterThan(1000);
  });
});

describe('background compilation', () => {
  it('installs regions on a later turn, never one whose code changed meanwhile', async () => {
    const image = new Uint8Array(readFileSync(build('rewrite.S', { text: REWRITE, ext: 'S' })));
    const jit = machine(image, 'jit', false, false);
    const ref = machine(image, 'reference');
    const step = (budget: number): void => {
      expect(jit.hart.run(budget)).toBe(ref.hart.runReference(budget));
      expect(jit.hart.pc).toBe(ref.hart.pc);
      expect(Array.from(jit.hart.x)).toEqual(Array.from(ref.hart.x));
    };
    step(3000);
    const jc = jit.hart.dcache.jit!;
    expect(jc.inFlight).toBeGreaterThan(0);
    // Rewrite `addi a0, a0, 1` to add 2, as DMA or another hart would: RAM, then the decoded cache.
    const off = (jit.hart.x[2 * 9] >>> 0) - RAM_BASE;
    for (const m of [jit, ref]) new DataView(m.hart.mem8.buffer).setUint32(off, 0x00250513, true);
    jit.hart.dcache.written(off, 4);
    await new Promise((r) => setTimeout(r, 100));
    expect(jc.inFlight).toBe(0);
    // The loop's region was compiled from the old code: it must not be there.
    const dc = jit.hart.dcache;
    const at = dc.pageSlot[off >>> 12] * SLOT_ENTRIES + ((off & 0xfff) >>> 1);
    expect(dc.meta[at] & JIT_ENTRY).toBe(0);
    // The loop gets hot again and is compiled from the new code.
    for (let k = 0; !jit.exited() && k < 1000; k++) {
      step(2000);
      await new Promise((r) => setImmediate(r));
    }
    expect(jit.exited()).toBe(true);
    expect(jc.entries).toBeGreaterThan(0);
    expect(jc.batches).toBeGreaterThan(1);
    expect(ref.hart.x[2 * 18]).toBeGreaterThan(20000);
  });

  // Chromium's main thread: new WebAssembly.Module over 4 KiB throws a RangeError. Either the
  // dispatcher is refused (then every batch compiles in the background), or only the batches are.
  it.each([
    ['the dispatcher and the batches', (_n: number) => true, 1],
    ['the batches only', (n: number) => n > 1, 1],
  ])('is what a host that refuses synchronous compiles gets (%s)', async (_what, refuses, expected) => {
    const image = new Uint8Array(readFileSync(build('rewrite.S', { text: REWRITE, ext: 'S' })));
    const Real = WebAssembly.Module;
    let made = 0;
    let refused = 0;
    class MainThreadModule extends Real {
      constructor(bytes: BufferSource) {
        if (refuses(++made)) {
          refused++;
          throw new RangeError('over the main thread limit');
        }
        super(bytes);
      }
    }
    vi.stubGlobal(
      'WebAssembly',
      Object.assign(Object.create(WebAssembly) as typeof WebAssembly, { Module: MainThreadModule }),
    );
    try {
      const jit = machine(image, 'jit');
      const ref = machine(image, 'reference');
      for (let k = 0; !jit.exited() && k < 1000; k++) {
        expect(jit.hart.run(2000)).toBe(ref.hart.runReference(2000));
        expect(Array.from(jit.hart.x)).toEqual(Array.from(ref.hart.x));
        await new Promise((r) => setImmediate(r));
      }
      expect(jit.exited()).toBe(true);
      const jc = jit.hart.dcache.jit!;
      expect(jc).not.toBeNull();
      expect(jc.disabled).toBe(false);
      expect(jc.asyncOnly).toBe(true);
      // Refused once, never asked again; the program still ran compiled.
      expect(refused).toBe(expected);
      expect(jc.compiles).toBeGreaterThan(0);
      expect(jc.entries).toBeGreaterThan(0);
    } finally {
      vi.unstubAllGlobals();
    }
  });
});

describe('JIT against the reference, with interrupts and faults injected', () => {
  it("a jump out of a page never enters the region at the page's last position", () => {
    const image = new Uint8Array(readFileSync(build('edge.S', { text: EDGE, ext: 'S' })));
    const jit = machine(image, 'jit');
    const ref = machine(image, 'reference');
    runTogether(jit, ref, 10_000, 5000);
    expect(jit.hart.dcache.jit!.entries).toBeGreaterThan(0);
  });

  it('retires the same instructions with the same state at every run boundary', () => {
    const { jit, ref, interrupts } = lockstepWithInterrupts('inject.c', 12345, 4, 3000);
    expect(jit.out()).toBe(ref.out());
    expect(jit.out()).toContain('faults=0000000000000076');
    expect(interrupts).toBeGreaterThan(50);
    // Most of it ran compiled.
    expect(jit.hart.dcache.jit!.entries).toBeGreaterThan(1000);
  }, 120_000);
});

describe('CSR instructions in compiled code', () => {
  it('run as calls out of the region, with exact instret, traps, interrupts and mode changes', () => {
    const calls = hostStats.calls;
    const restarts = hostStats.restarts;
    const { jit, ref } = lockstepWithInterrupts('csr.c', 99, 3, 2000);
    expect(jit.out()).toBe(ref.out());
    expect(jit.out()).toContain('illegal=0000000000000139');
    expect(jit.out()).not.toContain('ticks=0000000000000000');
    // Most of the loop's 9–13 CSR instructions ran as calls from compiled code; unmasking with MSIP
    // raised, the SUM changes and the illegal reads handed back.
    expect(hostStats.calls - calls).toBeGreaterThan(100_000);
    expect(hostStats.restarts - restarts).toBeGreaterThan(1_000);
    expect(hostStats.restarts - restarts).toBeLessThan((hostStats.calls - calls) / 4);
  }, 120_000);
});

describe('code profiles', () => {
  it('compile a later run of the same code on its second arrival, and a bad one changes nothing but timing', () => {
    const image = new Uint8Array(readFileSync(build('inject.c')));
    const first = machine(image, 'jit', false, true, 1024);
    while (!first.exited()) first.hart.run(20_000);
    const profile = first.hart.codeProfile();
    expect(profile.length).toBeGreaterThan(3);
    // A profile with nothing usable in it, given to a hart that has run (its pages have slots): ignored.
    first.hart.warmCode([]);
    first.hart.warmCode([-2, 1, 2 ** 40]);
    const compiledAfter = (warm: ArrayLike<number> | null): number => {
      const m = machine(image, 'jit', false, true, 1024);
      if (warm) m.hart.warmCode(warm);
      m.hart.run(5_000);
      // Compiled, or queued for the next module (the run loop gathers up to 16 regions or 4 ms).
      return (m.hart.dcache.jit?.compiles ?? 0) + (m.hart.dcache.jit?.pending.length ?? 0);
    };
    // 5,000 instructions in, a cold run has compiled nothing; a warmed one has its hot loops already.
    expect(compiledAfter(null)).toBe(0);
    expect(compiledAfter(profile)).toBeGreaterThan(3);
    // Any profile runs the program exactly: the right one, and garbage (odd, outside RAM, not integers).
    const garbage = [
      1,
      -4,
      2 ** 40,
      NaN,
      0.5,
      SIZE + 2,
      6,
      4096 * 7 + 2,
      ...Array.from(profile, (o) => o + 2),
    ];
    for (const warm of [profile, garbage]) {
      const jit = machine(image, 'jit', false, true, 1024);
      const ref = machine(image, 'reference');
      jit.hart.warmCode(warm);
      for (let k = 0; !jit.exited() && k < 10_000; k++) {
        const budget = 1 + ((k * 7919) % 3000);
        expect(jit.hart.run(budget)).toBe(ref.hart.runReference(budget));
        expect(jit.hart.pc).toBe(ref.hart.pc);
        expect(Array.from(jit.hart.x)).toEqual(Array.from(ref.hart.x));
      }
      expect(jit.exited()).toBe(true);
      expect(jit.out()).toBe(ref.out());
    }
  });
});
