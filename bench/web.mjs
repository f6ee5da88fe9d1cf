#!/usr/bin/env node
// The desktop in a web page: time from opening the page (apps/web served by `vdesk web`) in headless
// Chromium to a usable desktop (the image's VDESK-DESKTOP-READY console line, seen by the page), beside
// `vdesk run` in Node booting the same image (2 harts, 1 GiB, no network: the page has none) from
// process start to the same line, alternating in one run; and the bytes the page fetched before the
// desktop was usable (kernel + the disk's chunks read by range; target <= 60 MiB of the ~200 MiB image).
// Each browser run is a fresh profile (empty OPFS: a first visit); it then presses Save and reloads,
// timing how long the page takes to continue the saved machine. --threads adds a first visit with each
// hart on its own Web Worker (?threads=1). Medians (min-max). --profile DIR writes CPU profiles (over
// CDP) of the page and of its machine's worker during each first visit, up to the usable desktop, and of
// `vdesk run` (node --cpu-prof) to the same point; summarise them with bench/profile.mjs.
//
// --compare DIR adds, in each run, a first visit to the same page built into DIR (another build of
// apps/web, e.g. from before a change), so that two builds are timed under the same load.
//
//   node bench/web.mjs [--runs 3] [--threads] [--profile DIR] [--compare DIR]
/* global window, document */
import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { chromium } from 'playwright-core';
import { buildGuest, fmt, med } from './stats.mjs';

const root = path.resolve(import.meta.dirname, '..');
const vdesk = path.join(root, 'apps/cli/dist/index.js');
const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '3' },
    threads: { type: 'boolean', default: false },
    profile: { type: 'string' },
    compare: { type: 'string' },
  },
});
const profileDir = values.profile ? path.resolve(values.profile) : null;
if (profileDir) mkdirSync(profileDir, { recursive: true });
const RUNS = Number(values.runs);
buildGuest('guest/desktop/build.sh');

const servers = [];
/** `vdesk web` serving `site` (default: apps/web/dist); resolves to its URL. */
function serve(site) {
  const server = spawn(process.execPath, [vdesk, 'web', '--port', '0', ...(site ? ['--site', site] : [])], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  servers.push(server);
  return new Promise((resolve, reject) => {
    let out = '';
    server.stdout.on('data', (d) => {
      out += d;
      const m = /^(http:\/\/\S+)$/m.exec(out);
      if (m) resolve(m[1]);
    });
    server.on('exit', (code) => reject(new Error(`vdesk web exited (${code})`)));
  });
}
const url = await serve();
const compareUrl = values.compare ? await serve(path.resolve(values.compare)) : null;
const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'],
});

/**
 * CPU seconds (user + system) of process `pid` and its descendants, per process (Linux /proc; empty
 * elsewhere). The browser's renderers, GPU and network processes all count: the page needs them all.
 */
function treeCpu(pid) {
  const kids = new Map();
  const cpu = new Map();
  let dirs = [];
  try {
    dirs = readdirSync('/proc').filter((d) => /^\d+$/.test(d));
  } catch {
    return cpu;
  }
  const all = new Map();
  for (const d of dirs) {
    let st;
    try {
      st = readFileSync(`/proc/${d}/stat`, 'utf8');
    } catch {
      continue; // gone meanwhile
    }
    // After the command's ")": state, ppid, ... utime and stime are the 12th and 13th fields.
    const f = st.slice(st.lastIndexOf(')') + 2).split(' ');
    const ppid = Number(f[1]);
    all.set(Number(d), (Number(f[11]) + Number(f[12])) / 100);
    kids.set(ppid, [...(kids.get(ppid) ?? []), Number(d)]);
  }
  for (const stack = [pid]; stack.length;) {
    const p = stack.pop();
    if (all.has(p)) cpu.set(p, all.get(p));
    stack.push(...(kids.get(p) ?? []));
  }
  return cpu;
}

