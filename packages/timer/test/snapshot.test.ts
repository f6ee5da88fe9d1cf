import { describe, expect, it } from 'vitest';
import { InstructionTimeSource, Mtimer, WallClockTimeSource } from '../src/index.js';

describe('timer snapshots', () => {
  it('the wall clock continues from its saved ticks, never backwards', () => {
    const a = new WallClockTimeSource();
    const s = { version: 1, data: { ticks: 5_000_000_000 } };
    a.restoreState(s);
    const t = a.now();
    expect(t).toBeGreaterThanOrEqual(5_000_000_000);
    expect(t).toBeLessThan(5_000_000_000 + 10_000_000); // within a second of it
  });

  it('the instruction clock and MTIMER come back exactly', () => {
    const c = new InstructionTimeSource();
    c.advance(1234567);
    const m = new Mtimer([{ setPending() {} }], c);
    m.write64(0, 99_999n);
    m.write64(0x7ff8, 1_000_000n);
    const c2 = new InstructionTimeSource();
    c2.restoreState(c.saveState());
    const m2 = new Mtimer([{ setPending() {} }], c2);
    m2.restoreState(m.saveState());
    expect(c2.now()).toBe(c.now());
    expect(m2.read64(0x7ff8)).toBe(m.read64(0x7ff8));
    expect(m2.read64(0)).toBe(99_999n);
    c.advance(3);
    c2.advance(3);
    expect(c2.now()).toBe(c.now());
  });
});
