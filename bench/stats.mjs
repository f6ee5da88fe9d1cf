// Shared by the benchmark scripts: medians with min–max, and the JSON rows bench/all.mjs tabulates.
import { writeFileSync } from 'node:fs';

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
