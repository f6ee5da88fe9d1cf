/**
 * Issue 16 at unit level: what one viewer costs, what a slow or departing viewer leaves behind, which
 * Host headers are served, how refusals are logged, the control socket's directory and request checks,
 * and the commands' one-line errors.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, statSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { ControlServer, privateDir } from '../src/control/server.js';
import { parseRequest, runtimeDir } from '../src/control/protocol.js';
import { main } from '../src/main.js';
import { RateLimitedLog } from '../src/ratelog.js';
import type { CursorImage, DisplaySource, InputSink, Rect } from '../src/viewer/display.js';
import { Viewer } from '../src/viewer/server.js';

class FakeDisplay implements DisplaySource {
  w = 256;
  h = 128;
  pixels = new Uint8Array(this.w * this.h * 4).map((_, i) => (i % 4 === 3 ? 255 : (i * 7) % 13));
  reads = 0;
  private damageCbs: ((r: Rect) => void)[] = [];
  private cursorCbs: ((c: CursorImage | null) => void)[] = [];
  private moveCbs: ((x: number, y: number, v: boolean) => void)[] = [];
  size() {
    return { width: this.w, height: this.h };
  }
  readRGBA(r: Rect) {
    this.reads++;
    const out = new Uint8Array(r.width * r.height * 4);
    for (let y = 0; y < r.height; y++)
      out.set(
        this.pixels.subarray(((r.y + y) * this.w + r.x) * 4, ((r.y + y) * this.w + r.x + r.width) * 4),
        y * r.width * 4,
      );
    return out;
  }
  onResize() {
    return () => {};
  }
  onDamage(cb: (r: Rect) => void) {
    this.damageCbs.push(cb);
    return () => {};
  }
  onCursor(cb: (c: CursorImage | null) => void) {
    this.cursorCbs.push(cb);
    return () => {};
  }
  onCursorMove(cb: (x: number, y: number, v: boolean) => void) {
    this.moveCbs.push(cb);
    return () => {};
  }
  requestSize() {}
  damage(r: Rect) {
    this.damageCbs.forEach((cb) => cb(r));
  }
  cursor(c: CursorImage) {
    this.cursorCbs.forEach((cb) => cb(c));
  }
  move(x: number, y: number) {
    this.moveCbs.forEach((cb) => cb(x, y, true));
  }
}

const logs: string[] = [];
const log = {
  debug: (m: string) => logs.push(m),
  info: (m: string) => logs.push(m),
  warn: (m: string) => logs.push(m),
  error: (m: string) => logs.push(m),
};
const cleanup: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
  logs.length = 0;
});

async function viewer(input?: InputSink) {
  const display = new FakeDisplay();
  const v = new Viewer({ display, input, log, frameIntervalMs: 5 });
  const url = new URL(await v.start());
  cleanup.push(() => v.close());
  return { display, v, url };
}

const until = async (cond: () => boolean, ms = 5000) => {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > ms) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 5));
  }
};

function client(url: URL): Promise<{ ws: WebSocket; count: () => number }> {
  const ws = new WebSocket(`ws://${url.host}/ws${url.search}`);
  let n = 0;
  ws.on('message', () => n++);
  cleanup.push(() => ws.terminate());
  return new Promise((r) => ws.on('open', () => r({ ws, count: () => n })));
}

describe('viewer: cost and limits per client', () => {
  it('encodes each screen update once, however many viewers watch', async () => {
    const { display, v, url } = await viewer();
    const cs = await Promise.all([1, 2, 3, 4, 5].map(() => client(url)));
    await until(() => cs.every((c) => c.count() >= 2)); // mode + first full frame each
    const encodes0 = v.stats.encodes;
    const reads0 = display.reads;
    for (let i = 0; i < 10; i++) {
      display.damage({ x: i, y: i, width: 100, height: 50 });
      await until(() => cs.every((c) => c.count() >= 3 + i));
    }
    expect(v.stats.framesSent - 5).toBeGreaterThanOrEqual(50);
    expect(v.stats.encodes - encodes0).toBe(10);
    expect(display.reads - reads0).toBe(10);
  });

  it('a client that reads nothing gets no more than the byte limit of any kind of update', async () => {
    const { display, v, url } = await viewer();
    const { ws } = await client(url);
    // Stop reading: the server's queue for this client can only grow.
    (ws as unknown as { _socket: { pause(): void } })._socket.pause();
    const rgba = new Uint8Array(64 * 64 * 4).fill(200);
    for (let i = 0; i < 4000; i++) {
      display.cursor({ width: 64, height: 64, hotX: i % 64, hotY: 0, rgba }); // 16 KiB each: 64 MiB
      display.move(i % 100, 5);
      if (i % 100 === 0) await new Promise((r) => setImmediate(r));
    }
    await new Promise((r) => setTimeout(r, 200));
    // Kernel socket buffers take a few MiB besides the 8 MiB limit; without the limit this was 64 MiB.
    expect(v.stats.bytesSent).toBeLessThan(24 * 1024 * 1024);
  });

  it('a viewer that leaves releases every key, button and finger it held', async () => {
    const got: string[] = [];
    const input: InputSink = {
      key: (c, d) => (got.push(`key ${c} ${d}`), true),
      pointer: (x, y, b) => void got.push(`ptr ${x} ${y} ${b}`),
      wheel: () => {},
      touch: (c) => void got.push(`touch ${c.length}`),
    };
    const { url } = await viewer(input);
    const { ws } = await client(url);
    ws.send(JSON.stringify({ t: 'key', code: 'ShiftLeft', down: true }));
    ws.send(JSON.stringify({ t: 'key', code: 'KeyA', down: true }));
    ws.send(JSON.stringify({ t: 'key', code: 'KeyA', down: false }));
    ws.send(JSON.stringify({ t: 'pointer', x: 0.5, y: 0.25, buttons: 1 }));
    ws.send(JSON.stringify({ t: 'touch', contacts: [{ id: 1, x: 0.1, y: 0.1 }] }));
    await until(() => got.length === 5);
    ws.close();
    await until(() => got.length === 8);
    expect(got.slice(5)).toEqual(['key ShiftLeft false', 'ptr 0.5 0.25 0', 'touch 0']);
  });

  it('refuses a Host header that is not this computer (DNS rebinding), even with the token', async () => {
    const { url } = await viewer();
    const get = (host: string) =>
      new Promise<number>((resolve, reject) => {
        const r = httpRequest(
          { host: '127.0.0.1', port: Number(url.port), path: `/${url.search}`, headers: { host } },
          (res) => {
            res.resume();
            resolve(res.statusCode ?? 0);
          },
        );
        r.on('error', reject);
        r.end();
      });
    expect(await get(`127.0.0.1:${url.port}`)).toBe(200);
    expect(await get(`localhost:${url.port}`)).toBe(200);
    expect(await get(`rebind.attacker.example:${url.port}`)).toBe(403);
    expect(await get(`127.0.0.1:1`)).toBe(403);
    expect(logs.some((l) => /unknown Host "rebind\.attacker\.example/.test(l))).toBe(true);
  });

  it('rate-limits the log of refusals', () => {
    const lines: string[] = [];
    let now = 0;
    const r = new RateLimitedLog({ ...log, warn: (m: string) => void lines.push(m) }, 5, 10_000, () => now);
    for (let i = 0; i < 1000; i++) r.warn(`refused ${i}`);
    expect(lines).toHaveLength(5);
    now = 10_000;
    r.warn('later');
    expect(lines.slice(5)).toEqual(['(995 similar lines left out in the last 10 s)', 'later']);
  });
});

describe('control socket', () => {
  it('makes its directory 0700 and its socket 0600 even under umask 000', async () => {
    const dir = path.join(mkdtempSync(path.join(tmpdir(), 'vdesk-ctl-')), 'run');
    const old = process.umask(0);
    let srv: ControlServer;
    try {
      srv = new ControlServer('m', async () => ({}), log, dir);
      await srv.start();
    } finally {
      process.umask(old);
    }
    cleanup.push(() => srv.close());
    expect(statSync(dir).mode & 0o777).toBe(0o700);
    expect(statSync(path.join(dir, 'm.sock')).mode & 0o777).toBe(0o600);
  });

  it('refuses a runtime directory others can write, and tightens one others can only read', () => {
    const base = mkdtempSync(path.join(tmpdir(), 'vdesk-ctl-'));
    const open = path.join(base, 'open');
    mkdirSync(open);
    chmodSync(open, 0o777);
    expect(() => privateDir(open)).toThrow(/writable by others \(mode 777\); remove it or chmod 700 it/);
    const readable = path.join(base, 'readable');
    mkdirSync(readable);
    chmodSync(readable, 0o755);
    privateDir(readable);
    expect(statSync(readable).mode & 0o777).toBe(0o700);
  });

  it('another local user cannot connect (run as nobody where the test runs as root)', async () => {
    if (process.getuid?.() !== 0) return; // needs root to become another user
    const dir = path.join(mkdtempSync(path.join(tmpdir(), 'vdesk-ctl-')), 'run');
    chmodSync(path.dirname(dir), 0o755);
    const srv = new ControlServer('m', async () => ({ secret: 1 }), log, dir);
    await srv.start();
    cleanup.push(() => srv.close());
    const r = spawnSync(
      process.execPath,
      [
        '-e',
        `const c = require('net').createConnection(${JSON.stringify(path.join(dir, 'm.sock'))});
         c.on('connect', () => { console.log('CONNECTED'); process.exit(0); });
         c.on('error', (e) => { console.log(e.code); process.exit(0); });`,
      ],
      { uid: 65534, gid: 65534, encoding: 'utf8' },
    );
    expect(r.stdout.trim()).toBe('EACCES');
  });

  it('replies with the request id even when the result has an "id" field (hotplug)', async () => {
    const dir = path.join(mkdtempSync(path.join(tmpdir(), 'vdesk-ctl-')), 'run');
    const srv = new ControlServer(
      'm',
      async () => ({ id: 'virtio-blk-9', device: 'virtio-blk-9' }),
      log,
      dir,
    );
    await srv.start();
    cleanup.push(() => srv.close());
    const { request } = await import('../src/control/client.js');
    const r = await request(path.join(dir, 'm.sock'), { cmd: 'status' });
    expect(r.id).toBe(1);
    expect(r.device).toBe('virtio-blk-9');
  });

  it('takes package names only for hotplug, and known buttons only for click', () => {
    for (const p of [
      '/tmp/evil.mjs',
      './evil.mjs',
      '../x',
      'file:///etc/x.mjs',
      'data:text/javascript,1',
      'a/../../b',
    ])
      expect(parseRequest(JSON.stringify({ id: 1, cmd: 'hotplug', device: { package: p } }))).toMatch(
        /takes a package name/,
      );
    expect(
      parseRequest(
        JSON.stringify({ id: 1, cmd: 'hotplug', device: { package: '@virtio-desktop/virtio-blk' } }),
      ),
    ).toMatchObject({ cmd: 'hotplug' });
    for (const b of ['__proto__', 'constructor', 'toString'])
      expect(parseRequest(JSON.stringify({ id: 1, cmd: 'click', x: 1, y: 1, button: b }))).toMatch(
        /unknown button/,
      );
  });

  it('honours XDG_RUNTIME_DIR after VDESK_RUNTIME_DIR', () => {
    const saved = { v: process.env.VDESK_RUNTIME_DIR, x: process.env.XDG_RUNTIME_DIR };
    try {
      delete process.env.VDESK_RUNTIME_DIR;
      process.env.XDG_RUNTIME_DIR = '/run/user/1234';
      expect(runtimeDir()).toBe('/run/user/1234/vdesk');
      process.env.VDESK_RUNTIME_DIR = '/elsewhere';
      expect(runtimeDir()).toBe('/elsewhere');
    } finally {
      if (saved.v === undefined) delete process.env.VDESK_RUNTIME_DIR;
      else process.env.VDESK_RUNTIME_DIR = saved.v;
      if (saved.x === undefined) delete process.env.XDG_RUNTIME_DIR;
      else process.env.XDG_RUNTIME_DIR = saved.x;
    }
  });
});

describe('commands: one line for each mistake', () => {
  async function vdesk(...argv: string[]) {
    const out: string[] = [];
    const err: string[] = [];
    const code = await main(argv, { out: (s) => out.push(s), err: (s) => err.push(s) });
    return { code, out: out.join('\n'), err: err.join('\n') };
  }

  it('screenshot to a missing directory', async () => {
    const dir = path.join(mkdtempSync(path.join(tmpdir(), 'vdesk-ctl-')), 'run');
    const png = Buffer.from(
      'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg==',
      'base64',
    );
    const srv = new ControlServer(
      'shot',
      async () => ({ width: 1, height: 1, png: png.toString('base64') }),
      log,
      dir,
    );
    await srv.start();
    cleanup.push(() => srv.close());
    process.env.VDESK_RUNTIME_DIR = dir;
    cleanup.push(() => void delete process.env.VDESK_RUNTIME_DIR);
    const r = await vdesk('screenshot', '/no/such/dir/out.png');
    expect(r.err).toBe('vdesk: cannot write /no/such/dir/out.png: no such directory');
    expect(r.code).toBe(1);
  });

  it('a gesture file is read up to 1 MiB, never whole (/dev/zero)', async () => {
    const r = await vdesk('touch', '/dev/zero');
    expect(r.err).toBe('vdesk: /dev/zero: a gesture file is at most 1024 KiB');
    expect(r.code).toBe(2);
  });

  it('a viewer beyond loopback needs --viewer-expose, and the cert and key go together', async () => {
    const r = await vdesk('run', '--shell', '--viewer-host', '0.0.0.0');
    expect(r.err).toMatch(
      /--viewer-host 0\.0\.0\.0 lets other computers reach the viewer; add --viewer-expose .*SSH tunnel/,
    );
    expect(r.code).toBe(2);
    const t = await vdesk('run', '--shell', '--viewer-cert', '/x.pem');
    expect(t.err).toBe('vdesk: --viewer-cert and --viewer-key go together');
  });

  it('click --button __proto__ is a usage error', async () => {
    const r = await vdesk('click', '--button', '__proto__', '1', '1');
    expect(r.err).toMatch(/unknown button "__proto__" \(left, right, middle, side, extra\)/);
    expect(r.code).toBe(2);
  });

  it('a socket left by a crashed machine is not a running machine', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'vdesk-ctl-'));
    // A socket file nothing listens on: what kill -9 leaves behind.
    spawnSync('python3', [
      '-c',
      `import socket; socket.socket(socket.AF_UNIX).bind(${JSON.stringify(path.join(dir, 'gone.sock'))})`,
    ]);
    expect(statSync(path.join(dir, 'gone.sock')).isSocket()).toBe(true);
    process.env.VDESK_RUNTIME_DIR = dir;
    cleanup.push(() => void delete process.env.VDESK_RUNTIME_DIR);
    const r = await vdesk('status');
    expect(r.err).toBe('vdesk: no running machine found (start one with vdesk run)');
  });
});
