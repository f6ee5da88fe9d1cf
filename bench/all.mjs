#!/usr/bin/env node
// `pnpm bench`: every benchmark, each beside its QEMU peer in the same run, then one compact table of
// medians (min–max) and ours/QEMU. The network, display and input benchmarks print their own results after it.
//
//   pnpm bench [-- --runs 5]      (--runs is passed to cpu, linux, boot, blk and desktop)
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { fmt, med } from './stats.mjs';

const root = path.resolve(import.meta.dirname, '..');
// pnpm 10 passes the `--` of `pnpm bench -- --runs 5` on to the script.
const args = process.argv.slice(2).filter((a) => a !== '--');
const { values } = parseArgs({ args, options: { runs: { type: 'string' } } });
const runs = values.runs ? ['--runs', values.runs] : [];
const dir = mkdtempSync(path.join(tmpdir(), 'vdesk-bench-'));
const tsx = path.join(root, 'node_modules/.bin/tsx');
const steps = [
  ['cpu', tsx, ['bench/cpu.ts']],
  ['linux', process.execPath, ['bench/linux.mjs']],
  ['boot', process.execPath, ['bench/boot.mjs']],
  ['blk', process.execPath, ['bench/blk.mjs']],
  ['desktop', process.execPath, ['bench/desktop.mjs']],
];
const rows = [];
for (const [name, bin, args] of steps) {
  const json = path.join(dir, `${name}.json`);
  execFileSync(bin, [...args, ...runs, '--json', json], { cwd: root, stdio: 'inherit' });
  rows.push(...JSON.parse(readFileSync(json, 'utf8')));
}

const table = [['benchmark', 'ours', 'qemu', 'ours/qemu']];
for (const r of rows) {
  const d = r.unit === 's' ? 2 : 1;
  const ratio = med(r.ours) / med(r.qemu);
  const note = r.higherIsBetter ? `${ratio.toFixed(3)}` : `${ratio.toFixed(2)} (× slower)`;
  table.push([r.name, `${fmt(r.ours, d)} ${r.unit}`, `${fmt(r.qemu, d)} ${r.unit}`, note]);
}
const w = table[0].map((_, c) => Math.max(...table.map((row) => row[c].length)));
console.log('\nsummary: median (min–max) over the runs of each; ratios of medians from the same run');
for (const row of table) console.log(row.map((cell, c) => cell.padEnd(w[c])).join('  '));
console.log('');

execFileSync(process.execPath, ['bench/net.mjs', ...runs], { cwd: root, stdio: 'inherit' });
execFileSync(process.execPath, ['bench/display.mjs'], { cwd: root, stdio: 'inherit' });
execFileSync('pnpm', ['--filter', '@virtio-desktop/virtio-input', 'bench'], { cwd: root, stdio: 'inherit' });
execFileSync(process.execPath, ['bench/hostile.mjs'], { cwd: root, stdio: 'inherit' });
