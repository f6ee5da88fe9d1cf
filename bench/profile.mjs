#!/usr/bin/env node
// Summarise V8 CPU profiles (from `node --cpu-prof`): self time per function, heaviest first, with the
// share of all samples. Used to write down where the time goes (bench/README.md).
//
//   node bench/profile.mjs <file.cpuprofile | directory> [--top 25]
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';

const { values, positionals } = parseArgs({ allowPositionals: true, options: { top: { type: 'string' } } });
const TOP = Number(values.top ?? 25);
const files = positionals.flatMap((p) =>
  statSync(p).isDirectory()
    ? readdirSync(p)
        .filter((f) => f.endsWith('.cpuprofile'))
        .map((f) => path.join(p, f))
    : [p],
);
const self = new Map();
let total = 0;
for (const f of files) {
  const prof = JSON.parse(readFileSync(f, 'utf8'));
  const byId = new Map(prof.nodes.map((n) => [n.id, n]));
  // timeDeltas[i] is the time before sample i; attribute it to the sampled node.
  prof.samples.forEach((id, i) => {
    const n = byId.get(id);
    const cf = n.callFrame;
    const where = cf.url ? `${path.basename(cf.url)}:${cf.lineNumber + 1}` : '';
    const key = `${cf.functionName || '(anonymous)'} ${where}`.trim();
    const dt = prof.timeDeltas[i] ?? 0;
    self.set(key, (self.get(key) ?? 0) + dt);
    total += dt;
  });
}
// Idle time (waiting for a child process or a timer) is reported but is not part of the shares.
const idle = self.get('(idle)') ?? 0;
self.delete('(idle)');
total -= idle;
const rows = [...self.entries()].sort((a, b) => b[1] - a[1]).slice(0, TOP);
console.log(
  `${files.length} profile(s): ${(total / 1e6).toFixed(2)} s busy, ${(idle / 1e6).toFixed(2)} s idle; self time:`,
);
for (const [k, us] of rows)
  console.log(
    `${((100 * us) / total).toFixed(1).padStart(5)}%  ${(us / 1e3).toFixed(0).padStart(7)} ms  ${k}`,
  );
