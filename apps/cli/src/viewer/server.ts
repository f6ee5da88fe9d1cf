/**
 * The viewer: a local web page that draws the guest's screen on a canvas from damage updates over a
 * WebSocket, and sends keyboard, pointer, wheel, touch and window-size events back. Loopback only by
 * default; a random token in the printed URL is checked on the page and on the WebSocket.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import { hostname, networkInterfaces } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Logger } from '@virtio-desktop/virtio-core';
import { WebSocketServer, type WebSocket } from 'ws';
import type { ClipboardSource } from '@virtio-desktop/viewer';
import type { DisplaySource, InputSink, Rect } from './display.js';
import { FrameEncoder } from './encoder.js';
import {
  encodeClipboard,
  encodeCursor,
  encodeMove,
  encodeRect,
  encodeResize,
  parseClientMessage,
} from './protocol.js';
import { viewerPage } from './page.js';
import { InputDispatcher } from '@virtio-desktop/viewer';
import { RateLimitedLog } from '../ratelog.js';

export interface ViewerOptions {
  display: DisplaySource;
  input?: InputSink;
  /** The guest's clipboard (the virtio-console clipboard channel), shared with every page. */
  clipboard?: ClipboardSource;
  log: Logger;
  host?: string;
  port?: number;
  /** Fixed token (tests); random otherwise. */
  token?: string;
  /** Minimum milliseconds between frames sent to one client. */
  frameIntervalMs?: number;
  /** Serve HTTPS (and wss:) with this PEM certificate and key. */
  tls?: { cert: Buffer | string; key: Buffer | string };
  /**
   * Compress frames on this thread instead of the encoder's worker (benchmarks compare the two; the
   * environment's VDESK_VIEWER_ENCODE=main sets it for a whole vdesk).
   */
  encodeOnMainThread?: boolean;
}

export interface ViewerStats {
  framesSent: number;
  bytesSent: number;
  rawBytes: number;
  /** Rectangles read and compressed: one per screen update however many viewers watch. */
  encodes: number;
  /** Viewers disconnected because they could not keep up. */
  slowClosed: number;
}

/**
 * Past this many bytes queued for one client, updates of every kind (screen, cursor image, cursor moves,
 * mode changes) wait and are coalesced: only the latest of each is kept.
 */
export const MAX_BUFFERED = 8 * 1024 * 1024;
/** A client whose queue still grows past this (it reads nothing at all) is disconnected. */
export const MAX_QUEUED = 4 * MAX_BUFFERED;
/** Frames one page may have in compression at once. */
const MAX_IN_FLIGHT = 2;
const LOOPBACK = new Set(['127.0.0.1', '::1', 'localhost']);

/** Where the browser client bundle lives (built by tsup next to this module). */
function clientBundlePath(): string {
  return path.join(path.dirname(fileURLToPath(import.meta.url)), 'viewer-client.global.js');
}

export class Viewer {
  readonly token: string;
  readonly stats: ViewerStats = { framesSent: 0, bytesSent: 0, rawBytes: 0, encodes: 0, slowClosed: 0 };
  private server: Server | null = null;
  private wss: WebSocketServer | null = null;
  private readonly clients = new Set<Client>();
  private readonly unsub: (() => void)[] = [];
  private readonly sockets = new Set<Socket>();
  /** Log lines about clients, rate-limited: a client looping on refusals must not flood the log. */
  readonly rlog: RateLimitedLog;
  /** Bumped on every screen change: an encoded rectangle is reusable while it stays the same. */
  private generation = 0;
  private lastEncoded: { key: string; msg: Promise<Uint8Array | null> } | null = null;
  private readonly encoder: FrameEncoder;

  constructor(private readonly o: ViewerOptions) {
    this.token = o.token ?? randomBytes(16).toString('hex');
    this.rlog = new RateLimitedLog(o.log);
    this.encoder = new FrameEncoder(!(o.encodeOnMainThread ?? process.env.VDESK_VIEWER_ENCODE === 'main'));
  }

