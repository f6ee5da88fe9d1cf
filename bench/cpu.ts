/**
 * CPU benchmark: one fixed bare-metal workload (bench/programs/work.c), the same binary on our RV64 hart
 * and on qemu-system-riscv64 (TCG, -M virt -bios none), in the same run. Our hart counts the retired
 * instructions; QEMU runs the same deterministic program, so its rate is that count over its wall time
 * minus its start-up (measured with an empty program). Several runs, medians with min–max.
 *
 *   pnpm exec tsx bench/cpu.ts [--runs 5] [--iter 1500]
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { build, runOurs } from '../packages/cpu-riscv/test/harness.js';

const { values } = parseArgs({ options: { runs: { type: 'string' }, iter: { type: 'string' } } });
const RUNS = Number(values.runs ?? 5);
const ITER = Number(values.iter ?? 1500);

const src = readFileSync(path.join(import.meta.dirname, 'programs/work.c'), 'utf8');
const work = build(`bench-work-${ITER}.c`, { text: `#define ITER ${ITER}\n${src}`, ext: 'c' });
const empty = build('bench-empty.c', { text: '#include "lib.h"\nint main(void) { return 0; }\n', ext: 'c' });

function qemuSeconds(elf: string): { s: number; out: string } {
  const t0 = performance.now();
  const r = spawnSync(
    'qemu-system-riscv64',
    [
      '-M',
      'virt',
      '-bios',
      'none',
      '-nographic',
      '-monitor',
      'none',
      '-serial',
      'stdio',
      '-smp',
      '1',
      '-m',
      '128',
      '-kernel',
      elf,
    ],
    { encoding: 'latin1', timeout: 120_000 },
  );
  return { s: (performance.now() - t0) / 1000, out: r.stdout };
}

const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const fmt = (xs: number[]) =>
  `${med(xs).toFixed(1)} (${Math.min(...xs).toFixed(1)}–${Math.max(...xs).toFixed(1)})`;

const ours: number[] = [];
const qemu: number[] = [];
let instructions = 0;
for (let i = 0; i < RUNS; i++) {
  const t0 = performance.now();
  const r = runOurs(work, { maxInstructions: 5e9 });
  const s = (performance.now() - t0) / 1000;
  if (r.exit !== 0) throw new Error(`workload failed on our hart: ${r.output}`);
  instructions = r.hart.instret;
  ours.push(instructions / s / 1e6);
  const q = qemuSeconds(work);
  if (q.out.trim() !== r.output.trim()) throw new Error(`QEMU printed ${q.out} but we printed ${r.output}`);
  const base = qemuSeconds(empty).s;
  qemu.push(instructions / Math.max(1e-3, q.s - base) / 1e6);
}
console.log(
  `cpu: bench/programs/work.c ITER=${ITER}, ${(instructions / 1e6).toFixed(1)} M instructions, ${RUNS} runs, median (min–max)`,
);
console.log(`  ours  ${fmt(ours)} MIPS`);
console.log(`  qemu  ${fmt(qemu)} MIPS (TCG, start-up subtracted)`);
console.log(`  ours/qemu ${(med(ours) / med(qemu)).toFixed(3)}`);
