#!/usr/bin/env node
// Scenario "sender": what one notification costs the monitoring host, for
// each build of send_push_notification next to `node -e 0` measured in the
// same run. Prints one JSON line per variant on stdout (docs/benchmarks.md,
// "sender start-up"); progress goes to stderr.
//
//   node bench/scenarios/sender.mjs [--smoke] [--runs N] [--warmup N] [--only a,b]
//
// --only measures just the named variants (node-e0, the baseline, always).
//
// Each sender run does the real work: it POSTs one host notification to a
// local node:http stand-in that answers `200 ok` like the gateway, and must
// exit 0 with the gateway's answer on stdout (checked once per variant before
// timing; during timing every run must exit 0 and the stand-in must count
// one POST per run). Runs are interleaved: each round runs every variant
// once, in a fresh random order, so load swings on a shared machine hit all
// variants alike; warm-up rounds are dropped.
//
// Per run: wall time, CPU time (user + sys) and peak RSS of the child alone,
// from wait4(2)'s rusage, taken by a small python3 helper that spawns the
// child and reaps it (Node cannot wait4 a child; GNU time prints CPU in
// 10 ms steps, too coarse here). Without python3 every variant is reported
// as skipped.
//
// The variants are the two builds pushgate ships: the bundle (the default)
// and the compiled binary (the option). One not built is reported as
// skipped with the command that builds it: `pnpm build` (bundle),
// `pnpm --filter @pushgate/sender build:compiled` (compiled).
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { createServer } from 'node:http';
import { loadavg } from 'node:os';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const root = fileURLToPath(new URL('../../', import.meta.url));
const dist = `${root}packages/sender/dist/`;
const node = process.execPath;
const BUILD_BUNDLE = 'pnpm build';
const BUILD_COMPILED = 'pnpm --filter @pushgate/sender build:compiled';

const opts = (() => {
  try {
    return parseArgs({
      options: {
        smoke: { type: 'boolean', default: false },
        runs: { type: 'string' },
        warmup: { type: 'string' },
        only: { type: 'string' },
      },
    }).values;
  } catch (err) {
    console.error(`sender.mjs: ${err.message}; usage: sender.mjs [--smoke] [--runs N] [--warmup N] [--only a,b]`);
    process.exit(2);
  }
})();
const runs = positiveInt(opts.runs, opts.smoke ? 5 : 100, '--runs');
const warmup = positiveInt(opts.warmup, opts.smoke ? 1 : 3, '--warmup');

function positiveInt(text, fallback, flag) {
  if (text === undefined) return fallback;
  const n = Number(text);
  if (!Number.isInteger(n) || n < (flag === '--warmup' ? 0 : 1)) {
    console.error(`sender.mjs: ${flag} wants a whole number${flag === '--warmup' ? '' : ' > 0'}, got ${JSON.stringify(text)}`);
    process.exit(2);
  }
  return n;
}

/**
 * The variants. `argv(flags)` is the command line (flags = the sender's
 * arguments); `files` are what the variant puts on disk besides the system's
 * node (their sizes add up to `bytes`); `build` says how to make them;
 * `env` is added to the child's otherwise empty environment (PATH only).
 */
const allVariants = [
  { name: 'node-e0', baseline: true, argv: () => [node, '-e', '0'], files: [], needs: 'node' },
  {
    name: 'bundle', files: [`${dist}send_push_notification.mjs`], build: BUILD_BUNDLE, needs: 'node',
    argv: (f) => [node, `${dist}send_push_notification.mjs`, ...f],
  },
  {
    name: 'compiled', files: [`${dist}send_push_notification`], build: BUILD_COMPILED, needs: 'nothing (bun runtime inside)',
    argv: (f) => [`${dist}send_push_notification`, ...f],
  },
];

const variants = selected(allVariants, opts.only);

function selected(all, only) {
  if (only === undefined) return all;
  const names = new Set(only.split(',').filter((n) => n !== ''));
  const unknown = [...names].filter((n) => !all.some((v) => v.name === n));
  if (unknown.length > 0) {
    console.error(`sender.mjs: --only: unknown variant ${unknown.join(', ')}; known: ${all.map((v) => v.name).join(', ')}`);
    process.exit(2);
  }
  return all.filter((v) => v.baseline || names.has(v.name));
}

// wait4-based runner: one request per line on stdin ({argv, env}), one
// answer per line on stdout ({code, wall_ns, cpu_us, maxrss_kib}). The
// child's stdin/stdout/stderr are /dev/null; wall time runs from just
// before posix_spawn to wait4's return.
const HELPER = String.raw`
import json, os, sys, time
null = os.open(os.devnull, os.O_RDWR)
fa = [(os.POSIX_SPAWN_DUP2, null, 0), (os.POSIX_SPAWN_DUP2, null, 1), (os.POSIX_SPAWN_DUP2, null, 2)]
for line in sys.stdin:
    req = json.loads(line)
    t0 = time.perf_counter_ns()
    pid = os.posix_spawn(req["argv"][0], req["argv"], req["env"], file_actions=fa)
    _, status, ru = os.wait4(pid, 0)
    wall = time.perf_counter_ns() - t0
    cpu = round((ru.ru_utime + ru.ru_stime) * 1e6)
    print(json.dumps({"code": os.waitstatus_to_exitcode(status), "wall_ns": wall, "cpu_us": cpu, "maxrss_kib": ru.ru_maxrss}), flush=True)
`;

