#!/usr/bin/env node
// The release check (run by scripts/test.sh after the build, and by tests/pack.test.ts): the changesets
// make a release plan and `changeset version` applies it (in a scratch copy), and every publishable
// package packs into a tarball that publint and @arethetypeswrong (esm-only profile) accept and that
// holds what an npm user needs: LICENSE, README, every types file its exports name, no source maps
// carrying our sources, and README links that work on npm. Prints one line per problem; exits 1 on any.
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const bin = (n) => path.join(root, 'node_modules/.bin', n);
const problems = [];
const problem = (m) => {
  problems.push(m);
  console.log(`release-check: ${m}`);
};

function run(cmd, args, cwd) {
  try {
    return { ok: true, out: execFileSync(cmd, args, { cwd, encoding: 'utf8', stdio: 'pipe' }) };
  } catch (e) {
    return { ok: false, out: `${e.stdout ?? ''}${e.stderr ?? ''}` };
  }
}

function packageDirs() {
  const dirs = [
    ...readdirSync(path.join(root, 'packages')).map((d) => path.join(root, 'packages', d)),
    path.join(root, 'apps/cli'),
  ];
  return dirs.filter((d) => {
    const f = path.join(d, 'package.json');
    return existsSync(f) && !JSON.parse(readFileSync(f, 'utf8')).private;
  });
}

// 1. Changesets: a release plan, and `changeset version` applied to a copy of the workspace's manifests.
const status = run(bin('changeset'), ['status'], root);
if (!status.ok)
  problem(`changeset status failed: ${status.out.split('\n').find((l) => /error/.test(l)) ?? status.out}`);
{
  const scratch = mkdtempSync(path.join(tmpdir(), 'vdesk-changeset-'));
  for (const f of ['package.json', 'pnpm-workspace.yaml']) cpSync(path.join(root, f), path.join(scratch, f));
  cpSync(path.join(root, '.changeset'), path.join(scratch, '.changeset'), { recursive: true });
  for (const d of packageDirs()) {
    const rel = path.relative(root, d);
    mkdirSync(path.join(scratch, rel), { recursive: true });
    cpSync(path.join(d, 'package.json'), path.join(scratch, rel, 'package.json'));
  }
  const v = run(bin('changeset'), ['version'], scratch);
  if (!v.ok) problem(`changeset version (dry run) failed: ${v.out.trim().split('\n').slice(-3).join(' | ')}`);
  else if (readdirSync(path.join(scratch, '.changeset')).some((f) => f.endsWith('.md') && f !== 'README.md'))
    problem('changeset version left changesets unconsumed');
  rmSync(scratch, { recursive: true, force: true });
}

// 2. Every publishable package, packed.
const work = mkdtempSync(path.join(tmpdir(), 'vdesk-release-'));
for (const dir of packageDirs()) {
  const pkg = JSON.parse(readFileSync(path.join(dir, 'package.json'), 'utf8'));
  const name = pkg.name;
  for (const field of ['license', 'engines', 'repository', 'homepage', 'bugs', 'description'])
    if (!pkg[field]) problem(`${name}: package.json has no "${field}"`);
  const packed = run('pnpm', ['pack', '--pack-destination', work], dir);
  if (!packed.ok) {
    problem(`${name}: pnpm pack failed: ${packed.out.trim()}`);
    continue;
  }
  const tgz = packed.out.trim().split('\n').pop().trim();
  const files = execFileSync('tar', ['-tzf', tgz], { encoding: 'utf8' })
    .split('\n')
    .filter(Boolean)
    .map((f) => f.replace(/^package\//, ''));
  const unpacked = path.join(work, name.replace('/', '+'));
  mkdirSync(unpacked, { recursive: true });
  execFileSync('tar', ['-xzf', tgz, '-C', unpacked]);
  const inPkg = (f) => path.join(unpacked, 'package', f);

  for (const f of ['LICENSE', 'README.md', 'package.json'])
    if (!files.includes(f)) problem(`${name}: tarball has no ${f}`);
  const manifest = JSON.parse(readFileSync(inPkg('package.json'), 'utf8'));
  if (JSON.stringify(manifest).includes('workspace:'))
    problem(`${name}: packed package.json keeps workspace: ranges`);
  // Every file the exports map, main, types and bin name must be in the tarball.
  const named = new Set();
  const walk = (v) => {
    if (typeof v === 'string') named.add(v.replace(/^\.\//, ''));
    else if (v && typeof v === 'object') Object.values(v).forEach(walk);
  };
  walk(manifest.exports);
  walk(manifest.main);
  walk(manifest.types);
  walk(manifest.bin);
  walk(manifest.typesVersions);
  for (const f of named)
    if (!f.includes('*') && !files.includes(f)) problem(`${name}: names ${f}, not in the tarball`);
  if (![...named].some((f) => f.endsWith('.d.ts'))) problem(`${name}: no types entry`);
  for (const f of files.filter((x) => x.endsWith('.map'))) {
    const map = JSON.parse(readFileSync(inPkg(f), 'utf8'));
    if (map.sourcesContent) problem(`${name}: ${f} embeds our sources (sourcesContent)`);
  }
  const readme = readFileSync(inPkg('README.md'), 'utf8');
  for (const m of readme.matchAll(/\]\(([^)\s]+)\)/g)) {
    const link = m[1];
    if (!/^(https?:|mailto:|#)/.test(link)) problem(`${name}: README link "${link}" does not work on npm`);
  }
  if (/pnpm\s+--filter/.test(readme)) problem(`${name}: README tells npm users to run pnpm --filter`);

  const pub = run(bin('publint'), ['run', tgz, '--strict'], root);
  // --strict: warnings fail too; suggestions are printed by publint but do not fail.
  if (!pub.ok) problem(`${name}: publint: ${pub.out.trim().replace(/\s+/g, ' ')}`);
  const attw = run(
    bin('attw'),
    [tgz, '--profile', 'esm-only', '--format', 'ascii', '--no-emoji', '--no-color'],
    root,
  );
  if (!attw.ok) problem(`${name}: @arethetypeswrong: ${attw.out.trim().split('\n').slice(0, 6).join(' | ')}`);
}
rmSync(work, { recursive: true, force: true });
console.log(
  problems.length
    ? `release-check: ${problems.length} problem(s)`
    : 'release-check: every package is ready to publish',
);
process.exit(problems.length ? 1 : 0);
