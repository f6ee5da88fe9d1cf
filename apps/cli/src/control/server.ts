/**
 * The control socket of a running machine: `vdesk screenshot`, input scripting, shutdown and hotplug
 * talk to it. A Unix socket readable only by the user; each connection sends request lines and gets
 * reply lines. A malformed request gets an error reply, a log line, and the connection is closed.
 */
import { chmodSync, existsSync, mkdirSync, unlinkSync } from 'node:fs';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import path from 'node:path';
import type { Logger } from '@virtio-desktop/virtio-core';
import { MAX_LINE, parseRequest, runtimeDir, type ControlReply, type ControlRequest } from './protocol.js';

export type Handler = (req: ControlRequest) => Promise<Record<string, unknown>>;

export class ControlServer {
  private server: Server | null = null;
  readonly path: string;

  constructor(
    name: string,
    private readonly handle: Handler,
    private readonly log: Logger,
  ) {
    this.path = path.join(runtimeDir(), `${name}.sock`);
  }

  /** Listen; fails with a clear message when a live machine already holds the name. */
  async start(): Promise<void> {
    mkdirSync(path.dirname(this.path), { recursive: true, mode: 0o700 });
    if (existsSync(this.path)) {
      if (await isLive(this.path))
        throw new Error(
          `a machine is already running with control socket ${this.path}; give this one another name`,
        );
      unlinkSync(this.path);
    }
    const server = createServer((s) => this.connection(s));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.path, () => resolve());
    });
    chmodSync(this.path, 0o600);
    this.server = server;
  }

  async close(): Promise<void> {
    await new Promise<void>((r) => (this.server ? this.server.close(() => r()) : r()));
    try {
      unlinkSync(this.path);
    } catch {
      // already gone
    }
  }

  private connection(s: Socket): void {
    let buf = '';
    s.setEncoding('utf8');
    const send = (r: ControlReply): void => void s.write(JSON.stringify(r) + '\n');
    s.on('data', (chunk: string) => {
      buf += chunk;
      if (buf.length > MAX_LINE && !buf.includes('\n')) {
        this.log.warn('control: closing a connection: request too long');
        send({ id: -1, ok: false, error: 'request too long' });
        s.end();
        return;
      }
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        const req = parseRequest(line);
        if (typeof req === 'string') {
          this.log.warn(`control: closing a connection: ${req}`);
          send({ id: -1, ok: false, error: req });
          s.end();
          return;
        }
        this.handle(req).then(
          (res) => send({ id: req.id, ok: true, ...res }),
          (e: unknown) => send({ id: req.id, ok: false, error: e instanceof Error ? e.message : String(e) }),
        );
      }
    });
    s.on('error', () => {});
  }
}

function isLive(p: string): Promise<boolean> {
  return new Promise((resolve) => {
    const c = createConnection(p);
    c.once('connect', () => {
      c.end();
      resolve(true);
    });
    c.once('error', () => resolve(false));
  });
}
