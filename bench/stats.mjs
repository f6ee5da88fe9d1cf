// Shared by the benchmark scripts: medians with min–max, and the JSON rows bench/all.mjs tabulates.
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';

const root = path.resolve(import.meta.dirname, '..');

/**
 * Build (or reuse from the cache) a guest with one of the repository's build scripts, its progress on
 * stderr, and return the KEY=value lines it ends with (KERNEL, INITRD, DESKTOP_IMAGE, APPEND, ...).
 * @param {string} script path from the repository root, e.g. guest/build.sh
 * @returns {Record<string, string>}
 */
export function buildGuest(script) {
  const out = execFileSync('bash', [path.join(root, script)], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  return Object.fromEntries(
    out.split('\n').flatMap((l) => (/^[A-Z_]+=/.test(l) ? [l.split(/=(.*)/s, 2)] : [])),
  );
}

/** Median (the upper one for an even count). @param {number[]} xs */
export const med = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/** "median (min–max)" with `digits` decimals. @param {number[]} xs @param {number} digits */
export const fmt = (xs, digits) =>
  `${med(xs).toFixed(digits)} (${Math.min(...xs).toFixed(digits)}–${Math.max(...xs).toFixed(digits)})`;

/**
 * Rows for the summary table: each has a name, a unit, our samples and QEMU's, and whether higher is
 * better (rates) or lower (times).
 * @param {string} file
 * @param {{ name: string; unit: string; ours: number[]; qemu: number[]; higherIsBetter: boolean }[]} rows
 */
export function writeJson(file, rows) {
  writeFileSync(file, JSON.stringify(rows));
}
