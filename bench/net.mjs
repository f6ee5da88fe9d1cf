#!/usr/bin/env node
// virtio-net throughput: the guest downloads 16 MiB over HTTP from a server on the host's loopback through
// the user-mode network (ours: virtio-net + our stack; QEMU: virtio-net-device + its slirp "user"
// network), same kernel and initramfs, in the same run. MiB/s from the guest's own clock; medians
// (min–max) over RUNS and ours/QEMU.
//
//   node bench/net.mjs [--runs 3]
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { alternate, buildGuest, fmt as fmtN, med } from './stats.mjs';

const root = path.resolve(import.meta.dirname, '..');
const { values } = parseArgs({ options: { runs: { type: 'string' } } });
const RUNS = Number(values.runs ?? 3);
const SIZE = 16 << 20;
const guest = buildGuest('guest/build.sh');
const kernel = guest.KERNEL;
const initrd = guest.INITRD;
const body = Buffer.alloc(SIZE, 0x5a);
const server = createServer((req, res) => res.end(body));
await new Promise((r) => server.listen(0, '127.0.0.1', r));
const port = server.address().port;
const dir = mkdtempSync(path.join(tmpdir(), 'vdesk-bench-net-'));
const manifest = path.join(dir, 'net.json');
writeFileSync(
  manifest,
  JSON.stringify({
    name: 'bench-net',
    memory: '256M',
    cpus: 1,
    devices: [{ package: '@virtio-desktop/virtio-power' }, { package: '@virtio-desktop/virtio-net' }],
  }),
);
const script = [
  'printf \'#!/bin/sh\\n[ "$1" = bound ] && ip addr add $ip/$mask dev $interface && ip route add default via $router\\nexit 0\\n\' > /tmp/d.sh',
  'chmod +x /tmp/d.sh; ip link set eth0 up; udhcpc -i eth0 -s /tmp/d.sh -q -n -t 5 >/dev/null 2>&1',
  'T0=$(cut -d" " -f1 /proc/uptime)',
  `N=$(wget -q -O - http://10.0.2.2:${port}/ | wc -c)`,
  'T1=$(cut -d" " -f1 /proc/uptime)',
  'echo "NETBENCH $N $T0 $T1"',
].join('; ');
const append = `console=ttyS0 vdesk.cmd=${Buffer.from(script).toString('base64')}`;

function run(bin, args) {
  return new Promise((resolve, reject) => {
    let text = '';
    const p = spawn(bin, args, { stdio: ['ignore', 'pipe', 'ignore'] });
    p.stdout.on('data', (d) => (text += d));
    p.on('close', () => {
      const m = /NETBENCH (\d+) ([\d.]+) ([\d.]+)/.exec(text);
      if (!m || Number(m[1]) !== SIZE)
        return reject(new Error(`${bin}: no complete transfer:\n${text.slice(-1500)}`));
      resolve(SIZE / (1 << 20) / Math.max(0.01, Number(m[3]) - Number(m[2])));
    });
  });
}

const ours = () =>
  run(process.execPath, [
    path.join(root, 'apps/cli/dist/index.js'),
    'run',
    manifest,
    '--kernel',
    kernel,
    '--initrd',
    initrd,
    '--no-viewer',
    '--append',
    append,
  ]);
const qemu = () =>
  run('qemu-system-riscv64', [
    '-M', 'virt', '-m', '256', '-smp', '1', '-nographic', '-no-reboot', '-global', 'virtio-mmio.force-legacy=false',
    '-kernel', kernel, '-initrd', initrd, '-append', append,
    '-netdev', 'user,id=n0', '-device', 'virtio-net-device,netdev=n0',
  ]); // prettier-ignore

const { ours: o, qemu: q } = await alternate(RUNS, ours, qemu);
server.close();
const fmt = (xs) => `${fmtN(xs, 1)} MiB/s`;
console.log(
  `virtio-net: 16 MiB HTTP download host → guest over the user-mode network, ${RUNS} runs each, median (min–max)`,
);
console.log(`  ours ${fmt(o)}, qemu ${fmt(q)}, ours/qemu ${(med(o) / med(q)).toFixed(2)}`);
