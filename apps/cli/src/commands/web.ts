/**
 * `vdesk web`: serves the in-browser machine (apps/web's built site) and the desktop image's kernel and
 * root disk from the cache, with the cross-origin isolation headers the page's shared memory needs, and
 * Range requests so the browser reads the disk lazily.
 */
import { createReadStream, existsSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { CliError, argsError } from '../errors.js';
import { desktopImage, repoRoot } from '../images.js';

export const webHelp = `Usage: vdesk web [options]

Serves the desktop in a web page: the whole machine runs in the browser (apps/web), the kernel and the
root disk come from the desktop image in ~/.cache/virtio-desktop (built with guest/desktop/build.sh
first if needed), the disk read by range as the guest needs it, and the guest's changes kept in the
browser (OPFS) across reloads. Prints the URL to open; Ctrl-C stops serving.

Options:
  --port N        port to listen on (default 8080; 0: any free port)
  --host ADDR     address to listen on (default 127.0.0.1: this computer only)
  --site DIR      the built site (default: apps/web/dist of this checkout)
  --memory SIZE   the machine's RAM (default 1G)
  --cpus N        harts (default 2)
  -h, --help      this text`;

const MIME: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.map': 'application/json',
  '.json': 'application/json',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
};

/** Headers on every answer: cross-origin isolation (SharedArrayBuffer for hart threads), no sniffing. */
const ISOLATION = {
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Embedder-Policy': 'require-corp',
  'Cross-Origin-Resource-Policy': 'same-origin',
  'X-Content-Type-Options': 'nosniff',
} as const;

export interface WebServerOptions {
  /** The built site: index.html, app.js, worker.js... */
  siteDir: string;
  /** Files served under /images/NAME (the only files outside the site that can be read). */
  images: Record<string, string>;
  /** Served as /machine.json. */
  config: unknown;
  host?: string;
  port?: number;
  log?: (line: string) => void;
}

export interface WebServer {
  url: string;
  server: Server;
  close(): Promise<void>;
}

/** A Range header for a file of `size` bytes: one range, or why it is refused (400 or 416). */
export function parseRange(
  header: string,
  size: number,
): { start: number; end: number } | { status: 400 | 416; why: string } {
  const m = /^bytes=(\d{0,16})-(\d{0,16})$/.exec(header.trim());
  if (!m || (m[1] === '' && m[2] === ''))
    return { status: 400, why: 'one range of bytes=START-END is served' };
  let start: number;
  let end: number;
  if (m[1] === '') {
    const n = Number(m[2]); // a suffix: the last n bytes
    if (n === 0) return { status: 416, why: 'empty suffix range' };
    start = Math.max(0, size - n);
    end = size - 1;
  } else {
    start = Number(m[1]);
    end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
    if (m[2] !== '' && Number(m[2]) < start) return { status: 400, why: 'range ends before it starts' };
  }
  if (start >= size) return { status: 416, why: `range starts past the end (${size} bytes)` };
  return { start, end };
}

/** The site file a URL path names, or null: no '..', no hidden files, nothing outside the site. */
export function sitePath(siteDir: string, urlPath: string): string | null {
  let p: string;
  try {
    p = decodeURIComponent(urlPath);
  } catch {
    return null;
  }
  if (p === '/' || p === '') p = '/index.html';
  if (p.includes('\0') || p.includes('\\')) return null;
  const parts = p.split('/').filter((s) => s !== '');
  if (parts.some((s) => s === '..' || s === '.' || s.startsWith('.'))) return null;
  const root = path.resolve(siteDir);
  const full = path.resolve(root, ...parts);
  return full.startsWith(root + path.sep) ? full : null;
}

export async function startWebServer(o: WebServerOptions): Promise<WebServer> {
  const log = o.log ?? (() => {});
  const config = JSON.stringify(o.config);
  const sockets = new Set<Socket>();
  const server = createServer((req, res) => {
    handle(req, res).catch((e: unknown) => {
      log(`vdesk web: ${req.url}: ${(e as Error).message}`);
      if (!res.headersSent) answer(res, 500, 'internal error');
      else res.destroy();
    });
  });
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  server.on('clientError', (_e: Error, socket: Socket) => {
    if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
    socket.destroy();
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    res.on('error', () => {}); // a client that resets mid-answer
    if (req.method !== 'GET' && req.method !== 'HEAD') return answer(res, 405, 'GET or HEAD only');
    const url = new URL(req.url ?? '/', 'http://x');
    if (url.pathname === '/machine.json')
      return send(res, req, 200, { 'Content-Type': MIME['.json'], 'Cache-Control': 'no-cache' }, config);
    if (url.pathname.startsWith('/images/')) {
      const name = url.pathname.slice('/images/'.length);
      const file = Object.hasOwn(o.images, name) ? o.images[name] : undefined;
      if (!file) return answer(res, 404, 'no such image');
      return serveFile(req, res, file, 'application/octet-stream', true);
    }
    const file = sitePath(o.siteDir, url.pathname);
    if (!file) return answer(res, 400, 'bad path');
    return serveFile(req, res, file, MIME[path.extname(file)] ?? 'application/octet-stream', false);
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.port ?? 0, o.host ?? '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  server.on('error', (e) => log(`vdesk web: ${e.message}`));
  const a = server.address() as AddressInfo;
  const host = a.family === 'IPv6' ? `[${a.address}]` : a.address;
  return {
    url: `http://${host}:${a.port}/`,
    server,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const s of sockets) s.destroy();
      }),
  };
}

