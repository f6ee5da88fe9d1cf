/**
 * virtio-net end to end with the real guest: Linux's virtio_net driver on our device, the user-mode
 * network's DHCP, DNS and ping, an HTTP page and a 2 MiB download from a server on the host's loopback,
 * the default machine's network (NAT: a name through the host's resolver, a download by name with the
 * right checksum, a port forward into the guest, --net none), and two machines in one process cabled by
 * a pair backend pinging each other. Every server is one the test starts on 127.0.0.1.
 */
import { request } from 'node:http';
import { createHash } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { readFileSync, mkdtempSync, writeFileSync, statSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { RiscvMachine, createRiscvParts, parseManifest } from '@virtio-desktop/machine';
import { nodeModuleLoader } from '@virtio-desktop/machine/node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { guestCommand, guestImages, root, startVdesk, vdesk, type GuestImages } from './guest.js';

let img: GuestImages;
let dir: string;
let server: Server;
let port = 0;
/** Resolves the guest's GET /wait: the guest stays up until the test has used its port forward. */
let release: () => void = () => {};
let released = new Promise<void>((r) => (release = r));
const big = Buffer.alloc(2 << 20);
for (let i = 0; i < big.length; i++) big[i] = (i * 7 + (i >> 11)) & 255;

beforeAll(async () => {
  img = guestImages();
  dir = mkdtempSync(path.join(tmpdir(), 'vdesk-net-'));
  server = createServer((req, res) => {
    if (req.url === '/big') res.end(big);
    else if (req.url === '/wait') void released.then(() => res.end('released\n'));
    else res.end(`hello from the host, you asked for ${req.url}\n`);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  port = (server.address() as { port: number }).port;
});
afterAll(() => server?.close());

/** Configure eth0 with busybox udhcpc (it needs a script to apply the lease, and the DNS server). */
const DHCP = [
  'printf \'#!/bin/sh\\n[ "$1" = bound ] && ip addr add $ip/$mask dev $interface && ip route add default via $router && echo nameserver $dns > /etc/resolv.conf\\nexit 0\\n\' > /tmp/dhcp.sh',
  'chmod +x /tmp/dhcp.sh',
  'ip link set eth0 up',
  'udhcpc -i eth0 -s /tmp/dhcp.sh -q -n -t 5 >/dev/null 2>&1 && echo DHCP-OK',
].join('; ');

describe('virtio-net with Linux', () => {
  it('user-mode network: DHCP, ping and DNS of the gateway, HTTP from the host loopback', async () => {
    const m = path.join(dir, 'user.json');
    writeFileSync(
      m,
      JSON.stringify({
        name: 'netuser',
        memory: '256M',
        cpus: 1,
        devices: [
          { package: '@virtio-desktop/virtio-power' },
          {
            package: '@virtio-desktop/virtio-net',
            id: 'net',
            // host-only: example.com must be NXDOMAIN whatever network the test host has
            options: { pcap: 'user.pcap', mode: 'host-only' },
          },
        ],
      }),
    );
    const script = [
      DHCP,
      'ip -4 addr show eth0 | grep -o "inet [0-9./]*"',
      'ping -c 2 -W 5 10.0.2.2 >/dev/null && echo PING-OK',
      'nslookup host.vdesk 10.0.2.3 2>/dev/null | grep -q 10.0.2.2 && echo DNS-OK',
      'nslookup example.com 10.0.2.3 >/dev/null 2>&1 || echo NXDOMAIN-OK',
      `wget -q -O - http://10.0.2.2:${port}/page`,
      `echo BIG=$(wget -q -O - http://10.0.2.2:${port}/big | md5sum)`,
    ].join('; ');
    const r = await vdesk([
      'run',
      m,
      '--kernel',
      img.kernel,
      '--initrd',
      img.initrd,
      '--no-viewer',
      '--append',
      `console=ttyS0 ${guestCommand(script)}`,
    ]);
    expect(r.stdout).toContain('DHCP-OK');
    expect(r.stdout).toContain('inet 10.0.2.15/24');
    expect(r.stdout).toContain('PING-OK');
    expect(r.stdout).toContain('DNS-OK');
    expect(r.stdout).toContain('NXDOMAIN-OK');
    expect(r.stdout).toContain('hello from the host, you asked for /page');
    expect(r.stdout).toContain(`BIG=${createHash('md5').update(big).digest('hex')}`);
    expect(r.code).toBe(0);
    // The pcap holds the traffic: a header plus many records.
    const pcap = readFileSync(path.join(dir, 'user.pcap'));
    expect(pcap.readUInt32LE(0)).toBe(0xa1b2c3d4);
    expect(statSync(path.join(dir, 'user.pcap')).size).toBeGreaterThan(big.length);
  });

  it('vdesk run without a manifest: NAT network, DNS via the host resolver, wget by name, a port forward', async () => {
    const fwd = await freePort();
    const script = [
      DHCP,
      'cat /etc/resolv.conf',
      // localhost through the host's resolver: the host loopback, which the guest reaches as the gateway
      'nslookup localhost 10.0.2.3 2>&1 | grep -A3 -i "name:.*localhost" | grep -o "10\\.0\\.2\\.2" | head -1 | sed s/^/RESOLVED=/',
      `echo BYNAME=$(wget -q -O - http://localhost:${port}/big | md5sum)`,
      'mkdir -p /tmp/www && echo from-the-guest > /tmp/www/index.html && httpd -p 8080 -h /tmp/www && echo FWD-READY',
      `wget -q -O - http://10.0.2.2:${port}/wait`,
    ].join('; ');
    const a = startVdesk(
      [
        'run',
        '--shell',
        '--no-viewer',
        '--name',
        'netnat',
        '--forward',
        `tcp:${fwd}:8080`,
        '--append',
        `console=ttyS0 ${guestCommand(script)}`,
      ],
      'FWD-READY',
    );
    try {
      await a.ready;
      const body = await new Promise<string>((resolve, reject) => {
        const r = request({ host: '127.0.0.1', port: fwd, path: '/' }, (res) => {
          let b = '';
          res.on('data', (d: Buffer) => (b += d.toString()));
          res.on('end', () => resolve(b));
        });
        r.on('error', reject);
        r.setTimeout(60_000, () => r.destroy(new Error('forward: no answer')));
        r.end();
      });
      expect(body).toBe('from-the-guest\n');
    } finally {
      release();
    }
    expect(await a.exited).toBe(0);
    released = new Promise<void>((r) => (release = r));
    expect(a.out.text).toContain('nameserver 10.0.2.3');
    expect(a.out.text).toContain('RESOLVED=10.0.2.2');
    expect(a.out.text).toContain(`BYNAME=${createHash('md5').update(big).digest('hex')}`);
    expect(a.out.text).toContain('released');
  });

  it("vdesk run --forward udp: a host client's datagrams reach a guest server, and its answers come back", async () => {
    const fwd = await freeUdpPort();
    // udpsvd runs the program for each new client with the socket as its stdin and stdout; dd takes one
    // whole datagram (a shell's `read` would take one byte of each).
    const script = [
      DHCP,
      "udpsvd -E 0 7000 sh -c 'echo got-$(dd bs=64 count=1 2>/dev/null)' & echo UDP-READY",
      'sleep 600',
    ].join('; ');
    const a = startVdesk(
      [
        'run',
        '--shell',
        '--no-viewer',
        '--name',
        'netudp',
        '--forward',
        `udp:${fwd}:7000`,
        '--append',
        `console=ttyS0 ${guestCommand(script)}`,
      ],
      'UDP-READY',
    );
    const client = createSocket('udp4');
    try {
      await a.ready;
      const answer = new Promise<string>((resolve) => client.on('message', (m) => resolve(m.toString())));
      // Until the guest's server listens (and it answers each client once), ask again every second.
      let got = '';
      void answer.then((t) => (got = t));
      for (let i = 0; i < 120 && !got; i++) {
        client.send('hello-udp\n', fwd, '127.0.0.1');
        await Promise.race([answer, new Promise((r) => setTimeout(r, 1000))]);
      }
      expect(got).toBe('got-hello-udp\n');
    } finally {
      client.close();
      a.p.kill('SIGKILL');
      await a.exited;
    }
    expect(a.out.text).toContain('DHCP-OK');
  });

  it('vdesk run --net none: no network device', async () => {
    const r = await vdesk([
      'run',
      '--shell',
      '--no-viewer',
      '--name',
      'netnone',
      '--net',
      'none',
      '--append',
      `console=ttyS0 ${guestCommand('echo NETS=$(ls /sys/class/net | tr "\\n" " ")')}`,
    ]);
    expect(r.stdout).toMatch(/^NETS=lo\r?$/m);
    expect(r.code).toBe(0);
    const d = await vdesk([
      'run',
      '--shell',
      '--no-viewer',
      '--name',
      'netdefault',
      '--append',
      `console=ttyS0 ${guestCommand('echo NETS=$(ls /sys/class/net | tr "\\n" " ")')}`,
    ]);
    expect(d.stdout).toMatch(/^NETS=eth0 lo\r?$/m);
  });

  it('two machines on a pair backend ping each other', async () => {
    const make = async (name: string, ip: string, peer: string) => {
      const manifest = parseManifest({
        name,
        memory: '128M',
        cpus: 1,
        devices: [
          { package: '@virtio-desktop/virtio-power' },
          { package: '@virtio-desktop/virtio-net', options: { backend: 'pair:t1' } },
        ],
        boot: {
          cmdline: `console=ttyS0 ${guestCommand(`ip link set eth0 up; ip addr add ${ip}/24 dev eth0; ping -c 3 -W 10 ${peer} >/dev/null && echo ${name}-PING-OK; sleep 3`)}`,
        },
      });
      const machine = await RiscvMachine.create({
        manifest,
        parts: createRiscvParts(),
        images: {
          kernel: new Uint8Array(readFileSync(img.kernel)),
          initrd: new Uint8Array(readFileSync(img.initrd)),
        },
        loadModule: nodeModuleLoader(path.join(root, 'apps/cli'), []),
      });
      let out = '';
      machine.on('console', (b) => (out += Buffer.from(b).toString('latin1')));
      return { machine, out: () => out };
    };
    const a = await make('alpha', '192.168.7.1', '192.168.7.2');
    const b = await make('beta', '192.168.7.2', '192.168.7.1');
    const [ea, eb] = await Promise.all([a.machine.run(), b.machine.run()]);
    expect(a.out()).toContain('alpha-PING-OK');
    expect(b.out()).toContain('beta-PING-OK');
    expect([ea.kind, eb.kind]).toEqual(['poweroff', 'poweroff']);
  });
});

function freeUdpPort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createSocket('udp4');
    s.bind(0, '127.0.0.1', () => {
      const p = s.address().port;
      s.close(() => resolve(p));
    });
  });
}

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => resolve(p));
    });
  });
}
