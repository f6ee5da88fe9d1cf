/**
 * The control socket of a running machine: `vdesk screenshot`, input scripting, shutdown and hotplug
 * talk to it. Each connection sends request lines and gets reply lines. A malformed request gets an error
 * reply, a (rate-limited) log line, and the connection is closed.
 *
 * Only the user may connect, from the first instant: the socket lives in a directory that is ours and
 * 0700 (checked, not assumed, when it already exists), and is created under umask 077, so there is no
 * window between listen() and chmod() in which another local user could connect.
 */
import { chmodSync, lstatSync, mkdirSync, unlinkSync } from 'node:fs';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import path from 'node:path';
import type { Logger } from '@virtio-desktop/virtio-core';
import { RateLimitedLog } from '../ratelog.js';
import { MAX_LINE, parseRequest, runtimeDir, type ControlReply, type ControlRequest } from './protocol.js';

/** `signal` aborts when the server closes (the machine stopped): long requests end with it. */
export type Handler = (req: ControlRequest, signal: AbortSignal) => Promise<Record<string, unknown>>;

export class ControlServer {
  private server: Server | null = null;
  private readonly sockets = new Set<Socket>();
  private readonly abort = new AbortController();
  private readonly rlog: RateLimitedLog;
  readonly path: string;

  constructor(
    name: string,
    private readonly handle: Handler,
    private readonly log: Logger,
    dir = runtimeDir(),
  ) {
    this.path = path.join(dir, `${name}.sock`);
    this.rlog = new RateLimitedLog(log);
  }

  /** Listen; fails with a clear message when a live machine already holds the name. */
  async start(): Promise<void> {
    privateDir(path.dirname(this.path));
    try {
      if (lstatSync(this.path)) {
        if (await isLive(this.path))
          throw new Error(
            `a machine is already running with control socket ${this.path}; give this one another name`,
          );
        unlinkSync(this.path); // left by a machine that crashed
      }
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    }
    const server = createServer((s) => this.connection(s));
    server.on('error', (e) => this.log.warn(`control: ${e.message}`));
    const old = process.umask(0o077);
    try {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(this.path, () => {
          server.off('error', reject);
          resolve();
        });
      });
    } finally {
      process.umask(old);
    }
    chmodSync(this.path, 0o600);
    this.server = server;
  }

  /** Stop listening, end every connection and abort the requests still running. */
  async close(): Promise<void> {
    this.abort.abort(new Error('the machine stopped'));
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((r) => (this.server ? this.server.close(() => r()) : r()));
    try {
      unlinkSync(this.path);
    } catch {
      // already gone
    }
  }

  private connection(s: Socket): void {
    this.sockets.add(s);
    s.on('close', () => this.sockets.delete(s));
    // A client that resets the connection must never take the machine down with an unhandled 'error'.
    s.on('error', () => {});
    let buf = '';
    s.setEncoding('utf8');
    const send = (r: ControlReply): void => {
      if (!s.destroyed) s.write(JSON.stringify(r) + '\n');
    };
    s.on('data', (chunk: string) => {
      buf += chunk;
      if (buf.length > MAX_LINE && !buf.includes('\n')) {
        this.rlog.warn('control: closing a connection: request too long');
        send({ id: -1, ok: false, error: `request too long (at most ${MAX_LINE} bytes)` });
        buf = '';
        s.end();
        return;
      }
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        const req = parseRequest(line);
        if (typeof req === 'string') {
          this.rlog.warn(`control: closing a connection: ${req}`);
          send({ id: -1, ok: false, error: req });
          buf = '';
          s.end();
          return;
        }
        this.handle(req, this.abort.signal).then(
          // The request's id last: a result field named "id" must not replace it.
          (res) => send({ ...res, id: req.id, ok: true }),
          (e: unknown) => send({ id: req.id, ok: false, error: e instanceof Error ? e.message : String(e) }),
        );
      }
    });
  }
}

/**
 * Create `dir` 0700, or check that an existing one is a directory of ours that no one else can write
 * (a world-writable one would let another user plant or replace sockets); loose read bits are tightened.
 */
export function privateDir(dir: string): void {
  mkdirSync(path.dirname(dir), { recursive: true });
  try {
    mkdirSync(dir, { mode: 0o700 });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
  }
  const st = lstatSync(dir);
  const uid = process.getuid?.();
  if (!st.isDirectory()) throw new Error(`runtime directory ${dir} is not a directory (a symlink?)`);
  if (uid !== undefined && st.uid !== uid)
    throw new Error(`runtime directory ${dir} belongs to uid ${st.uid}, not to you (uid ${uid}); remove it`);
  if ((st.mode & 0o022) !== 0)
    throw new Error(
      `runtime directory ${dir} is writable by others (mode ${(st.mode & 0o777).toString(8)}); ` +
        `remove it or chmod 700 it`,
    );
  if ((st.mode & 0o077) !== 0) chmodSync(dir, 0o700);
}

export function isLive(p: string, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const c = createConnection(p);
    const t = setTimeout(() => {
      c.destroy();
      resolve(true); // slow to accept: busy, not dead
    }, timeoutMs);
    c.once('connect', () => {
      clearTimeout(t);
      c.end();
      resolve(true);
    });
    c.once('error', () => {
      clearTimeout(t);
      resolve(false);
    });
  });
}
