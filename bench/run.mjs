#!/usr/bin/env node
// `pnpm bench [--smoke] [--only a,b] [--targets pushgate,floor] [--results <file>] [--no-report]`
//
// Runs every scenario script under bench/scenarios/ as its own
// process (each prints one JSON line per measurement on stdout and takes
// --smoke), tags every line with the run (id, date, git commit, node
// version, machine load when the scenario started), appends it to the
// results file (default bench/results.jsonl; with --smoke a temp file) and
// passes it through. A missing scenario script (sender.mjs comes from
// another branch) or one that fails gives a line saying so. A full run ends
// by regenerating docs/benchmarks.md (bench/report.mjs).
// Progress goes to stderr.
import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { appendFileSync, existsSync, mkdirSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const SCENARIOS = join(ROOT, 'bench/scenarios');
/** Order matters a little: the quick, quiet ones first; scale (60k sockets) last. */
const ALL = ['micro', 'timer-wheel', 'escalation', 'start', 'idle', 'latency', 'saturate', 'broadcast', 'slow-reader', 'sender', 'storm', 'web-push', 'scale'];

const argv = process.argv.slice(2);
const has = (f) => argv.includes(f);
function value(name) {
  const i = argv.indexOf(`--${name}`);
  if (i !== -1) return argv[i + 1];
  const eq = argv.find((a) => a.startsWith(`--${name}=`));
  return eq?.slice(name.length + 3);
}
const smoke = has('--smoke');
const only = value('only')?.split(',').filter(Boolean);
const unknown = only?.filter((s) => !ALL.includes(s)) ?? [];
if (unknown.length > 0) {
  process.stderr.write(`bench: unknown scenario ${unknown.join(', ')} (known: ${ALL.join(', ')})\n`);
  process.exit(2);
}
const results = value('results') ?? (smoke ? join(tmpdir(), `pushgate-bench-smoke-${process.pid}.jsonl`) : join(ROOT, 'bench/results.jsonl'));
const passArgs = [];
if (smoke) passArgs.push('--smoke');
if (value('targets')) passArgs.push('--targets', value('targets'));

function git(...args) {
  try {
    return execFileSync('git', args, { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return 'unknown';
  }
}

const run = {
  run: `${new Date().toISOString().replace(/[-:]/g, '').slice(0, 15)}-${randomBytes(3).toString('hex')}`,
  date: new Date().toISOString(),
  commit: git('rev-parse', '--short', 'HEAD') + (git('status', '--porcelain', '--untracked-files=no') ? '+dirty' : ''),
  node: process.version,
  cpus: cpus().length,
  smoke,
};
mkdirSync(dirname(results), { recursive: true });
process.stderr.write(`bench: run ${run.run} (${smoke ? 'smoke' : 'full'}), results → ${results}\n`);

function record(line, load) {
  const tagged = { ...run, load1: Math.round(load * 100) / 100, ...line };
  const text = JSON.stringify(tagged);
  appendFileSync(results, `${text}\n`);
  process.stdout.write(`${text}\n`);
}

const SCENARIO_TIMEOUT_MS = 15 * 60_000;

// Scenarios run in their own process group (so a stuck one can be killed whole): pass Ctrl-C on.
let current;
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => {
    if (current) try { process.kill(-current.pid, 'SIGTERM'); } catch { /* already gone */ }
    process.exit(130);
  });
}

function runScenario(name) {
  const file = join(SCENARIOS, `${name}.mjs`);
  const load = loadavg()[0];
  if (!existsSync(file)) {
    record({ scenario: name, skipped: `bench/scenarios/${name}.mjs not present` }, load);
    return Promise.resolve();
  }
  const started = Date.now();
  process.stderr.write(`bench: ${name} (load ${load.toFixed(2)})\n`);
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [file, ...passArgs], { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'], detached: true });
    current = child;
    // A stuck scenario must not hang the suite: kill its process group (servers and load generators too).
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      process.stderr.write(`bench: ${name}: no end after ${SCENARIO_TIMEOUT_MS / 60_000} min, killing it\n`);
      try { process.kill(-child.pid, 'SIGKILL'); } catch { child.kill('SIGKILL'); }
    }, SCENARIO_TIMEOUT_MS);
    let buf = '';
    let lines = 0;
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (d) => {
      buf += d;
      let nl;
      while ((nl = buf.indexOf('\n')) !== -1) {
        const text = buf.slice(0, nl).trim();
        buf = buf.slice(nl + 1);
        if (text === '') continue;
        try {
          const line = JSON.parse(text);
          lines++;
          record(line, load);
        } catch {
          process.stderr.write(`bench: ${name}: not a JSON line: ${text}\n`);
        }
      }
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (timedOut) record({ scenario: name, error: `killed after ${SCENARIO_TIMEOUT_MS / 60_000} min without an end` }, load);
      else if (code !== 0) record({ scenario: name, error: `exited with ${signal ?? code}` }, load);
      else if (lines === 0) record({ scenario: name, error: 'printed no result' }, load);
      process.stderr.write(`bench: ${name} done in ${((Date.now() - started) / 1000).toFixed(0)} s\n`);
      resolve();
    });
  });
}

for (const name of only ?? ALL) await runScenario(name);

if (!smoke && !has('--no-report')) {
  execFileSync(process.execPath, [join(ROOT, 'bench/report.mjs'), '--results', results, '--run', run.run], { stdio: 'inherit' });
}