/** The browser playwright started: our child process whose command is chromium (-1 if not found). */
function browserPid() {
  let dirs = [];
  try {
    dirs = readdirSync('/proc').filter((x) => /^\d+$/.test(x));
  } catch {
    return -1;
  }
  for (const d of dirs) {
    try {
      const st = readFileSync(`/proc/${d}/stat`, 'utf8');
      const ppid = Number(st.slice(st.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === process.pid && /^chrom/.test(readFileSync(`/proc/${d}/comm`, 'utf8'))) return Number(d);
    } catch {
      // gone meanwhile, or no /proc
    }
  }
  return -1;
}

/** CPU seconds the tree used since `before` (a treeCpu() result); processes that ended meanwhile are lost. */
function cpuSince(pid, before) {
  let s = 0;
  for (const [p, c] of treeCpu(pid)) s += c - (before.get(p) ?? 0);
  return s;
}

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

/**
 * CPU profiles of the page and of every worker it starts (the machine's), from their first instruction:
 * each worker waits for the debugger until its profiler runs. Returns a function that stops them all
 * and writes NAME-<target>.cpuprofile files.
 */
async function profileTargets(page, name) {
  const cdp = await page.context().newCDPSession(page);
  let nextId = 0;
  const replies = new Map();
  const workers = [];
  cdp.on('Target.receivedMessageFromTarget', (e) => {
    const m = JSON.parse(e.message);
    if (m.id !== undefined) replies.get(m.id)?.(m.result ?? {});
    replies.delete(m.id);
  });
  // Playwright's own session to the page is flat; this one speaks to its workers through messages.
  const send = (sessionId, method, params = {}) =>
    new Promise((resolve) => {
      const id = ++nextId;
      replies.set(id, resolve);
      void cdp.send('Target.sendMessageToTarget', {
        sessionId,
        message: JSON.stringify({ id, method, params }),
      });
    });
  cdp.on('Target.attachedToTarget', (e) => {
    const s = e.sessionId;
    workers.push({ s, url: e.targetInfo.url });
    void (async () => {
      await send(s, 'Profiler.enable');
      await send(s, 'Profiler.setSamplingInterval', { interval: 1000 });
      await send(s, 'Profiler.start');
      await send(s, 'Runtime.runIfWaitingForDebugger');
    })();
  });
  await cdp.send('Target.setAutoAttach', { autoAttach: true, waitForDebuggerOnStart: true, flatten: false });
  await cdp.send('Profiler.enable');
  await cdp.send('Profiler.setSamplingInterval', { interval: 1000 });
  await cdp.send('Profiler.start');
  return async () => {
    const write = (who, profile) =>
      writeFileSync(path.join(profileDir, `${name}-${who}.cpuprofile`), JSON.stringify(profile));
    write('page', (await cdp.send('Profiler.stop')).profile);
    for (const w of workers) {
      const r = await send(w.s, 'Profiler.stop');
      if (r.profile) write(path.basename(new URL(w.url).pathname, '.js'), r.profile);
    }
    await cdp.detach();
  };
}

/** A first visit (fresh profile) to a usable desktop; then Save, and the time a reload takes to continue. */
async function web(query = '', run = 0, base = url) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 836 } });
  try {
    const page = await context.newPage();
    const stopProfile = profileDir && !query ? await profileTargets(page, `web-${run + 1}`) : null;
    const bpid = browserPid();
    const cpu0 = treeCpu(bpid);
    const t0 = performance.now();
    await page.goto(base + query);
    const cold = { ...(await ready(page, t0)), cpu: cpuSince(bpid, cpu0) };
    await stopProfile?.();
    if (query || base !== url) return { ...cold, saved: NaN, snapMiB: NaN };
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

/**
 * `vdesk run` from process start to the marker: wall seconds and the CPU seconds it used. With --profile
 * under --cpu-prof, which writes its file at exit: two SIGTERMs at the marker make the CLI stop the machine
 * at once and exit normally (a SIGKILL would lose the profile).
 */
function node(run = 0) {
  const marker = 'VDESK-DESKTOP-READY';
  const prof = profileDir ? ['--cpu-prof', '--cpu-prof-interval', '1000', '--cpu-prof-dir', profileDir] : [];
  if (profileDir) prof.push('--cpu-prof-name', `node-${run + 1}.cpuprofile`);
  const args = [...prof, vdesk, 'run', '--net', 'none', '--no-viewer', '--name', 'bench-web-node'];
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    let text = '';
    let at;
    let cpu = NaN;
    const p = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'ignore'] });
    const limit = setTimeout(() => p.kill('SIGKILL'), 900_000);
    p.stdout.on('data', (d) => {
      text = (text + d).slice(-64 * 1024);
      if (at !== undefined || !text.includes(marker)) return;
      at = (performance.now() - t0) / 1000;
      cpu = cpuSince(p.pid, new Map());
      if (!profileDir) return void p.kill('SIGKILL');
      p.kill('SIGTERM');
      setTimeout(() => p.kill('SIGTERM'), 200);
    });
    p.on('close', () => {
      clearTimeout(limit);
      if (at === undefined) reject(new Error(`vdesk run: no ${marker}:\n${text.slice(-1500)}`));
      else resolve({ s: at, cpu });
    });
  });
}

