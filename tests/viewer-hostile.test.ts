/**
 * Issue 16, items 1 and 2: no client of the viewer or the control socket can crash the machine. Against a
 * live `vdesk run`: a loop of pre-auth WebSocket upgrades and HTTP requests reset by the client (TCP RST),
 * then a matrix of malformed WebSocket frames from a client holding the token, then resets on the control
 * socket; the machine answers `vdesk status` after each, and its log is rate-limited.
 */
import { connect, type Socket } from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DESKTOP_DEVICES, cli, idleSetup, startIdle, type IdleMachine } from './idle-machine.js';

let m: IdleMachine;
let env: Record<string, string>;
let url: URL;

beforeAll(async () => {
  const s = idleSetup('hostile', DESKTOP_DEVICES);
  env = { VDESK_RUNTIME_DIR: path.join(s.dir, 'run') };
  m = await startIdle(s.manifest, env);
  url = new URL(m.url);
});

afterAll(async () => {
  if (!m) return;
  await cli(['shutdown'], env);
  await m.exited;
});

const alive = async (): Promise<void> => {
  expect(m.p.exitCode).toBeNull();
  const r = await cli(['status'], env);
  expect(r.err).toBe('');
  expect(r.code).toBe(0);
  expect(JSON.parse(r.out).name).toBe('hostile');
};

function open(): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect(Number(url.port), url.hostname, () => resolve(s));
    s.on('error', reject);
  });
}

/** Open a raw WebSocket with the token: the handshake, then the socket to write frames on. */
async function handshake(): Promise<Socket> {
  const s = await open();
  s.write(
    `GET /ws?token=${url.searchParams.get('token')} HTTP/1.1\r\nHost: ${url.host}\r\nUpgrade: websocket\r\n` +
      `Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n`,
  );
  await new Promise<void>((resolve, reject) => {
    let head = '';
    const onData = (d: Buffer): void => {
      head += d.toString('latin1');
      if (head.includes('\r\n\r\n')) {
        s.off('data', onData);
        if (head.startsWith('HTTP/1.1 101')) resolve();
        else reject(new Error(head));
      }
    };
    s.on('data', onData);
  });
  return s;
}

const MASK = [0x12, 0x34, 0x56, 0x78];
/** A frame: first byte (FIN, RSV, opcode), payload, masked unless told; `len` overrides the length. */
function frame(b0: number, payload: number[] | Uint8Array, o: { mask?: boolean; len?: bigint } = {}): Buffer {
  const p = Uint8Array.from(payload);
  const masked = o.mask ?? true;
  const len = o.len ?? BigInt(p.length);
  const head: number[] = [b0];
  const m = masked ? 0x80 : 0;
  if (len < 126n) head.push(m | Number(len));
  else if (len < 65536n) head.push(m | 126, Number(len >> 8n), Number(len & 255n));
  else {
    head.push(m | 127);
    for (let i = 7; i >= 0; i--) head.push(Number((len >> BigInt(8 * i)) & 255n));
  }
  if (masked) head.push(...MASK);
  const body = masked ? p.map((v, i) => v ^ MASK[i % 4]) : p;
  return Buffer.concat([Buffer.from(head), Buffer.from(body)]);
}
const text = (s: string): number[] => [...Buffer.from(s)];

const CASES: [string, Buffer[]][] = [
  ['unmasked frame', [frame(0x81, text('{"t":"wheel","dx":0,"dy":1}'), { mask: false })]],
  ['RSV1 without an extension', [frame(0xc1, text('{}'))]],
  ['RSV2', [frame(0xa1, text('{}'))]],
  ['RSV3', [frame(0x91, text('{}'))]],
  ['reserved data opcode 3', [frame(0x83, [1])]],
  ['reserved data opcode 7', [frame(0x87, [1])]],
  ['reserved control opcode 0xB', [frame(0x8b, [])]],
  ['reserved control opcode 0xF', [frame(0x8f, [])]],
  ['length 2^62', [frame(0x82, [], { len: 1n << 62n })]],
  ['length with the top bit set', [frame(0x82, [], { len: 1n << 63n })]],
  ['a message over maxPayload', [frame(0x81, [], { len: 64n * 1024n + 1n })]],
  [
    'fragments adding up past maxPayload',
    [frame(0x01, new Uint8Array(40_000).fill(32)), frame(0x80, new Uint8Array(40_000).fill(32))],
  ],
  ['a continuation with nothing to continue', [frame(0x80, text('x'))]],
  ['a new message inside a fragmented one', [frame(0x01, text('{')), frame(0x81, text('{}'))]],
  ['a fragmented ping', [frame(0x09, [])]],
  ['a ping of 126 bytes', [frame(0x89, new Uint8Array(126))]],
  ['invalid UTF-8 text', [frame(0x81, [0xff, 0xfe, 0xfd])]],
  ['close code 999', [frame(0x88, [0x03, 0xe7])]],
  ['close code 1005 on the wire', [frame(0x88, [0x03, 0xed])]],
  ['a close frame of one byte', [frame(0x88, [0x03])]],
  ['a close reason in invalid UTF-8', [frame(0x88, [0x03, 0xe8, 0xc3, 0x28])]],
  ['a binary message', [frame(0x82, [1, 2, 3])]],
  ['a JSON message that is not one', [frame(0x81, text('{"t":"launch","x":1}'))]],
  ['garbage bytes', [Buffer.from('GET / HTTP/1.1\r\n\r\n\x00\xff\xfe')]],
];

