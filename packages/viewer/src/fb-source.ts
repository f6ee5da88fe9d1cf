/**
 * Adapts a virtio-fb device to the viewer's {@link DisplaySource}. Where the device keeps its resources
 * in shared memory, nothing is converted per guest frame: the viewer's encoder worker reads the scanout
 * itself ({@link FbDisplaySource.sharedScanout}) and converts only the frames it sends, and the RGBA
 * mirror that screenshots and readRGBA use is brought up to date only when read. Elsewhere each damage
 * event is converted into the mirror at once (work proportional to the damaged area). Uses only
 * virtio-fb's public events.
 */
import { PixelFormat, toRGBA, type VirtioGpuDevice } from '@virtio-desktop/virtio-fb';
import type { CursorImage, DisplaySource, Rect, SharedScanout } from './display.js';

/** The scanout as the last damage event showed it: where pixel (0, 0) lives, and how rows follow. */
interface Scanout {
  buffer: ArrayBufferLike;
  /** Byte offset of the scanout's pixel (0, 0) in `buffer`. */
  origin: number;
  stride: number;
  format: number;
}

/** Formats the encoder worker converts itself: green in the middle byte, red and blue swapped or not. */
const WORKER_FORMATS: Readonly<Record<number, boolean>> = {
  [PixelFormat.B8G8R8X8]: true,
  [PixelFormat.B8G8R8A8]: true,
  [PixelFormat.R8G8B8X8]: false,
  [PixelFormat.R8G8B8A8]: false,
};

export class FbDisplaySource implements DisplaySource {
  private width = 0;
  private height = 0;
  private rgba: Uint8Array<ArrayBufferLike> = new Uint8Array(0);
  private scanout: Scanout | null = null;
  /** The part of the mirror older than the scanout (the bounds of damage not yet converted). */
  private stale: Rect | null = null;

  constructor(private readonly fb: VirtioGpuDevice) {
    fb.on('resize', (e) => {
      this.width = e.width;
      this.height = e.height;
      this.scanout = null;
      this.stale = null;
      // Shared, so the viewer's encoder worker reads rectangles without a copy on this thread.
      const bytes = e.width * e.height * 4;
      this.rgba = new Uint8Array(
        typeof SharedArrayBuffer === 'function' ? new SharedArrayBuffer(bytes) : new ArrayBuffer(bytes),
      );
    });
    fb.on('damage', (e) => {
      if (e.x + e.width > this.width || e.y + e.height > this.height) return;
      const origin = e.pixels.byteOffset - e.y * e.stride - e.x * 4;
      const shared = typeof SharedArrayBuffer === 'function' && e.pixels.buffer instanceof SharedArrayBuffer;
      // The whole scanout must lie inside the buffer for later reads of any of it (a guest's resource
      // may be larger than the scanout, never smaller: virtio-fb checks SET_SCANOUT).
      const end = origin + (this.height - 1) * e.stride + this.width * 4;
      if (shared && origin >= 0 && end <= e.pixels.buffer.byteLength) {
        this.scanout = { buffer: e.pixels.buffer, origin, stride: e.stride, format: e.format };
        this.stale = union(this.stale, e);
        return;
      }
      // Pixels valid only during the event: convert them now (and what was left stale, from the old
      // scanout, before it goes).
      this.settle();
      this.scanout = null;
      toRGBA(e.format, e.pixels, e.stride, e.width, e.height, {
        dst: this.rgba.subarray((e.y * this.width + e.x) * 4),
        dstStride: this.width * 4,
        opaque: true,
      });
    });
  }

  size(): { width: number; height: number } | null {
    return this.width && this.height ? { width: this.width, height: this.height } : null;
  }

  readRGBA(r: Rect): Uint8Array {
    const out = new Uint8Array(r.width * r.height * 4);
    this.readRGBAInto(r, out);
    return out;
  }

  /** readRGBA into `dst` from byte `at` (a message being built), without a copy in between. */
  readRGBAInto(r: Rect, dst: Uint8Array, at = 0): void {
    this.settle();
    for (let y = 0; y < r.height; y++) {
      const from = ((r.y + y) * this.width + r.x) * 4;
      dst.set(this.rgba.subarray(from, from + r.width * 4), at + y * r.width * 4);
    }
  }

  sharedRGBA(): { buffer: SharedArrayBuffer; width: number; height: number } | null {
    const b = this.rgba.buffer;
    if (!this.width || !this.height || !(b instanceof SharedArrayBuffer)) return null;
    this.settle();
    return { buffer: b, width: this.width, height: this.height };
  }

  /**
   * The guest's scanout itself, in shared memory, when its format is one the encoder worker converts:
   * then no pixel is converted or copied on this thread for the viewer.
   */
  sharedScanout(): SharedScanout | null {
    const s = this.scanout;
    if (!s || !this.width || !this.height || !(s.buffer instanceof SharedArrayBuffer)) return null;
    const swap = WORKER_FORMATS[s.format];
    if (swap === undefined) return null;
    return {
      buffer: s.buffer,
      offset: s.origin,
      stride: s.stride,
      width: this.width,
      height: this.height,
      swapRB: swap,
    };
  }

  /** The whole screen (a copy), for screenshots. */
  frame(): { width: number; height: number; rgba: Uint8Array } {
    this.settle();
    return { width: this.width, height: this.height, rgba: this.rgba.slice() };
  }

  onResize(cb: (w: number, h: number) => void): () => void {
    const f = (e: { width: number; height: number }): void => cb(e.width, e.height);
    this.fb.on('resize', f);
    return () => void this.fb.off('resize', f);
  }

  onDamage(cb: (r: Rect) => void): () => void {
    // Registered after the mirror's own handler, so the mirror knows of the damage when cb runs.
    const f = (e: Rect): void => cb({ x: e.x, y: e.y, width: e.width, height: e.height });
    this.fb.on('damage', f);
    return () => void this.fb.off('damage', f);
  }

  onCursor(cb: (c: CursorImage | null) => void): () => void {
    const f = (e: { image: Uint8Array | null; hotX: number; hotY: number }): void =>
      cb(e.image ? { width: 64, height: 64, hotX: e.hotX, hotY: e.hotY, rgba: e.image } : null);
    this.fb.on('cursor', f);
    return () => void this.fb.off('cursor', f);
  }

  onCursorMove(cb: (x: number, y: number, visible: boolean) => void): () => void {
    const f = (e: { x: number; y: number; visible: boolean }): void => cb(e.x, e.y, e.visible);
    this.fb.on('cursorMove', f);
    return () => void this.fb.off('cursorMove', f);
  }

  requestSize(width: number, height: number): void {
    this.fb.requestSize(width, height);
  }

  /** Convert the stale part of the mirror from the scanout (the reader wants it current). */
  private settle(): void {
    const r = this.stale;
    const s = this.scanout;
    this.stale = null;
    if (!r || !s) return;
    toRGBA(
      s.format,
      new Uint8Array(s.buffer, s.origin + r.y * s.stride + r.x * 4),
      s.stride,
      r.width,
      r.height,
      { dst: this.rgba.subarray((r.y * this.width + r.x) * 4), dstStride: this.width * 4, opaque: true },
    );
  }
}

function union(a: Rect | null, b: Rect): Rect {
  if (!a) return { x: b.x, y: b.y, width: b.width, height: b.height };
  const x0 = Math.min(a.x, b.x);
  const y0 = Math.min(a.y, b.y);
  const x1 = Math.max(a.x + a.width, b.x + b.width);
  const y1 = Math.max(a.y + a.height, b.y + b.height);
  return { x: x0, y: y0, width: x1 - x0, height: y1 - y0 };
}
