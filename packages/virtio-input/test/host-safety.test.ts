/**
 * What the host side can rely on: a throwing host listener never unwinds into the guest's MMIO write,
 * typing goes at the guest's pace without losing a keystroke, and what a client held can be released.
 */
import { MmioTransport, Ram, type Logger } from '@virtio-desktop/virtio-core';
import { VirtioTestDriver } from '@virtio-desktop/virtio-core/testing';
import { describe, expect, it } from 'vitest';
import {
  Btn,
  EVENT_SIZE,
  Ev,
  Keyboard,
  MAX_PENDING_FRAMES,
  Pointer,
  QueueIndex,
  Touchscreen,
  decodeEvent,
  encodeEvent,
  type VirtioInputDevice,
} from '../src/index.js';

const RAM_BASE = 0x8000_0000;

function running<D extends VirtioInputDevice>(make: (log: Logger) => D, buffers: number) {
  const ram = new Ram(RAM_BASE, 1 << 20);
  const logs: string[] = [];
  const log: Logger = {
    debug: (m) => logs.push(m),
    info: (m) => logs.push(m),
    warn: (m) => logs.push(m),
    error: (m) => logs.push(m),
  };
  const dev = make(log);
  const t = new MmioTransport(dev, { memory: ram, irq: { set: () => {} }, log });
  const drv = new VirtioTestDriver(t, ram, RAM_BASE + 0x1000);
  expect(drv.init(1n << 32n, [64, 64])).toBe(true);
  const addrs = new Map<number, number>();
  const post = (k: number) => {
    for (let i = 0; i < k; i++) {
      const { head, inAddrs } = drv.add(QueueIndex.Event, { inLens: [EVENT_SIZE] });
      addrs.set(head, inAddrs[0]);
    }
    drv.kick(QueueIndex.Event, true);
  };
  post(buffers);
  const read = () =>
    drv.takeUsed(QueueIndex.Event).map((u) => {
      const e = decodeEvent(ram.view(addrs.get(u.id)!, EVENT_SIZE)!)!;
      return [e.type, e.code, e.value];
    });
  return { dev, drv, logs, post, read };
}

describe('host listeners cannot break the guest path', () => {
  it("a throwing 'led' listener is logged, and the guest's status write still completes", () => {
    const s = running((log) => new Keyboard({ log }), 8);
    s.dev.on('led', () => {
      throw new Error('listener bug');
    });
    s.drv.add(QueueIndex.Status, { out: [encodeEvent({ type: Ev.Led, code: 1, value: 1 })] });
    // The kick is the guest's MMIO write of QueueNotify: it must not throw.
    expect(() => s.drv.kick(QueueIndex.Status, true)).not.toThrow();
    expect(s.drv.takeUsed(QueueIndex.Status)).toHaveLength(1);
    expect(s.dev.leds).toBe(2);
    expect(s.logs.join('\n')).toMatch(/'led' listener threw: Error: listener bug/);
  });

  it("a throwing 'delivered' listener does not stop delivery or escape the guest's buffer post", () => {
    const s = running((log) => new Keyboard({ log }), 0);
    s.dev.on('delivered', () => {
      throw new Error('listener bug');
    });
    s.dev.key(30, true);
    s.dev.key(30, false);
    // Posting buffers (an MMIO write) delivers the queued frames and runs the listener.
    expect(() => s.post(8)).not.toThrow();
    expect(s.read()).toEqual([
      [Ev.Key, 30, 1],
      [0, 0, 0],
      [Ev.Key, 30, 0],
      [0, 0, 0],
    ]);
    expect(s.logs.join('\n')).toMatch(/'delivered' listener threw/);
  });
});

describe('typing at the guest pace', () => {
  it('types 500 characters into a guest that reads slowly without dropping one', async () => {
    const s = running((log) => new Keyboard({ log }), 0);
    const text = 'The quick brown fox jumps over the lazy dog. '.repeat(12).slice(0, 500);
    const got: number[][] = [];
    // A slow guest: at most 16 new buffers every millisecond, never more than its ring holds.
    let outstanding = 0;
    const timer = setInterval(() => {
      const used = s.read();
      got.push(...used);
      outstanding -= used.length;
      const n = Math.min(16, 64 - outstanding);
      s.post(n);
      outstanding += n;
    }, 1);
    const r = await s.dev.typePaced(text, 5000);
    await new Promise((res) => setTimeout(res, 50));
    while (s.dev.pendingFrames > 0) await new Promise((res) => setTimeout(res, 5));
    clearInterval(timer);
    got.push(...s.read());
    expect(r.typed).toBe(500);
    expect(s.dev.stats.dropped).toBe(0);
    const presses = got.filter((e) => e[0] === Ev.Key && e[2] === 1 && e[1] !== 42).length;
    expect(presses).toBe(500);
  });

  it('the unpaced type() overflows a guest that does not read: the reason pacing exists', () => {
    const s = running((log) => new Keyboard({ log }), 0);
    s.dev.type('x'.repeat(60));
    expect(s.dev.stats.dropped).toBeGreaterThan(0);
  });

  it('a guest that stops reading is an error with a count, never a silent loss', async () => {
    const s = running((log) => new Keyboard({ log }), 0);
    await expect(s.dev.typePaced('y'.repeat(100), 100)).rejects.toThrow(
      /typed 31 of 100 keystrokes: the guest did not read .* events for 100 ms \(62 frames waiting\)/,
    );
    expect(s.dev.stats.dropped).toBe(0);
    expect(s.dev.pendingFrames).toBeLessThanOrEqual(MAX_PENDING_FRAMES);
  });

  it('a reset (the driver went away) rejects the wait', async () => {
    const s = running((log) => new Keyboard({ log }), 0);
    const p = s.dev.typePaced('z'.repeat(100), 5000);
    await new Promise((res) => setTimeout(res, 10));
    s.dev.reset();
    await expect(p).rejects.toThrow(/driver went away/);
  });
});

describe('releaseAll', () => {
  it('keyboard, pointer and touchscreen release what is held, and do nothing when nothing is', () => {
    const k = running((log) => new Keyboard({ log }), 64);
    k.dev.key(42, true);
    k.read();
    expect(k.dev.held).toEqual([42]);
    k.dev.releaseAll();
    expect(k.read()).toEqual([
      [Ev.Key, 42, 0],
      [0, 0, 0],
    ]);
    k.dev.releaseAll();
    expect(k.read()).toEqual([]);

    const p = running((log) => new Pointer({ log }), 64);
    p.dev.state(100, 100, 1);
    p.read();
    p.dev.releaseAll();
    expect(p.read()).toEqual([
      [Ev.Key, Btn.Left, 0],
      [0, 0, 0],
    ]);
    p.dev.releaseAll();
    expect(p.read()).toEqual([]);

    const t = running((log) => new Touchscreen({ log }), 64);
    t.dev.contacts([{ id: 7, x: 10, y: 10 }]);
    t.read();
    t.dev.releaseAll();
    expect(t.read()).toContainEqual([Ev.Key, Btn.Touch, 0]);
    t.dev.releaseAll();
    expect(t.read()).toEqual([]);
  });
});
