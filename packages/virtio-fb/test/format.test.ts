import { describe, expect, it } from 'vitest';
import { formatHasAlpha, toRGBA } from '../src/format.js';
import { PixelFormat } from '../src/protocol.js';

/** Memory bytes of one pixel with R=0x11, G=0x22, B=0x33, A=0x44 in each format. */
const PIXEL: Record<number, number[]> = {
  [PixelFormat.B8G8R8A8]: [0x33, 0x22, 0x11, 0x44],
  [PixelFormat.B8G8R8X8]: [0x33, 0x22, 0x11, 0x44],
  [PixelFormat.A8R8G8B8]: [0x44, 0x11, 0x22, 0x33],
  [PixelFormat.X8R8G8B8]: [0x44, 0x11, 0x22, 0x33],
  [PixelFormat.R8G8B8A8]: [0x11, 0x22, 0x33, 0x44],
  [PixelFormat.X8B8G8R8]: [0x44, 0x33, 0x22, 0x11],
  [PixelFormat.A8B8G8R8]: [0x44, 0x33, 0x22, 0x11],
  [PixelFormat.R8G8B8X8]: [0x11, 0x22, 0x33, 0x44],
};

describe('toRGBA', () => {
  for (const [f, bytes] of Object.entries(PIXEL)) {
    const format = Number(f);
    const alpha = formatHasAlpha(format);
    it(`converts format ${format} (${alpha ? 'alpha' : 'opaque'}) on the aligned and the byte path`, () => {
      const want = [0x11, 0x22, 0x33, alpha ? 0x44 : 0xff];
      expect([...toRGBA(format, new Uint8Array(bytes), 4, 1, 1)]).toEqual(want);
      const shifted = new Uint8Array(5);
      shifted.set(bytes, 1);
      expect([...toRGBA(format, shifted.subarray(1), 4, 1, 1)]).toEqual(want);
      expect([...toRGBA(format, new Uint8Array(bytes), 4, 1, 1, { opaque: true })]).toEqual([
        0x11, 0x22, 0x33, 0xff,
      ]);
    });
  }

  it('gives the same pixels on the fast paths as byte by byte, with strides, for every format', () => {
    // 5x3 pixels out of a 7-pixel-wide source into a 6-pixel-wide destination, random bytes.
    const src = new Uint8Array(7 * 4 * 3 + 4);
    for (let i = 0; i < src.length; i++) src[i] = (i * 151 + 7) & 0xff;
    for (const f of Object.keys(PIXEL)) {
      for (const opaque of [false, true]) {
        const aligned = toRGBA(Number(f), src.subarray(4), 28, 5, 3, { dstStride: 24, opaque });
        const bytes = toRGBA(Number(f), src.subarray(1), 28, 5, 3, { dstStride: 24, opaque });
        const [ri, gi, bi, ai] = [0x11, 0x22, 0x33, 0x44].map((v) => PIXEL[Number(f)].indexOf(v));
        const want = new Uint8Array(24 * 3);
        for (let y = 0; y < 3; y++)
          for (let x = 0; x < 5; x++) {
            const p = src.subarray(4 + y * 28 + x * 4);
            const a = opaque || !formatHasAlpha(Number(f)) ? 255 : p[ai];
            want.set([p[ri], p[gi], p[bi], a], y * 24 + x * 4);
          }
        expect([...aligned], `format ${f} opaque ${opaque}`).toEqual([...want]);
        // The byte path reads the same pixels one byte further on.
        const wantShifted = new Uint8Array(24 * 3);
        for (let y = 0; y < 3; y++)
          for (let x = 0; x < 5; x++) {
            const p = src.subarray(1 + y * 28 + x * 4);
            const a = opaque || !formatHasAlpha(Number(f)) ? 255 : p[ai];
            wantShifted.set([p[ri], p[gi], p[bi], a], y * 24 + x * 4);
          }
        expect([...bytes], `format ${f} opaque ${opaque} (byte path)`).toEqual([...wantShifted]);
      }
    }
  });

  it('honours source and destination strides', () => {
    // 2x2 pixels out of a 3-pixel-wide source, into a 4-pixel-wide destination.
    const src = new Uint8Array(3 * 4 * 2);
    for (let i = 0; i < src.length; i += 4) src.set([i, i + 1, i + 2, 0], i);
    const dst = new Uint8Array(4 * 4 * 2);
    toRGBA(PixelFormat.R8G8B8X8, src, 12, 2, 2, { dst, dstStride: 16 });
    expect([...dst.subarray(0, 8)]).toEqual([0, 1, 2, 255, 4, 5, 6, 255]);
    expect([...dst.subarray(8, 16)]).toEqual([0, 0, 0, 0, 0, 0, 0, 0]);
    expect([...dst.subarray(16, 24)]).toEqual([12, 13, 14, 255, 16, 17, 18, 255]);
  });

  it('refuses rectangles larger than the buffers and unknown formats', () => {
    expect(() => toRGBA(PixelFormat.B8G8R8X8, new Uint8Array(15), 8, 2, 2)).toThrow(RangeError);
    expect(() => toRGBA(99, new Uint8Array(4), 4, 1, 1)).toThrow(RangeError);
    expect(toRGBA(PixelFormat.B8G8R8X8, new Uint8Array(0), 0, 0, 0)).toHaveLength(0);
  });
});
