import { describe, expect, it } from 'vitest';
import { Bytes } from '../src/wasm.js';

/** LEB128 the slow, obviously right way: BigInt steps. */
function slowS(v: bigint): number[] {
  const out: number[] = [];
  for (;;) {
    const b = Number(v & 0x7fn);
    v >>= 7n;
    const done = (v === 0n && (b & 0x40) === 0) || (v === -1n && (b & 0x40) !== 0);
    out.push(done ? b : b | 0x80);
    if (done) return out;
  }
}

describe('wasm byte buffer', () => {
  it('encodes signed LEB128 of int32, wider numbers and bigints alike', () => {
    const vs: number[] = [0, 1, -1, 63, 64, -64, -65, 127, 128, -128, 8191, 8192, -8192, -8193];
    for (let k = 0; k <= 53; k++) vs.push(2 ** k, 2 ** k - 1, -(2 ** k), -(2 ** k) + 1, -(2 ** k) - 1);
    let seed = 12345;
    for (let i = 0; i < 2000; i++) {
      seed = (Math.imul(seed, 1103515245) + 12345) | 0;
      vs.push(seed, seed * 4096 + (i & 4095), -(Math.abs(seed) * 65536) - i);
    }
    for (const v of vs.filter((n) => Number.isSafeInteger(n))) {
      expect([...new Bytes(1).s(v).view()], String(v)).toEqual(slowS(BigInt(v)));
    }
    for (const v of [-(2n ** 63n), 2n ** 63n - 1n, 2n ** 60n + 5n, -(2n ** 59n) - 7n]) {
      expect([...new Bytes().s(v).view()], String(v)).toEqual(slowS(v));
    }
  });

  it('grows across block copies and single bytes', () => {
    const b = new Bytes(1);
    const big = Uint8Array.from({ length: 5000 }, (_, i) => i & 0xff);
    b.byte(7).bytes(big).byte(9).bytes([1, 2, 3]);
    const v = b.view();
    expect(v.length).toBe(5005);
    expect(v[0]).toBe(7);
    expect(v[4999 + 1]).toBe(4999 & 0xff);
    expect([...v.subarray(5001)]).toEqual([9, 1, 2, 3]);
    expect(
      new Bytes()
        .u(0)
        .u(127)
        .u(128)
        .u(2 ** 40)
        .view(),
    ).toEqual(Uint8Array.from([0, 127, 0x80, 0x01, 0x80, 0x80, 0x80, 0x80, 0x80, 0x20]));
  });
});
