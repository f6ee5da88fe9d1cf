// Adds up the JSON reports the vitest runs wrote — the integration tests' under .vitest-results/, each
// package's in its own .vitest-results/ (turbo's cached output: a package whose tests turbo replays from
// its cache still counts) — and prints one closing line.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';

const reports = [];
const dir = '.vitest-results';
for (const f of readdirSync(dir)) if (f.endsWith('.json')) reports.push(path.join(dir, f));
for (const top of ['packages', 'apps'])
  for (const p of readdirSync(top)) {
    const f = path.join(top, p, '.vitest-results', 'report.json');
    if (existsSync(f)) reports.push(f);
  }
let passed = 0;
let failed = 0;
let skipped = 0;
let files = 0;
for (const f of reports) {
  const r = JSON.parse(readFileSync(f, 'utf8'));
  files++;
  passed += r.numPassedTests ?? 0;
  failed += (r.numFailedTests ?? 0) + (r.numFailedTestSuites ?? 0);
  skipped += (r.numPendingTests ?? 0) + (r.numTodoTests ?? 0);
}
if (files === 0) {
  console.log('tests: 0 passed, 1 failed');
  console.error('no test reports were written');
  process.exit(1);
}
console.log(`tests: ${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}`);
process.exit(failed > 0 ? 1 : 0);
