// Harts on threads (issue 17): two concurrent busybox sh loops in the guest with 2 harts on worker
// threads, 2 harts on one thread and 1 hart (guest /proc/uptime stamps, medians with min–max) and the
// ratios (issue 17's target: threaded ≥ 1.7× one hart, which needs both host cores free); the
// round-trip latency of an MMIO load from a hart worker to a device on the main thread, and the cost of
// a posted store (a QueueNotify) that needs no round trip. The load average is printed with them.
// The loops are bench/linux.mjs's 200,000 iterations each by default: at 30,000 (about 2 s) each hart
// worker's own JIT warm-up (it compiles the same code again) is most of the time and the ratio says more
// about warm-up than about running on two cores (1.1–1.5× where 200,000 gives 2×; pass --iterations).
//   node bench/threads.mjs [--runs 3] [--iterations 200000] [--cpu jit|interp]
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { homedir, loadavg } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { allocateRam, ramLayoutOf, threads } from '../packages/cpu-riscv/dist/index.js';
import { buildGuest, fmt, med } from './stats.mjs';

const root = path.resolve(import.meta.dirname, '..');
const { values: v } = parseArgs({
  options: {
    runs: { type: 'string', default: '3' },
    iterations: { type: 'string', default: '200000' },
    cpu: { type: 'string', default: 'jit' },
  },
});
const runs = Number(v.runs);
const n = Number(v.iterations);
const g = buildGuest('guest/build.sh');
const load0 = loadavg();

const loop = `(i=0; while [ $i -lt ${n} ]; do i=$((i+1)); done)`;
const script = `read a b < /proc/uptime; echo T0=$a; ${loop} & ${loop} & wait; read a b < /proc/uptime; echo T1=$a`;

/** Seconds the two loops took in the guest. */
function loops(extra) {
  const out = execFileSync(
    process.execPath,
    [
      path.join(root, 'apps/cli/dist/index.js'),
      'run',
      '--shell',
      '--kernel',
      g.KERNEL,
      '--initrd',
      g.INITRD,
      '--no-viewer',
      '--cpu',
      v.cpu,
      '--append',
      `console=ttyS0 vdesk.cmd=${Buffer.from(script).toString('base64')}`,
      ...extra,
    ],
    { encoding: 'latin1', stdio: ['ignore', 'pipe', 'ignore'], maxBuffer: 64 << 20, timeout: 900_000 },
  );
  const t0 = /T0=([\d.]+)/.exec(out);
  const t1 = /T1=([\d.]+)/.exec(out);
  if (!t0 || !t1) throw new Error(`no stamps:\n${out.slice(-1500)}`);
  return Number(t1[1]) - Number(t0[1]);
}

const configs = [
  ['2 harts, threads', ['--cpus', '2', '--threads']],
  ['2 harts, one thread', ['--cpus', '2']],
  ['1 hart', ['--cpus', '1']],
];
const times = configs.map(() => []);
for (let r = 0; r < runs; r++) configs.forEach(([, args], i) => times[i].push(loops(args)));

/** The bare-metal loops: `a1` UART status loads, or `a1` stores to virtio slot 1's QueueNotify. */
const PROGRAMS = {
  load: 'li t0, 0x10000000\n mv t1, a1\n1: lbu t2, 5(t0)',
  posted: 'li t0, 0x10002000\n mv t1, a1\n1: sw zero, 0x50(t0)',
};
/** The machine's posted stores (packages/machine/src/riscv/threads.ts postedStores): QueueNotify. */
const POSTED = [{ base: 0x10001000, count: 32, stride: 0x1000, offset: 0x50 }];

