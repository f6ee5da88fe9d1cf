import { describe, expect, it, vi } from 'vitest';
import { Clint, InstructionTimeSource, MAX_LEAD_MS, Mtimer, WallClockTimeSource } from '../src/index.js';

function sinks(n: number) {
  const mip = Array.from({ length: n }, () => new Map<number, boolean>());
  return { mip, harts: mip.map((m) => ({ setPending: (b: number, l: boolean) => void m.set(b, l) })) };
}

describe('time sources', () => {
  it('the instruction clock is exact and repeatable, and skips forward only', () => {
    const a = new InstructionTimeSource(5);
    const b = new InstructionTimeSource(5);
    for (const n of [3, 4, 10, 1, 2]) {
      a.advance(n);
      b.advance(n);
    }
    expect(a.now()).toBe(4);
    expect(b.now()).toBe(a.now());
    a.skipTo(100);
    a.skipTo(50);
    expect(a.now()).toBe(100);
  });
  it('the wall clock ticks at its frequency', async () => {
    // Bounded by the time that really passed, not a fixed ceiling: a loaded CI machine may wake late.
    const t0 = performance.now();
    const c = new WallClockTimeSource(1000);
    await new Promise((r) => setTimeout(r, 30));
    const ticks = c.now();
    expect(ticks).toBeGreaterThanOrEqual(25);
    expect(ticks).toBeLessThanOrEqual(Math.ceil(performance.now() - t0));
  });
});

describe('the wall clock on a coarse host clock', () => {
  it('gives each read a new tick, never runs backwards, and stays within MAX_LEAD_MS of the host', () => {
    // A browser's performance.now(): 5 µs steps (Chromium, cross-origin isolated), here frozen at 1 ms.
    let host = 0;
    const spy = vi.spyOn(performance, 'now').mockImplementation(() => host);
    try {
      const c = new WallClockTimeSource(); // 10 MHz: 50 ticks per 5 µs step
      host = 1;
      const reads = Array.from({ length: 8192 }, () => c.now());
      const lead = Math.floor(MAX_LEAD_MS * 10_000);
      // Linux's jitter entropy counts the reads that differ from the one before: all of them, until the
      // lead runs out; then the clock waits for the host.
      expect(reads[0]).toBe(10_000);
      for (let i = 1; i <= lead; i++) expect(reads[i]).toBe(reads[i - 1] + 1);
      expect(Math.max(...reads)).toBe(10_000 + lead);
      host = 1.005; // the host's next step, less than the lead: the guest's time does not go back
      const after = c.now();
      expect(after).toBeGreaterThanOrEqual(10_000 + lead);
      expect(after).toBeLessThanOrEqual(10_050 + lead);
      host = 2;
      expect(c.now()).toBe(20_000);
      expect(c.now()).toBe(20_001);
    } finally {
      spy.mockRestore();
    }
  });
});

describe('MTIMER and CLINT', () => {
  it('raises MTIP when mtime reaches mtimecmp and lowers it when mtimecmp moves on', () => {
    const s = sinks(2);
    const clock = new InstructionTimeSource(1);
    const t = new Mtimer(s.harts, clock);
    t.write(8, 4, 100); // hart 1, low half
    t.write(12, 4, 0); // high half
    t.update();
    expect(s.mip[1].get(7)).toBeUndefined();
    clock.advance(100);
    t.update();
    expect(s.mip[1].get(7)).toBe(true);
    t.write64(8, 1000n);
    expect(s.mip[1].get(7)).toBe(false);
    expect(t.nextDeadline()).toBe(1000);
    t.write64(8, 0xffff_ffff_ffff_ffffn);
    expect(t.nextDeadline()).toBe(Infinity);
  });

  it('reads mtime in halves and 64-bit, and lets the guest set it', () => {
    const clock = new InstructionTimeSource(1);
    const t = new Mtimer(sinks(1).harts, clock);
    clock.advance(0x1_0000_0005);
    expect(t.read(0x7ff8, 4)).toBe(5);
    expect(t.read(0x7ffc, 4)).toBe(1);
    expect(t.read64(0x7ff8)).toBe(0x1_0000_0005n);
    t.write64(0x7ff8, 10n);
    expect(t.mtime).toBe(10);
    clock.advance(2);
    expect(t.mtime).toBe(12);
  });

  it('composes MSWI and MTIMER at the SiFive CLINT offsets', () => {
    const s = sinks(1);
    const clock = new InstructionTimeSource(1);
    const c = new Clint(s.harts, clock, [1]);
    c.write(0, 4, 1);
    expect(s.mip[0].get(3)).toBe(true);
    c.write64(0x4000, 3n);
    clock.advance(3);
    c.update();
    expect(s.mip[0].get(7)).toBe(true);
    expect(c.read(0xbff8, 4)).toBe(3);
    expect(
      c.describe({ base: 0x2000000, irqs: [], interruptParent: 0 }).props['interrupts-extended'],
    ).toEqual([1, 3, 1, 7]);
  });

  it('never throws on hostile accesses', () => {
    const c = new Clint(sinks(2).harts, new InstructionTimeSource());
    let seed = 3;
    const rnd = () => (seed = (seed * 1664525 + 1013904223) >>> 0) >>> 4;
    // A throw fails the test by itself; an expect() per access made this loop slow under load.
    for (let i = 0; i < 20000; i++) {
      const off = rnd() % c.size;
      const w = ([1, 2, 4] as const)[rnd() % 3];
      if (rnd() & 1) c.write(off, w, rnd());
      else c.read(off, w);
      if (i % 100 === 0) c.write64(off & ~7, BigInt(rnd()) << 40n);
    }
  });
});
