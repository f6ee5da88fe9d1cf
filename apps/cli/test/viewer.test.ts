import { inflateRawSync } from 'node:zlib';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import type { CursorImage, DisplaySource, InputSink, Rect } from '../src/viewer/display.js';
import { decodeServerMessage, parseClientMessage } from '../src/viewer/protocol.js';
import { Viewer } from '../src/viewer/server.js';

class FakeDisplay implements DisplaySource {
  w = 64;
  h = 32;
  pixels = new Uint8Array(this.w * this.h * 4).map((_, i) => (i % 4 === 3 ? 255 : i % 7));
  requested: [number, number][] = [];
  private damageCbs: ((r: Rect) => void)[] = [];
  private resizeCbs: ((w: number, h: number) => void)[] = [];
  size() {
    return { width: this.w, height: this.h };
  }
  readRGBA(r: Rect) {
    const out = new Uint8Array(r.width * r.height * 4);
    for (let y = 0; y < r.height; y++)
      out.set(
        this.pixels.subarray(((r.y + y) * this.w + r.x) * 4, ((r.y + y) * this.w + r.x + r.width) * 4),
        y * r.width * 4,
      );
    return out;
  }
  onResize(cb: (w: number, h: number) => void) {
    this.resizeCbs.push(cb);
    return () => {};
  }
  onDamage(cb: (r: Rect) => void) {
    this.damageCbs.push(cb);
    return () => {};
  }
  onCursor(_cb: (c: CursorImage | null) => void) {
    return () => {};
  }
  onCursorMove() {
    return () => {};
  }
  requestSize(w: number, h: number) {
    this.requested.push([w, h]);
  }
  damage(r: Rect) {
    this.damageCbs.forEach((cb) => cb(r));
  }
}

const logs: string[] = [];
const log = {
  debug: (m: string) => logs.push(m),
  info: (m: string) => logs.push(m),
  warn: (m: string) => logs.push(m),
  error: (m: string) => logs.push(m),
};
let viewer: Viewer | null = null;
afterEach(async () => {
  await viewer?.close();
  viewer = null;
});

async function start(input?: InputSink) {
  const display = new FakeDisplay();
  viewer = new Viewer({ display, input, log, frameIntervalMs: 1 });
  const url = new URL(await viewer.start());
  return { display, url, viewer };
}

function collect(ws: WebSocket) {
  const msgs: ReturnType<typeof decodeServerMessage>[] = [];
  ws.on('message', (d) => msgs.push(decodeServerMessage(new Uint8Array(d as Buffer))));
  return msgs;
}

const until = async (cond: () => boolean, ms = 2000) => {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > ms) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 5));
  }
};

