/**
 * `vdesk web`'s server: the site and the images with cross-origin isolation headers, single byte ranges
 * (bad ones refused), no path out of the site, and one clear line for bad flags.
 */
import { mkdtempSync, mkdirSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseRange, sitePath, startWebServer, type WebServer } from '../src/commands/web.js';
import { main } from '../src/main.js';

let dir: string;
let srv: WebServer;
const disk = Uint8Array.from({ length: 10_000 }, (_, i) => i & 0xff);

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'vdesk-web-'));
  const site = path.join(dir, 'site');
  mkdirSync(path.join(site, 'sub'), { recursive: true });
  writeFileSync(path.join(site, 'index.html'), '<p>hi</p>');
  writeFileSync(path.join(site, 'worker.js'), '//');
  writeFileSync(path.join(site, 'sub', 'a.js'), 'x');
  writeFileSync(path.join(site, '.secret'), 'no');
  writeFileSync(path.join(dir, 'outside.txt'), 'private');
  writeFileSync(path.join(dir, 'disk.img'), disk);
  srv = await startWebServer({
    siteDir: site,
    images: { 'rootfs.ext4': path.join(dir, 'disk.img') },
    config: { manifest: { name: 't' }, urls: { kernel: 'images/Image' } },
  });
});

afterAll(async () => {
  await srv?.close();
});

/** A raw request line, so the path reaches the server exactly as written (fetch would normalise it). */
function raw(request: string): Promise<string> {
  const u = new URL(srv.url);
  return new Promise((resolve, reject) => {
    const s = connect(Number(u.port), u.hostname, () => s.write(request));
    let out = '';
    s.on('data', (d) => (out += d.toString('latin1')));
    s.on('end', () => resolve(out));
    s.on('error', reject);
  });
}

describe('vdesk web server', () => {
  it('serves the site and machine.json with COOP/COEP, and the images by range', async () => {
    const r = await fetch(srv.url);
    expect(r.status).toBe(200);
    expect(await r.text()).toBe('<p>hi</p>');
    expect(r.headers.get('cross-origin-opener-policy')).toBe('same-origin');
    expect(r.headers.get('cross-origin-embedder-policy')).toBe('require-corp');
    expect(await (await fetch(srv.url + 'machine.json')).json()).toEqual({
      manifest: { name: 't' },
      urls: { kernel: 'images/Image' },
    });
    const p = await fetch(srv.url + 'images/rootfs.ext4', { headers: { Range: 'bytes=100-1123' } });
    expect(p.status).toBe(206);
    expect(p.headers.get('content-range')).toBe('bytes 100-1123/10000');
    expect(new Uint8Array(await p.arrayBuffer())).toEqual(disk.subarray(100, 1124));
    const etag = p.headers.get('etag')!;
    const same = await fetch(srv.url + 'images/rootfs.ext4', {
      headers: { Range: 'bytes=9990-', 'If-Range': etag },
    });
    expect([same.status, (await same.arrayBuffer()).byteLength]).toEqual([206, 10]);
    // Another validator: the file changed, so the whole file.
    const changed = await fetch(srv.url + 'images/rootfs.ext4', {
      headers: { Range: 'bytes=0-9', 'If-Range': '"x"' },
    });
    expect([changed.status, (await changed.arrayBuffer()).byteLength]).toEqual([200, 10_000]);
    expect((await fetch(srv.url + 'images/other')).status).toBe(404);
    expect((await fetch(srv.url, { method: 'POST' })).status).toBe(405);
  });

  it('refuses bad Range headers: 400 for malformed or several ranges, 416 past the end', async () => {
    const get = (range: string) => fetch(srv.url + 'images/rootfs.ext4', { headers: { Range: range } });
    for (const bad of [
      'bytes=abc',
      'bytes=5-1',
      'bytes=0-1,5-9',
      'items=0-1',
      'bytes=-',
      'bytes=99999999999999999-',
    ])
      expect((await get(bad)).status, bad).toBe(400);
    expect((await get('bytes=9999999999999999-')).status).toBe(416);
    const past = await get('bytes=10000-10001');
    expect(past.status).toBe(416);
    expect(past.headers.get('content-range')).toBe('bytes */10000');
    expect(parseRange('bytes=-100', 10_000)).toEqual({ start: 9900, end: 9999 });
    expect(parseRange('bytes=0-99999', 10_000)).toEqual({ start: 0, end: 9999 });
  });

  it('never serves a path outside the site, nor hidden files', async () => {
    for (const p of [
      '/../outside.txt',
      '/sub/../../outside.txt',
      '/%2e%2e/outside.txt',
      '/sub/%2E%2E/%2e%2e/outside.txt',
      '/..%2foutside.txt',
      '/..%5coutside.txt',
      '/%00',
      '/.secret',
      '/%E0%A4%A',
    ]) {
      const res = await raw(`GET ${p} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
      expect(res, p).toMatch(/^HTTP\/1\.1 40[04]/);
      expect(res, p).not.toContain('private');
    }
    expect(sitePath('/srv/site', '/sub/a.js')).toBe(path.resolve('/srv/site/sub/a.js'));
    expect(sitePath('/srv/site', '/a/../../x')).toBeNull();
    expect(await (await fetch(srv.url + 'sub/a.js')).text()).toBe('x');
    // A malformed request gets a 400 and the server goes on.
    expect(await raw('GARBAGE\r\n\r\n')).toMatch(/^HTTP\/1\.1 400/);
    expect((await fetch(srv.url)).status).toBe(200);
  });

  it('bad flags: one line and a non-zero status', async () => {
    for (const [argv, re] of [
      [['web', '--port', 'abc'], /^vdesk: web: --port: not a port number: "abc"$/],
      [['web', '--port', '70000'], /--port: not a port number/],
      [['web', '--bogus'], /^vdesk: web: unknown option --bogus \(see vdesk web --help\)$/],
      [['web', '--cpus', '0'], /--cpus: a number from 1 to 8/],
      [['web', '--memory', 'lots'], /--memory: not a size/],
      [['web', '--site', dir], /--site .*: no built site there/],
    ] as const) {
      const err: string[] = [];
      const code = await main([...argv], { out: () => {}, err: (s) => err.push(s) });
      expect(err.join('\n')).toMatch(re);
      expect(err).toHaveLength(1);
      expect(code).not.toBe(0);
    }
  });
});
