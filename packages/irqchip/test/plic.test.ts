import { describe, expect, it } from 'vitest';
import { Mswi, Plic, Sswi } from '../src/index.js';

function sinks(n: number) {
  const mip = Array.from({ length: n }, () => new Map<number, boolean>());
  return { mip, harts: mip.map((m) => ({ setPending: (b: number, l: boolean) => void m.set(b, l) })) };
}

function plic(harts = 1) {
  const s = sinks(harts);
  const p = new Plic({ sources: 63, harts: s.harts, phandle: 9, intcPhandles: [1, 2] });
  const w = (off: number, v: number) => p.write(off, 4, v);
  const r = (off: number) => p.read(off, 4);
  const ctx = (c: number) => ({
    enable: (mask: number, word = 0) => w(0x2000 + 0x80 * c + 4 * word, mask),
    threshold: (t: number) => w(0x200000 + 0x1000 * c, t),
    claim: () => r(0x200004 + 0x1000 * c),
    complete: (id: number) => w(0x200004 + 0x1000 * c, id),
  });
  return { p, w, r, ctx, mip: s.mip };
}

describe('PLIC', () => {
  it('mirrors its enable words into shared cells for harts on threads, and follows stores made there', () => {
    const { p, w, ctx, mip } = plic(2);
    const cells = new Int32Array(new SharedArrayBuffer(4 * (1 + 4 * p.enableWords)));
    expect(p.enableWords).toBe(2); // sources 0..63
    ctx(1).enable(1 << 5);
    p.shareEnables(cells, 1);
    const word = (c: number, k = 0) => cells[1 + c * p.enableWords + k];
    expect(word(1)).toBe(1 << 5);
    expect([cells[0], word(0), word(2), word(3)]).toEqual([0, 0, 0, 0]);
    // A hart stores into the cell, then its store reaches the PLIC with the cell's value.
    w(4 * 40, 1);
    Atomics.store(cells, 1 + 3 * p.enableWords + 1, 1 << 8);
    w(0x2000 + 0x80 * 3 + 4, 1 << 8);
    p.line(40).set(true);
    expect(mip[1].get(9)).toBe(true);
    expect(ctx(3).claim()).toBe(40);
    p.reset();
    expect([...cells]).toEqual(new Array(cells.length).fill(0));
    expect(() => p.shareEnables(cells, 2)).toThrow(RangeError);
  });

  it('offers claims in shared cells: a hart takes them without a round trip, the next comes once it is seen taken', () => {
    const { p, w, ctx, mip } = plic();
    const cells = new Int32Array(new SharedArrayBuffer(4 * 3));
    p.shareClaims(cells, 1);
    const offer = (c: number) => Atomics.load(cells, 1 + c);
    // What a hart does (cpu-riscv threads SharedRegister.take): lower its line, take the word.
    const take = (c: number) => {
      mip[0].set(9, false);
      return Atomics.exchange(cells, 1 + c, 0);
    };
    w(4 * 5, 1);
    w(4 * 6, 1);
    ctx(1).enable((1 << 5) | (1 << 6));
    p.line(5).set(true);
    expect(offer(1)).toBe(5);
    expect(offer(0)).toBe(0); // the M context has nothing enabled
    expect(mip[0].get(9)).toBe(true);
    expect(take(1)).toBe(5);
    // Source 6 rises: the PLIC sees 5 taken, offers 6 and raises the line the hart lowered.
    p.line(6).set(true);
    expect(offer(1)).toBe(6);
    expect(mip[0].get(9)).toBe(true);
    expect(take(1)).toBe(6);
    expect(take(1)).toBe(0); // nothing more: a claim reads 0
    // Completing 5 with its line still high: pending again, offered again.
    ctx(1).complete(5);
    expect(offer(1)).toBe(5);
    expect(mip[0].get(9)).toBe(true);
    // An offer nobody took is withdrawn when its line drops: nothing offered, the line low.
    p.line(5).set(false);
    expect(offer(1)).toBe(0);
    expect(mip[0].get(9)).toBe(false);
    ctx(1).complete(6);
    expect(offer(1)).toBe(6); // line 6 is still high
    // A snapshot shows an offer nobody took as what it stands for: pending, not claimed.
    const saved = p.saveState().data as { pending: Uint8Array; claimed: Uint8Array };
    expect([saved.pending[6], saved.claimed[6]]).toEqual([1, 0]);
    // A claim through this thread (no hart took it) gets the offered source.
    expect(ctx(1).claim()).toBe(6);
    expect(offer(1)).toBe(0);
    expect(mip[0].get(9)).toBe(false); // the owner's line, moved here (no hart lowered it)
    expect(ctx(1).claim()).toBe(0);
    ctx(1).complete(6);
    expect(offer(1)).toBe(6);
    // A higher priority source takes the place of an offer nobody took; disabling withdraws it.
    w(4 * 7, 3);
    ctx(1).enable((1 << 5) | (1 << 6) | (1 << 7));
    p.line(7).set(true);
    expect(offer(1)).toBe(7);
    ctx(1).enable(0);
    expect(offer(1)).toBe(0);
    expect(mip[0].get(9)).toBe(false);
    ctx(1).enable(1 << 6);
    expect(offer(1)).toBe(6);
    p.reset();
    expect([...cells]).toEqual([0, 0, 0]);
    expect(() => p.shareClaims(cells, 2)).toThrow(RangeError);
  });

  it('restores offers from a snapshot without moving a line', () => {
    const a = plic();
    const cells = new Int32Array(new SharedArrayBuffer(4 * 2));
    a.p.shareClaims(cells, 0);
    a.w(4 * 5, 1);
    a.ctx(1).enable(1 << 5);
    a.p.line(5).set(true);
    expect(cells[1]).toBe(5);
    const saved = a.p.saveState();
    const b = plic();
    const cellsB = new Int32Array(new SharedArrayBuffer(4 * 2));
    b.p.shareClaims(cellsB, 0);
    b.p.restoreState(saved);
    expect(cellsB[1]).toBe(5);
    expect(b.mip[0].get(9)).toBeUndefined(); // the saved output was high already: nothing driven
    expect(Atomics.exchange(cellsB, 1, 0)).toBe(5);
    b.ctx(1).complete(5);
    expect(cellsB[1]).toBe(5); // the line is still high
  });

  it('delivers an enabled source above threshold to the S-mode context, and claim/complete re-arm it', () => {
    const { p, w, ctx, mip } = plic();
    const s = ctx(1);
    w(4 * 5, 3);
    s.enable(1 << 5);
    p.line(5).set(true);
    expect(mip[0].get(9)).toBe(true);
    expect(mip[0].get(11)).toBeUndefined(); // M context has nothing enabled
    expect(s.claim()).toBe(5);
    expect(mip[0].get(9)).toBe(false);
    expect(s.claim()).toBe(0);
    s.complete(5); // line still high: pending again
    expect(mip[0].get(9)).toBe(true);
    expect(s.claim()).toBe(5);
    p.line(5).set(false);
    s.complete(5);
    expect(mip[0].get(9)).toBe(false);
  });

  it('orders by priority then lowest id, and masks with the threshold', () => {
    const { p, w, ctx, mip } = plic();
    const s = ctx(1);
    for (const [id, prio] of [
      [3, 1],
      [4, 6],
      [7, 6],
    ] as const) {
      w(4 * id, prio);
      p.line(id).set(true);
    }
    s.enable((1 << 3) | (1 << 4) | (1 << 7));
    s.threshold(6);
    expect(mip[0].get(9)).toBeFalsy();
    s.threshold(1);
    expect(s.claim()).toBe(4);
    expect(s.claim()).toBe(7);
    expect(s.claim()).toBe(0); // 3 has priority 1, not above threshold 1
    s.threshold(0);
    expect(s.claim()).toBe(3);
  });

  it('reads pending bits and priorities; priority 0 never interrupts', () => {
    const { p, r, ctx, mip } = plic();
    p.line(33).set(true);
    expect(r(0x1000 + 4)).toBe(1 << 1);
    ctx(1).enable(1 << 1, 1);
    expect(mip[0].get(9)).toBeFalsy();
    expect(ctx(1).claim()).toBe(0);
  });

  it('routes two harts to their own contexts', () => {
    const { p, w, ctx, mip } = plic(2);
    w(4 * 2, 1);
    ctx(3).enable(1 << 2); // hart 1, S-mode
    p.line(2).set(true);
    expect(mip[1].get(9)).toBe(true);
    expect(mip[0].get(9)).toBeUndefined();
  });

  it('ignores hostile accesses and completes of unclaimed or foreign sources', () => {
    const { p, w, ctx, mip } = plic();
    w(4 * 6, 2);
    ctx(1).enable(1 << 6);
    p.line(6).set(true);
    ctx(0).complete(6); // M context did not enable it
    ctx(1).complete(999);
    expect(mip[0].get(9)).toBe(true);
    let seed = 7;
    const rnd = () => (seed = (seed * 1664525 + 1013904223) >>> 0) >>> 4;
    // A throw fails the test by itself; an expect() per access made this loop seconds long under load.
    for (let i = 0; i < 50000; i++) {
      const off = rnd() % p.size;
      const wd = ([1, 2, 4] as const)[rnd() % 3];
      if (rnd() & 1) p.write(off, wd, rnd());
      else p.read(off, wd);
    }
    expect(() => p.line(0)).toThrow(RangeError);
    expect(() => p.line(64)).toThrow(RangeError);
  });

  it('describes itself for Linux', () => {
    const { p } = plic(2);
    const n = p.describe({ base: 0xc000000, irqs: [], interruptParent: 0 });
    expect(n.props['compatible']).toEqual(['sifive,plic-1.0.0', 'riscv,plic0']);
    expect(n.props['riscv,ndev']).toBe(63);
    expect(n.props['interrupts-extended']).toEqual([1, 11, 1, 9, 2, 11, 2, 9]);
    expect(n.phandle).toBe(9);
  });
});

describe('ACLINT MSWI and SSWI', () => {
  it('msip drives MSIP; setssip raises SSIP', () => {
    const s = sinks(2);
    const m = new Mswi(s.harts);
    m.write(4, 4, 1);
    expect(s.mip[1].get(3)).toBe(true);
    expect(m.read(4, 4)).toBe(1);
    m.write(4, 4, 0);
    expect(s.mip[1].get(3)).toBe(false);
    m.write(8 * 4, 4, 1); // no such hart
    const ss = new Sswi(s.harts);
    ss.write(0, 4, 1);
    expect(s.mip[0].get(1)).toBe(true);
    expect(ss.read()).toBe(0);
  });
});