describe('viewer', () => {
  it('listens on loopback only by default and prints a URL with a token', async () => {
    const { url, viewer } = await start();
    expect(url.hostname).toBe('127.0.0.1');
    expect(url.searchParams.get('token')).toMatch(/^[0-9a-f]{32}$/);
    expect(viewer.token).toBe(url.searchParams.get('token'));
  });

  it('refuses the page and the WebSocket without the right token', async () => {
    const { url } = await start();
    const base = `http://${url.host}`;
    expect((await fetch(`${base}/`)).status).toBe(403);
    expect((await fetch(`${base}/?token=wrong`)).status).toBe(403);
    expect((await fetch(`${base}/?token=${url.searchParams.get('token')}x`)).status).toBe(403);
    const page = await fetch(url);
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('<canvas id="screen"');
    for (const q of ['', '?token=nope']) {
      const ws = new WebSocket(`ws://${url.host}/ws${q}`);
      const err = await new Promise<string>((r) =>
        ws.on('unexpected-response', (_q, res) => r(String(res.statusCode))).on('error', (e) => r(e.message)),
      );
      expect(err).toMatch(/403/);
    }
    // Right token, foreign origin: refused too.
    const ws = new WebSocket(`ws://${url.host}/ws?token=${url.searchParams.get('token')}`, {
      origin: 'http://evil.example',
    });
    expect(
      await new Promise<string>((r) => ws.on('unexpected-response', (_q, res) => r(String(res.statusCode)))),
    ).toBe('403');
  });

  it('sends the mode and the screen, then coalesced damage, deflated when it pays', async () => {
    const { url, display } = await start();
    const ws = new WebSocket(`ws://${url.host}/ws${url.search}`);
    const msgs = collect(ws);
    await until(() => msgs.length >= 2);
    expect(msgs[0]).toEqual({ type: 'resize', width: 64, height: 32 });
    const full = msgs[1]!;
    expect(full.type).toBe('rect');
    if (full.type !== 'rect') throw new Error();
    expect([full.x, full.y, full.w, full.h]).toEqual([0, 0, 64, 32]);
    const px = full.encoding === 1 ? new Uint8Array(inflateRawSync(full.payload)) : full.payload;
    expect(Buffer.from(px).equals(Buffer.from(display.pixels))).toBe(true);
    display.damage({ x: 1, y: 1, width: 2, height: 2 });
    display.damage({ x: 10, y: 5, width: 2, height: 2 });
    await until(() => msgs.length >= 3);
    const r = msgs[2]!;
    if (r.type !== 'rect') throw new Error();
    expect([r.x, r.y, r.w, r.h]).toEqual([1, 1, 11, 6]);
    ws.close();
  });

  it('forwards input, clamps coordinates, and debounces resize requests into the last one', async () => {
    const got: string[] = [];
    const input: InputSink = {
      key: (c, d) => (got.push(`key ${c} ${d}`), c !== 'NoSuchKey'),
      pointer: (x, y, b) => void got.push(`ptr ${x} ${y} ${b}`),
      wheel: (dx, dy) => void got.push(`wheel ${dx} ${dy}`),
      touch: (c) => void got.push(`touch ${JSON.stringify(c)}`),
    };
    const { url, display } = await start(input);
    const ws = new WebSocket(`ws://${url.host}/ws${url.search}`);
    await new Promise((r) => ws.on('open', r));
    ws.send(JSON.stringify({ t: 'key', code: 'KeyA', down: true }));
    ws.send(JSON.stringify({ t: 'key', code: 'NoSuchKey', down: true }));
    ws.send(JSON.stringify({ t: 'pointer', x: 1.5, y: -2, buttons: 1 }));
    ws.send(JSON.stringify({ t: 'wheel', dx: 0, dy: 1 }));
    ws.send(JSON.stringify({ t: 'touch', contacts: [{ id: 3, x: 0.5, y: 2 }] }));
    for (const w of [800, 900, 1281]) ws.send(JSON.stringify({ t: 'resize', width: w, height: 100 }));
    await until(() => display.requested.length === 1 && got.length === 5);
    expect(got).toEqual([
      'key KeyA true',
      'key NoSuchKey true',
      'ptr 1 0 1',
      'wheel 0 1',
      'touch [{"id":3,"x":0.5,"y":1}]',
    ]);
    expect(display.requested).toEqual([[1280, 200]]);
    expect(logs.some((l) => l.includes('unknown key code NoSuchKey'))).toBe(true);
    ws.close();
  });

  for (const bad of [
    'not json',
    '{"t":"launch"}',
    '{"t":"key","code":5,"down":true}',
    JSON.stringify({ t: 'touch', contacts: Array(11).fill({ id: 1, x: 0, y: 0 }) }),
    'x'.repeat(5000),
  ]) {
    it(`closes the connection on a malformed message (${bad.slice(0, 24)}) with a log line`, async () => {
      const { url } = await start();
      const ws = new WebSocket(`ws://${url.host}/ws${url.search}`);
      await new Promise((r) => ws.on('open', r));
      logs.length = 0;
      ws.send(bad);
      const code = await new Promise<number>((r) => ws.on('close', (c) => r(c)));
      expect(code).toBe(1008);
      expect(logs.some((l) => l.startsWith('viewer: closing a connection'))).toBe(true);
    });
  }
});

describe('viewer protocol', () => {
  it('rejects what a page must not send', () => {
    expect(parseClientMessage('{"t":"pointer","x":"1","y":0,"buttons":0}')).toMatch(/pointer needs/);
    expect(parseClientMessage('{"t":"resize","width":0,"height":10}')).toMatch(/resize needs/);
    expect(parseClientMessage('[]')).toBe('not an object');
    expect(parseClientMessage('{"t":"wheel","dx":1e400,"dy":0}')).toMatch(/wheel needs/);
    expect(parseClientMessage('{"t":"key","code":"KeyB","down":false}')).toEqual({
      t: 'key',
      code: 'KeyB',
      down: false,
    });
  });
  it('decodes only well-formed server messages', () => {
    expect(decodeServerMessage(new Uint8Array([1, 0]))).toBeNull();
    expect(decodeServerMessage(new Uint8Array([3, 0, 0, 0, 0, 1, 0, 1, 0]))).toBeNull(); // 1x1 cursor without pixels
    expect(decodeServerMessage(new Uint8Array([9]))).toBeNull();
  });
});
