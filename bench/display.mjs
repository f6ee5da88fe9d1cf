#!/usr/bin/env node
// Display benchmark: full-screen repaints per second from a guest DRM program (guest/tools/drm-pattern.c
// --bench), on our machine (virtio-fb, with a viewer client connected) and on qemu-system-riscv64 with its
// virtio-gpu-device, same kernel and initramfs, in the same run; plus the bytes our viewer sends per
// guest frame, and the full-screen repaints our viewer delivers per second to its client (RECT messages
// of the whole screen received, first to last). Our machine runs with the viewer compressing frames on
// its worker thread and (--encode both, the default) also on the main thread as before, to compare.
// Each configuration runs RUNS times; medians are reported, with min and max.
//
//   node bench/display.mjs [--runs 3] [--frames 20] [--sizes 1280x800,1920x1080]
//                          [--encode both|worker|main] [--threads] [--no-qemu]
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { buildGuest } from './stats.mjs';

const root = path.resolve(import.meta.dirname, '..');
const require = createRequire(path.join(root, 'apps/cli/package.json'));
const { WebSocket } = require('ws');

const { values } = parseArgs({
  options: {
    runs: { type: 'string' },
    frames: { type: 'string' },
    sizes: { type: 'string' },
    encode: { type: 'string' },
    threads: { type: 'boolean' },
    'no-qemu': { type: 'boolean' },
  },
});
const RUNS = Number(values.runs ?? 3);
const FRAMES = Number(values.frames ?? 20);
const SIZES = (values.sizes ?? '1280x800,1920x1080').split(',').map((s) => s.split('x').map(Number));
const ENCODES = values.encode === 'worker' || values.encode === 'main' ? [values.encode] : ['worker', 'main'];

const guest = buildGuest('guest/build.sh');
const kernel = guest.KERNEL;
const initrd = guest.INITRD;
const dir = mkdtempSync(path.join(tmpdir(), 'vdesk-bench-display-'));
const cmd = (script) => `console=ttyS0 vdesk.cmd=${Buffer.from(script).toString('base64')}`;
const script = `drm-pattern --bench ${FRAMES}`;
const parseBench = (text) => {
  const m = /DRM-BENCH (\d+)x(\d+) frames=(\d+) ms=(\d+)/.exec(text);
  if (!m) throw new Error(`no DRM-BENCH line in:\n${text.slice(-1500)}`);
  return (Number(m[3]) * 1000) / Math.max(1, Number(m[4]));
};

function run(bin, args, onErr, env) {
  return new Promise((resolve) => {
    const p = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
    let text = '';
    p.stdout.on('data', (d) => (text += d));
    p.stderr.on('data', (d) => onErr?.(String(d)));
    const t = setTimeout(() => p.kill('SIGKILL'), 600_000);
    p.on('close', () => {
      clearTimeout(t);
      resolve(text);
    });
  });
}

async function ours(w, h, encode) {
  const manifest = path.join(dir, `fb-${w}x${h}.json`);
  writeFileSync(
    manifest,
    JSON.stringify({
      name: `bench-fb-${w}`,
      memory: '256M',
      cpus: values.threads ? 2 : 1,
      ...(values.threads ? { threads: true } : {}),
      devices: [
        { package: '@virtio-desktop/virtio-power' },
        { package: '@virtio-desktop/virtio-fb', options: { width: w, height: h } },
      ],
    }),
  );
  let bytes = 0;
  let ws;
  /** Arrival times of full-screen RECTs. */
  const full = [];
  const text = await run(
    process.execPath,
    [
      path.join(root, 'apps/cli/dist/index.js'),
      'run',
      manifest,
      '--kernel',
      kernel,
      '--initrd',
      initrd,
      '--append',
      cmd(script),
    ],
    (err) => {
      const url = /viewer at (http:\/\/\S+)/.exec(err)?.[1];
      if (url && !ws) {
        const u = new URL(url);
        ws = new WebSocket(`ws://${u.host}/ws?token=${u.searchParams.get('token')}`, {
          headers: { origin: `http://${u.host}` },
        });
        ws.on('message', (d) => {
          bytes += d.length;
          if (d[0] === 2 && d.readUInt16LE(6) === w && d.readUInt16LE(8) === h) full.push(performance.now());
        });
        ws.on('error', () => {});
      }
    },
    { VDESK_VIEWER_ENCODE: encode },
  );
  ws?.close();
  // The first full-screen RECT is the mode set's; the bench's repaints follow it.
  const span = full.length > 2 ? (full[full.length - 1] - full[1]) / 1000 : NaN;
  return {
    fps: parseBench(text),
    bytesPerFrame: bytes / FRAMES,
    delivered: full.length > 2 ? (full.length - 2) / span : 0,
  };
}

async function qemu(w, h) {
  const text = await run('qemu-system-riscv64', [
    '-M',
    'virt',
    '-m',
    '256',
    '-smp',
    '1',
    '-nographic',
    '-no-reboot',
    '-global',
    'virtio-mmio.force-legacy=false',
    '-kernel',
    kernel,
    '-initrd',
    initrd,
    '-append',
    cmd(script),
    '-device',
    `virtio-gpu-device,xres=${w},yres=${h}`,
  ]);
  return { fps: parseBench(text) };
}

const med = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const fmt = (xs, d = 1) =>
  `${med(xs).toFixed(d)} (${Math.min(...xs).toFixed(d)}–${Math.max(...xs).toFixed(d)})`;

console.log(
  `display: ${FRAMES} full-screen repaints from a guest DRM program, ${RUNS} runs each, median (min–max)`,
);
for (const [w, h] of SIZES) {
  const q = [];
  const o = Object.fromEntries(ENCODES.map((e) => [e, []]));
  for (let i = 0; i < RUNS; i++) {
    for (const e of ENCODES) o[e].push(await ours(w, h, e));
    if (!values['no-qemu']) q.push(await qemu(w, h));
  }
  const qf = q.map((r) => r.fps);
  for (const e of ENCODES) {
    const of = o[e].map((r) => r.fps);
    console.log(
      `${w}x${h} (viewer encoding on the ${e === 'worker' ? 'encoder worker' : 'main thread'}${values.threads ? ', harts threaded' : ''}): ours ${fmt(of)} fps` +
        (qf.length ? `, qemu ${fmt(qf)} fps, ours/qemu ${(med(of) / med(qf)).toFixed(3)}` : '') +
        `; delivered to the viewer ${fmt(o[e].map((r) => r.delivered))} full-screen repaints/s; viewer bytes per guest frame ${fmt(
          o[e].map((r) => r.bytesPerFrame / 1024),
          0,
        )} KiB`,
    );
  }
  if (ENCODES.length === 2)
    console.log(
      `${w}x${h}: encoder worker / main thread: guest fps ${(med(o.worker.map((r) => r.fps)) / med(o.main.map((r) => r.fps))).toFixed(2)}×, delivered ${(med(o.worker.map((r) => r.delivered)) / Math.max(1e-9, med(o.main.map((r) => r.delivered)))).toFixed(2)}×`,
    );
}
