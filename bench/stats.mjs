// Shared by the benchmark scripts: building the guest, running ours and QEMU in turn, timing console
// markers, medians with min–max, and the JSON rows bench/all.mjs tabulates.
import { execFileSync, spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';

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

/**
 * Run `ours` and `qemu` alternately, `runs` times each, so machine noise falls on both alike.
 * @template T
 * @param {number} runs
 * @param {() => Promise<T>} ours
 * @param {() => Promise<T>} qemu
 * @returns {Promise<{ ours: T[]; qemu: T[] }>}
 */
export async function alternate(runs, ours, qemu) {
  const o = [];
  const q = [];
  for (let i = 0; i < runs; i++) {
    o.push(await ours());
    q.push(await qemu());
  }
  return { ours: o, qemu: q };
}

/**
 * The options of the benchmarks that run each of our CPU engines beside QEMU: --runs (default 3),
 * --engines (default jit,interp) and --json.
 * @returns {{ runs: number; engines: string[]; json: string | undefined }}
 */
export function engineBenchOptions() {
  const { values } = parseArgs({
    options: { runs: { type: 'string' }, engines: { type: 'string' }, json: { type: 'string' } },
  });
  return {
    runs: Number(values.runs ?? 3),
    engines: (values.engines ?? 'jit,interp').split(','),
    json: values.json,
  };
}

/**
 * Like {@link alternate}, with one `ours` run per engine in each round, then QEMU.
 * @template T
 * @param {number} runs
 * @param {string[]} engines
 * @param {(engine: string) => Promise<T>} ours
 * @param {() => Promise<T>} qemu
 * @returns {Promise<{ ours: Record<string, T[]>; qemu: T[] }>}
 */
export async function alternateEngines(runs, engines, ours, qemu) {
  /** @type {Record<string, T[]>} */
  const o = Object.fromEntries(engines.map((e) => [e, []]));
  const q = [];
  for (let i = 0; i < runs; i++) {
    for (const e of engines) o[e].push(await ours(e));
    q.push(await qemu());
  }
  return { ours: o, qemu: q };
}

/**
 * The `vdesk run` flags and environment of one of our engines as the benchmarks name them: `jit`,
 * `interp`, `reference`; `jit-warm` with `--code-cache` (the code profile of an earlier run of the same
 * kernel, from a cache of the benchmark's own in `cacheDir`, primed once before the timed runs: see
 * {@link primeWarm}); a `-threads` suffix runs the harts on worker threads.
 * @param {string} engine
 * @param {string} cacheDir
 * @returns {{ args: string[]; env: Record<string, string> }}
 */
export function engineRun(engine, cacheDir) {
  const parts = engine.split('-');
  const args = ['--cpu', parts[0]];
  if (parts.includes('threads')) args.push('--threads');
  if (parts.includes('warm')) args.push('--code-cache');
  return { args, env: parts.includes('warm') ? { VDESK_CACHE: cacheDir } : {} };
}

/**
 * Run `once` (an untimed run that ends by powering off, so that vdesk saves its code profile) for each
 * `-warm` engine, before the timed rounds.
 * @param {string[]} engines
 * @param {(engine: string) => Promise<unknown>} once
 */
export async function primeWarm(engines, once) {
  for (const e of engines) if (e.split('-').includes('warm')) await once(e);
}

/**
 * Start `bin` and time, in seconds from the start, the first console line containing each of `markers`,
 * and its exit. With `stopAtLast` the process is killed once the last marker is seen (its `exit` is then
 * that moment). Rejects when the last marker never came (killed after `timeoutMs`).
 * @param {string} bin
 * @param {string[]} args
 * @param {string[]} markers
 * `signal` (default SIGKILL) is how it is stopped; `env` is added to this process's environment.
 * @param {{ timeoutMs?: number; stopAtLast?: boolean; signal?: NodeJS.Signals; env?: Record<string, string> }} [opts]
 * @returns {Promise<{ at: Record<string, number>; exit: number }>}
 */
export function timeMarkers(bin, args, markers, opts = {}) {
  const last = markers[markers.length - 1];
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    let text = '';
    /** @type {Record<string, number>} */
    const at = {};
    const p = spawn(bin, args, { stdio: ['ignore', 'pipe', 'ignore'], env: { ...process.env, ...opts.env } });
    let stopping = false;
    p.stdout.on('data', (d) => {
      text = (text + d).slice(-64 * 1024);
      for (const m of markers)
        if (at[m] === undefined && text.includes(m)) at[m] = (performance.now() - t0) / 1000;
      if (opts.stopAtLast && at[last] !== undefined && !stopping) {
        stopping = true;
        p.kill(opts.signal ?? 'SIGKILL');
      }
    });
    const t = setTimeout(() => p.kill('SIGKILL'), opts.timeoutMs ?? 300_000);
    p.on('close', () => {
      clearTimeout(t);
      if (at[last] === undefined) reject(new Error(`${bin}: no ${last}:\n${text.slice(-1500)}`));
      else resolve({ at, exit: (performance.now() - t0) / 1000 });
    });
  });
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
