import { MmioReg as R, MmioTransport, type BusDevice } from '@virtio-desktop/virtio-core';
import { describe, expect, it } from 'vitest';
import plugin, {
  CLIPBOARD_PORT,
  ClipboardConsole,
  ControlEvent,
  FrameType,
  HEADER_SIZE,
  MAX_PAYLOAD,
  MAX_TX_BUFFER,
  VirtioConsoleDevice,
  decodeHello,
  encodeFrame,
  encodeHello,
  FrameParser,
  type Frame,
} from '../src/index.js';
import { FakeGuest } from './harness.js';

const utf8 = (s: string) => new TextEncoder().encode(s);
const text = (b: Uint8Array) => new TextDecoder().decode(b);

function frames(bytes: Uint8Array): Frame[] {
  const p = new FrameParser();
  const f = p.push(bytes);
  expect(p.error).toBeNull();
  return f;
}

/** A clipboard console with its guest probed, the agent's port open and HELLO exchanged. */
function connected() {
  const dev = new ClipboardConsole({ ports: [CLIPBOARD_PORT] });
  const g = new FakeGuest(dev);
  g.probe();
  g.open(0);
  const texts: string[] = [];
  dev.clipboard!.on('text', (t) => texts.push(t));
  g.write(0, encodeHello());
  const hello = frames(g.read(0));
  expect(hello.map((f) => f.type)).toEqual([FrameType.Hello]);
  expect(decodeHello(hello[0].payload)).toEqual({ version: 1, maxPayload: MAX_PAYLOAD });
  expect(dev.clipboard!.agentConnected).toBe(true);
  return { dev, g, texts, clip: dev.clipboard! };
}