function startHelper() {
  const child = spawn('python3', ['-u', '-c', HELPER], { stdio: ['pipe', 'pipe', 'inherit'] });
  const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  return {
    async run(argv, env) {
      child.stdin.write(`${JSON.stringify({ argv, env })}\n`);
      const { value, done } = await lines.next();
      if (done) throw new Error('the python3 timing helper exited');
      return JSON.parse(value);
    },
    close() { child.stdin.end(); },
  };
}

/** A clean environment for a variant's child: PATH and what the variant sets. */
function childEnv(v) {
  return { PATH: process.env.PATH ?? '/usr/bin:/bin', ...v.env };
}

// Lines are printed at the end, in the order of `variants`.
const results = new Map();

function emit(obj) {
  results.set(obj.variant, `${JSON.stringify({ scenario: 'sender', ...obj })}\n`);
}

function printResults() {
  for (const v of variants) if (results.has(v.name)) process.stdout.write(results.get(v.name));
}

function quantile(xs, q) {
  const s = [...xs].sort((a, b) => a - b);
  const pos = (s.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return s[lo] + (s[hi] - s[lo]) * (pos - lo);
}

const round1 = (x) => Math.round(x * 10) / 10;
const round2 = (x) => Math.round(x * 100) / 100;

function shuffle(xs) {
  const a = [...xs];
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [a[i], a[j]] = [a[j], a[i]];
  }
  return a;
}

async function main() {
  const python = spawnSync('python3', ['-c', 'import os; os.wait4; os.posix_spawn; os.waitstatus_to_exitcode'], { encoding: 'utf8' });
  if (python.status !== 0) {
    for (const v of variants) emit({ variant: v.name, skipped: 'python3 >= 3.9 is needed to time the children (wait4), not found' });
    return;
  }

  let posts = 0;
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      if (req.method === 'POST' && req.url === '/message') posts++;
      res.writeHead(200, { 'Content-Type': 'text/plain' }).end('ok');
    });
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${server.address().port}/message`;
  const flags = ['-t', 'host', '-notificationtype', 'PROBLEM', '-hostuuid', 'c36b8048-93ce-4385-ac19-ab5c90574b77',
    '-state', '1', '-output', 'PING CRITICAL - Packet loss = 100%', '-user-id', '1', '-url', url];

  // Which variants are built and do the real work.
  const ready = [];
  for (const v of variants) {
    const missing = v.files.filter((f) => !existsSync(f));
    if (missing.length > 0) {
      emit({ variant: v.name, skipped: `not built: ${missing.map((f) => f.slice(root.length)).join(', ')} (${v.build})` });
      continue;
    }
    const [cmd, ...args] = v.argv(flags);
    const before = posts;
    const check = await new Promise((resolve) => {
      const child = spawn(cmd, args, { env: childEnv(v) });
      let out = '';
      let err = '';
      child.stdout.setEncoding('utf8').on('data', (s) => { out += s; });
      child.stderr.setEncoding('utf8').on('data', (s) => { err += s; });
      child.on('error', (e) => resolve({ code: -1, out, err: e.message }));
      child.on('close', (code) => resolve({ code, out, err }));
    });
    const want = v.baseline ? '' : 'Response status: 200 OK\nok\n';
    const sent = posts - before === (v.baseline ? 0 : 1);
    if (check.code !== 0 || check.out !== want || check.err !== '' || !sent) {
      emit({ variant: v.name, skipped: `does not work: exit ${check.code}, stdout ${JSON.stringify(check.out)}, stderr ${JSON.stringify(check.err.slice(0, 300))}` });
      continue;
    }
    ready.push(v);
  }
  if (!ready.some((v) => v.baseline)) throw new Error('node -e 0 failed');

  const helper = startHelper();
  const samples = new Map(ready.map((v) => [v.name, { wall: [], cpu: [], rss: [] }]));
  const load1Start = loadavg()[0];
  for (let round = 0; round < warmup + runs; round++) {
    for (const v of shuffle(ready)) {
      const before = posts;
      const r = await helper.run(v.argv(flags), childEnv(v));
      if (r.code !== 0) throw new Error(`${v.name} exited ${r.code} in round ${round}`);
      if (posts - before !== (v.baseline ? 0 : 1)) throw new Error(`${v.name} did not post exactly one notification in round ${round}`);
      if (round < warmup) continue;
      const s = samples.get(v.name);
      s.wall.push(r.wall_ns / 1e6);
      s.cpu.push(r.cpu_us / 1e3);
      s.rss.push(r.maxrss_kib);
    }
    if ((round + 1) % 10 === 0) process.stderr.write(`sender: ${round + 1}/${warmup + runs} rounds\n`);
  }
  const load1End = loadavg()[0];
  helper.close();
  server.close();

  const base = samples.get('node-e0');
  const baseWall = quantile(base.wall, 0.5);
  const baseCpu = quantile(base.cpu, 0.5);
  for (const v of ready) {
    const s = samples.get(v.name);
    const bytes = v.files.reduce((sum, f) => sum + statSync(f).size, 0);
    emit({
      variant: v.name,
      wall_ms_p50: round1(quantile(s.wall, 0.5)),
      wall_ms_p90: round1(quantile(s.wall, 0.9)),
      cpu_ms_p50: round1(quantile(s.cpu, 0.5)),
      cpu_ms_p90: round1(quantile(s.cpu, 0.9)),
      rss_kib: Math.round(quantile(s.rss, 0.5)),
      bytes,
      ratio_to_node_e0: round2(quantile(s.wall, 0.5) / baseWall),
      cpu_ratio_to_node_e0: round2(quantile(s.cpu, 0.5) / baseCpu),
      runs,
      needs: v.needs,
      load1_start: round2(load1Start),
      load1_end: round2(load1End),
    });
  }
}

try {
  await main();
} finally {
  printResults();
}
