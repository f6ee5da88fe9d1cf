import { readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { main } from '../src/main.js';

const fx = (f: string) => path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixtures', f);

async function vdesk(...argv: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(argv, { out: (s) => out.push(s), err: (s) => err.push(s) });
  return { code, out: out.join('\n'), err: err.join('\n') };
}

/** A user mistake: exactly one line on stderr, nothing on stdout, a non-zero status. */
async function mistake(argv: string[], re: RegExp, code = 1) {
  const r = await vdesk(...argv);
  expect(r.err).toMatch(re);
  expect(r.err.split('\n')).toHaveLength(1);
  expect(r.err).not.toMatch(/internal error|at .*\.ts:/);
  expect(r.code).toBe(code);
}

describe('vdesk', () => {
  it('prints help', async () => {
    const r = await vdesk('--help');
    expect(r.code).toBe(0);
    expect(r.out).toContain('vdesk run');
    expect((await vdesk('help', 'run')).out).toContain('--kernel');
    expect((await vdesk('run', '--help')).out).toContain('--firmware');
  });

  it('validates a good manifest, loading its device packages', async () => {
    const r = await vdesk('validate', fx('good.json'));
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/good\.json: ok \(1 CPU, 64 MiB, 1 device\)/);
  });

  it('validates every example manifest in the repository', async () => {
    const dir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../examples');
    const files = readdirSync(dir).filter((f) => f.endsWith('.json'));
    expect(files.length).toBeGreaterThanOrEqual(3);
    for (const f of files) {
      const r = await vdesk('validate', path.join(dir, f));
      expect([f, r.err, r.code]).toEqual([f, '', 0]);
    }
  });

  it('gives one clear line for bad input commands with no machine running', async () => {
    await mistake(['key', '--machine', 'no-such-machine', 'a'], /no machine is listening/);
    await mistake(['scroll', '--machine', 'x', 'lots'], /DY must be a number/, 2);
    await mistake(['scroll', '--machine', 'x', '1000'], /within -100\.\.100/, 2);
    await mistake(['move', '--machine', 'x', '1'], /move needs X and Y/, 2);
    await mistake(['resize', '--machine', 'x', 'big'], /resize needs one size/, 2);
    await mistake(['touch', '--machine', 'x', '--json', '{'], /not valid JSON/, 2);
    await mistake(['touch', '--machine', 'x', fx('nope.json')], /no such file/);
    await mistake(['unplug'], /unplug needs one device id/, 2);
  });

  const cases: [string, string[], RegExp, number?][] = [
    ['a missing manifest (run)', ['run', fx('nope.json')], /nope\.json: no such file$/],
    ['a missing manifest (validate)', ['validate', fx('nope.json')], /nope\.json: no such file$/],
    ['a manifest that is a directory', ['validate', fx('')], /is a directory/],
    ['bad JSON', ['run', fx('bad.json')], /bad\.json: not valid JSON/],
    [
      'an unknown package',
      ['validate', fx('unknown-package.json')],
      /cannot load package "@nobody\/nothing-here"/,
    ],
    [
      'a bad device option',
      ['validate', fx('bad-option.json')],
      /devices\[0\] \(echo\): option "tag" must be an integer/,
    ],
    [
      'a device that fails to load',
      ['run', fx('failing-device.json'), '--kernel', fx('good.json')],
      /could not create the device: backend unavailable/,
    ],
    ['an unknown command', ['frobnicate'], /unknown command "frobnicate"/, 2],
    [
      'an unknown flag',
      ['run', '--warp-speed'],
      /^vdesk: run: unknown option --warp-speed \(see vdesk run --help\)$/,
      2,
    ],
    ['a flag without its value', ['run', '--memory'], /^vdesk: run: --memory needs a value \(see/, 2],
    [
      'a bad memory size',
      ['run', '--memory', 'lots'],
      /^vdesk: --memory: "lots" is not a size: use bytes or e\.g\. "512M", "1\.5G"$/,
      2,
    ],
    ['too many cpus', ['run', '--cpus', '99'], /^vdesk: --cpus: 99 is more than 8$/, 2],
    ['a bad CPU engine', ['run', '--cpu', 'warp'], /^vdesk: --cpu: use /, 2],
    [
      'an unknown flag of validate',
      ['validate', fx('good.json'), '--bogus'],
      /^vdesk: validate: unknown option --bogus \(see vdesk validate --help\)$/,
      2,
    ],
    [
      'an unknown flag of a control command',
      ['status', '--bogus'],
      /^vdesk: unknown option --bogus \(see/,
      2,
    ],
    [
      'a CPU package that is not one',
      ['validate', fx('bad-cpu.json')],
      /^vdesk: .*bad-cpu\.json: cpu: "\.\/echo-plugin\.mjs" exports no riscv-cpu plugin$/,
    ],
    ['a bad clock', ['run', '--clock', 'sundial'], /^vdesk: --clock: /, 2],
    ['a bad log level', ['run', '--log-level', 'loud'], /--log-level must be one of/, 2],
    ['validate without a file', ['validate'], /exactly one manifest/, 2],
    [
      'a missing kernel',
      ['run', fx('good.json'), '--kernel', fx('no-kernel')],
      /kernel .*no-kernel: no such file/,
    ],
    [
      'a file that is not a kernel',
      ['run', fx('good.json'), '--kernel', fx('good.json')],
      /not a RISC-V Linux Image/,
    ],
  ];
  for (const [name, argv, re, code] of cases) {
    it(`reports ${name} in one line`, () => mistake(argv, re, code ?? 1));
  }
});