/** Read from the port until `n` bytes came (the device fills buffers as the guest reposts them). */
function readN(g: FakeGuest, n: number): Uint8Array {
  const parts: Uint8Array[] = [];
  let got = 0;
  for (let i = 0; i < 10_000 && got < n; i++) {
    const b = g.read(0);
    parts.push(b);
    got += b.length;
    if (b.length === 0) break;
  }
  const out = new Uint8Array(got);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

describe('virtio-console', () => {
  it('is device 3 with MULTIPORT, and max_nr_ports in its config', () => {
    const dev = new VirtioConsoleDevice({ ports: ['a', 'b.c'] });
    const g = new FakeGuest(dev);
    expect(g.t.read(R.DeviceId, 4)).toBe(3);
    expect(g.drv.deviceFeatures() & 2n).toBe(2n);
    expect(g.t.read(R.Config + 4, 4)).toBe(2);
    expect(dev.queueSizes.length).toBe(6);
  });

  it('announces each port with its name and opens the host end, as Linux expects', () => {
    const dev = new VirtioConsoleDevice({ ports: ['one', 'org.example.two'] });
    const g = new FakeGuest(dev);
    g.probe();
    const ev = g.control.map((m) => [m.id, m.event, m.value, text(m.extra)]);
    expect(ev).toEqual([
      [0, ControlEvent.DeviceAdd, 0, ''],
      [1, ControlEvent.DeviceAdd, 0, ''],
      [0, ControlEvent.PortName, 1, 'one'],
      [0, ControlEvent.PortOpen, 1, ''],
      [1, ControlEvent.PortName, 1, 'org.example.two'],
      [1, ControlEvent.PortOpen, 1, ''],
    ]);
    expect(dev.ports.every((p) => p.ready)).toBe(true);
  });

  it('carries bytes both ways while a guest program has the port open', () => {
    const dev = new VirtioConsoleDevice({ ports: ['p0', 'p1'] });
    const g = new FakeGuest(dev);
    g.probe();
    const got: string[] = [];
    const events: string[] = [];
    dev.ports[1].on('data', (b) => got.push(text(b)));
    dev.ports[1].on('open', () => events.push('open'));
    dev.ports[1].on('close', (why) => events.push(`close: ${why}`));
    expect(dev.ports[1].write(utf8('early'))).toBe(false); // nobody reads it yet
    g.write(1, utf8('ignored')); // not open: belongs to no stream
    g.open(1);
    g.write(1, utf8('hello '));
    g.write(1, utf8('host'));
    expect(got).toEqual(['hello ', 'host']);
    expect(dev.ports[1].write(utf8('hi guest'))).toBe(true);
    expect(text(g.read(1))).toBe('hi guest');
    expect(g.read(0).length).toBe(0);
    g.open(1, false);
    expect(events).toEqual(['open', 'close: the guest closed the port']);
    expect(dev.ports[1].write(utf8('x'))).toBe(false);
  });

  it('splits host data over small guest buffers and keeps it until buffers come', () => {
    const dev = new VirtioConsoleDevice({ ports: ['p'] });
    const g = new FakeGuest(dev);
    g.drv.init((1n << 1n) | (1n << 32n));
    g.postRx(2, 8);
    g.sendControl({ id: 0, event: ControlEvent.DeviceReady, value: 1 });
    g.readControl();
    g.sendControl({ id: 0, event: ControlEvent.PortReady, value: 1 });
    g.open(0);
    const data = new Uint8Array(10_000).map((_, i) => i & 0xff);
    expect(dev.ports[0].write(data)).toBe(true);
    expect(g.read(0).length).toBe(0);
    g.postRx(0, 2, 1000);
    const first = g.read(0);
    expect(first.length).toBe(2000); // the two 1000-byte buffers; the rest waits for more
    const rest = readN(g, 10_000 - first.length);
    const all = new Uint8Array([...first, ...rest]);
    expect(all).toEqual(data);
  });

  it('bounds what waits for the guest', () => {
    const dev = new VirtioConsoleDevice({ ports: ['p'], maxPending: 100 });
    const g = new FakeGuest(dev);
    g.drv.init((1n << 1n) | (1n << 32n));
    g.postRx(2, 8);
    g.sendControl({ id: 0, event: ControlEvent.DeviceReady, value: 1 });
    g.sendControl({ id: 0, event: ControlEvent.PortReady, value: 1 });
    g.open(0);
    expect(dev.ports[0].write(new Uint8Array(60))).toBe(true);
    expect(dev.ports[0].write(new Uint8Array(60))).toBe(false);
    expect(dev.ports[0].pendingBytes).toBe(60);
  });

  it('hangs up on a transmit buffer larger than Linux ever sends, and reopens when the guest does', () => {
    const dev = new VirtioConsoleDevice({ ports: ['p'] });
    const g = new FakeGuest(dev);
    g.probe();
    g.open(0);
    const why: string[] = [];
    dev.ports[0].on('close', (w) => why.push(w));
    g.write(0, new Uint8Array(MAX_TX_BUFFER + 1));
    expect(dev.ports[0].hostOpen).toBe(false);
    expect(why[0]).toMatch(/transmit buffer/);
    expect(g.readControl().at(-1)).toMatchObject({ event: ControlEvent.PortOpen, value: 0 });
    g.open(0, false);
    g.open(0, true);
    expect(dev.ports[0].hostOpen).toBe(true);
    expect(g.readControl().at(-1)).toMatchObject({ event: ControlEvent.PortOpen, value: 1 });
  });

  it('survives hostile control messages', () => {
    const dev = new VirtioConsoleDevice({ ports: ['p'] });
    const g = new FakeGuest(dev);
    g.probe();
    for (const [id, event, value] of [
      [0xffffffff, ControlEvent.PortOpen, 1],
      [7, ControlEvent.PortReady, 1],
      [0, 999, 0],
      [0, ControlEvent.DeviceAdd, 0],
      [0, ControlEvent.PortName, 0],
    ])
      g.sendControl({ id, event, value });
    g.drv.add(3, { out: [new Uint8Array(3)] }); // too short
    g.drv.kick(3, true);
    expect(dev.stats.badControl).toBe(6);
  });

  it('snapshots its ports and what waits for the guest', () => {
    const dev = new VirtioConsoleDevice({ ports: ['p'] });
    const g = new FakeGuest(dev);
    g.probe();
    g.open(0);
    dev.ports[0].write(utf8('kept'));
    const s = dev.saveState();
    const copy = new VirtioConsoleDevice({ ports: ['p'] });
    copy.restoreState(s, null);
    expect(copy.ports[0].guestOpen).toBe(false);
    expect(() => new VirtioConsoleDevice({ ports: ['q'] }).restoreState(s, null)).toThrow(/name/);
  });

  it('plugin: the clipboard port by default, names checked', () => {
    expect(plugin.parseOptions(undefined)).toEqual({ ports: [CLIPBOARD_PORT] });
    expect(() => plugin.parseOptions({ ports: ['a/b'] })).toThrow(/port name/);
    expect(() => plugin.parseOptions({ ports: ['a', 'a'] })).toThrow(/differ/);
    expect(() => plugin.parseOptions({ port: 'x' })).toThrow(/unknown option/);
  });
});

describe('clipboard channel', () => {
  it('reports the guest clipboard and sends the host clipboard', () => {
    const { g, texts, clip } = connected();
    g.write(0, encodeFrame(FrameType.Text, utf8('copied in the guest: é')));
    expect(texts).toEqual(['copied in the guest: é']);
    expect(clip.setText('from the page ✓')).toBe(true);
    const f = frames(g.read(0));
    expect(f.map((x) => [x.type, text(x.payload)])).toEqual([[FrameType.Text, 'from the page ✓']]);
  });

  it('does not send the guest its own text back, and gives a reconnecting agent the newer host text', () => {
    const { g, clip } = connected();
    g.write(0, encodeFrame(FrameType.Text, utf8('same')));
    clip.setText('same');
    expect(g.read(0).length).toBe(0);
    clip.setText('newer');
    expect(frames(g.read(0)).length).toBe(1);
    g.open(0, false);
    expect(clip.agentConnected).toBe(false);
    g.open(0);
    g.write(0, encodeHello());
    const f = frames(g.read(0));
    expect(f.map((x) => x.type)).toEqual([FrameType.Hello, FrameType.Text]);
    expect(text(f[1].payload)).toBe('newer');
  });

  it('takes frames split over buffers and several frames in one buffer, up to 1 MiB', () => {
    const { g, texts } = connected();
    const big = 'x'.repeat(MAX_PAYLOAD);
    const bytes = encodeFrame(FrameType.Text, utf8(big));
    for (let i = 0; i < bytes.length; i += 32 * 1024) g.write(0, bytes.subarray(i, i + 32 * 1024));
    g.write(
      0,
      new Uint8Array([...encodeFrame(FrameType.Text, utf8('a')), ...encodeFrame(FrameType.Text, utf8('b'))]),
    );
    expect(texts.length).toBe(3);
    expect(texts[0].length).toBe(MAX_PAYLOAD);
    expect(texts.slice(1)).toEqual(['a', 'b']);
  });

  it('hangs up on a frame over 1 MiB, and refuses to send one', () => {
    const { dev, g, texts, clip } = connected();
    const h = new Uint8Array(HEADER_SIZE);
    new DataView(h.buffer).setUint16(0, FrameType.Text, true);
    new DataView(h.buffer).setUint32(4, MAX_PAYLOAD + 1, true);
    g.write(0, h);
    expect(dev.ports[0].hostOpen).toBe(false);
    expect(clip.agentConnected).toBe(false);
    g.write(0, encodeFrame(FrameType.Text, utf8('after')));
    expect(texts).toEqual([]);
    expect(clip.setText('y'.repeat(MAX_PAYLOAD + 1))).toBe(false);
  });

  it('ignores text before HELLO and frame types it does not know', () => {
    const dev = new ClipboardConsole({ ports: [CLIPBOARD_PORT] });
    const g = new FakeGuest(dev);
    g.probe();
    g.open(0);
    const texts: string[] = [];
    dev.clipboard!.on('text', (t) => texts.push(t));
    g.write(0, encodeFrame(FrameType.Text, utf8('too early')));
    g.write(0, encodeFrame(77, utf8('future')));
    expect(texts).toEqual([]);
    expect(dev.ports[0].hostOpen).toBe(true);
  });

  it('a snapshot taken mid-frame goes on after a restore: the agent stays connected, the frame completes', async () => {
    const { g } = connected();
    const frame = encodeFrame(FrameType.Text, utf8('half and half'));
    g.write(0, frame.subarray(0, 12));
    const saved = g.t.saveState();
    const dev2 = new ClipboardConsole({ ports: [CLIPBOARD_PORT] });
    const t2 = new MmioTransport(dev2, { memory: g.ram, irq: { set() {} } });
    await t2.restoreState(saved);
    (g.drv as unknown as { dev: BusDevice }).dev = t2;
    const texts: string[] = [];
    dev2.clipboard!.on('text', (t) => texts.push(t));
    g.write(0, frame.subarray(12));
    expect(texts).toEqual(['half and half']);
    expect(dev2.clipboard!.agentConnected).toBe(true);
    dev2.clipboard!.setText('after the restore');
    expect(frames(g.read(0)).map((f) => text(f.payload))).toEqual(['after the restore']);
  });

  it('a listener that throws does not reach the guest', () => {
    const { g, clip } = connected();
    clip.on('text', () => {
      throw new Error('boom');
    });
    expect(() => g.write(0, encodeFrame(FrameType.Text, utf8('z')))).not.toThrow();
  });
});
