/**
 * Pixel conversion for front ends. The device keeps each resource in the guest's own format and converts
 * only when asked (a screenshot, a damage consumer), and only the pixels asked for.
 */
import { PixelFormat, isPixelFormat } from './protocol.js';

/** Byte positions of red, green, blue and alpha inside a pixel; alpha -1 when the format has none. */
const LAYOUT: Readonly<Record<number, readonly [number, number, number, number]>> = {
  [PixelFormat.B8G8R8A8]: [2, 1, 0, 3],
  [PixelFormat.B8G8R8X8]: [2, 1, 0, -1],
  [PixelFormat.A8R8G8B8]: [1, 2, 3, 0],
  [PixelFormat.X8R8G8B8]: [1, 2, 3, -1],
  [PixelFormat.R8G8B8A8]: [0, 1, 2, 3],
  [PixelFormat.X8B8G8R8]: [3, 2, 1, -1],
  [PixelFormat.A8B8G8R8]: [3, 2, 1, 0],
  [PixelFormat.R8G8B8X8]: [0, 1, 2, -1],
};

const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

export function formatHasAlpha(format: number): boolean {
  return isPixelFormat(format) && LAYOUT[format][3] >= 0;
}

export interface ToRgbaOptions {
  /** Where to write; allocated (tightly packed) when absent. */
  dst?: Uint8Array;
  /** Bytes per row of `dst`; defaults to width * 4. */
  dstStride?: number;
  /** Force alpha to 255 even for formats that carry it (a scanout is opaque). */
  opaque?: boolean;
}

/**
 * Convert `width` x `height` pixels of `format`, rows `stride` bytes apart starting at `src[0]`, to RGBA
 * (bytes R, G, B, A). Formats without alpha come out opaque. Unknown formats and rectangles larger than
 * `src` or `dst` give a RangeError: these are host-side programming errors, never guest input.
 */
export function toRGBA(
  format: number,
  src: Uint8Array,
  stride: number,
  width: number,
  height: number,
  opts: ToRgbaOptions = {},
): Uint8Array {
  if (!isPixelFormat(format)) throw new RangeError(`unknown pixel format ${format}`);
  const dstStride = opts.dstStride ?? width * 4;
  const dst = opts.dst ?? new Uint8Array(dstStride * height);
  if (width <= 0 || height <= 0) return dst;
  if ((height - 1) * stride + width * 4 > src.length || (height - 1) * dstStride + width * 4 > dst.length)
    throw new RangeError('toRGBA: rectangle larger than its buffer');
  const [ri, gi, bi, ai] = LAYOUT[format];
  const opaque = opts.opaque === true || ai < 0;
  const aligned =
    LITTLE_ENDIAN &&
    src.byteOffset % 4 === 0 &&
    stride % 4 === 0 &&
    dst.byteOffset % 4 === 0 &&
    dstStride % 4 === 0;
  if (aligned) {
    // One 32-bit load and store per pixel: about four times faster than byte shuffling.
    const s32 = new Uint32Array(src.buffer, src.byteOffset, src.length >> 2);
    const d32 = new Uint32Array(dst.buffer, dst.byteOffset, dst.length >> 2);
    const rs = ri * 8;
    const gs = gi * 8;
    const bs = bi * 8;
    const as = ai * 8;
    if (opaque && gs === 8 && ((rs === 16 && bs === 0) || (rs === 0 && bs === 16))) {
      opaqueSwap(s32, stride >> 2, d32, dstStride >> 2, width, height, rs === 16);
      return dst;
    }
    for (let y = 0; y < height; y++) {
      let s = (y * stride) >> 2;
      let d = (y * dstStride) >> 2;
      const end = s + width;
      if (opaque) {
        for (; s < end; s++, d++) {
          const w = s32[s];
          d32[d] =
            (((w >>> rs) & 0xff) | (((w >>> gs) & 0xff) << 8) | (((w >>> bs) & 0xff) << 16) | 0xff000000) >>>
            0;
        }
      } else {
        for (; s < end; s++, d++) {
          const w = s32[s];
          d32[d] =
            (((w >>> rs) & 0xff) |
              (((w >>> gs) & 0xff) << 8) |
              (((w >>> bs) & 0xff) << 16) |
              ((w >>> as) << 24)) >>>
            0;
        }
      }
    }
    return dst;
  }
  for (let y = 0; y < height; y++) {
    let s = y * stride;
    let d = y * dstStride;
    for (let x = 0; x < width; x++, s += 4, d += 4) {
      dst[d] = src[s + ri];
      dst[d + 1] = src[s + gi];
      dst[d + 2] = src[s + bi];
      dst[d + 3] = opaque ? 255 : src[s + ai];
    }
  }
  return dst;
}

/**
 * The scanout's usual formats (Linux's XRGB8888 is B8G8R8X8 here), opaque: red and blue trade places
 * (or stay) and green stays, two masks instead of three shifts and masks. The viewer's mirror converts
 * every flushed pixel of the screen on the device's thread, so this loop bounds a full-screen frame.
 */
function opaqueSwap(
  s32: Uint32Array,
  srcWords: number,
  d32: Uint32Array,
  dstWords: number,
  width: number,
  height: number,
  swap: boolean,
): void {
  for (let y = 0; y < height; y++) {
    let s = y * srcWords;
    let d = y * dstWords;
    const end = s + width;
    if (swap)
      for (; s < end; s++, d++) {
        const w = s32[s];
        const rb = w & 0xff00ff;
        d32[d] = (rb << 16) | (rb >>> 16) | (w & 0xff00) | 0xff000000;
      }
    else for (; s < end; s++, d++) d32[d] = s32[s] | 0xff000000;
  }
}
