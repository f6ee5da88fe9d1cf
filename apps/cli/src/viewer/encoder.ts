/**
 * The viewer's frame compression on its own worker thread: deflating a full 1920×1080 RGBA frame takes
 * tens of milliseconds, which on the main thread is time the harts (one thread) and every device wait.
 * The rectangle's pixels are transferred to the worker and back (no copies); a host without
 * worker_threads, or a worker that fails, falls back to compressing here.
 */
import { Worker } from 'node:worker_threads';
import { deflateRawSync } from 'node:zlib';
import { Encoding } from './protocol.js';
import type { SharedScanout } from './display.js';

/** Smaller rectangles are sent raw: compressing them costs more than it saves. */
const MIN_DEFLATE = 4096;
/** Compressed output is used only when it is under this fraction of the raw size. */
const WORTH = 0.8;

/** A screen in shared memory (rows of `width` RGBA pixels) and a rectangle of it. */
export interface SharedRect {
  screen: SharedArrayBuffer;
  width: number;
  x: number;
  y: number;
  w: number;
  h: number;
}

/**
 * A rectangle of the guest's own screen in shared memory (a {@link SharedScanout}), converted to RGBA by
 * the worker as it reads it.
 */
export interface ScanoutRect {
  screen: SharedScanout;
  x: number;
  y: number;
  w: number;
  h: number;
}

/**
 * The worker's code (CommonJS, evaluated): take the rectangle (transferred, read out of the shared RGBA
 * screen, or read and converted out of the guest's scanout), deflate it, hand back what to send. A screen
 * being drawn meanwhile may tear inside one frame; the drawing damages that area again, so the next
 * frame is whole.
 */
