/**
 * The viewer: a local web page that draws the guest's screen on a canvas from damage updates over a
 * WebSocket, and sends keyboard, pointer, wheel, touch and window-size events back. Loopback only by
 * default; a random token in the printed URL is checked on the page and on the WebSocket.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { deflateRawSync } from 'node:zlib';
import type { Logger } from '@virtio-desktop/virtio-core';
import { WebSocketServer, type WebSocket } from 'ws';
import type { DisplaySource, InputSink, Rect } from './display.js';
import {
  Encoding,
  encodeCursor,
  encodeMove,
  encodeRect,
  encodeResize,
  parseClientMessage,
} from './protocol.js';
import { viewerPage } from './page.js';

export interface ViewerOptions {
  display: DisplaySource;
  input?: InputSink;
  log: Logger;
  host?: string;
  port?: number;
  /** Fixed token (tests); random otherwise. */
  token?: string;
  /** Minimum milliseconds between frames sent to one client. */
  frameIntervalMs?: number;
}

export interface ViewerStats {
  framesSent: number;
  bytesSent: number;
  rawBytes: number;
}

const MAX_BUFFERED = 8 * 1024 * 1024;
const MIN_SIZE = { w: 320, h: 200 };
const MAX_SIZE = { w: 7680, h: 4320 };

/** Where the browser client bundle lives (built by tsup next to this module). */
function clientBundlePath(): string {
  return path.join(path.dirname(fileURLToPath(import.meta.url)), 'viewer-client.global.js');
}

export class Viewer {
  readonly token: string;
  readonly stats: ViewerStats = { framesSent: 0, bytesSent: 0, rawBytes: 0 };
  private server: Server | null = null;
  private wss: WebSocketServer | null = null;
  private readonly clients = new Set<Client>();
  private readonly unsub: (() => void)[] = [];

  constructor(private readonly o: ViewerOptions) {
    this.token = o.token ?? randomBytes(16).toString('hex');
  }

  /** Start listening; resolves with the URL to open. */
  async start(): Promise<string> {
    const server = createServer((req, res) => void this.http(req, res));
    const wss = new WebSocketServer({ noServer: true, maxPayload: 64 * 1024 });
    server.on('upgrade', (req, socket, head) => {
      if (!this.authorised(req, true)) {
        this.o.log.warn(`viewer: refused a WebSocket from ${req.socket.remoteAddress}: bad token or origin`);
        socket.end('HTTP/1.1 403 Forbidden\r\n\r\n');
        return;
      }
      wss.handleUpgrade(req, socket, head, (ws) => this.connect(ws));
    });
    this.server = server;
    this.wss = wss;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.o.port ?? 0, this.o.host ?? '127.0.0.1', () => resolve());
    });
    const d = this.o.display;
    this.unsub.push(
      d.onResize((w, h) => this.clients.forEach((c) => c.resized(w, h))),
      d.onDamage((r) => this.clients.forEach((c) => c.damage(r))),
      d.onCursor((img) =>
        this.clients.forEach((c) =>
          c.send(
            img
              ? encodeCursor(img.hotX, img.hotY, img.width, img.height, img.rgba)
              : encodeCursor(0, 0, 0, 0, new Uint8Array(0)),
          ),
        ),
      ),
      d.onCursorMove((x, y, v) => this.clients.forEach((c) => c.send(encodeMove(x, y, v)))),
    );
    return this.url;
  }

  get url(): string {
    const a = this.server?.address() as AddressInfo | null;
    const host = a ? (a.family === 'IPv6' ? `[${a.address}]` : a.address) : 'localhost';
    return `http://${host}:${a?.port ?? 0}/?token=${this.token}`;
  }

  get connections(): number {
    return this.clients.size;
  }

  async close(): Promise<void> {
    this.unsub.forEach((u) => u());
    for (const c of this.clients) c.close(1001, 'machine stopped');
    this.wss?.close();
    await new Promise<void>((r) => (this.server ? this.server.close(() => r()) : r()));
  }

  private tokenOk(given: string | null): boolean {
    if (!given) return false;
    const a = Buffer.from(given);
    const b = Buffer.from(this.token);
    return a.length === b.length && timingSafeEqual(a, b);
  }

  private authorised(req: IncomingMessage, websocket: boolean): boolean {
    const url = new URL(req.url ?? '/', 'http://x');
    if (!this.tokenOk(url.searchParams.get('token'))) return false;
    if (websocket) {
      // A page from another site must not drive the machine even if it learned the token.
      const origin = req.headers.origin;
      const host = req.headers.host;
      if (origin && host && origin !== `http://${host}`) return false;
    }
    return true;
  }

  private async http(req: IncomingMessage, res: import('node:http').ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://x');
    const headers = { 'cache-control': 'no-store', 'x-content-type-options': 'nosniff' };
    if (req.method !== 'GET') {
      res.writeHead(405, headers).end();
      return;
    }
    if (!this.authorised(req, false)) {
      this.o.log.warn(`viewer: refused ${url.pathname} from ${req.socket.remoteAddress}: bad token`);
      res
        .writeHead(403, { ...headers, 'content-type': 'text/plain' })
        .end('forbidden: open the URL vdesk printed\n');
      return;
    }
    if (url.pathname === '/') {
      res
        .writeHead(200, {
          ...headers,
          'content-type': 'text/html; charset=utf-8',
          'content-security-policy':
            "default-src 'self'; connect-src 'self' ws: ; style-src 'unsafe-inline'; img-src blob: data:",
        })
        .end(viewerPage(this.token));
      return;
    }
    if (url.pathname === '/viewer.js') {
      try {
        const js = await readFile(clientBundlePath());
        res.writeHead(200, { ...headers, 'content-type': 'text/javascript' }).end(js);
      } catch {
        res.writeHead(500, headers).end('viewer client not built (pnpm build)');
      }
      return;
    }
    res.writeHead(404, headers).end();
  }

  private connect(ws: WebSocket): void {
    const c = new Client(ws, this.o, this.stats);
    this.clients.add(c);
    ws.on('close', () => {
      this.clients.delete(c);
      c.dispose();
    });
    c.start();
  }
}

