/**
 * CPU benchmark: one fixed bare-metal workload (bench/programs/work.c), the same ELF on our RV64 hart and
 * on qemu-system-riscv64 (TCG, -M virt -bios none), alternating in the same run. Our hart counts retired
 * instructions. QEMU cannot count them (Debian's build ships no TCG plugins), so its rate is derived: the
 * same program built with ITER=0 measures QEMU's start-up and the program's fixed part, and
 *   qemu MIPS = (instructions(ITER) − instructions(0)) / (wall(ITER) − median wall(0)).
 * Several runs; medians with min–max; the ratio is median over median. Each of our CPU engines (jit,
 * interp, reference) runs the same ELF in every round.
 *
 *   pnpm exec tsx bench/cpu.ts [--runs 5] [--iter 1000] [--only ours|qemu] [--json out.json]
 *
 * The ELFs are cross-compiled with riscv64-linux-gnu-gcc at bench time and cached under
 * ~/.cache/virtio-desktop/bench/<hash of flags, sources and ITER>/.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync } from 'node:fs';
import { homedir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import type { PhysicalBus } from '@virtio-desktop/virtio-core';
import {
  allocateRam,
  CPU_ENGINES,
  Hart,
  StopReason,
  type CpuEngine,
} from '../packages/cpu-riscv/src/index.js';
import { loadElf, programs } from '../packages/cpu-riscv/test/harness.js';
import { fmt, med, writeJson } from './stats.mjs';

const { values } = parseArgs({
  options: {
    runs: { type: 'string' },
    iter: { type: 'string' },
    only: { type: 'string' },
    json: { type: 'string' },
  },
});
const RUNS = Number(values.runs ?? 5);
const ITER = Number(values.iter ?? 1000);
const ONLY = values.only;

const CFLAGS = ['-march=rv64gc', '-mabi=lp64d', '-mcmodel=medany', '-nostdlib', '-static', '-ffreestanding'];
const CFLAGS2 = [
  '-O2',
  '-fno-builtin',
  '-fno-pie',
  '-no-pie',
  '-Wl,--build-id=none',
  '-Wl,--no-warn-rwx-segments',
];
const cacheRoot = path.join(
  process.env.VDESK_CACHE ?? path.join(homedir(), '.cache', 'virtio-desktop'),
  'bench',
);

/** Cross-compile work.c with ITER; cached by the hash of everything that goes in. */
function build(iter: number): string {
  const inputs = ['crt.S', 'lib.h', 'link.ld'].map((f) => readFileSync(path.join(programs, f), 'utf8'));
  const work = readFileSync(path.join(import.meta.dirname, 'programs/work.c'), 'utf8');
  const gcc = execFileSync('riscv64-linux-gnu-gcc', ['--version'], { encoding: 'utf8' }).split('\n')[0];
  const hash = createHash('sha256')
    .update(JSON.stringify([gcc, CFLAGS, CFLAGS2, inputs, work, iter]))
    .digest('hex')
    .slice(0, 16);
  const dir = path.join(cacheRoot, hash);
  const elf = path.join(dir, 'work.elf');
  if (existsSync(elf)) return elf;
  mkdirSync(dir, { recursive: true });
  execFileSync(
    'riscv64-linux-gnu-gcc',
    [
      ...CFLAGS,
      ...CFLAGS2,
      `-DITER=${iter}`,
      '-I',
      programs,
      '-T',
      path.join(programs, 'link.ld'),
      path.join(programs, 'crt.S'),
      path.join(import.meta.dirname, 'programs/work.c'),
      '-o',
      `${elf}.tmp`,
    ],
    { stdio: 'pipe' },
  );
  renameSync(`${elf}.tmp`, elf);
  return elf;
}

const RAM_BASE = 0x8000_0000;

