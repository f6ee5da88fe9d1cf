#!/usr/bin/env node
// Display benchmark: full-screen repaints per second from a guest DRM program (guest/tools/drm-pattern.c
// --bench), on our machine (virtio-fb, with a viewer client connected) and on qemu-system-riscv64 with its
// virtio-gpu-device, same kernel and initramfs, in the same run; plus the bytes our viewer sends per
// guest frame, and the full-screen repaints our viewer delivers per second to its client, first to last:
// drawn on the canvas of the viewer page in headless Chromium (--client chromium, the default when
// /usr/bin/chromium exists: issue 17's target, ≥ 30/s at 1920×1080), or RECT messages of the whole
// screen received by a Node WebSocket client (--client node, which also counts the bytes). Our machine
// runs with the viewer compressing frames on its worker thread and (--encode both, the default) also on
// the main thread as before, to compare. Each configuration runs RUNS times; medians are reported, with
// min and max. --profile DIR writes V8 CPU profiles of each vdesk (every thread) there.
//
//   node bench/display.mjs [--runs 3] [--frames 120] [--sizes 1280x800,1920x1080]
//                          [--encode both|worker|main] [--threads] [--no-qemu] [--client chromium|node]
//                          [--profile DIR] [--page-profile DIR]
// --page-profile DIR writes a CPU profile of the viewer page's main thread (Chromium's, over CDP) there.
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
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
    profile: { type: 'string' },
    'page-profile': { type: 'string' },
    client: { type: 'string' },
  },
});
const RUNS = Number(values.runs ?? 3);
const FRAMES = Number(values.frames ?? 120);
const SIZES = (values.sizes ?? '1280x800,1920x1080').split(',').map((s) => s.split('x').map(Number));
const ENCODES = values.encode === 'worker' || values.encode === 'main' ? [values.encode] : ['worker', 'main'];
const CHROMIUM = '/usr/bin/chromium';
const CLIENT = values.client ?? (existsSync(CHROMIUM) ? 'chromium' : 'node');

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

/* global window, CanvasRenderingContext2D -- the page functions below run in Chromium */
/** Counts full-screen repaints drawn on the viewer page's canvas (the page's own code is unchanged). */
const COUNT_DRAWS = () => {
  const put = CanvasRenderingContext2D.prototype.putImageData;
  window.__fullDraws = [];
  CanvasRenderingContext2D.prototype.putImageData = function (img, ...rest) {
    const r = put.call(this, img, ...rest);
    if (img.width === this.canvas.width && img.height === this.canvas.height)
      window.__fullDraws.push(performance.now());
    return r;
  };
};

let browser = null;
async function chromium() {
  if (browser) return browser;
  const { chromium: c } = require('playwright-core');
  browser = await c.launch({
    executablePath: CHROMIUM,
    args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'],
  });
  return browser;
}

/** Full-screen repaints per second from arrival times: the first is the mode set's, the rest the bench's. */
const rate = (t) => (t.length > 2 ? (t.length - 2) / ((t[t.length - 1] - t[1]) / 1000) : 0);

/** A Node WebSocket client: counts full-screen RECTs as they arrive, and bytes. */
function nodeClient(url, w, h) {
  const u = new URL(url);
  const ws = new WebSocket(`ws://${u.host}/ws?token=${u.searchParams.get('token')}`, {
    headers: { origin: `http://${u.host}` },
  });
  const full = [];
  let bytes = 0;
  ws.on('message', (d) => {
    bytes += d.length;
    if (d[0] === 2 && d.readUInt16LE(6) === w && d.readUInt16LE(8) === h) full.push(performance.now());
  });
  ws.on('error', () => {});
  return {
    async done() {
      ws.close();
      return { delivered: rate(full), bytes, draws: full.length };
    },
  };
}

/** The viewer page in headless Chromium, sized to the screen (so it asks for no other mode). */
function pageClient(url, w, h) {
  const ready = (async () => {
    const b = await chromium();
    const page = await b.newPage({ viewport: { width: w, height: h } });
    await page.addInitScript(COUNT_DRAWS);
    let cdp = null;
    if (values['page-profile']) {
      cdp = await page.context().newCDPSession(page);
      await cdp.send('Profiler.enable');
      await cdp.send('Profiler.setSamplingInterval', { interval: 200 });
      await cdp.send('Profiler.start');
    }
    await page.goto(url);
    return { page, cdp };
  })();
  // A vdesk that exits before the page loads leaves nothing to count (reported as 0 drawn), not a crash.
  ready.catch(() => {});
  return {
    async done() {
      const p = await ready.catch(() => null);
      if (!p) return { delivered: 0, bytes: NaN, draws: 0 };
      const { page, cdp } = p;
      // Frames already received are still being inflated and drawn: wait until the count settles.
      let n = -1;
      for (let same = 0; same < 5;) {
        const m = await page.evaluate(() => window.__fullDraws.length);
        same = m === n ? same + 1 : 0;
        n = m;
        await new Promise((r) => setTimeout(r, 100));
      }
      const full = await page.evaluate(() => window.__fullDraws);
      if (cdp) {
        const { profile } = await cdp.send('Profiler.stop');
        const file = path.join(values['page-profile'], `page-${Date.now()}.cpuprofile`);
        writeFileSync(file, JSON.stringify(profile));
      }
      await page.close();
      return { delivered: rate(full), bytes: NaN, draws: full.length };
    },
  };
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
  let client = null;
  const text = await run(
    process.execPath,
    [
      ...(values.profile ? ['--cpu-prof', '--cpu-prof-dir', values.profile] : []),
      path.join(root, 'apps/cli/dist/index.js'),
      'run',
      manifest,
      '--kernel',
      kernel,
      '--initrd',
      initrd,
      '--append',
      // The guest boots for seconds before the bench starts: the client is connected by then.
      cmd(script),
    ],
    (err) => {
      const url = /viewer at (http:\/\/\S+)/.exec(err)?.[1];
      if (url && !client) client = CLIENT === 'node' ? nodeClient(url, w, h) : pageClient(url, w, h);
    },
    { VDESK_VIEWER_ENCODE: encode },
  );
  const c = client ? await client.done() : { delivered: 0, bytes: NaN, draws: 0 };
  // The viewer skips frames the guest draws faster than it can send (by design); too few to time is news.
  if (c.draws < 10)
    console.log(
      `  (the viewer drew ${c.draws} full-screen frames of ${FRAMES}: connected late, or --frames too few)`,
    );
  return { fps: parseBench(text), bytesPerFrame: c.bytes / FRAMES, delivered: c.delivered };
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
        `; delivered to the viewer (${CLIENT === 'node' ? 'a Node WebSocket client' : 'drawn by the page in headless Chromium'}) ${fmt(o[e].map((r) => r.delivered))} full-screen repaints/s` +
        (CLIENT === 'node'
          ? `; viewer bytes per guest frame ${fmt(
              o[e].map((r) => r.bytesPerFrame / 1024),
              0,
            )} KiB`
          : ''),
    );
  }
  if (ENCODES.length === 2)
    console.log(
      `${w}x${h}: encoder worker / main thread: guest fps ${(med(o.worker.map((r) => r.fps)) / med(o.main.map((r) => r.fps))).toFixed(2)}×, delivered ${(med(o.worker.map((r) => r.delivered)) / Math.max(1e-9, med(o.main.map((r) => r.delivered)))).toFixed(2)}×`,
    );
}
await browser?.close();
