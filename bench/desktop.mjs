#!/usr/bin/env node
// Desktop benchmark: time from starting the machine to a usable desktop (the image's
// VDESK-DESKTOP-READY console line: Xorg up, JWM's panel mapped and the terminal's shell running;
// before issue 20: twm and xterm) and to Xorg accepting clients (VDESK-X-READY), for the image from
// guest/desktop/build.sh on our machine (`vdesk run`, host SBI, 2 harts, 1 GiB) and on qemu-system-riscv64 -M virt (OpenSBI, 2 harts, 1 GiB, virtio-blk/gpu/keyboard/
// tablet) in the same run, alternating. Both boot the same kernel, command line and root filesystem,
// copy-on-write so the image stays pristine. Medians (min–max) over RUNS and ours/QEMU, for each of our
// CPU engines named (default: jit and interp; stats.mjs engineRun: `jit-warm` with `--code-cache` and the
// profile of an earlier run, `jit-threads` with each hart on its own worker thread).
//
//   node bench/desktop.mjs [--runs 3] [--engines jit,jit-warm,interp,jit-threads]
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import {
  alternateEngines,
  buildGuest,
  engineBenchOptions,
  engineRun,
  fmt as fmtN,
  med,
  primeWarm,
  timeMarkers,
  writeJson,
} from './stats.mjs';

const root = path.resolve(import.meta.dirname, '..');
const { runs: RUNS, engines: ENGINES, json } = engineBenchOptions();
const guest = buildGuest('guest/desktop/build.sh');
const image = guest.DESKTOP_IMAGE;
const kernel = guest.KERNEL;
const append = guest.APPEND;
const dir = mkdtempSync(path.join(tmpdir(), 'vdesk-bench-desktop-'));
const manifest = path.join(dir, 'desktop.json');
writeFileSync(
  manifest,
  JSON.stringify({
    name: 'bench-desktop',
    memory: '1G',
    cpus: 2,
    devices: [
      { package: '@virtio-desktop/virtio-power' },
      { package: '@virtio-desktop/virtio-blk', options: { image, overlay: true } },
      { package: '@virtio-desktop/virtio-fb', options: { width: 1280, height: 800 } },
      { package: '@virtio-desktop/virtio-input', device: 'keyboard' },
      { package: '@virtio-desktop/virtio-input', device: 'pointer' },
    ],
  }),
);
const X = 'VDESK-X-READY';
const DESKTOP = 'VDESK-DESKTOP-READY';
const timed = async (bin, args, opts = {}) => {
  const { at } = await timeMarkers(bin, args, [X, DESKTOP], {
    stopAtLast: true,
    timeoutMs: 900_000,
    ...opts,
  });
  return { x: at[X] ?? NaN, desktop: at[DESKTOP] };
};

const ours = (engine, opts = {}) => {
  const e = engineRun(engine, dir);
  return timed(process.execPath, [
    path.join(root, 'apps/cli/dist/index.js'),
    'run', manifest, ...e.args, '--kernel', kernel, '--append', append, '--no-viewer',
  ], { env: e.env, ...opts }); // prettier-ignore
};

// A warm engine's profile comes from one untimed desktop shut down normally (SIGTERM: vdesk saves it).
await primeWarm(ENGINES, (e) => ours(e, { signal: 'SIGTERM' }));
const qemu = () =>
  timed('qemu-system-riscv64', [
    '-M', 'virt', '-m', '1024', '-smp', '2', '-nographic', '-no-reboot', '-global', 'virtio-mmio.force-legacy=false',
    '-kernel', kernel, '-append', append,
    '-drive', `file=${image},if=none,format=raw,id=d0,snapshot=on`, '-device', 'virtio-blk-device,drive=d0',
    '-device', 'virtio-gpu-device,xres=1280,yres=800', '-device', 'virtio-keyboard-device', '-device', 'virtio-tablet-device',
  ]); // prettier-ignore

// Each round runs every engine, then QEMU, so machine noise falls on all alike.
const { ours: o, qemu: q } = await alternateEngines(RUNS, ENGINES, ours, qemu);
const fmt = (xs) => `${fmtN(xs, 1)} s`;
console.log(`desktop: same kernel and ext4 image, 2 harts, 1 GiB, ${RUNS} runs each, median (min–max)`);
const rows = [];
for (const [k, what] of [
  ['x', 'Xorg accepting clients'],
  ['desktop', 'a usable desktop     '],
]) {
  const b = q.map((r) => r[k]);
  const cols = ENGINES.map((e) => {
    const a = o[e].map((r) => r[k]);
    rows.push({
      name: `Desktop: to ${what.trim()} (${e})`,
      unit: 's',
      ours: a,
      qemu: b,
      higherIsBetter: false,
    });
    return `${e} ${fmt(a)} (${(med(a) / med(b)).toFixed(2)}× QEMU)`;
  });
  console.log(`  to ${what}: qemu ${fmt(b)}   ${cols.join('   ')}`);
}
if (json) writeJson(json, rows);
