/** The client side of the control socket, used by `vdesk screenshot`, `vdesk key` and friends. */
import { readdirSync } from 'node:fs';
import { createConnection } from 'node:net';
import path from 'node:path';
import { CliError } from '../errors.js';
import { runtimeDir, type ControlReply } from './protocol.js';

/** The socket of the named machine, or of the only one running. */
export function findSocket(name?: string): string {
  const dir = runtimeDir();
  if (name) return path.join(dir, `${name}.sock`);
  let socks: string[] = [];
  try {
    socks = readdirSync(dir).filter((f) => f.endsWith('.sock'));
  } catch {
    // no directory: nothing is running
  }
  if (socks.length === 0) throw new CliError('no running machine found (start one with vdesk run)');
  if (socks.length > 1)
    throw new CliError(
      `several machines are running (${socks.map((s) => s.slice(0, -5)).join(', ')}); choose one with --machine`,
    );
  return path.join(dir, socks[0]);
}

/** Send one request and wait for its reply. */
export function request(
  sock: string,
  req: Record<string, unknown>,
  timeoutMs = 30_000,
): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const c = createConnection(sock);
    let buf = '';
    const timer = setTimeout(() => {
      c.destroy();
      reject(new CliError(`the machine did not answer within ${timeoutMs / 1000} s`));
    }, timeoutMs);
    c.setEncoding('utf8');
    c.on('connect', () => c.write(JSON.stringify({ id: 1, ...req }) + '\n'));
    c.on('data', (d: string) => {
      buf += d;
      const nl = buf.indexOf('\n');
      if (nl < 0) return;
      clearTimeout(timer);
      c.end();
      const r = JSON.parse(buf.slice(0, nl)) as ControlReply;
      if (r.ok) resolve(r);
      else reject(new CliError(r.error));
    });
    c.on('error', (e: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      reject(
        new CliError(
          e.code === 'ENOENT' || e.code === 'ECONNREFUSED' ? `no machine is listening on ${sock}` : e.message,
        ),
      );
    });
  });
}