/** Run the ELF on our hart with a UART and the test finisher; nothing else on the bus. */
function runOurs(elf: string, engine: CpuEngine = 'jit'): { s: number; instructions: number; out: string } {
  const size = 16 << 20;
  const buffer = allocateRam(size, 1);
  const entry = loadElf(new Uint8Array(readFileSync(elf)), new Uint8Array(buffer, 0, size), RAM_BASE);
  let out = '';
  let done = false;
  const bus: PhysicalBus = {
    read: (addr) => (addr === 0x1000_0005 ? 0x60 : addr >= 0x1000_0000 && addr < 0x1000_0100 ? 0 : -1),
    write(addr, _w, v) {
      if (addr === 0x1000_0000) out += String.fromCharCode(v & 0xff);
      else if (addr === 0x10_0000) done = true;
      else return addr > 0x1000_0000 && addr < 0x1000_0100;
      return true;
    },
  };
  const hart = new Hart({ hartId: 0, ram: { base: RAM_BASE, size, buffer }, bus, time: () => 0, engine });
  hart.reset(entry);
  const t0 = performance.now();
  while (!done) {
    if (hart.run(100_000) === StopReason.Wfi) throw new Error(`workload stopped in WFI: ${out}`);
  }
  return { s: (performance.now() - t0) / 1000, instructions: hart.instret, out };
}

function runQemu(elf: string): { s: number; out: string } {
  const args = ['-M', 'virt', '-bios', 'none', '-nographic', '-monitor', 'none', '-serial', 'stdio'];
  const t0 = performance.now();
  const r = spawnSync('qemu-system-riscv64', [...args, '-smp', '1', '-m', '128', '-kernel', elf], {
    encoding: 'latin1',
    timeout: 120_000,
  });
  if (r.status !== 0) throw new Error(`qemu exited with ${r.status}: ${r.stdout}${r.stderr}`);
  return { s: (performance.now() - t0) / 1000, out: r.stdout };
}

const work = build(ITER);
const base = build(0);
// Both programs are deterministic: one run on our hart gives their output and instruction counts.
const baseRun = runOurs(base);
const expected = runOurs(work);
const ENGINES = [...CPU_ENGINES].reverse(); // jit, interp, reference
const ours = new Map<CpuEngine, number[]>(ENGINES.map((e) => [e, []]));
const qemuBase: number[] = [];
const qemuWork: number[] = [];
const instructions = expected.instructions;
if (!expected.out.includes('checksum=')) throw new Error(`workload failed on our hart: ${expected.out}`);
for (let i = 0; i < RUNS; i++) {
  if (ONLY !== 'qemu') {
    for (const e of ENGINES) {
      const r = runOurs(work, e);
      if (r.out !== expected.out || r.instructions !== instructions)
        throw new Error(`the ${e} engine differs from the jit (or is not deterministic)`);
      ours.get(e)!.push(instructions / r.s / 1e6);
    }
  }
  if (ONLY !== 'ours') {
    const q = runQemu(work);
    if (q.out.trim() !== expected.out.trim()) throw new Error(`QEMU printed ${q.out}, we ${expected.out}`);
    qemuWork.push(q.s);
    qemuBase.push(runQemu(base).s);
  }
}
const qemu = qemuWork.map(
  (t) => (instructions - baseRun.instructions) / Math.max(1e-3, t - med(qemuBase)) / 1e6,
);

const M = (instructions / 1e6).toFixed(1);
console.log(`cpu: bench/programs/work.c ITER=${ITER}, ${M} M instructions, ${RUNS} runs, median (min–max)`);
for (const e of ENGINES) {
  const v = ours.get(e)!;
  if (!v.length) continue;
  const vs = qemu.length ? `   ours/qemu ${(med(v) / med(qemu)).toFixed(3)}` : '';
  console.log(`  ours, ${e.padEnd(9)} ${fmt(v, 1)} MIPS${vs}`);
}
if (qemu.length) console.log(`  qemu  ${fmt(qemu, 1)} MIPS (TCG; start-up ${fmt(qemuBase, 3)} s subtracted)`);
if (values.json)
  writeJson(
    values.json,
    ENGINES.filter((e) => ours.get(e)!.length).map((e) => ({
      name: `CPU work.c (${M} M inst), ${e}`,
      unit: 'MIPS',
      ours: ours.get(e)!,
      qemu,
      higherIsBetter: true,
    })),
  );