const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
const { deflateRawSync } = require('node:zlib');
const own = (b) => (b.byteOffset === 0 && b.byteLength === b.buffer.byteLength ? b : new Uint8Array(b));
const rows = (m) => {
  const src = new Uint8Array(m.screen);
  const row = m.w * 4;
  const raw = new Uint8Array(row * m.h);
  for (let y = 0; y < m.h; y++) {
    const from = ((m.y + y) * m.stride + m.x) * 4;
    raw.set(src.subarray(from, from + row), y * row);
  }
  return raw;
};
// Where scanout rectangles are converted; reused while nothing takes it away (a raw frame does).
let scratch = new Uint32Array(0);
const scanoutToRgba = ${scanoutToRgba.toString()};
const convert = (m) => {
  const n = m.w * m.h;
  if (scratch.length < n) scratch = new Uint32Array(n);
  scanoutToRgba(m.scanout, m.x, m.y, m.w, m.h, scratch);
  return new Uint8Array(scratch.buffer, 0, n * 4);
};
parentPort.on('message', (m) => {
  let raw;
  let input;
  if (m.scanout) {
    input = raw = convert(m);
  } else {
    // Whole rows of the shared screen are one contiguous range: zlib reads it in place (a full screen
    // is 8 MiB at 1920x1080, whose copy cost as much as compressing it); other rectangles are copied.
    const inPlace = !m.raw && m.x === 0 && m.w === m.stride;
    raw = m.raw ?? (inPlace ? null : rows(m));
    input = raw ?? new Uint8Array(m.screen, m.y * m.stride * 4, m.w * m.h * 4);
  }
  let z = null;
  try {
    // A pooled Buffer shares its memory: copy it out so the transfer moves only these bytes.
    z = own(deflateRawSync(input, { level: 1 }));
  } catch {}
  const deflated = z !== null && z.length < input.length * ${WORTH};
  let out = deflated ? z : (raw ?? rows(m));
  if (!deflated && m.scanout) {
    // The scratch buffer goes with the message: the next frame gets a new one.
    out = out.byteLength === out.buffer.byteLength ? out : out.slice();
    if (out.buffer === scratch.buffer) scratch = new Uint32Array(0);
  }
  parentPort.postMessage({ id: m.id, deflated, payload: out }, [out.buffer]);
});
`;

export interface EncodedPayload {
  encoding: number;
  payload: Uint8Array;
}

function choose(raw: Uint8Array, z: Uint8Array | null): EncodedPayload {
  return z && z.length < raw.length * WORTH
    ? { encoding: Encoding.Deflate, payload: z }
    : { encoding: Encoding.Raw, payload: raw };
}

export class FrameEncoder {
  private worker: Worker | null = null;
  private nextId = 1;
  private readonly waiting = new Map<number, (r: EncodedPayload | null) => void>();
  /** Frames compressed on the worker and here, for statistics. */
  readonly counts = { worker: 0, local: 0 };

  constructor(useWorker = true) {
    if (!useWorker) return;
    try {
      const w = new Worker(WORKER_SOURCE, { eval: true });
      w.unref();
      w.on('message', (m: { id: number; deflated: boolean; payload: Uint8Array }) => {
        const done = this.waiting.get(m.id);
        this.waiting.delete(m.id);
        done?.({ encoding: m.deflated ? Encoding.Deflate : Encoding.Raw, payload: m.payload });
      });
      w.on('error', () => this.fallBack());
      w.on('exit', () => this.fallBack());
      this.worker = w;
    } catch {
      this.worker = null;
    }
  }

  /**
   * Compress `raw` (which this call takes over: it is transferred) when that pays; null when the
   * worker died with it (the caller repaints that rectangle).
   */
  encode(raw: Uint8Array): Promise<EncodedPayload | null> {
    if (raw.length <= MIN_DEFLATE) return Promise.resolve({ encoding: Encoding.Raw, payload: raw });
    const w = this.worker;
    if (!w) return Promise.resolve(this.local(raw));
    // Only a whole ArrayBuffer can be transferred; a view into a larger one is copied first.
    const own = raw.byteOffset === 0 && raw.byteLength === raw.buffer.byteLength ? raw : raw.slice();
    const id = this.nextId++;
    this.counts.worker++;
    return new Promise((resolve) => {
      this.waiting.set(id, resolve);
      w.postMessage({ id, raw: own }, [own.buffer as ArrayBuffer]);
    });
  }

  /**
   * A rectangle of a shared screen, read out and compressed on the worker: this thread copies nothing.
   * Without the worker it is read and compressed here. Null as for encode().
   */
  encodeShared(r: SharedRect): Promise<EncodedPayload | null> {
    const w = this.worker;
    if (!w || r.w * r.h * 4 <= MIN_DEFLATE) {
      const src = new Uint8Array(r.screen);
      const raw = new Uint8Array(r.w * r.h * 4);
      for (let y = 0; y < r.h; y++) {
        const from = ((r.y + y) * r.width + r.x) * 4;
        raw.set(src.subarray(from, from + r.w * 4), y * r.w * 4);
      }
      return this.encode(raw);
    }
    const id = this.nextId++;
    this.counts.worker++;
    return new Promise((resolve) => {
      this.waiting.set(id, resolve);
      w.postMessage({ id, screen: r.screen, stride: r.width, x: r.x, y: r.y, w: r.w, h: r.h });
    });
  }

  /**
   * A rectangle of the guest's own screen, read, converted to RGBA and compressed on the worker: this
   * thread neither copies nor converts. Without the worker it is converted and compressed here. Null
   * as for encode().
   */
  encodeScanout(r: ScanoutRect): Promise<EncodedPayload | null> {
    const s = r.screen;
    // The rectangle lies inside the scanout and the scanout inside its buffer (the source checks that);
    // checked again here because a worker that throws would end compression for the whole session.
    const end = s.offset + (r.y + r.h - 1) * s.stride + (r.x + r.w) * 4;
    if (r.x + r.w > s.width || r.y + r.h > s.height || s.offset < 0 || end > s.buffer.byteLength)
      return Promise.resolve(null);
    const w = this.worker;
    if (!w || r.w * r.h * 4 <= MIN_DEFLATE) return this.encode(convertScanout(r));
    const id = this.nextId++;
    this.counts.worker++;
    return new Promise((resolve) => {
      this.waiting.set(id, resolve);
      w.postMessage({ id, scanout: s, x: r.x, y: r.y, w: r.w, h: r.h });
    });
  }

  /** Stop the worker; frames it still had come back null. */
  close(): void {
    const w = this.worker;
    this.worker = null;
    void w?.terminate();
  }

  private local(raw: Uint8Array): EncodedPayload {
    this.counts.local++;
    return choose(raw, deflateRawSync(raw, { level: 1 }));
  }

  /** The worker died: frames it held were transferred away, so their clients get the next frame. */
  private fallBack(): void {
    this.worker = null;
    for (const done of this.waiting.values()) done(null);
    this.waiting.clear();
  }
}

/** A scanout rectangle as opaque RGBA, on this thread (no worker, or a rectangle too small to ship). */
function convertScanout(r: ScanoutRect): Uint8Array {
  const out = new Uint8Array(r.w * r.h * 4);
  scanoutToRgba(r.screen, r.x, r.y, r.w, r.h, new Uint32Array(out.buffer));
  return out;
}

/**
 * The guest's pixels of rectangle (x, y, w, h) of scanout `s` to opaque RGBA in `d32` (its first w·h
 * words): green stays, red and blue trade places or not, alpha 255. The worker's source includes this
 * function's text, so it refers to nothing outside itself.
 */
function scanoutToRgba(s: SharedScanout, x: number, y: number, w: number, h: number, d32: Uint32Array): void {
  // Word-aligned scanouts (every one virtio-fb makes) are read as words; anything else byte by byte.
  if (s.offset % 4 === 0 && s.stride % 4 === 0) {
    const s32 = new Uint32Array(s.buffer, s.offset, (s.buffer.byteLength - s.offset) >> 2);
    const words = s.stride >> 2;
    for (let row = 0; row < h; row++) {
      let i = (y + row) * words + x;
      let o = row * w;
      const end = i + w;
      if (s.swapRB)
        for (; i < end; i++, o++) {
          const v = s32[i];
          const rb = v & 0xff00ff;
          d32[o] = (rb << 16) | (rb >>> 16) | (v & 0xff00) | 0xff000000;
        }
      else for (; i < end; i++, o++) d32[o] = s32[i] | 0xff000000;
    }
    return;
  }
  const s8 = new Uint8Array(s.buffer);
  const d8 = new Uint8Array(d32.buffer, d32.byteOffset, w * h * 4);
  const red = s.swapRB ? 2 : 0;
  for (let row = 0; row < h; row++)
    for (let col = 0; col < w; col++) {
      const i = s.offset + (y + row) * s.stride + (x + col) * 4;
      const o = (row * w + col) * 4;
      d8[o] = s8[i + red];
      d8[o + 1] = s8[i + 1];
      d8[o + 2] = s8[i + 2 - red];
      d8[o + 3] = 255;
    }
}
