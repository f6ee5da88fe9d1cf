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
    // Never left the program: the pc is in one of its code pages.
    const pc = Number(h.pc);
    expect(pc >= 0x8000_1000 && pc < 0x8000_5000).toBe(true);
  });
});
