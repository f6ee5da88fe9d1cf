/** The client side of the control socket, used by `vdesk screenshot`, `vdesk key` and friends. */
import { readdirSync, unlinkSync } from 'node:fs';
import { createConnection } from 'node:net';
import path from 'node:path';
import { CliError } from '../errors.js';
import { runtimeDir, type ControlReply } from './protocol.js';
import { isLive } from './server.js';

/**
 * The socket of the named machine, or of the only one running. Sockets left by machines that crashed
 * (nothing listens) are removed on the way, so they are never reported or chosen.
 */
export async function findSocket(name?: string): Promise<string> {
  const dir = runtimeDir();
  if (name) return path.join(dir, `${name}.sock`);
  let socks: string[] = [];
  try {
    socks = readdirSync(dir).filter((f) => f.endsWith('.sock'));
  } catch {
    // no directory: nothing is running
  }
  const live: string[] = [];
  for (const s of socks) {
    const p = path.join(dir, s);
    if (await isLive(p)) live.push(s);
    else {
      try {
        unlinkSync(p);
      } catch {
        // another client cleaned it first
      }
    }
  }
  if (live.length === 0) throw new CliError('no running machine found (start one with vdesk run)');
  if (live.length > 1)
    throw new CliError(
      `several machines are running (${live.map((s) => s.slice(0, -5)).join(', ')}); choose one with --machine`,
    );
  return path.join(dir, live[0]);
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
      reject(new CliError(`the machine did not answer within ${Math.round(timeoutMs / 1000)} s`));
    }, timeoutMs);
    c.setEncoding('utf8');
    c.on('connect', () => c.write(JSON.stringify({ ...req, id: 1 }) + '\n'));
    c.on('data', (d: string) => {
      buf += d;
      const nl = buf.indexOf('\n');
      if (nl < 0) return;
      clearTimeout(timer);
      c.end();
      let r: ControlReply;
      try {
        r = JSON.parse(buf.slice(0, nl)) as ControlReply;
      } catch {
        reject(new CliError(`the machine sent a reply that is not JSON`));
        return;
      }
      if (r.ok) resolve(r);
      else reject(new CliError(r.error));
    });
    c.on('close', () => {
      clearTimeout(timer);
      reject(new CliError('the machine closed the connection without answering (it stopped?)'));
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
