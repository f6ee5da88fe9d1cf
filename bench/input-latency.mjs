#!/usr/bin/env node
// Input latency (issue 17): from the moment a host input event exists to the moment its frame is in the
// guest's used ring, while the guest is idle and while every hart runs a CPU-bound shell loop, with the
// harts on one thread and on worker threads. The events come from another thread over a TCP socket
// (as the viewer's WebSocket and the control socket bring them): that thread stamps each one, this
// thread presses the key on the virtio-input keyboard when the socket's data arrives, and the device's
// 'delivered' event (emitted right after the used-ring entries are written) closes the interval. So the
// latency covers what a busy machine adds: the wait for this thread's event loop (behind the run loop
// on one thread), the device, and a guest that has not yet given buffers back. The guest reads every
// event with evdev-dump. Issue 17's target: p99 < 5 ms while the guest is busy.
//
//   node bench/input-latency.mjs [--events 1000] [--interval 10] [--runs 1] [--cpus 2]
//                                [--configs one,threads] [--yield-ms N]
// --yield-ms sets the one-thread run loop's yieldEveryMs (the machine's default is 10).
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { cpus as hostCpus, loadavg } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { Worker } from 'node:worker_threads';
import { RiscvMachine, parseManifest } from '../packages/machine/dist/index.js';
import { nodeModuleLoader } from '../packages/machine/dist/node.js';
import { buildGuest } from './stats.mjs';

const root = path.resolve(import.meta.dirname, '..');
const { values: v } = parseArgs({
  options: {
    events: { type: 'string', default: '1000' },
    interval: { type: 'string', default: '10' },
    runs: { type: 'string', default: '1' },
    cpus: { type: 'string', default: '2' },
    configs: { type: 'string', default: 'one,threads' },
    'yield-ms': { type: 'string' },
    child: { type: 'string' },
  },
});
const EVENTS = Number(v.events);
const INTERVAL = Number(v.interval);
const CPUS = Number(v.cpus);
const g = v.child ? JSON.parse(process.env.VDESK_BENCH_GUEST ?? '{}') : buildGuest('guest/build.sh');
process.env.VDESK_BENCH_GUEST = JSON.stringify(g);
const images = { kernel: readFileSync(g.KERNEL), initrd: readFileSync(g.INITRD) };
const silent = { debug() {}, info() {}, warn() {}, error: (m) => console.error(m) };
const now = () => performance.timeOrigin + performance.now();

/** The event source: stamps `count` events `interval` ms apart and writes them to the socket. */
const SOURCE = `
const { workerData } = require('node:worker_threads');
const { connect } = require('node:net');
const s = connect(workerData.port, '127.0.0.1', () => {
  s.setNoDelay(true);
  let n = 0;
  const t = setInterval(() => {
    const b = Buffer.alloc(8);
    b.writeDoubleLE(performance.timeOrigin + performance.now());
    s.write(b);
    if (++n === workerData.count) { clearInterval(t); s.end(); }
  }, workerData.interval);
});
`;

