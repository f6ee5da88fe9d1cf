import { describe, expect, it } from 'vitest';
import { warmUpHart } from '../src/warmup.js';

describe('the run-loop warm-up program', () => {
  it('runs in S-mode with paging, compiled, without trapping', () => {
    const h = warmUpHart(false);
    expect(h.priv).toBe(1);
    expect(h.satpMode).toBe(8);
    const jc = h.dcache.jit!;
    expect(jc.compiles).toBeGreaterThan(2);
    expect(jc.entries).toBeGreaterThan(100);
    // Never left the program: the pc is in one of its code pages or its trap handler.
    const pc = Number(h.pc);
    expect(pc >= 0x8000_0800 && pc < 0x8000_7000, pc.toString(16)).toBe(true);
    // It went round its loop (s2 counts the rounds).
    expect(h.x[36]).toBeGreaterThan(100);
    // It took the supervisor timer interrupt (its handler disables it) and came back.
    expect(h.mie & 0x20).toBe(0);
  });

  it('renews the dispatcher, and compiled code runs on through the new one', () => {
    const h = warmUpHart(false);
    const jc = h.dcache.jit!;
    const before = jc.dispatch;
    const entries = jc.entries;
    const rounds = h.x[36];
    jc.renewDispatcher();
    expect(jc.dispatch).not.toBe(before);
    for (let k = 0; k < 10; k++) h.run(2000);
    expect(jc.entries).toBeGreaterThan(entries + 50);
    expect(h.x[36]).toBeGreaterThan(rounds + 20);
    const pc = Number(h.pc);
    expect(pc >= 0x8000_0800 && pc < 0x8000_7000, pc.toString(16)).toBe(true);
  });

  for (const shared of [false, true])
    it(`renews the dispatcher ${shared ? 'by instantiating its module (shared memory)' : 'with a new compile'}`, () => {
      const h = warmUpHart(shared);
      const jc = h.dcache.jit!;
      // Count compiles: a subclass of WebAssembly.Module in its place for the renewals.
      const Original = WebAssembly.Module;
      let compiles = 0;
      (WebAssembly as { Module: typeof Original }).Module = class extends Original {
        constructor(bytes: BufferSource) {
          super(bytes);
          compiles++;
        }
      };
      try {
        const before = jc.dispatch;
        for (let k = 0; k < 3; k++) jc.renewDispatcher();
        expect(jc.dispatch).not.toBe(before);
        // On shared memory a hart's worker warms up before the guest boots: no compile there.
        expect(compiles).toBe(shared ? 0 : 3);
      } finally {
        (WebAssembly as { Module: typeof Original }).Module = Original;
      }
      const rounds = h.x[36];
      for (let k = 0; k < 10; k++) h.run(2000);
      expect(h.x[36]).toBeGreaterThan(rounds + 20);
    });
});