  /** Start listening; resolves with the URL to open. */
  async start(): Promise<string> {
    const onRequest = (req: IncomingMessage, res: ServerResponse): void => void this.http(req, res);
    const server = this.o.tls
      ? createHttpsServer({ cert: this.o.tls.cert, key: this.o.tls.key }, onRequest)
      : createServer(onRequest);
    // Client messages are small JSON; ws checks framing (masking, RSV bits, opcodes, lengths, UTF-8,
    // close codes) and reports a violation as an 'error' on that WebSocket, which closes it.
    const wss = new WebSocketServer({ noServer: true, maxPayload: 64 * 1024 });
    server.on('connection', (s: Socket) => {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
    });
    server.on('upgrade', (req: IncomingMessage, socket: Socket, head: Buffer) => {
      // Node's HTTP server stops watching a socket once it is upgraded: without this, a client that
      // resets the connection (ECONNRESET) would be an unhandled 'error' and end the process.
      socket.on('error', () => {});
      const why = this.refusal(req, true);
      if (why) {
        this.rlog.warn(`viewer: refused a WebSocket from ${req.socket.remoteAddress}: ${why}`);
        socket.end('HTTP/1.1 403 Forbidden\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
        socket.setTimeout(5000, () => socket.destroy());
        return;
      }
      wss.handleUpgrade(req, socket, head, (ws) => this.connect(ws));
    });
    server.on('clientError', (_e: Error, socket: Socket) => {
      if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
      socket.destroy();
    });
    this.server = server;
    this.wss = wss;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.o.port ?? 0, this.o.host ?? '127.0.0.1', () => resolve());
    });
    const d = this.o.display;
    this.unsub.push(
      d.onResize((w, h) => {
        this.generation++;
        this.clients.forEach((c) => c.resized(w, h));
      }),
      d.onDamage((r) => {
        this.generation++;
        this.clients.forEach((c) => c.damage(r));
      }),
      d.onCursor((img) => {
        // Encoded once for every client.
        const msg = img
          ? encodeCursor(img.hotX, img.hotY, img.width, img.height, img.rgba)
          : encodeCursor(0, 0, 0, 0, new Uint8Array(0));
        this.clients.forEach((c) => c.update('cursor', msg));
      }),
      d.onCursorMove((x, y, v) => {
        const msg = encodeMove(x, y, v);
        this.clients.forEach((c) => c.update('move', msg));
      }),
    );
    if (this.o.clipboard)
      this.unsub.push(
        this.o.clipboard.onText((text) => {
          const msg = encodeClipboard(text);
          this.clients.forEach((c) => c.clipboard(msg));
        }),
      );
    return this.url;
  }

  get url(): string {
    const a = this.server?.address() as AddressInfo | null;
    let host = a ? (a.family === 'IPv6' ? `[${a.address}]` : a.address) : 'localhost';
    // Bound to every address: the URL others can open names this computer.
    if (a && (a.address === '0.0.0.0' || a.address === '::')) host = hostname();
    return `${this.o.tls ? 'https' : 'http'}://${host}:${a?.port ?? 0}/?token=${this.token}`;
  }

  /**
   * The screen's rectangle as a RECT message, deflated (on the encoder's worker) when that pays. The
   * pixels are read now; the message comes when compressed, null if that failed (repaint it). Every
   * client flushing the same rectangle of the same screen gets the same bytes: one read and one deflate
   * per update, not per viewer.
   */
  encode(x: number, y: number, w: number, h: number): Promise<Uint8Array | null> {
    const key = `${this.generation}:${x},${y},${w},${h}`;
    if (this.lastEncoded?.key === key) return this.lastEncoded.msg;
    this.stats.encodes++;
    // The guest's own screen, or a shared RGBA mirror of it, is read by the encoder's worker (which
    // converts the former itself); otherwise the pixels are copied out here.
    const d = this.o.display;
    const scanout = d.sharedScanout?.();
    const screen = scanout ? null : d.sharedRGBA?.();
    const encoded = scanout
      ? this.encoder.encodeScanout({ screen: scanout, x, y, w, h })
      : screen
        ? this.encoder.encodeShared({ screen: screen.buffer, width: screen.width, x, y, w, h })
        : this.encoder.encode(d.readRGBA({ x, y, width: w, height: h }));
    const msg = encoded.then((e) => (e ? encodeRect(x, y, w, h, e.encoding, e.payload) : null));
    this.lastEncoded = { key, msg };
    return msg;
  }

  get connections(): number {
    return this.clients.size;
  }

  async close(): Promise<void> {
    this.unsub.forEach((u) => u());
    this.encoder.close();
    for (const c of this.clients) c.close(1001, 'machine stopped');
    this.wss?.close();
    // Keep-alive page connections and clients that never finish closing must not hold the process.
    setTimeout(() => this.sockets.forEach((s) => s.destroy()), 500).unref();
    await new Promise<void>((r) => (this.server ? this.server.close(() => r()) : r()));
  }

  private tokenOk(given: string | null): boolean {
    if (!given) return false;
    const a = Buffer.from(given);
    const b = Buffer.from(this.token);
    return a.length === b.length && timingSafeEqual(a, b);
  }

  /**
   * The Host header names one of this computer's names or addresses: a DNS name an attacker points at
   * 127.0.0.1 (DNS rebinding) then cannot reach the viewer from a web page even with a leaked token.
   */
  private hostOk(host: string | undefined): boolean {
    if (!host) return false;
    const a = this.server?.address() as AddressInfo | null;
    const m = /^(\[[0-9a-fA-F:.]+\]|[^:[\]]+)(?::(\d+))?$/.exec(host);
    if (!m || !a) return false;
    if (m[2] !== undefined && Number(m[2]) !== a.port) return false;
    const name = m[1].replace(/^\[|\]$/g, '').toLowerCase();
    if (LOOPBACK.has(name)) return true;
    if (this.o.host && name === this.o.host.toLowerCase().replace(/^\[|\]$/g, '')) return true;
    if (a.address !== '0.0.0.0' && a.address !== '::') return name === a.address;
    // Bound to every address: this computer's name or any of its addresses.
    if (name === hostname().toLowerCase()) return true;
    return Object.values(networkInterfaces()).some((l) => l?.some((i) => i.address.toLowerCase() === name));
  }

  /** Why a request is refused, or null when it may go on. */
  private refusal(req: IncomingMessage, websocket: boolean): string | null {
    if (!this.hostOk(req.headers.host)) return `unknown Host ${JSON.stringify(req.headers.host ?? '')}`;
    const url = new URL(req.url ?? '/', 'http://x');
    if (!this.tokenOk(url.searchParams.get('token'))) return 'bad token';
    if (websocket) {
      // A page from another site must not drive the machine even if it learned the token.
      const origin = req.headers.origin;
      const scheme = this.o.tls ? 'https' : 'http';
      if (origin && origin !== `${scheme}://${req.headers.host}`) return 'foreign origin';
    }
    return null;
  }

  private async http(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://x');
    const headers = { 'cache-control': 'no-store', 'x-content-type-options': 'nosniff' };
    if (req.method !== 'GET') {
      res.writeHead(405, headers).end();
      return;
    }
    const why = this.refusal(req, false);
    if (why) {
      this.rlog.warn(`viewer: refused ${url.pathname.slice(0, 64)} from ${req.socket.remoteAddress}: ${why}`);
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
            "default-src 'self'; connect-src 'self' ws: wss: ; style-src 'unsafe-inline'; img-src blob: data:",
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
    const c = new Client(ws, this.o, this.stats, this);
    this.clients.add(c);
    // A bad frame (unmasked, reserved bits or opcodes, a huge or oversized length, invalid UTF-8, a bad
    // close code...) is an 'error' on this WebSocket; ws closes it. Without a listener it would end the
    // process.
    ws.on('error', (e) => this.rlog.warn(`viewer: closing a connection: ${e.message}`));
    ws.on('close', () => {
      this.clients.delete(c);
      c.dispose();
    });
    c.start();
  }
}

