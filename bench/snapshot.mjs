#!/usr/bin/env node
// Snapshot benchmark (issue 18): the desktop image (guest/desktop/build.sh) cold-booted to a usable
// desktop, then saved with `vdesk snapshot`, then restored with `vdesk run --restore` — in one run, so
// both see the same machine load. Usable means: the screen is back (a `vdesk screenshot` equal to the
// one taken just before the snapshot) and the terminal answers (a click focuses it, `vdesk type` runs a
// command there, and the console sees the file it wrote). Also prints the snapshot's size against the
// guest RAM in use (its non-zero pages) and the RAM size, and how long the guest stood still.
// The benchmark talks to the control socket itself (one connection per request, as `vdesk` does) so
// that starting a `vdesk` process per screenshot or click (~0.2–0.5 s of CPU each) is not counted as
// restore time, nor competes with the restored machine for the cores.
//
//   node bench/snapshot.mjs [--runs 1] [--restores 1] [--type-ms 30] [--keep DIR]
//   node bench/snapshot.mjs --from DIR [--restores 5]     (restores only, of a snapshot kept with --keep)
// --restores: restores of each snapshot (alternating is not needed: nothing else changes between them).
// --keep DIR: the last snapshot and the screenshot taken before it stay in DIR (desktop.vdsnap,
// before.png) for --from, which skips the cold boot (profiling a restore; no cold boot beside it).
// Node flags for the restored `vdesk run` (e.g. --cpu-prof --cpu-prof-dir=DIR) go in VDESK_RESTORE_NODE_ARGS.
import { execFileSync, spawn } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { clearInterval, setInterval } from 'node:timers';
import { parseArgs } from 'node:util';
import zlib from 'node:zlib';
import { buildGuest, med } from './stats.mjs';

const root = path.resolve(import.meta.dirname, '..');
const vdeskJs = path.join(root, 'apps/cli/dist/index.js');
const { values: opt } = parseArgs({
  options: {
    runs: { type: 'string' },
    restores: { type: 'string' },
    'type-ms': { type: 'string' },
    keep: { type: 'string' },
    from: { type: 'string' },
  },
});
const RUNS = opt.from ? 1 : Number(opt.runs ?? 1);
const RESTORES = Number(opt.restores ?? 1);
const TYPE_MS = Number(opt['type-ms'] ?? 30);
const nodeArgs = (process.env.VDESK_RESTORE_NODE_ARGS ?? '').split(' ').filter(Boolean);
const guest = buildGuest('guest/desktop/build.sh');
const dir = mkdtempSync(path.join(tmpdir(), 'vdesk-bench-snapshot-'));
const env = { ...process.env, VDESK_RUNTIME_DIR: path.join(dir, 'run') };
const manifest = path.join(dir, 'desktop.json');
writeFileSync(
  manifest,
  JSON.stringify({
    name: 'bench-snapshot',
    memory: '1G',
    cpus: 2,
    devices: [
      { package: '@virtio-desktop/virtio-power' },
      { package: '@virtio-desktop/virtio-blk', options: { image: guest.DESKTOP_IMAGE, overlay: true } },
      { package: '@virtio-desktop/virtio-fb', options: { width: 1280, height: 800 } },
      { package: '@virtio-desktop/virtio-input', device: 'keyboard' },
      { package: '@virtio-desktop/virtio-input', device: 'pointer' },
    ],
    boot: { kernel: guest.KERNEL, cmdline: guest.APPEND },
  }),
);

const cli = (...args) => execFileSync(process.execPath, [vdeskJs, ...args], { env, encoding: 'utf8' });
const sock = path.join(env.VDESK_RUNTIME_DIR, 'bench-snapshot.sock');

