import { MmioReg as R, MmioTransport, Ram, type Logger } from '@virtio-desktop/virtio-core';
import { VirtioTestDriver } from '@virtio-desktop/virtio-core/testing';
import { describe, expect, it } from 'vitest';
import plugin, {
  ABS_MAX,
  Abs,
  Btn,
  CONFIG_UNION,
  ConfigSelect,
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

type Make<D> = (o: { log: Logger }) => D;

function setup<D extends VirtioInputDevice>(make: Make<D>) {
  const ram = new Ram(RAM_BASE, 1 << 20);
  const logs: string[] = [];
  const log: Logger = {
    debug: (m) => logs.push(m),
    info: (m) => logs.push(m),
    warn: (m) => logs.push(m),
    error: (m) => logs.push(m),
  };
  const dev = make({ log });
  let irqs = 0;
  const t = new MmioTransport(dev, {
    memory: ram,
    irq: { set: (level) => void (level && irqs++) },
    log,
  });
  const drv = new VirtioTestDriver(t, ram, RAM_BASE + 0x1000);
  return { dev, ram, drv, logs, irqs: () => irqs };
}

/** What Linux's virtio_input probe reads: select/subsel, then size and the union. */
function query(drv: VirtioTestDriver, select: number, subsel: number): Uint8Array {
  drv.dev.write(R.Config + 0, 1, select);
  drv.dev.write(R.Config + 1, 1, subsel);
  const size = drv.dev.read(R.Config + 2, 1);
  const out = new Uint8Array(size);
  for (let i = 0; i < size; i++) out[i] = drv.dev.read(R.Config + CONFIG_UNION + i, 1);
  return out;
}
const bits = (b: Uint8Array) => {
  const s: number[] = [];
  b.forEach((v, i) => {
    for (let k = 0; k < 8; k++) if (v & (1 << k)) s.push(i * 8 + k);
  });
  return s;
};
const text = (b: Uint8Array) => new TextDecoder().decode(b);

/** Probe like Linux, post `n` event buffers; returns a reader of the used ring as events. */
function running<D extends VirtioInputDevice>(make: Make<D>, n = 64) {
  const s = setup(make);
  expect(s.drv.init(1n << 32n, [64, 64])).toBe(true);
  const addrs = new Map<number, number>();
  const post = (k: number) => {
    for (let i = 0; i < k; i++) {
      const { head, inAddrs } = s.drv.add(QueueIndex.Event, { inLens: [EVENT_SIZE] });
      addrs.set(head, inAddrs[0]);
    }
    s.drv.kick(QueueIndex.Event, true);
  };
  post(n);
  const read = () =>
    s.drv.takeUsed(QueueIndex.Event).map((u) => {
      expect(u.len).toBe(EVENT_SIZE);
      const e = decodeEvent(s.ram.view(addrs.get(u.id)!, EVENT_SIZE)!)!;
      return [e.type, e.code, e.value];
    });
  return { ...s, post, read };
}

const SYN = [0, 0, 0];

describe('configuration space, as Linux probes it', () => {
  it('keyboard: name, serial, virtual bus ids, all keys 1-31, EV_REP, three LEDs', () => {
    const { drv } = setup((o) => new Keyboard({ ...o, serial: 'kb0' }));
    expect(drv.reg(R.DeviceId)).toBe(18);
    expect(text(query(drv, ConfigSelect.IdName, 0))).toBe('virtio-desktop keyboard');
    expect(text(query(drv, ConfigSelect.IdSerial, 0))).toBe('kb0');
    const ids = new DataView(query(drv, ConfigSelect.IdDevids, 0).buffer);
    expect([ids.getUint16(0, true), ids.getUint16(4, true)]).toEqual([0x06, 1]);
    const keys = bits(query(drv, ConfigSelect.EvBits, Ev.Key));
    for (let k = 1; k <= 31; k++) expect(keys).toContain(k); // udev's ID_INPUT_KEYBOARD test
    expect(keys.length).toBeGreaterThan(100);
    expect(query(drv, ConfigSelect.EvBits, Ev.Rep).length).toBeGreaterThan(0);
    expect(bits(query(drv, ConfigSelect.EvBits, Ev.Led))).toEqual([0, 1, 2]);
    expect(query(drv, ConfigSelect.EvBits, Ev.Abs).length).toBe(0);
    expect(query(drv, ConfigSelect.PropBits, 0).length).toBe(0);
  });

  it('pointer: ABS_X/Y 0..32767, five buttons, both wheels with hi-res', () => {
    const { drv } = setup((o) => new Pointer(o));
    expect(bits(query(drv, ConfigSelect.EvBits, Ev.Abs))).toEqual([Abs.X, Abs.Y]);
    const ax = new DataView(query(drv, ConfigSelect.AbsInfo, Abs.X).buffer);
    expect([ax.getInt32(0, true), ax.getInt32(4, true)]).toEqual([0, ABS_MAX]);
    expect(bits(query(drv, ConfigSelect.EvBits, Ev.Key))).toEqual([0x110, 0x111, 0x112, 0x113, 0x114]);
    expect(bits(query(drv, ConfigSelect.EvBits, Ev.Rel))).toEqual([6, 8, 11, 12]);
    expect(query(drv, ConfigSelect.AbsInfo, Abs.MtSlot).length).toBe(0);
  });

  it('touchscreen: DIRECT, BTN_TOUCH only, ABS_X/Y and MT slots 0..9 with tracking ids', () => {
    const { drv } = setup((o) => new Touchscreen(o));
    expect(bits(query(drv, ConfigSelect.PropBits, 0))).toEqual([1]);
    expect(bits(query(drv, ConfigSelect.EvBits, Ev.Key))).toEqual([Btn.Touch]);
    expect(bits(query(drv, ConfigSelect.EvBits, Ev.Abs))).toEqual([0, 1, 0x2f, 0x35, 0x36, 0x39]);
    const slot = new DataView(query(drv, ConfigSelect.AbsInfo, Abs.MtSlot).buffer);
    expect([slot.getInt32(0, true), slot.getInt32(4, true)]).toEqual([0, 9]);
    const tid = new DataView(query(drv, ConfigSelect.AbsInfo, Abs.MtTrackingId).buffer);
    expect(tid.getInt32(4, true)).toBeGreaterThan(tid.getInt32(0, true)); // libinput rejects min == max
    expect(bits(query(drv, ConfigSelect.EvBits, Ev.Abs))).not.toContain(0x2e); // udev's fake-MT marker
  });

  it('answers size 0 to unknown selects and subsels, and ignores writes to read-only bytes', () => {
    const { drv } = setup((o) => new Keyboard(o));
    expect(query(drv, 0x7f, 0).length).toBe(0);
    expect(query(drv, ConfigSelect.IdName, 3).length).toBe(0);
    expect(query(drv, ConfigSelect.AbsInfo, 200).length).toBe(0);
    drv.dev.write(R.Config + 2, 1, 99);
    drv.dev.write(R.Config + 40, 4, 0xffffffff);
    expect(query(drv, ConfigSelect.IdName, 0).length).toBe(23);
  });
});

describe('events', () => {
  it('delivers a key press and release as two frames ending in SYN_REPORT', () => {
    const { dev, read, irqs } = running((o) => new Keyboard(o));
    const before = irqs();
    dev.key(30, true);
    dev.key(30, false);
    expect(read()).toEqual([[Ev.Key, 30, 1], SYN, [Ev.Key, 30, 0], SYN]);
    expect(irqs()).toBeGreaterThan(before);
  });

  it('never splits a frame: it waits until the guest has buffers for all of it', () => {
    const { dev, read, post } = running((o) => new Touchscreen(o), 3);
    dev.contacts([{ id: 1, x: 10, y: 20 }]); // 7 events + SYN
    expect(read()).toEqual([]);
    post(4);
    expect(read()).toEqual([]);
    post(1);
    expect(read()).toEqual([
      [Ev.Abs, Abs.MtSlot, 0],
      [Ev.Abs, Abs.MtTrackingId, 0],
      [Ev.Abs, Abs.MtPositionX, 10],
      [Ev.Abs, Abs.MtPositionY, 20],
      [Ev.Key, Btn.Touch, 1],
      [Ev.Abs, Abs.X, 10],
      [Ev.Abs, Abs.Y, 20],
      SYN,
    ]);
  });

  it('a guest that posts no buffers never blocks: frames are kept up to a bound, the oldest dropped whole', () => {
    const { dev, read, post, logs } = running((o) => new Keyboard(o), 0);
    for (let i = 0; i < MAX_PENDING_FRAMES + 10; i++) dev.key(30, i % 2 === 0);
    expect(dev.stats.dropped).toBe(10);
    expect(logs.join('\n')).toMatch(/frames dropped/);
    post(64);
    const got = read();
    expect(got.length).toBe(64); // 32 whole frames so far, each [KEY, SYN]
    for (let i = 0; i < got.length; i += 2) expect(got[i + 1]).toEqual(SYN);
  });

  it('pointer: clamps coordinates, reports only changed axes and buttons, wheel with hi-res', () => {
    const { dev, read } = running((o) => new Pointer(o));
    dev.move(-50, 99999);
    dev.state(100, 32767, 0b101); // left + middle down
    dev.button('middle', false);
    dev.wheel(-1, 2);
    dev.move(Number.NaN, 5);
    expect(read()).toEqual([
      [Ev.Abs, Abs.X, 0], [Ev.Abs, Abs.Y, ABS_MAX], SYN,
      [Ev.Abs, Abs.X, 100], [Ev.Key, Btn.Left, 1], [Ev.Key, Btn.Middle, 1], SYN,
      [Ev.Key, Btn.Middle, 0], SYN,
      [Ev.Rel, 8, -1], [Ev.Rel, 11, -120], [Ev.Rel, 6, 2], [Ev.Rel, 12, 240], SYN,
      [Ev.Abs, Abs.X, 0], [Ev.Abs, Abs.Y, 5], SYN,
    ]); // prettier-ignore
  });

  it('touch: more than ten fingers are ignored beyond the tenth; lifting frees slots', () => {
    const { dev, read, post } = running((o) => new Touchscreen(o));
    dev.contacts(Array.from({ length: 12 }, (_, i) => ({ id: i, x: i, y: i })));
    const first = read();
    expect(first.filter((e) => e[1] === Abs.MtTrackingId).length).toBe(10);
    dev.contacts([]);
    expect(read()).toEqual([]); // 22 events, 20 buffers left: the frame waits whole
    post(2);
    const lift = read();
    expect(lift.filter((e) => e[1] === Abs.MtTrackingId && e[2] === -1).length).toBe(10);
    expect(lift.at(-2)).toEqual([Ev.Key, Btn.Touch, 0]);
  });

  it('keyboard: unknown codes and DOM names are ignored with a debug log; text types with shift', () => {
    const { dev, read, logs } = running((o) => new Keyboard(o));
    expect(dev.key(0x2ff, true)).toBe(false);
    expect(dev.domKey('NoSuchKey', true)).toBe(false);
    expect(logs.join('\n')).toMatch(/unknown DOM key code "NoSuchKey"/);
    expect(read()).toEqual([]);
    expect(dev.type('a?')).toEqual([]);
    expect(read().filter((e) => e[0] === Ev.Key)).toEqual([
      [1, 30, 1], [1, 30, 0], [1, 42, 1], [1, 53, 1], [1, 53, 0], [1, 42, 0],
    ]); // prettier-ignore
    expect(dev.type('é')).toEqual(['é']);
  });

  it('drops stale frames and held buffers at reset', () => {
    const { dev, drv, read } = running((o) => new Keyboard(o), 0);
    dev.key(30, true);
    drv.setReg(R.Status, 0);
    expect(dev.active).toBe(false);
    dev.key(31, true); // no driver: kept for the next one
    expect(read()).toEqual([]);
  });
});

describe('status queue (LEDs) and hostile buffers', () => {
  function status(s: ReturnType<typeof running>, bytes: Uint8Array[]) {
    s.drv.add(QueueIndex.Status, { out: bytes });
    s.drv.kick(QueueIndex.Status, true);
    return s.drv.takeUsed(QueueIndex.Status);
  }

  it('reports LED changes from the guest', () => {
    const s = running((o) => new Keyboard(o));
    const seen: string[] = [];
    s.dev.on('led', (l) => seen.push(`${l.code}:${l.on}:${l.leds}`));
    status(s, [encodeEvent({ type: Ev.Led, code: 1, value: 1 })]);
    status(s, [encodeEvent({ type: Ev.Led, code: 0, value: 1 })]);
    status(s, [encodeEvent({ type: Ev.Led, code: 1, value: 0 })]);
    expect(seen).toEqual(['1:true:2', '0:true:3', '1:false:1']);
  });

  it('ignores malformed status buffers and unknown events with a log line', () => {
    const s = running((o) => new Keyboard(o));
    const used = status(s, [new Uint8Array(3)]);
    expect(used.length).toBe(1);
    status(s, [encodeEvent({ type: Ev.Led, code: 9, value: 1 })]);
    status(s, [encodeEvent({ type: 0x1f, code: 0xffff, value: -1 })]);
    expect(s.dev.stats.badStatus).toBe(1);
    expect(s.dev.leds).toBe(0);
    expect(s.logs.join('\n')).toMatch(/not one readable 8-byte event/);
  });

  it('returns event buffers that are too small or device-readable unused, and still delivers whole frames', () => {
    const s = running((o) => new Keyboard(o), 0);
    s.drv.add(QueueIndex.Event, { inLens: [4] });
    s.drv.add(QueueIndex.Event, { out: [new Uint8Array(8)] });
    s.drv.kick(QueueIndex.Event, true);
    s.dev.key(30, true);
    const bad = s.drv.takeUsed(QueueIndex.Event);
    expect(bad.map((u) => u.len)).toEqual([0, 0]);
    expect(s.dev.stats.badBuffers).toBe(2);
    s.post(2);
    expect(s.read()).toEqual([[Ev.Key, 30, 1], SYN]);
  });
});

describe('plugins', () => {
  it('exports keyboard, pointer and touch; options are checked with one clear line', async () => {
    expect(Object.keys(plugin)).toEqual(['keyboard', 'pointer', 'touch']);
    const ctx = { memory: new Ram(RAM_BASE, 4096), log: { debug() {}, info() {}, warn() {}, error() {} } };
    const kb = await plugin.keyboard.create(plugin.keyboard.parseOptions({ name: 'My keys' }), ctx);
    expect(kb.profile.name).toBe('My keys');
    expect(() => plugin.pointer.parseOptions({ nme: 'x' })).toThrow(/nme/);
    expect(() => plugin.touch.parseOptions({ name: '' })).toThrow(/1 to 64 printable ASCII/);
    expect(() => plugin.touch.parseOptions({ serial: 'x'.repeat(65) })).toThrow(/1 to 64/);
  });
});