/** One connected page: its pending damage, its frame pacing, and what it holds down. */
class Client {
  private pending: Rect | null = null;
  private timer: NodeJS.Timeout | null = null;
  /** Updates held back while the client is behind; only the latest of each kind matters. */
  private readonly deferred = new Map<'resize' | 'cursor' | 'move', Uint8Array>();
  /** What this page sends, applied to the machine; it remembers what the page holds down. */
  private readonly input: InputDispatcher;
  /**
   * Frames being compressed for this page. A second may start while the first is on the encoder's
   * worker (the worker then never waits for this thread to hand it the next one); more wait.
   */
  private inFlight = 0;
  /** The frames in flight are sent in the order they were read. */
  private sent: Promise<void> = Promise.resolve();
  /** When the last frame's compression began (performance.now()). */
  private lastFrameAt = -Infinity;
  /** Bumped on each mode change: a frame compressed for the old mode is dropped. */
  private mode = 0;
  private closed = false;

  constructor(
    private readonly ws: WebSocket,
    private readonly o: ViewerOptions,
    private readonly stats: ViewerStats,
    private readonly viewer: Viewer,
  ) {
    this.input = new InputDispatcher({
      input: o.input,
      ...(o.clipboard ? { clipboard: o.clipboard } : {}),
      display: o.display,
      warn: (line) => viewer.rlog.warn(`viewer: ${line}`),
      debug: (line) => o.log.debug(`viewer: ${line}`),
    });
  }

