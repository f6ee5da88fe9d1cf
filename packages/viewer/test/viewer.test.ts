import { EventEmitter } from 'node:events';
import { PixelFormat, type VirtioGpuDevice } from '@virtio-desktop/virtio-fb';
import { describe, expect, it, vi } from 'vitest';
import {
  FbDisplaySource,
  Encoding,
  InputDispatcher,
  MAX_TEXT_WAITING,
  decodeServerMessage,
  encodeCursor,
  encodeMove,
  encodeRect,
  encodeResize,
  parseClientMessage,
  type InputSink,
} from '../src/index.js';

function sink() {
  const log: string[] = [];
  const s: InputSink & { log: string[]; release?: () => void } = {
    log,
    key: (code, down) => (log.push(`key ${code} ${down}`), code !== 'Nope'),
    pointer: (x, y, b) => void log.push(`pointer ${x} ${y} ${b}`),
    wheel: (dx, dy) => void log.push(`wheel ${dx} ${dy}`),
    touch: (c) => void log.push(`touch ${c.length}`),
    text: (t) =>
      new Promise<string[]>((r) => {
        log.push(`text ${t.length}`);
        s.release = () => r([]);
      }),
  };
  return s;
}

describe('protocol', () => {
  it('server messages decode to what was encoded (the wire bytes are fixed)', () => {
    expect([...encodeResize(1280, 800)]).toEqual([1, 0, 5, 32, 3]);
    const px = new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8]);
    const r = encodeRect(3, 4, 2, 1, Encoding.Raw, px);
    expect([...r.subarray(0, 10)]).toEqual([2, 0, 3, 0, 4, 0, 2, 0, 1, 0]);
    expect(decodeServerMessage(r)).toEqual({
      type: 'rect',
      encoding: 0,
      x: 3,
      y: 4,
      w: 2,
      h: 1,
      payload: px,
    });
    expect(decodeServerMessage(encodeMove(-1, 2, true))).toEqual({
      type: 'move',
      x: -1,
      y: 2,
      visible: true,
    });
    const c = encodeCursor(1, 2, 1, 1, new Uint8Array(4));
    expect(decodeServerMessage(c)).toMatchObject({ type: 'cursor', hotX: 1, hotY: 2, w: 1, h: 1 });
    expect(decodeServerMessage(c.subarray(0, 12))).toBeNull();
    expect(decodeServerMessage(new Uint8Array([9]))).toBeNull();
  });

  it('client messages are checked', () => {
    expect(parseClientMessage('{"t":"pointer","x":0.5,"y":1,"buttons":1}')).toEqual({
      t: 'pointer',
      x: 0.5,
      y: 1,
      buttons: 1,
    });
    expect(typeof parseClientMessage('{"t":"pointer","x":"a","y":1,"buttons":1}')).toBe('string');
    expect(typeof parseClientMessage('[')).toBe('string');
  });
});

describe('InputDispatcher', () => {
  it('clamps positions and wheel, synthesises keys, and releases what the client held', () => {
    const s = sink();
    const d = new InputDispatcher({ input: s });
    d.apply({ t: 'pointer', x: 2, y: -1, buttons: 1 });
    d.apply({ t: 'wheel', dx: 1e9, dy: -5 });
    d.apply({ t: 'key', code: 'ShiftLeft', key: 'Shift', down: true, mods: 1 });
    // "|" sent with the code of the backslash key and Shift already held: pressed as Shift+Backslash.
    d.apply({ t: 'key', code: 'Backslash', key: '|', down: true, mods: 1 });
    d.apply({ t: 'touch', contacts: [{ id: 1, x: 0.5, y: 0.5 }] });
    d.releaseAll();
    expect(s.log).toEqual([
      'pointer 1 0 1',
      'wheel 100 -5',
      'key ShiftLeft true',
      'key Backslash true',
      'touch 1',
      'key ShiftLeft false',
      'key Backslash false',
      'pointer 1 0 0',
      'touch 0',
    ]);
  });

  it('types text one message after another and drops what exceeds the bound', async () => {
    const s = sink();
    const warn = vi.fn();
    const d = new InputDispatcher({ input: s, warn });
    d.apply({ t: 'text', text: 'a'.repeat(1000) });
    await Promise.resolve();
    for (let i = 0; i < MAX_TEXT_WAITING / 1000; i++) d.apply({ t: 'text', text: 'b'.repeat(1000) });
    expect(warn).toHaveBeenCalledWith('dropping pasted text: too much is still being typed');
    await new Promise((r) => setTimeout(r, 0));
    expect(s.log.filter((l) => l.startsWith('text'))).toEqual(['text 1000']);
  });

  it('asks the display for the last size only, bounded and a multiple of 8 wide', async () => {
    const requestSize = vi.fn();
    const d = new InputDispatcher({ display: { requestSize }, resizeDebounceMs: 5 });
    d.apply({ t: 'resize', width: 100, height: 100 });
    d.apply({ t: 'resize', width: 1285, height: 99999 });
    await new Promise((r) => setTimeout(r, 30));
    expect(requestSize.mock.calls).toEqual([[1280, 4320]]);
  });
});

