/** The viewer's frame encoder: compression on its worker thread, the fallback, and what it sends. */
import { inflateRawSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { FrameEncoder } from '../src/viewer/encoder.js';
import { Encoding } from '../src/viewer/protocol.js';

/** A 1920×1080 RGBA frame of stripes: compressible, as desktops are. */
function frame(): Uint8Array {
  const f = new Uint8Array(1920 * 1080 * 4);
  for (let i = 0; i < f.length; i += 4) f.fill((i >> 12) & 0xff, i, i + 3).fill(255, i + 3, i + 4);
  return f;
}

describe('FrameEncoder', () => {
  it('deflates a frame on its worker: the pixels move there (no copy) and come back compressed', async () => {
    const e = new FrameEncoder();
    const f = frame();
    const copy = f.slice();
    const r = await e.encode(f);
    // Transferred: this thread no longer holds the pixels while the worker compresses them.
    expect(f.byteLength).toBe(0);
    expect(e.counts).toEqual({ worker: 1, local: 0 });
    expect(r?.encoding).toBe(Encoding.Deflate);
    expect(Buffer.compare(inflateRawSync(r!.payload), Buffer.from(copy))).toBe(0);
    e.close();
  });

  it('keeps order and content with many frames in flight', async () => {
    const e = new FrameEncoder();
    const frames = Array.from({ length: 6 }, (_, k) => new Uint8Array(64 * 1024).fill(k));
    const out = await Promise.all(frames.map((f) => e.encode(f)));
    out.forEach((r, k) => expect(inflateRawSync(r!.payload).every((b) => b === k)).toBe(true));
    e.close();
  });

  it('sends raw what does not compress, and small rectangles without asking the worker', async () => {
    const e = new FrameEncoder();
    const noise = new Uint8Array(64 * 1024).map(() => Math.floor(Math.random() * 256));
    expect((await e.encode(noise))?.encoding).toBe(Encoding.Raw);
    const small = new Uint8Array(4096).fill(7);
    expect(await e.encode(small)).toEqual({ encoding: Encoding.Raw, payload: small });
    expect(e.counts.worker).toBe(1);
    e.close();
  });

  it('reads a rectangle out of a shared screen on the worker', async () => {
    const e = new FrameEncoder();
    const width = 640;
    const screen = new SharedArrayBuffer(width * 480 * 4);
    const px = new Uint8Array(screen);
    for (let i = 0; i < px.length; i++) px[i] = (i >> 10) & 0xff;
    const r = { screen, width, x: 10, y: 20, w: 300, h: 200 };
    const want = new Uint8Array(r.w * r.h * 4);
    for (let y = 0; y < r.h; y++)
      want.set(px.subarray(((r.y + y) * width + r.x) * 4, ((r.y + y) * width + r.x + r.w) * 4), y * r.w * 4);
    const out = await e.encodeShared(r);
    expect(out?.encoding).toBe(Encoding.Deflate);
    expect(Buffer.compare(inflateRawSync(out!.payload), Buffer.from(want))).toBe(0);
    expect(e.counts.worker).toBe(1);
    // The same rectangle without the worker comes out the same.
    const here = await new FrameEncoder(false).encodeShared(r);
    expect(Buffer.compare(inflateRawSync(here!.payload), Buffer.from(want))).toBe(0);
    e.close();
  });

  it("converts a rectangle of the guest's own screen (BGRX or RGBX) to opaque RGBA on the worker", async () => {
    // A scanout at an offset inside a larger resource, rows padded: 100 pixels wide, stride 120 pixels.
    const width = 100;
    const height = 60;
    const stride = 120 * 4;
    const offset = 4 * 8 + 3 * stride;
    const buffer = new SharedArrayBuffer(offset + height * stride);
    const px = new Uint8Array(buffer);
    for (let i = 0; i < px.length; i++) px[i] = (i * 7 + (i >> 9)) & 0xff;
    const r = { x: 5, y: 7, w: 90, h: 50 };
    for (const swapRB of [true, false]) {
      const screen = { buffer, offset, stride, width, height, swapRB };
      const want = new Uint8Array(r.w * r.h * 4);
      for (let y = 0; y < r.h; y++)
        for (let x = 0; x < r.w; x++) {
          const i = offset + (r.y + y) * stride + (r.x + x) * 4;
          const o = (y * r.w + x) * 4;
          want.set([px[i + (swapRB ? 2 : 0)], px[i + 1], px[i + (swapRB ? 0 : 2)], 255], o);
        }
      const unpack = (p: { encoding: number; payload: Uint8Array } | null): Buffer =>
        p!.encoding === Encoding.Deflate ? inflateRawSync(p!.payload) : Buffer.from(p!.payload);
      const e = new FrameEncoder();
      // Twice: the worker reuses its conversion buffer (or gave it away with a raw frame).
      for (let k = 0; k < 2; k++)
        expect(Buffer.compare(unpack(await e.encodeScanout({ screen, ...r })), Buffer.from(want))).toBe(0);
      expect(e.counts.worker).toBe(2);
      e.close();
      // Without the worker, and a rectangle too small to ship, the same pixels.
      const here = await new FrameEncoder(false).encodeScanout({ screen, ...r });
      expect(Buffer.compare(unpack(here), Buffer.from(want))).toBe(0);
      const small = await new FrameEncoder().encodeScanout({ screen, x: 1, y: 1, w: 2, h: 1 });
      expect([...small!.payload.subarray(4, 8)]).toEqual([
        px[offset + stride + 8 + (swapRB ? 2 : 0)],
        px[offset + stride + 9],
        px[offset + stride + 8 + (swapRB ? 0 : 2)],
        255,
      ]);
      // A rectangle outside the scanout is refused, never read past the buffer.
      expect(await e.encodeScanout({ screen, x: 50, y: 0, w: 60, h: 1 })).toBeNull();
    }
  });

  it('compresses on this thread when asked to, and answers null for frames a dead worker held', async () => {
    const local = new FrameEncoder(false);
    expect((await local.encode(frame()))?.encoding).toBe(Encoding.Deflate);
    expect(local.counts).toEqual({ worker: 0, local: 1 });
    const e = new FrameEncoder();
    const lost = e.encode(frame());
    e.close();
    expect(await lost).toBeNull();
    // After the worker is gone, frames are compressed here.
    expect((await e.encode(frame()))?.encoding).toBe(Encoding.Deflate);
    expect(e.counts.local).toBe(1);
  });
});