/** One connected page: its pending damage and its frame pacing. */
class Client {
  private pending: Rect | null = null;
  private timer: NodeJS.Timeout | null = null;
  private resizeTimer: NodeJS.Timeout | null = null;

  constructor(
    private readonly ws: WebSocket,
    private readonly o: ViewerOptions,
    private readonly stats: ViewerStats,
  ) {}

  start(): void {
    this.ws.on('message', (data, isBinary) => this.message(data, isBinary));
    const s = this.o.display.size();
    if (s) this.resized(s.width, s.height);
  }

  send(b: Uint8Array): void {
    if (this.ws.readyState !== this.ws.OPEN) return;
    this.stats.bytesSent += b.length;
    this.ws.send(b);
  }

  close(code: number, reason: string): void {
    this.ws.close(code, reason);
  }

  dispose(): void {
    if (this.timer) clearTimeout(this.timer);
    if (this.resizeTimer) clearTimeout(this.resizeTimer);
  }

  resized(w: number, h: number): void {
    this.send(encodeResize(w, h));
    this.pending = null;
    this.damage({ x: 0, y: 0, width: w, height: h });
  }

  damage(r: Rect): void {
    const p = this.pending;
    if (!p) this.pending = { ...r };
    else {
      const x0 = Math.min(p.x, r.x);
      const y0 = Math.min(p.y, r.y);
      const x1 = Math.max(p.x + p.width, r.x + r.width);
      const y1 = Math.max(p.y + p.height, r.y + r.height);
      this.pending = { x: x0, y: y0, width: x1 - x0, height: y1 - y0 };
    }
    if (!this.timer) this.timer = setTimeout(() => this.flush(), this.o.frameIntervalMs ?? 16);
  }

  private flush(): void {
    this.timer = null;
    const r = this.pending;
    const s = this.o.display.size();
    if (!r || !s) return;
    // A slow client gets fewer, larger updates instead of an ever-growing queue.
    if (this.ws.bufferedAmount > MAX_BUFFERED) {
      this.timer = setTimeout(() => this.flush(), 50);
      return;
    }
    this.pending = null;
    const x = Math.max(0, r.x);
    const y = Math.max(0, r.y);
    const w = Math.min(s.width, r.x + r.width) - x;
    const h = Math.min(s.height, r.y + r.height) - y;
    if (w <= 0 || h <= 0) return;
    const raw = this.o.display.readRGBA({ x, y, width: w, height: h });
    let payload = raw;
    let enc: number = Encoding.Raw;
    if (raw.length > 4096) {
      const z = deflateRawSync(raw, { level: 1 });
      if (z.length < raw.length * 0.8) {
        payload = z;
        enc = Encoding.Deflate;
      }
    }
    this.stats.framesSent++;
    this.stats.rawBytes += raw.length;
    this.send(encodeRect(x, y, w, h, enc, payload));
  }

  private message(data: unknown, isBinary: boolean): void {
    const text = isBinary ? null : String(data);
    const m = text === null ? 'binary message' : parseClientMessage(text);
    if (typeof m === 'string') {
      this.o.log.warn(`viewer: closing a connection: ${m}`);
      this.ws.close(1008, 'malformed message');
      return;
    }
    const input = this.o.input;
    switch (m.t) {
      case 'key':
        if (input && !input.key(m.code, m.down)) this.o.log.debug(`viewer: unknown key code ${m.code}`);
        return;
      case 'pointer':
        input?.pointer(clamp01(m.x), clamp01(m.y), m.buttons);
        return;
      case 'wheel':
        input?.wheel(Math.max(-100, Math.min(100, m.dx)), Math.max(-100, Math.min(100, m.dy)));
        return;
      case 'touch':
        input?.touch(m.contacts.map((c) => ({ id: c.id, x: clamp01(c.x), y: clamp01(c.y) })));
        return;
      case 'resize': {
        // A dragged window sends many sizes; the guest needs only the last one.
        const w = Math.max(MIN_SIZE.w, Math.min(MAX_SIZE.w, m.width)) & ~7;
        const h = Math.max(MIN_SIZE.h, Math.min(MAX_SIZE.h, m.height));
        if (this.resizeTimer) clearTimeout(this.resizeTimer);
        this.resizeTimer = setTimeout(() => {
          this.resizeTimer = null;
          this.o.display.requestSize(w, h);
        }, 150);
        return;
      }
    }
  }
}

function clamp01(v: number): number {
  return v < 0 ? 0 : v > 1 ? 1 : v;
}
