#!/usr/bin/env node
// The desktop in a web page: time from opening the page (apps/web served by `vdesk web`) in headless
// Chromium to a usable desktop (the image's VDESK-DESKTOP-READY console line, seen by the page), beside
// `vdesk run` in Node booting the same image (2 harts, 1 GiB, no network: the page has none) from
// process start to the same line, alternating in one run; and the bytes the page fetched before the
// desktop was usable (kernel + the disk's chunks read by range; target <= 60 MiB of the ~200 MiB image).
// Each browser run is a fresh profile (empty OPFS: a first visit); it then presses Save and reloads,
// timing how long the page takes to continue the saved machine. --threads adds a first visit with each
// hart on its own Web Worker (?threads=1). Medians (min-max).
//
//   node bench/web.mjs [--runs 3] [--threads]
/* global window, document */
import { spawn } from 'node:child_process';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { chromium } from 'playwright-core';
import { buildGuest, fmt, med, timeMarkers } from './stats.mjs';

const root = path.resolve(import.meta.dirname, '..');
const vdesk = path.join(root, 'apps/cli/dist/index.js');
const { values } = parseArgs({
  options: { runs: { type: 'string', default: '3' }, threads: { type: 'boolean', default: false } },
});
const RUNS = Number(values.runs);
buildGuest('guest/desktop/build.sh');

const server = spawn(process.execPath, [vdesk, 'web', '--port', '0'], {
  stdio: ['ignore', 'pipe', 'inherit'],
});
const url = await new Promise((resolve, reject) => {
  let out = '';
  server.stdout.on('data', (d) => {
    out += d;
    const m = /^(http:\/\/\S+)$/m.exec(out);
    if (m) resolve(m[1]);
  });
  server.on('exit', (code) => reject(new Error(`vdesk web exited (${code})`)));
});
const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'],
});

async function ready(page, t0) {
  for (;;) {
    const s = await page.evaluate(() => ({
      ready: window.__vdeskWeb.ready,
      errors: window.__vdeskWeb.errors,
    }));
    if (s.errors.length) throw new Error(`the page shows: ${s.errors.join('; ')}`);
    if (s.ready) return { s: (performance.now() - t0) / 1000, bytes: s.ready.bytesFetched };
    if (performance.now() - t0 > 900_000) throw new Error('no usable desktop in 15 minutes');
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** A first visit (fresh profile) to a usable desktop; then Save, and the time a reload takes to continue. */
async function web(query = '') {
  const context = await browser.newContext({ viewport: { width: 1280, height: 836 } });
  try {
    const page = await context.newPage();
    const t0 = performance.now();
    await page.goto(url + query);
    const cold = await ready(page, t0);
    if (query) return { ...cold, saved: NaN, snapMiB: NaN };
    await page.click('#save');
    await page.waitForFunction(
      () => /^saved /.test(document.getElementById('status').textContent),
      undefined,
      {
        timeout: 300_000,
      },
    );
    const snapMiB = Number(/\(([\d.]+) MiB\)/.exec(await page.locator('#status').textContent())?.[1]);
    const t1 = performance.now();
    await page.reload();
    const warm = await ready(page, t1);
    return { ...cold, saved: warm.s, snapMiB };
  } finally {
    await context.close();
  }
}

async function node() {
  const { at } = await timeMarkers(
    process.execPath,
    [vdesk, 'run', '--net', 'none', '--no-viewer'],
    ['VDESK-DESKTOP-READY'],
    { stopAtLast: true, timeoutMs: 900_000 },
  );
  return at['VDESK-DESKTOP-READY'];
}

const w = [];
const n = [];
const th = [];
try {
  for (let i = 0; i < RUNS; i++) {
    w.push(await web());
    n.push(await node());
    if (values.threads) th.push((await web('?threads=1')).s);
    console.error(
      `run ${i + 1}/${RUNS}: page ${w[i].s.toFixed(1)} s (${(w[i].bytes / 2 ** 20).toFixed(1)} MiB, saved: ${w[i].saved.toFixed(1)} s), vdesk run ${n[i].toFixed(1)} s${th.length ? `, threads ${th[i].toFixed(1)} s` : ''}`,
    );
  }
} finally {
  await browser.close();
  server.kill('SIGTERM');
}
const ws = w.map((r) => r.s);
const mib = w.map((r) => r.bytes / 2 ** 20);
console.log(`desktop in a web page: ${RUNS} runs each, alternating, median (min–max)`);
console.log(`  time to a usable desktop, headless Chromium  ${fmt(ws, 1)} s`);
console.log(`  time to a usable desktop, vdesk run (Node)   ${fmt(n, 1)} s`);
console.log(
  `  page / Node                                  ${(med(ws) / med(n)).toFixed(2)}x (target <= 1.5x)`,
);
console.log(`  fetched before usable (kernel + disk)        ${fmt(mib, 1)} MiB (target <= 60 MiB)`);
console.log(
  `  Save, reload: the saved machine continues    ${fmt(
    w.map((r) => r.saved),
    1,
  )} s (snapshot ${fmt(
    w.map((r) => r.snapMiB),
    1,
  )} MiB)`,
);
if (th.length) console.log(`  first visit, harts on Web Workers           ${fmt(th, 1)} s`);