describe('FbDisplaySource', () => {
  it('mirrors damage as opaque RGBA and reads rectangles out, into a buffer or a new one', () => {
    const fb = new EventEmitter();
    const d = new FbDisplaySource(fb as unknown as VirtioGpuDevice);
    const sizes: number[][] = [];
    d.onResize((w, h) => sizes.push([w, h]));
    fb.emit('resize', { width: 4, height: 2 });
    expect(d.size()).toEqual({ width: 4, height: 2 });
    // One BGRX pixel at (2, 1): blue 1, green 2, red 3.
    fb.emit('damage', {
      x: 2,
      y: 1,
      width: 1,
      height: 1,
      stride: 4,
      format: PixelFormat.B8G8R8X8,
      pixels: new Uint8Array([1, 2, 3, 0]),
    });
    expect([...d.readRGBA({ x: 1, y: 1, width: 2, height: 1 })]).toEqual([0, 0, 0, 0, 3, 2, 1, 255]);
    const into = new Uint8Array(3 + 8).fill(9);
    d.readRGBAInto({ x: 1, y: 1, width: 2, height: 1 }, into, 3);
    expect([...into]).toEqual([9, 9, 9, 0, 0, 0, 0, 3, 2, 1, 255]);
    // Damage outside the mode is ignored, never written past the mirror.
    fb.emit('damage', {
      x: 3,
      y: 1,
      width: 2,
      height: 1,
      stride: 8,
      format: PixelFormat.B8G8R8X8,
      pixels: new Uint8Array(8),
    });
    expect(sizes).toEqual([[4, 2]]);
  });

  it('reads a shared scanout lazily: nothing converted per damage, current when read', () => {
    const fb = new EventEmitter();
    const d = new FbDisplaySource(fb as unknown as VirtioGpuDevice);
    fb.emit('resize', { width: 4, height: 2 });
    // The scanout at (1, 1) of a 6x3 resource in shared memory, BGRX.
    const stride = 6 * 4;
    const res = new Uint8Array(new SharedArrayBuffer(3 * stride));
    const at = (x: number, y: number): number => (y + 1) * stride + (x + 1) * 4;
    const damage = (x: number, y: number): void => {
      fb.emit('damage', {
        x,
        y,
        width: 1,
        height: 1,
        stride,
        format: PixelFormat.B8G8R8X8,
        pixels: res.subarray(at(x, y)),
      });
    };
    res.set([1, 2, 3, 0], at(2, 1));
    damage(2, 1);
    expect(d.sharedScanout()).toEqual({
      buffer: res.buffer,
      offset: at(0, 0),
      stride,
      width: 4,
      height: 2,
      swapRB: true,
    });
    // The guest draws again before anyone reads: the reader sees the newest pixels.
    res.set([4, 5, 6, 0], at(2, 1));
    res.set([7, 8, 9, 0], at(0, 0));
    damage(0, 0);
    expect([...d.readRGBA({ x: 0, y: 0, width: 1, height: 1 })]).toEqual([9, 8, 7, 255]);
    expect([...d.readRGBA({ x: 2, y: 1, width: 1, height: 1 })]).toEqual([6, 5, 4, 255]);
    expect([...d.frame().rgba.subarray(0, 4)]).toEqual([9, 8, 7, 255]);
    // A scanout the worker cannot convert (ARGB) is read through the mirror instead.
    fb.emit('damage', {
      x: 0,
      y: 0,
      width: 1,
      height: 1,
      stride,
      format: PixelFormat.A8R8G8B8,
      pixels: res.subarray(at(0, 0)),
    });
    expect(d.sharedScanout()).toBeNull();
    expect([...d.readRGBA({ x: 0, y: 0, width: 1, height: 1 })]).toEqual([8, 9, 0, 255]);
    // A mode change forgets the scanout until the next damage.
    fb.emit('resize', { width: 2, height: 2 });
    expect(d.sharedScanout()).toBeNull();
  });
});
