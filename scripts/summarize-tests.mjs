// Adds up the JSON reports every vitest run wrote under .vitest-results/ and prints one closing line.
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';

const dir = '.vitest-results';
let passed = 0;
let failed = 0;
let skipped = 0;
let files = 0;
for (const f of readdirSync(dir)) {
  if (!f.endsWith('.json')) continue;
  const r = JSON.parse(readFileSync(path.join(dir, f), 'utf8'));
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