describe('a live viewer and control socket against hostile clients', () => {
  it('survives 300 pre-auth connections reset by the client (WebSocket upgrades and page requests)', async () => {
    const bad = [
      `GET /ws?token=nope HTTP/1.1\r\nHost: ${url.host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
        `Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n`,
      `GET /?token=nope HTTP/1.1\r\nHost: ${url.host}\r\n\r\n`,
      `GET /ws?token=${url.searchParams.get('token')} HTTP/1.1\r\nHost: evil.example:${url.port}\r\n` +
        `Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n` +
        `Sec-WebSocket-Version: 13\r\n\r\n`,
    ];
    for (let i = 0; i < 300; i++) {
      const s = await open();
      s.on('error', () => {});
      s.write(bad[i % bad.length]);
      // Reset at once, or once the refusal has started to arrive: both orders have crashed it before.
      if (i % 2) await new Promise((r) => s.once('data', r));
      s.resetAndDestroy();
    }
    await new Promise((r) => setTimeout(r, 200));
    await alive();
    // Refusals are logged, but not one line each.
    const refusals = m
      .err()
      .split('\n')
      .filter((l) => l.includes('viewer: refused')).length;
    expect(refusals).toBeGreaterThan(0);
    expect(refusals).toBeLessThanOrEqual(10);
  });

  for (const [name, frames] of CASES) {
    it(`closes a connection that sends ${name}, and keeps running`, async () => {
      const s = await handshake();
      s.on('error', () => {});
      const closed = new Promise<void>((r) => s.on('close', () => r()));
      for (const f of frames) s.write(f);
      await Promise.race([closed, new Promise((r) => setTimeout(r, 3000))]);
      expect(s.destroyed || s.readableEnded).toBe(true);
      s.destroy();
      await alive();
    });
  }

  it('survives malformed frames followed at once by a reset', async () => {
    for (const [, frames] of CASES) {
      const s = await handshake();
      s.on('error', () => {});
      for (const f of frames) s.write(f);
      s.resetAndDestroy();
    }
    await new Promise((r) => setTimeout(r, 200));
    await alive();
  });

  it('still serves a well-behaved viewer afterwards', async () => {
    const s = await handshake();
    s.write(frame(0x81, text(JSON.stringify({ t: 'key', code: 'KeyA', down: true }))));
    s.write(frame(0x81, text(JSON.stringify({ t: 'key', code: 'KeyA', down: false }))));
    s.write(frame(0x88, [0x03, 0xe8]));
    // A normal close: the server answers with its own close frame (0x88) and ends the connection.
    const reply = await new Promise<Buffer>((r) => s.once('data', r));
    expect(reply[0]).toBe(0x88);
    s.destroy();
    await alive();
  });

  it('survives control-socket clients that reset, send garbage or a 2 MB line', async () => {
    const sock = path.join(env.VDESK_RUNTIME_DIR, 'hostile.sock');
    const payloads = ['{"id":1,"cmd":"status"}\n', 'garbage\n', 'x'.repeat(2 * 1024 * 1024), '{"id":1,'];
    for (let i = 0; i < 100; i++) {
      const s = await new Promise<Socket>((resolve, reject) => {
        const c = connect(sock, () => resolve(c));
        c.on('error', reject);
      });
      s.on('error', () => {});
      s.write(payloads[i % payloads.length]);
      if (i % 3 === 0) await new Promise((r) => setTimeout(r, 2));
      s.destroy(); // (a Unix socket has no RST: an abrupt close)
    }
    await alive();
  });
});