  start(): void {
    this.ws.on('message', (data, isBinary) => this.message(data, isBinary));
    const s = this.o.display.size();
    if (s) this.resized(s.width, s.height);
  }

  /** Send now, or disconnect a client that has stopped reading altogether. */
  private send(b: Uint8Array): void {
    if (this.ws.readyState !== this.ws.OPEN) return;
    if (this.ws.bufferedAmount + b.length > MAX_QUEUED) {
      this.stats.slowClosed++;
      this.viewer.rlog.warn('viewer: closing a connection: it reads nothing (too slow)');
      this.ws.terminate();
      return;
    }
    this.stats.bytesSent += b.length;
    this.ws.send(b);
  }

  /** A mode, cursor image or cursor move: sent at once unless the client is behind, then coalesced. */
  update(kind: 'resize' | 'cursor' | 'move', msg: Uint8Array): void {
    if (this.deferred.size === 0 && this.ws.bufferedAmount <= MAX_BUFFERED) {
      this.send(msg);
      return;
    }
    this.deferred.delete(kind); // re-insert: the order of kinds follows the order of the latest updates
    this.deferred.set(kind, msg);
    this.schedule(50);
  }

  close(code: number, reason: string): void {
    this.ws.close(code, reason);
  }

  /** The guest's clipboard: sent at once (it is rare and small next to the frames). */
  clipboard(msg: Uint8Array): void {
    this.send(msg);
  }

  dispose(): void {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    // The page went away: its keys, buttons and fingers would stay down in the guest.
    this.input.releaseAll();
  }

  resized(w: number, h: number): void {
    this.mode++;
    this.update('resize', encodeResize(w, h));
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
    this.schedule(this.nextFrameIn());
  }

  /**
   * Frames are paced from the start of the previous one, not from its end: waiting a whole interval
   * after each compression finished capped a full screen at 1 / (interval + compression time), and
   * the first change after a quiet spell went out an interval late.
   */
  private nextFrameIn(): number {
    return Math.max(0, this.lastFrameAt + (this.o.frameIntervalMs ?? 16) - performance.now());
  }

  private schedule(ms: number): void {
    if (!this.timer) this.timer = setTimeout(() => this.flush(), ms);
  }

  private flush(): void {
    this.timer = null;
    // Frames in compression are sent first, in order; past MAX_IN_FLIGHT this damage waits (and grows).
    if (this.inFlight >= MAX_IN_FLIGHT) return;
    // A slow client gets fewer, larger updates instead of an ever-growing queue.
    if (this.ws.bufferedAmount > MAX_BUFFERED) {
      this.schedule(50);
      return;
    }
    for (const msg of this.deferred.values()) this.send(msg);
    this.deferred.clear();
    const r = this.pending;
    const s = this.o.display.size();
    if (!r || !s) return;
    this.pending = null;
    const x = Math.max(0, r.x);
    const y = Math.max(0, r.y);
    const w = Math.min(s.width, r.x + r.width) - x;
    const h = Math.min(s.height, r.y + r.height) - y;
    if (w <= 0 || h <= 0) return;
    const mode = this.mode;
    this.inFlight++;
    this.lastFrameAt = performance.now();
    const encoded = this.viewer.encode(x, y, w, h);
    this.sent = this.sent.then(async () => {
      const msg = await encoded.catch(() => null);
      this.inFlight--;
      if (this.closed) return;
      if (mode !== this.mode) return; // the resize repaints everything
      if (!msg) this.damage({ x, y, width: w, height: h });
      else {
        this.stats.framesSent++;
        this.stats.rawBytes += w * h * 4;
        this.send(msg);
      }
      if (this.pending || this.deferred.size) this.schedule(this.nextFrameIn());
    });
  }

  private message(data: unknown, isBinary: boolean): void {
    const text = isBinary ? null : String(data);
    const m = text === null ? 'binary message' : parseClientMessage(text);
    if (typeof m === 'string') {
      this.viewer.rlog.warn(`viewer: closing a connection: ${m}`);
      this.ws.close(1008, 'malformed message');
      // A hostile client need not answer the close: it does not get to hold the connection open.
      setTimeout(() => this.ws.terminate(), 1000).unref();
      return;
    }
    this.input.apply(m);
  }
}