async function measure(threads, busy) {
  const loop = '(while :; do :; done)';
  const script = [
    'evdev-dump --seconds 3600 &',
    ...(busy ? Array.from({ length: CPUS }, () => `${loop} &`) : []),
    'sleep 1; echo LOAD-READY; wait',
  ].join(' ');
  const manifest = parseManifest(
    {
      name: 'bench-input',
      memory: '256M',
      cpus: CPUS,
      threads,
      boot: { cmdline: `console=ttyS0 quiet vdesk.cmd=${Buffer.from(script).toString('base64')}` },
      devices: [
        { package: '@virtio-desktop/virtio-power' },
        { package: '@virtio-desktop/virtio-input', device: 'keyboard' },
      ],
    },
    'bench',
  );
  const machine = await RiscvMachine.create({
    manifest,
    images,
    loadModule: nodeModuleLoader(root, [path.join(root, 'apps/cli')]),
    log: silent,
    ...(v['yield-ms'] ? { yieldEveryMs: Number(v['yield-ms']) } : {}),
  });
  const kbd = machine.devices.map((d) => d.device).find((d) => typeof d.domKey === 'function');
  let text = '';
  const ready = new Promise((resolve) =>
    machine.on('console', (b) => {
      text += Buffer.from(b).toString('latin1');
      if (/LOAD-READY/.test(text) && /EVDEV-READY/.test(text)) resolve();
    }),
  );
  const exited = machine.run();
  await Promise.race([ready, exited.then((e) => Promise.reject(new Error(`exited: ${JSON.stringify(e)}`)))]);

  const stamps = [];
  const lat = [];
  kbd.on('delivered', () => {
    const t = stamps.shift();
    if (t !== undefined) lat.push(now() - t);
  });
  let down = false;
  const server = createServer((sock) => {
    sock.setNoDelay(true);
    let buf = Buffer.alloc(0);
    sock.on('data', (d) => {
      buf = Buffer.concat([buf, d]);
      for (; buf.length >= 8; buf = buf.subarray(8)) {
        stamps.push(buf.readDoubleLE(0));
        down = !down;
        kbd.domKey('KeyA', down);
      }
    });
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  const worker = new Worker(SOURCE, {
    eval: true,
    workerData: { port: server.address().port, count: EVENTS, interval: INTERVAL },
  });
  await new Promise((r) => worker.on('exit', r));
  // The last events may still wait for guest buffers.
  for (let i = 0; i < 100 && lat.length < EVENTS; i++) await new Promise((r) => setTimeout(r, 20));
  // The guest prints what it read: wait (bounded) for the last of it, so a lost event shows.
  const printed = () => (text.match(/^EV event\d+ 1 30 /gm) ?? []).length;
  // (On threads each console byte is a round trip to this thread: on a loaded host that lags.)
  for (let last = -1, quiet = 0; printed() < lat.length && quiet < 50;) {
    await new Promise((r) => setTimeout(r, 20));
    quiet = printed() === last ? quiet + 1 : 0;
    last = printed();
  }
  server.close();
  machine.stop('bench done');
  await exited;
  const notes = [];
  if (lat.length < EVENTS) notes.push(`${EVENTS - lat.length} of ${EVENTS} events not delivered`);
  if (printed() < lat.length) notes.push(`the guest printed ${printed()} key events of ${lat.length}`);
  return { lat: lat.sort((a, b) => a - b), notes };
}

if (v.child) {
  // One machine per process: a measurement starts from a fresh host thread pool and heap.
  const [threads, busy] = v.child.split(',');
  process.stdout.write(JSON.stringify(await measure(threads === 'threads', busy === 'busy')));
  process.exit(0);
}

/** One configuration in a child process (killed after 10 minutes). */
function measureApart(threads, busy) {
  const args = [
    import.meta.filename,
    '--child',
    `${threads ? 'threads' : 'one'},${busy ? 'busy' : 'idle'}`,
    '--events',
    String(EVENTS),
    '--interval',
    String(INTERVAL),
    '--cpus',
    String(CPUS),
    ...(v['yield-ms'] ? ['--yield-ms', v['yield-ms']] : []),
  ];
  const out = execFileSync(process.execPath, args, {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
    timeout: 600_000,
  });
  return JSON.parse(out);
}

const pct = (xs, p) => xs[Math.min(xs.length - 1, Math.floor((xs.length * p) / 100))];
const ms = (x) => `${x.toFixed(2)} ms`;
console.log(
  `input latency, host event -> guest used ring: ${EVENTS} key events ${INTERVAL} ms apart, ${CPUS} harts, ` +
    `load average ${loadavg()[0].toFixed(1)} on ${hostCpus().length} cores`,
);
const configs = v.configs.split(',');
for (let r = 0; r < Number(v.runs); r++)
  for (const c of configs) {
    const threads = c === 'threads';
    const row = [];
    for (const busy of [false, true]) {
      const { lat: l, notes } = measureApart(threads, busy);
      for (const n of notes) console.log(`  (${c}, ${busy ? 'busy' : 'idle'}: ${n})`);
      row.push(
        `${busy ? 'busy' : 'idle'} p50 ${ms(pct(l, 50))} p99 ${ms(pct(l, 99))} max ${ms(l[l.length - 1])}`,
      );
    }
    const label = threads
      ? 'harts on threads'
      : `harts on one thread${v['yield-ms'] ? ` (yieldEveryMs ${v['yield-ms']})` : ''}`;
    console.log(`${label}: ${row.join('; ')}`);
  }
console.log(`(load average ${loadavg()[0].toFixed(1)} after)`);