/** One control request (apps/cli/src/control/protocol.ts); rejects while nothing listens yet. */
function control(req) {
  return new Promise((resolve, reject) => {
    const c = createConnection(sock);
    let buf = '';
    c.setEncoding('utf8');
    c.on('connect', () => c.write(JSON.stringify({ ...req, id: 1 }) + '\n'));
    c.on('data', (d) => {
      buf += d;
      const nl = buf.indexOf('\n');
      if (nl < 0) return;
      c.end();
      const r = JSON.parse(buf.slice(0, nl));
      if (r.ok) resolve(r);
      else reject(new Error(r.error));
    });
    c.on('error', reject);
    c.on('close', () => reject(new Error('closed')));
  });
}
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function start(args, extraNode = []) {
  const p = spawn(process.execPath, [...extraNode, vdeskJs, ...args], {
    env,
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  const out = { text: '', err: '' };
  p.stdout.on('data', (d) => (out.text += d.toString('latin1')));
  p.stderr.on('data', (d) => (out.err += d));
  const waitFor = (re, from = 0, timeoutMs = 900_000) =>
    new Promise((resolve, reject) => {
      const t0 = performance.now();
      const t = setInterval(() => {
        if (re.test(out.text.slice(from))) {
          clearInterval(t);
          resolve(performance.now());
        } else if (performance.now() - t0 > timeoutMs) {
          clearInterval(t);
          reject(new Error(`no ${re} within ${timeoutMs} ms\n${out.text.slice(-1000)}\n${out.err}`));
        }
      }, 20);
    });
  return { p, out, waitFor };
}

/** Commands typed again after 5 s without an answer: [cold, restored]. */
const retyped = [0, 0];
/** Screenshots that did not show the saved screen yet (each a PNG encoded by the restored vdesk). */
const shots = [0, 0];
let phase = 0;
/**
 * The terminal answers: focus it, type a command, and see its file from the console. Returns when the
 * console saw the file and when the last key had gone to the guest (the typing's share). `fifo`: the
 * snapshot's /tmp/typed is a named pipe (made before the snapshot), so one blocking `read` on the
 * console sees the typed command's line the moment its shell writes it, and the console does not poll
 * the guest meanwhile; otherwise the console checks the file every ~50 ms.
 */
async function terminalAnswers(v, tag, fifo = false) {
  let typed = -Infinity;
  let keysIn = NaN;
  let firstKey = NaN;
  let armed = -1;
  const t0 = performance.now();
  for (;;) {
    if (performance.now() - t0 > 120_000)
      throw new Error(`${tag}: no answer in 2 minutes; the console's last words:\n${v.out.text.slice(-800)}`);
    if (fifo && armed < 0) {
      armed = v.out.text.length;
      v.p.stdin.write(`read -r T </tmp/typed; echo "T=$T CHK-$((1+1))"\n`);
    }
    // Again every few seconds: keys typed before the terminal is mapped and focused are lost.
    if (performance.now() - typed > 5000) {
      if (typed > 0) retyped[phase]++;
      await control({ cmd: 'click', x: 300, y: 200, button: 'left' });
      // 30 ms a key by default, as tests/desktop.test.ts types in Chromium (a fast typist: ~100 ms).
      // --type-ms 8 is `vdesk type`'s and the viewer's paste pace (each key also waits for room in the
      // keyboard's queue): right after a restore, or under load, the guest's X server may not read the
      // kernel's evdev buffer (64 events, 16 keys) in time, keys are lost (SYN_DROPPED), and the command
      // is typed again after 5 s (counted below).
      firstKey = performance.now();
      await control({ cmd: 'type', text: `echo ${tag} > /tmp/typed\n`, intervalMs: TYPE_MS });
      typed = keysIn = performance.now();
    }
    if (fifo) {
      const left = Math.max(50, typed + 5000 - performance.now());
      const got = await v.waitFor(/CHK-2/, armed, left).catch(() => null);
      if (got === null) continue; // nothing yet: type it again
      if (v.out.text.slice(armed).includes(`T=${tag} CHK-2`)) return { answered: got, keysIn, firstKey };
      armed = -1; // another line (a command typed with keys lost, or no pipe): read again
      await sleep(50);
      continue;
    }
    const from = v.out.text.length;
    // Shell builtins only: a `cat` per check was a process started in the guest every ~0.1 s, competing
    // with X and the terminal for the guest's CPU.
    v.p.stdin.write(`read -r T 2>/dev/null </tmp/typed; echo "T=$T CHK-$((1+1))"\n`);
    await v.waitFor(/CHK-2/, from, 60_000);
    if (v.out.text.slice(from).includes(`T=${tag} CHK-2`))
      return { answered: performance.now(), keysIn, firstKey };
    await sleep(50);
  }
}

const shot = async () => Buffer.from(String((await control({ cmd: 'screenshot' })).png), 'base64');

const mib = (n) => `${(n / 2 ** 20).toFixed(1)} MiB`;

/**
 * The file against the RAM in use: its sections (packages/machine/src/snapshot-file.ts) are the state
 * tree and the non-zero pages; the pages are inflated and compressed again as one stream at zlib's
 * default level, the reference for "the guest RAM in use, compressed".
 */
function sizes(file, guestUsed) {
  const f = readFileSync(file);
  const hl = f.readUInt32LE(12);
  const h = JSON.parse(f.subarray(16, 16 + hl).toString());
  let at = 16 + hl + h.sections[0].stored;
  const pages = h.sections.slice(1).map((s) => zlib.inflateRawSync(f.subarray(at, (at += s.stored))));
  const ref = zlib.deflateRawSync(Buffer.concat(pages)).length;
  console.log(
    `  file ${mib(f.length)}: RAM ${mib(h.ramStoredBytes)} (${h.sections.length - 1} sections), ` +
      `the devices' and harts' state ${mib(h.sections[0].stored)} (${mib(h.sections[0].raw)} raw)`,
  );
  console.log(
    `  guest RAM in use: ${mib(h.ramInUse)} of non-zero pages, ${mib(ref)} compressed as one zlib stream ` +
      `(level 6)${Number.isNaN(guestUsed) ? '' : `; the guest counts ${mib(guestUsed)} used (MemTotal - MemFree)`}; ` +
      `RAM ${mib(h.ramSize)}`,
  );
}

const cold = [];
const restored = [];
const screen = [];
const resumed = [];
const typing = [];
const firstKeys = [];
const cpu = [];
/** CPU time (user + system) a process has used so far, from /proc (Linux): the work, whatever the load. */
function cpuSeconds(pid) {
  try {
    const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return (Number(f[11]) + Number(f[12])) / 100; // utime, stime in clock ticks (USER_HZ 100)
  } catch {
    return NaN;
  }
}
let report = '';
let last;

/** Cold boot to the desktop's own "usable" marker, then to a terminal that answers; then snapshot it. */
async function coldRun(run) {
  phase = 0;
  const t0 = performance.now();
  const a = start(['run', manifest, '--no-viewer']);
  const ready = await a.waitFor(/VDESK-DESKTOP-READY/);
  const { answered } = await terminalAnswers(a, `cold${run}`);
  cold.push({ ready: (ready - t0) / 1000, answers: (answered - t0) / 1000 });
  await sleep(3000); // let the desktop settle, as a person would before saving it
  const from = a.out.text.length;
  a.p.stdin.write(`echo MEM-$(awk '/^Mem(Total|Free):/ {print $2}' /proc/meminfo | paste -sd-)-KB\n`);
  await a.waitFor(/MEM-\d+-\d+-KB/, from);
  const [total, free] = /MEM-(\d+)-(\d+)-KB/.exec(a.out.text.slice(from)).slice(1).map(Number);
  // The restores' typed commands write into a named pipe the console reads (terminalAnswers); the
  // terminal's user owns it (its shell may not open root's pipe in sticky /tmp for writing).
  const at = a.out.text.length;
  a.p.stdin.write(
    `rm -f /tmp/typed; mkfifo -m 666 /tmp/typed && chown user /tmp/typed && echo FIFO-$((2+3))\n`,
  );
  await a.waitFor(/FIFO-5/, at);
  const file = path.join(dir, `desktop${run}.vdsnap`);
  const before = await shot();
  report = cli('snapshot', file).trim();
  a.p.kill('SIGKILL');
  await new Promise((r) => a.p.on('close', r));
  return { file, before, meminfo: (total - free) * 1024 };
}

/** Restore `file` in a new process: until it runs, until its screen is `before`, until it answers. */
async function restoreRun(file, before, tag) {
  phase = 1;
  const t1 = performance.now();
  const b = start(['run', '--restore', file, '--no-viewer'], nodeArgs);
  // The machine runs again (its screen handed to the display) when vdesk prints this line.
  const running = new Promise((resolve) => {
    const t = setInterval(() => {
      if (/vdesk: restored /.test(b.out.err)) {
        clearInterval(t);
        resolve(performance.now());
      }
    }, 10);
  });
  // The screen: poll screenshots until one equals the one taken before the snapshot.
  let shown = NaN;
  for (let i = 0; i < 3000 && Number.isNaN(shown); i++) {
    try {
      if ((await shot()).equals(before)) shown = performance.now();
      else shots[1]++;
    } catch {
      await sleep(10); // the control socket is not up yet
    }
  }
  const { answered, keysIn, firstKey } = await terminalAnswers(b, tag, true);
  firstKeys.push((firstKey - t1) / 1000);
  cpu.push(cpuSeconds(b.p.pid));
  resumed.push(((await running) - t1) / 1000);
  screen.push((shown - t1) / 1000);
  restored.push((answered - t1) / 1000);
  typing.push((keysIn - t1) / 1000);
  // SIGINT first, so a --cpu-prof in VDESK_RESTORE_NODE_ARGS is written; then for good.
  b.p.kill(nodeArgs.length ? 'SIGINT' : 'SIGKILL');
  const killer = setTimeout(() => b.p.kill('SIGKILL'), 20_000);
  await new Promise((r) => b.p.on('close', r));
  clearTimeout(killer);
  last = b;
}

const load = () => readFileSync('/proc/loadavg', 'utf8').split(' ')[0] ?? '?';
const loads = [];
if (opt.from) {
  const file = path.join(opt.from, 'desktop.vdsnap');
  const before = readFileSync(path.join(opt.from, 'before.png'));
  for (let k = 0; k < RESTORES; k++) {
    loads.push(load());
    await restoreRun(file, before, `restored${k}`);
  }
  console.log(`  ${last.out.err.match(/vdesk: restored .*/)?.[0]}`);
  sizes(file, NaN);
} else
  for (let run = 0; run < RUNS; run++) {
    loads.push(load());
    const { file, before, meminfo } = await coldRun(run);
    for (let k = 0; k < RESTORES; k++) {
      loads.push(load());
      await restoreRun(file, before, `restored${run}x${k}`);
    }
    if (opt.keep) {
      mkdirSync(opt.keep, { recursive: true });
      copyFileSync(file, path.join(opt.keep, 'desktop.vdsnap'));
      writeFileSync(path.join(opt.keep, 'before.png'), before);
    }
    if (run === RUNS - 1) {
      console.log(`snapshot: ${report}`);
      console.log(`  ${last.out.err.match(/vdesk: restored .*/)?.[0]}`);
      sizes(file, meminfo);
    }
  }
const f = (xs) => `${med(xs).toFixed(2)} s (${Math.min(...xs).toFixed(2)}–${Math.max(...xs).toFixed(2)})`;
console.log(
  `desktop, 2 harts, 1 GiB, ${cold.length} cold run(s), ${restored.length} restore(s), keys every ${TYPE_MS} ms, ` +
    `1-min load at each start ${loads.join(' ')}; median (min–max):`,
);
if (cold.length) {
  console.log(`  cold boot to VDESK-DESKTOP-READY:       ${f(cold.map((c) => c.ready))}`);
  console.log(`  cold boot to a terminal that answers:   ${f(cold.map((c) => c.answers))}`);
}
console.log(`  restore to the machine running again:   ${f(resumed)}`);
console.log(
  `  restore to the screen shown:            ${f(screen)} (screenshots polled on the control socket)`,
);
// The probe's own typing (its keys at --type-ms each) is part of "answers"; the first key's time says when
// the restored desktop took input, and the answer's lag after the last key whether the guest kept up.
console.log(`  restore to the probe's first key typed: ${f(firstKeys)} (the screen shown, then a click)`);
console.log(`  restore to the last key typed:          ${f(typing)}`);
console.log(
  `  restore to a terminal that answers:     ${f(restored)} (` +
    `${(med(restored.map((r, i) => r - typing[i])) * 1000).toFixed(0)} ms after the last key, median)`,
);
console.log(`  CPU time of the restored vdesk by then:  ${f(cpu)} (user + system, all its threads)`);
console.log(
  `  (commands typed again after 5 s without an answer: cold ${retyped[0]}, restored ${retyped[1]}; ` +
    `screenshots before the saved screen showed: ${shots[1]})`,
);
