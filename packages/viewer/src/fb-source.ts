/**
 * Adapts a virtio-fb device to the viewer's {@link DisplaySource}: keeps an RGBA mirror of the scanout,
 * updated from each damage event (work proportional to the damaged area), from which the viewer and
 * screenshots read. Uses only virtio-fb's public events.
 */
import { toRGBA, type VirtioGpuDevice } from '@virtio-desktop/virtio-fb';
import type { CursorImage, DisplaySource, Rect } from './display.js';

export class FbDisplaySource implements DisplaySource {
  private width = 0;
  private height = 0;
  private rgba: Uint8Array<ArrayBufferLike> = new Uint8Array(0);

  constructor(private readonly fb: VirtioGpuDevice) {
    fb.on('resize', (e) => {
      this.width = e.width;
      this.height = e.height;
      // Shared, so the viewer's encoder worker reads rectangles without a copy on this thread.
      const bytes = e.width * e.height * 4;
      this.rgba = new Uint8Array(
        typeof SharedArrayBuffer === 'function' ? new SharedArrayBuffer(bytes) : new ArrayBuffer(bytes),
      );
    });
    fb.on('damage', (e) => {
      if (e.x + e.width > this.width || e.y + e.height > this.height) return;
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
    for (let y = 0; y < r.height; y++) {
      const from = ((r.y + y) * this.width + r.x) * 4;
      dst.set(this.rgba.subarray(from, from + r.width * 4), at + y * r.width * 4);
    }
  }

  sharedRGBA(): { buffer: SharedArrayBuffer; width: number; height: number } | null {
    const b = this.rgba.buffer;
    return this.width && this.height && b instanceof SharedArrayBuffer
      ? { buffer: b, width: this.width, height: this.height }
      : null;
  }

  /** The whole screen (a copy), for screenshots. */
  frame(): { width: number; height: number; rgba: Uint8Array } {
    return { width: this.width, height: this.height, rgba: this.rgba.slice() };
  }

  onResize(cb: (w: number, h: number) => void): () => void {
    const f = (e: { width: number; height: number }): void => cb(e.width, e.height);
    this.fb.on('resize', f);
    return () => void this.fb.off('resize', f);
  }

  onDamage(cb: (r: Rect) => void): () => void {
    // Registered after the mirror's own handler, so the mirror is current when cb runs.
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
}
