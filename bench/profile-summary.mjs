#!/usr/bin/env node
// `node bench/profile-summary.mjs <file.cpuprofile> [top]`: self time
// by function and by file of a V8 CPU profile (node --cpu-prof), for finding
// hot paths without a browser. Profile a server under a scenario with
//   BENCH_SERVER_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof" node bench/scenarios/saturate.mjs --targets pushgate
import { readFileSync } from 'node:fs';

const [file, topArg] = process.argv.slice(2);
if (!file) {
  process.stderr.write('usage: profile-summary.mjs <file.cpuprofile> [top]\n');
  process.exit(2);
}
const top = Number(topArg ?? 40);
const prof = JSON.parse(readFileSync(file, 'utf8'));
const byId = new Map(prof.nodes.map((n) => [n.id, n]));
const self = new Map();
const dt = prof.timeDeltas;
prof.samples.forEach((id, i) => self.set(id, (self.get(id) ?? 0) + (dt[i] ?? 0)));
const total = [...self.values()].reduce((a, b) => a + b, 0);
const fnTime = new Map();
const fileTime = new Map();
for (const [id, us] of self) {
  const cf = byId.get(id).callFrame;
  const where = cf.url ? cf.url.replace(/^file:\/\//, '').replace(/.*node_modules\/\.pnpm\/([^/]+)\/.*/, '$1').replace(/.*\/packages\//, 'packages/') : '(native)';
  const key = `${cf.functionName || '(anonymous)'}  ${where}:${cf.lineNumber + 1}`;
  fnTime.set(key, (fnTime.get(key) ?? 0) + us);
  fileTime.set(where, (fileTime.get(where) ?? 0) + us);
}
const show = (title, m, n) => {
  process.stdout.write(`\n${title} (total ${(total / 1000).toFixed(0)} ms)\n`);
  for (const [k, us] of [...m].sort((a, b) => b[1] - a[1]).slice(0, n)) process.stdout.write(`${((us / total) * 100).toFixed(1).padStart(5)}%  ${(us / 1000).toFixed(0).padStart(6)} ms  ${k}\n`);
};
// Inclusive time of our own functions (packages/…): where the gateway's time goes below each.
const incl = new Map();
const keyOf = (n) => {
  const cf = n.callFrame;
  return `${cf.functionName || '(anonymous)'}  ${cf.url.replace(/^file:\/\//, '').replace(/.*\/packages\//, 'packages/')}:${cf.lineNumber + 1}`;
};
const visit = (n, onStack) => {
  let t = self.get(n.id) ?? 0;
  const k = keyOf(n);
  const fresh = !onStack.has(k);
  if (fresh) onStack.add(k);
  for (const c of n.children ?? []) t += visit(byId.get(c), onStack);
  if (fresh) {
    onStack.delete(k);
    if (n.callFrame.url.includes('/packages/')) incl.set(k, (incl.get(k) ?? 0) + t);
  }
  return t;
};
visit(prof.nodes[0], new Set());
show('self time by function', fnTime, top);
show('inclusive time of gateway functions', incl, 25);
show('self time by file', fileTime, 25);
