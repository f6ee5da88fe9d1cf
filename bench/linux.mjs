#!/usr/bin/env node
// Linux workloads in a booted guest: the project's kernel and busybox initramfs (guest/build.sh), one
// hart, 512 MiB, on our machine with each CPU engine and on qemu-system-riscv64 -M virt (TCG, OpenSBI),
// alternating in the same run. The guest times each workload itself with /proc/uptime stamps, so start-up
// and shut-down are not counted (except "boot to init", which is the uptime when init starts):
//   shloop  busybox sh: 200,000 iterations of i=$((i+1))
//   md5     dd if=/dev/zero bs=1M count=64 | md5sum
//   gzip    gzip -9 of a generated 16 MiB file (seq 1 2000000)
//   sort    sort -r of the same file
// Medians (min–max) over RUNS; ours/QEMU is the ratio of medians (time: lower is better). The md5 sums
// of every workload's output must agree between the machines, or the benchmark fails.
//
// Engines as in stats.mjs engineRun; jit-warm: `--code-cache` with the profile of an earlier run of this
// script (primed once, untimed).
//
//   node bench/linux.mjs [--runs 3] [--engines jit,jit-warm,interp] [--json out.json]
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import {
  alternateEngines,
  buildGuest,
  engineBenchOptions,
  engineRun,
  fmt,
  med,
  primeWarm,
  writeJson,
} from './stats.mjs';

const root = path.resolve(import.meta.dirname, '..');
const { runs: RUNS, engines: ENGINES, json } = engineBenchOptions();
const guest = buildGuest('guest/build.sh');
const dir = mkdtempSync(path.join(tmpdir(), 'vdesk-bench-linux-'));
const manifest = path.join(dir, 'linux.json');
writeFileSync(
  manifest,
  JSON.stringify({
    name: 'bench-linux',
    memory: '512M',
    cpus: 1,
    devices: [{ package: '@virtio-desktop/virtio-power' }],
  }),
);

const WORKLOADS = ['init', 'shloop', 'md5', 'gzip', 'sort'];
const script = `up() { cut -d' ' -f1 /proc/uptime; }
echo "VDESK-T init 0 $(up)"
a=$(up); i=0; while [ $i -lt 200000 ]; do i=$((i+1)); done; b=$(up); echo "VDESK-T shloop $a $b i=$i"
a=$(up); s=$(dd if=/dev/zero bs=1M count=64 2>/dev/null | md5sum); b=$(up); echo "VDESK-T md5 $a $b $s"
seq 1 2000000 > /tmp/f
a=$(up); s=$(gzip -9 -c /tmp/f | md5sum); b=$(up); echo "VDESK-T gzip $a $b $s"
a=$(up); s=$(sort -r /tmp/f | md5sum); b=$(up); echo "VDESK-T sort $a $b $s"
`;
const append = `console=ttyS0 vdesk.cmd=${Buffer.from(script).toString('base64')}`;

/** Run a machine to power-off; the workload times (s) and the checksums it printed. */
function measure(bin, args, env = {}) {
  return new Promise((resolve, reject) => {
    const p = spawn(bin, args, { stdio: ['ignore', 'pipe', 'ignore'], env: { ...process.env, ...env } });
    let text = '';
    p.stdout.on('data', (d) => (text += d));
    const t = setTimeout(() => p.kill('SIGKILL'), 1_800_000);
    p.on('close', () => {
      clearTimeout(t);
      const times = {};
      const sums = {};
      for (const m of text.matchAll(/VDESK-T (\w+) ([\d.]+) ([\d.]+)(?: (\S+))?/g)) {
        times[m[1]] = Number(m[3]) - Number(m[2]);
        sums[m[1]] = m[4];
      }
      if (WORKLOADS.some((w) => times[w] === undefined))
        reject(new Error(`${bin}: missing workload times:\n${text.slice(-2000)}`));
      else resolve({ times, sums });
    });
  });
}

const ours = (engine) => {
  const e = engineRun(engine, dir);
  return measure(process.execPath, [
    path.join(root, 'apps/cli/dist/index.js'),
    'run', manifest, ...e.args, '--kernel', guest.KERNEL, '--initrd', guest.INITRD,
    '--no-viewer', '--append', append,
  ], e.env); // prettier-ignore
};
const qemu = () =>
  measure('qemu-system-riscv64', [
    '-M', 'virt', '-m', '512', '-smp', '1', '-nographic', '-no-reboot',
    '-kernel', guest.KERNEL, '-initrd', guest.INITRD, '-append', append,
  ]); // prettier-ignore

await primeWarm(ENGINES, ours);
const measured = await alternateEngines(RUNS, ENGINES, ours, qemu);
const results = { ...measured.ours, qemu: measured.qemu };
const reference = results.qemu[0].sums;
for (const [who, rs] of Object.entries(results))
  for (const r of rs)
    for (const w of WORKLOADS)
      if (r.sums[w] !== reference[w])
        throw new Error(`${who}: ${w} printed ${r.sums[w]}, QEMU ${reference[w]}`);

console.log(`linux: guest workloads, 1 hart, ${RUNS} runs each, seconds of guest uptime, median (min–max)`);
const rows = [];
for (const w of WORKLOADS) {
  const q = results.qemu.map((r) => r.times[w]);
  const cols = ENGINES.map((e) => {
    const o = results[e].map((r) => r.times[w]);
    rows.push({ name: `Linux ${w} (${e})`, unit: 's', ours: o, qemu: q, higherIsBetter: false });
    return `${e} ${fmt(o, 2)} (${(med(o) / med(q)).toFixed(2)}× QEMU)`;
  });
  console.log(`  ${w.padEnd(7)} qemu ${fmt(q, 2)}   ${cols.join('   ')}`);
}
if (json) writeJson(json, rows);
