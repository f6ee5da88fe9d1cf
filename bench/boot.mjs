#!/usr/bin/env node
// Boot benchmark: the guest kernel and initramfs from guest/build.sh booted to the init marker and powered
// off, on our machine (`vdesk run`, host SBI, 2 harts) and on qemu-system-riscv64 -M virt (OpenSBI, 2
// harts) with the same devices (virtio-blk, virtio-gpu) in the same run, alternating. Reports the time
// to the marker and to exit: medians (min–max) over RUNS, and ours/QEMU.
//
//   node bench/boot.mjs [--runs 5]
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { alternate, buildGuest, fmt as fmtN, med, timeMarkers, writeJson } from './stats.mjs';

const root = path.resolve(import.meta.dirname, '..');
const { values } = parseArgs({ options: { runs: { type: 'string' }, json: { type: 'string' } } });
const RUNS = Number(values.runs ?? 5);
const guest = buildGuest('guest/build.sh');
const kernel = guest.KERNEL;
const initrd = guest.INITRD;
const dir = mkdtempSync(path.join(tmpdir(), 'vdesk-bench-boot-'));
const disk = path.join(dir, 'disk.img');
writeFileSync(disk, Buffer.alloc(16 << 20));
const manifest = path.join(dir, 'boot.json');
writeFileSync(
  manifest,
  JSON.stringify({
    name: 'bench-boot',
    memory: '512M',
    cpus: 2,
    devices: [
      { package: '@virtio-desktop/virtio-power' },
      { package: '@virtio-desktop/virtio-blk', options: { image: 'disk.img' } },
      { package: '@virtio-desktop/virtio-fb' },
    ],
  }),
);
const append = `console=ttyS0 vdesk.cmd=${Buffer.from('true').toString('base64')}`;
const MARKER = 'VDESK-INIT-READY';

const timed = async (bin, args) => {
  const { at, exit } = await timeMarkers(bin, args, [MARKER]);
  return { marker: at[MARKER], exit };
};

const ours = () =>
  timed(process.execPath, [
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
  timed('qemu-system-riscv64', [
    '-M', 'virt', '-m', '512', '-smp', '2', '-nographic', '-no-reboot', '-global', 'virtio-mmio.force-legacy=false',
    '-kernel', kernel, '-initrd', initrd, '-append', append,
    '-drive', `file=${disk},if=none,format=raw,id=d0`, '-device', 'virtio-blk-device,drive=d0',
    '-device', 'virtio-gpu-device',
  ]); // prettier-ignore

const { ours: o, qemu: q } = await alternate(RUNS, ours, qemu);
const fmt = (xs) => `${fmtN(xs, 2)} s`;
console.log(`boot: same kernel and initramfs, 2 harts, blk + gpu, ${RUNS} runs each, median (min–max)`);
const rows = [];
for (const k of ['marker', 'exit']) {
  const a = o.map((r) => r[k]);
  const b = q.map((r) => r[k]);
  const what = k === 'marker' ? 'init marker' : 'power-off  ';
  console.log(`  to ${what}: ours ${fmt(a)}, qemu ${fmt(b)}, ours/qemu ${(med(a) / med(b)).toFixed(2)}`);
  rows.push({ name: `Boot to ${what.trim()} (2 harts)`, unit: 's', ours: a, qemu: b, higherIsBetter: false });
}
if (values.json) writeJson(values.json, rows);
