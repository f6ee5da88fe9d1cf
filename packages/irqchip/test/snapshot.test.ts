import { describe, expect, it } from 'vitest';
import { Plic } from '../src/index.js';

const sinks = () => {
  const bits: number[] = [0];
  return {
    bits,
    harts: [
      { setPending: (b: number, l: boolean) => (bits[0] = l ? bits[0] | (1 << b) : bits[0] & ~(1 << b)) },
    ],
  };
};
const plic = (s: ReturnType<typeof sinks>) =>
  new Plic({ sources: 40, harts: s.harts, phandle: 1, intcPhandles: [2] });

describe('PLIC snapshots', () => {
  it('a restored PLIC claims and completes as the saved one would, and drives no line while restoring', () => {
    const s1 = sinks();
    const a = plic(s1);
    a.write(4 * 33, 4, 5); // priority of source 33
    a.write(0x2080 + 4, 4, 1 << 1); // context 1 (S-mode) enables 33
    a.line(33).set(true);
    expect(s1.bits[0] & (1 << 9)).not.toBe(0);
    const s2 = sinks();
    const b = plic(s2);
    b.restoreState(a.saveState());
    expect(s2.bits[0]).toBe(0); // the hart's saved mip carries SEIP, not the restore
    expect(b.read(0x201004, 4)).toBe(33); // claim
    b.write(0x201004, 4, 33); // complete: still high, so pending again
    expect(b.read(0x1000 + 4, 4) & (1 << 1)).not.toBe(0);
    expect(() => b.restoreState({ version: 1, data: { sources: 3, contexts: 2 } })).toThrow(/differ/);
  });
});
