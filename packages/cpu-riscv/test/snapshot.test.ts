import { describe, expect, it } from 'vitest';
import { SnapshotError } from '@virtio-desktop/virtio-core';
import { Hart, restoreHart, saveHart } from '../src/index.js';

const bus = { read: () => -1, write: () => false };
const hart = (buffer = new ArrayBuffer(1 << 16)) =>
  new Hart({
    hartId: 0,
    ram: { base: 0x8000_0000, size: 1 << 16, buffer },
    bus,
    time: () => 0,
    engine: 'interp',
  });

describe('hart snapshots', () => {
  it('a restored hart has the same architectural state and empty caches', () => {
    const a = hart();
    a.setX(5, 0x1234_5678_9abc_def0n);
    a.fi[7] = 0x4000;
    a.pc = 0x8000_1000;
    a.priv = 1;
    a.mstatus = 0x6000;
    a.csr64[2 * 0x105] = 0x8000_0400 | 0; // stvec
    a.satpMode = 9;
    a.satpPpn = 0x80010;
    a.instretCount = 123456789;
    a.counterOff[2] = 5;
    a.reservation = 0x8000_0040;
    a.setPending(9, true);
    a.stimecmp = 999;
    const s = saveHart(a);
    const b = hart();
    b.tlbTag[3] = 42;
    restoreHart(b, s);
    expect(saveHart(b)).toEqual(s);
    expect(b.getX(5)).toBe(0x1234_5678_9abc_def0n);
    expect(b.reservation).toBe(0x8000_0040);
    expect(Number.isNaN(b.tlbTag[3])).toBe(true);
  });

  it('a damaged state is refused whole: nothing of it is applied', () => {
    const a = hart();
    a.setX(1, 77n);
    const s = saveHart(a);
    const b = hart();
    const bad = { version: 1, data: { ...(s.data as object), priv: 2 } };
    expect(() => restoreHart(b, bad)).toThrow(SnapshotError);
    expect(b.getX(1)).toBe(0n);
    expect(() => restoreHart(b, { version: 9, data: {} })).toThrow(/version 9/);
  });
});
