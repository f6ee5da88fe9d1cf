#!/usr/bin/env node
// virtio-blk throughput: `dd` with O_DIRECT to and from a 64 MiB disk inside the same guest, on our
// machine (virtio-blk, file backend) and on qemu-system-riscv64 with virtio-blk-device (raw file), in the
// same run. busybox dd reports its own rate; medians (min–max) over RUNS and ours/QEMU.
//
//   node bench/blk.mjs [--runs 3]
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { alternate, buildGuest, fmt as fmtN, med, writeJson } from './stats.mjs';

const root = path.resolve(import.meta.dirname, '..');
const { values } = parseArgs({ options: { runs: { type: 'string' }, json: { type: 'string' } } });
const RUNS = Number(values.runs ?? 3);
const guest = buildGuest('guest/build.sh');
const kernel = guest.KERNEL;
const initrd = guest.INITRD;
const dir = mkdtempSync(path.join(tmpdir(), 'vdesk-bench-blk-'));
const disk = path.join(dir, 'disk.img');
writeFileSync(disk, Buffer.alloc(64 << 20));
const manifest = path.join(dir, 'blk.json');
writeFileSync(
  manifest,
  JSON.stringify({
    name: 'bench-blk',
    memory: '256M',
    cpus: 1,
    devices: [
      { package: '@virtio-desktop/virtio-power' },
      { package: '@virtio-desktop/virtio-blk', options: { image: 'disk.img' } },
    ],
  }),
);
const script = [
  'dd if=/dev/zero of=/dev/vda bs=1M count=48 oflag=direct 2>&1 | sed -n "s/.*seconds, /WRITE /p"',
  'dd if=/dev/vda of=/dev/null bs=1M count=48 iflag=direct 2>&1 | sed -n "s/.*seconds, /READ /p"',
].join('; ');
const append = `console=ttyS0 vdesk.cmd=${Buffer.from(script).toString('base64')}`;

function run(bin, args) {
  return new Promise((resolve, reject) => {
    let text = '';
    const p = spawn(bin, args, { stdio: ['ignore', 'pipe', 'ignore'] });
    p.stdout.on('data', (d) => (text += d));
    p.on('close', () => {
      const rate = (k) => {
        const m = new RegExp(`${k} ([\\d.]+)([KMG])B/s`).exec(text);
        if (!m) return NaN;
        return Number(m[1]) * { K: 1 / 1024, M: 1, G: 1024 }[m[2]];
      };
      const r = { write: rate('WRITE'), read: rate('READ') };
      if (Number.isNaN(r.write) || Number.isNaN(r.read))
        reject(new Error(`${bin}: no dd rates:\n${text.slice(-1500)}`));
      else resolve(r);
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
    '-drive', `file=${disk},if=none,format=raw,id=d0,cache=writeback`, '-device', 'virtio-blk-device,drive=d0',
  ]); // prettier-ignore

const { ours: o, qemu: q } = await alternate(RUNS, ours, qemu);
const fmt = (xs) => `${fmtN(xs, 1)} MB/s`;
console.log(`virtio-blk: dd 48 MiB, bs=1M, O_DIRECT, in the guest; ${RUNS} runs each, median (min–max)`);
const rows = [];
for (const k of ['write', 'read']) {
  const a = o.map((r) => r[k]);
  const b = q.map((r) => r[k]);
  console.log(`  ${k.padEnd(5)}: ours ${fmt(a)}, qemu ${fmt(b)}, ours/qemu ${(med(a) / med(b)).toFixed(2)}`);
  rows.push({ name: `virtio-blk dd ${k} 48 MiB`, unit: 'MB/s', ours: a, qemu: b, higherIsBetter: true });
}
if (values.json) writeJson(values.json, rows);
