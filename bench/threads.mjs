// Harts on threads (issue 17): two concurrent busybox sh loops in the guest with 2 harts on worker
// threads, 2 harts on one thread and 1 hart (guest /proc/uptime stamps, medians with min–max), and the
// round-trip latency of an MMIO load from a hart worker to a device on the main thread.
//   node bench/threads.mjs [--runs 3] [--iterations 30000] [--cpu interp]
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { allocateRam, ramLayoutOf, threads } from '../packages/cpu-riscv/dist/index.js';
import { buildGuest, fmt, med } from './stats.mjs';

const root = path.resolve(import.meta.dirname, '..');
const { values: v } = parseArgs({
  options: {
    runs: { type: 'string', default: '3' },
    iterations: { type: 'string', default: '30000' },
    cpu: { type: 'string', default: 'interp' },
  },
});
const runs = Number(v.runs);
const n = Number(v.iterations);
const g = buildGuest('guest/build.sh');

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

/** MMIO: a bare-metal loop of UART status loads on a hart worker, answered by this thread. */
async function mmioLatency(count) {
  const dir = path.join(homedir(), '.cache', 'virtio-desktop', 'bench-threads');
  const bin = path.join(dir, 'mmio.bin');
  if (!existsSync(bin)) {
    mkdirSync(dir, { recursive: true });
    const src = path.join(dir, 'mmio.S');
    writeFileSync(
      src,
      `.globl _start\n_start: li t0, 0x10000000\n mv t1, a1\n1: lbu t2, 5(t0)\n addi t1, t1, -1\n bnez t1, 1b\n li t3, 0x100000\n li t4, 0x5555\n sw t4, 0(t3)\n2: j 2b\n`,
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
  const finished = new Promise((r) => (done = r));
  const host = new threads.MailboxHost([c], {
    read: () => 0x60,
    write: (_h, addr) => (addr === 0x100000 ? (done(), true) : true),
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
    engine: 'interp',
    hostSbi: false,
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
  host.stop();
  c.command(threads.Cmd.EXIT);
  await w.terminate();
  return us;
}
const lat = [];
for (let r = 0; r < runs; r++) lat.push(await mmioLatency(20_000));

console.log(
  `bench/threads.mjs ${new Date().toISOString()}, engine ${v.cpu}, ${runs} runs, 2 × ${n} iterations`,
);
console.log('| machine | two sh loops (s) | speed-up over 1 hart |');
console.log('| --- | --- | --- |');
configs.forEach(([name], i) =>
  console.log(`| ${name} | ${fmt(times[i], 2)} | ${(med(times[2]) / med(times[i])).toFixed(2)}× |`),
);
console.log(`MMIO load round trip, hart worker → main thread: ${fmt(lat, 1)} µs`);