function answer(res: ServerResponse, status: number, text: string): void {
  if (res.headersSent) return void res.destroy();
  res.writeHead(status, {
    ...ISOLATION,
    'Content-Type': 'text/plain; charset=utf-8',
    'Cache-Control': 'no-store',
  });
  res.end(text + '\n');
}

function send(
  res: ServerResponse,
  req: IncomingMessage,
  status: number,
  headers: Record<string, string | number>,
  body: string,
): void {
  res.writeHead(status, { ...ISOLATION, ...headers, 'Content-Length': Buffer.byteLength(body) });
  res.end(req.method === 'HEAD' ? undefined : body);
}

async function serveFile(
  req: IncomingMessage,
  res: ServerResponse,
  file: string,
  type: string,
  ranges: boolean,
): Promise<void> {
  let st;
  try {
    st = await stat(file);
  } catch {
    return answer(res, 404, 'not found');
  }
  if (!st.isFile()) return answer(res, 404, 'not found');
  const etag = `"${st.size.toString(16)}-${Math.floor(st.mtimeMs).toString(16)}"`;
  const headers: Record<string, string | number> = {
    ...ISOLATION,
    'Content-Type': type,
    ETag: etag,
    'Last-Modified': st.mtime.toUTCString(),
    'Cache-Control': 'no-cache',
  };
  if (ranges) headers['Accept-Ranges'] = 'bytes';
  let start = 0;
  let end = st.size - 1;
  let status = 200;
  const range = ranges ? req.headers.range : undefined;
  // If-Range with another validator: the file changed, so the whole new file, never a piece of it.
  const ifRange = req.headers['if-range'];
  if (range !== undefined && (ifRange === undefined || ifRange === etag)) {
    const r = parseRange(range, st.size);
    if ('status' in r) {
      res.writeHead(r.status, {
        ...ISOLATION,
        'Content-Type': 'text/plain; charset=utf-8',
        ...(r.status === 416 ? { 'Content-Range': `bytes */${st.size}` } : {}),
      });
      return void res.end(`${r.why}\n`);
    }
    ({ start, end } = r);
    status = 206;
    headers['Content-Range'] = `bytes ${start}-${end}/${st.size}`;
  }
  headers['Content-Length'] = st.size === 0 ? 0 : end - start + 1;
  res.writeHead(status, headers);
  if (req.method === 'HEAD' || st.size === 0) return void res.end();
  const stream = createReadStream(file, { start, end });
  stream.on('error', () => res.destroy());
  res.on('close', () => stream.destroy());
  stream.pipe(res);
}

export async function web(args: string[], out: (s: string) => void): Promise<number> {
  let v;
  try {
    v = parseArgs({
      args,
      options: {
        port: { type: 'string' },
        host: { type: 'string' },
        site: { type: 'string' },
        memory: { type: 'string' },
        cpus: { type: 'string' },
      },
    }).values;
  } catch (e) {
    throw argsError(e, 'web');
  }
  const port = v.port === undefined ? 8080 : Number(v.port);
  if (!/^\d+$/.test(v.port ?? '0') || !Number.isInteger(port) || port > 65535)
    throw new CliError(`web: --port: not a port number: "${v.port}"`, 2);
  const cpus = v.cpus === undefined ? 2 : Number(v.cpus);
  if (!/^\d+$/.test(v.cpus ?? '1') || cpus < 1 || cpus > 8)
    throw new CliError('web: --cpus: a number from 1 to 8', 2);
  const memory = v.memory ?? '1G';
  if (!/^\d+(\.\d+)?[KMG]?$/i.test(memory)) throw new CliError(`web: --memory: not a size: "${memory}"`, 2);
  const root = repoRoot();
  const siteDir = v.site ?? (root ? path.join(root, 'apps', 'web', 'dist') : null);
  if (
    !siteDir ||
    !existsSync(path.join(siteDir, 'index.html')) ||
    !existsSync(path.join(siteDir, 'worker.js'))
  )
    throw new CliError(
      v.site
        ? `web: --site ${v.site}: no built site there (index.html and worker.js)`
        : 'web: the site is not built: run `pnpm --filter @virtio-desktop/web build` (or pass --site DIR)',
    );
  const say = (l: string): void => void process.stderr.write(l + '\n');
  const d = await desktopImage(say);
  const server = await startWebServer({
    siteDir,
    images: { Image: d.kernel, 'rootfs.ext4': d.image },
    config: {
      manifest: {
        name: 'virtio-desktop',
        memory,
        cpus,
        devices: [
          { package: '@virtio-desktop/virtio-power' },
          { package: '@virtio-desktop/virtio-fb' },
          { package: '@virtio-desktop/virtio-input', device: 'keyboard' },
          { package: '@virtio-desktop/virtio-input', device: 'pointer' },
          { package: '@virtio-desktop/virtio-input', device: 'touch' },
          // The page's clipboard and the guest's, through the desktop's agent.
          { package: '@virtio-desktop/virtio-console' },
          { package: '@virtio-desktop/virtio-blk', options: { image: 'rootfs.ext4', overlay: true } },
        ],
        boot: { cmdline: d.append },
      },
      urls: { kernel: 'images/Image', disks: { 'rootfs.ext4': 'images/rootfs.ext4' } },
    },
    host: v.host ?? '127.0.0.1',
    port,
    log: say,
  }).catch((e: unknown) => {
    const code = (e as { code?: string }).code;
    throw new CliError(
      code === 'EADDRINUSE'
        ? `web: port ${port} is in use (pick another with --port, or --port 0 for any free one)`
        : `web: cannot listen: ${(e as Error).message}`,
    );
  });
  out(server.url);
  await new Promise<void>((resolve) => {
    const stop = (): void => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      resolve();
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
  await server.close();
  return 0;
}