const w = [];
const n = [];
const th = [];
const cmp = [];
const f1 = (x) => x.toFixed(1);
try {
  for (let i = 0; i < RUNS; i++) {
    w.push(await web('', i));
    n.push(await node(i));
    if (values.threads) th.push(await web('?threads=1'));
    if (compareUrl) cmp.push(await web('', i, compareUrl));
    const extra = [
      th.length ? `, threads ${f1(th[i].s)} s` : '',
      cmp.length ? `, compared build ${f1(cmp[i].s)} s (${f1(cmp[i].cpu)} s CPU)` : '',
    ];
    console.error(
      `run ${i + 1}/${RUNS}: page ${f1(w[i].s)} s (${f1(w[i].cpu)} s CPU, ${f1(w[i].bytes / 2 ** 20)} MiB, saved: ${f1(w[i].saved)} s), vdesk run ${f1(n[i].s)} s (${f1(n[i].cpu)} s CPU)${extra.join('')}`,
    );
  }
} finally {
  await browser.close();
  for (const s of servers) s.kill('SIGTERM');
}
const sec = (rs) => rs.map((r) => r.s);
const cpu = (rs) => rs.map((r) => r.cpu);
/** The median of the ratios of each run's page to the Node run beside it (a load that changes between runs cancels). */
const byRun = (rs, k) =>
  fmt(
    rs.map((r, i) => r[k] / n[i][k]),
    2,
  );
const mib = w.map((r) => r.bytes / 2 ** 20);
console.log(`desktop in a web page: ${RUNS} runs each, alternating, median (min–max)`);
console.log(`  time to a usable desktop, headless Chromium  ${fmt(sec(w), 1)} s`);
console.log(`  time to a usable desktop, vdesk run (Node)   ${fmt(sec(n), 1)} s`);
console.log(
  `  page / Node                                  ${(med(sec(w)) / med(sec(n))).toFixed(2)}x (target <= 1.5x); run by run ${byRun(w, 's')}x`,
);
console.log(
  `  CPU seconds to usable: Chromium (all its processes) ${fmt(cpu(w), 1)}, Node ${fmt(cpu(n), 1)}`,
);
console.log(`  CPU page / Node, run by run                  ${byRun(w, 'cpu')}x`);
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
if (th.length) console.log(`  first visit, harts on Web Workers           ${fmt(sec(th), 1)} s`);
if (cmp.length) {
  console.log(
    `  first visit, the build in ${values.compare}: ${fmt(sec(cmp), 1)} s, ${fmt(cpu(cmp), 1)} s CPU`,
  );
  console.log(`    its page / Node: ${byRun(cmp, 's')}x run by run, CPU ${byRun(cmp, 'cpu')}x`);
}