/** MMIO: a bare-metal loop of loads (or posted stores) on a hart worker, answered by this thread. */
async function mmioLatency(count, kind) {
  const dir = path.join(homedir(), '.cache', 'virtio-desktop', 'bench-threads');
  const bin = path.join(dir, `mmio-${kind}.bin`);
  if (!existsSync(bin)) {
    mkdirSync(dir, { recursive: true });
    const src = path.join(dir, `mmio-${kind}.S`);
    writeFileSync(
      src,
      `.globl _start\n_start: ${PROGRAMS[kind]}\n addi t1, t1, -1\n bnez t1, 1b\n li t3, 0x100000\n li t4, 0x5555\n sw t4, 0(t3)\n2: j 2b\n`,
    );
    execFileSync('riscv64-linux-gnu-gcc', [
      '-nostdlib',
      '-static',
      '-Wl,-Ttext=0x80000000',
      src,
      '-o',
      `${bin}.elf`,
    ]);
    execFileSync('riscv64-linux-gnu-objcopy', ['-O', 'binary', '-j', '.text', `${bin}.elf`, bin]);
  }
  const ramSize = 1 << 20;
  const buffer = allocateRam(ramSize, 1, { shared: true });
  new Uint8Array(buffer, 0, ramSize).set(readFileSync(bin));
  const { memory, layout } = ramLayoutOf(buffer);
  const control = threads.createControl(1);
  const c = new threads.HartControl(control, 0);
  let done;
  let stores = 0;
  const finished = new Promise((r) => (done = r));
  const host = new threads.MailboxHost([c], {
    read: () => 0x60,
    write: (_h, addr) => {
      if (addr === 0x100000) done();
      else stores++;
      return true;
    },
    sbi: () => {},
  });
  host.start();
  const w = await threads.spawnHartWorker({
    hartId: 0,
    memory,
    layout,
    ramBase: 0x80000000,
    ramSize,
    control,
    engine: v.cpu,
    hostSbi: false,
    posted: POSTED,
    epochMs: performance.timeOrigin + performance.now(),
    ticksPerMs: 10_000,
    slice: 20_000,
  });
  c.f64[threads.D.START_PC] = 0x80000000;
  c.i32[threads.W.START_REGS + 2] = count;
  const t0 = performance.now();
  c.command(threads.Cmd.START);
  await finished;
  const us = ((performance.now() - t0) * 1000) / count;
  // Every store reached the device: posted, in order, before the finisher's round trip.
  if (kind === 'posted' && stores !== count) throw new Error(`${stores} of ${count} posted stores arrived`);
  host.stop();
  c.command(threads.Cmd.EXIT);
  await w.terminate();
  return us;
}
const lat = [];
const post = [];
for (let r = 0; r < runs; r++) {
  lat.push(await mmioLatency(20_000, 'load'));
  post.push(await mmioLatency(200_000, 'posted'));
}
const load1 = loadavg();

const la = (l) => l.map((x) => x.toFixed(2)).join(' ');
console.log(
  `bench/threads.mjs ${new Date().toISOString()}, engine ${v.cpu}, ${runs} runs, 2 × ${n} iterations; load average ${la(load0)} before, ${la(load1)} after (2 cores: ratios need both free)`,
);
console.log('| machine | two sh loops (s) | speed-up over 1 hart |');
console.log('| --- | --- | --- |');
configs.forEach(([name], i) =>
  console.log(`| ${name} | ${fmt(times[i], 2)} | ${(med(times[2]) / med(times[i])).toFixed(2)}× |`),
);
const ratio = med(times[2]) / med(times[0]);
console.log(
  `2 harts threaded vs 1 hart: ${ratio.toFixed(2)}× (target ≥ 1.70×: ${ratio >= 1.7 ? 'met' : 'not met'}); vs 2 harts on one thread: ${(med(times[1]) / med(times[0])).toFixed(2)}×`,
);
console.log(`MMIO load round trip, hart worker → main thread: ${fmt(lat, 1)} µs`);
console.log(
  `MMIO posted store (QueueNotify), hart worker → main thread: ${fmt(post, 2)} µs each (${(med(lat) / med(post)).toFixed(0)}× cheaper than a round trip)`,
);
