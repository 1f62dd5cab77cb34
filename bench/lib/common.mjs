// Shared helpers of the benchmark scenarios: flags, JSON output, progress on
// stderr, /proc readings of another process, percentiles.
import { readFileSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';

/** ws and pino are dependencies of the gateway package, not of the workspace root. */
export const gatewayRequire = createRequire(new URL('../../packages/gateway/package.json', import.meta.url));

/** `--smoke`: tiny N and durations, a few seconds in all (CI keeps the scripts working). */
export const SMOKE = process.argv.includes('--smoke');

/** The API key and the one host every scenario's directory knows. */
export const API_KEY = 'bench-key-0123456789abcdef0123456789abcdef';
export const HOST_UUID = 'c36b8048-93ce-4385-ac19-ab5c90574b77';

/** The three servers every scenario compares (lib/targets.mjs). */
export const TARGETS = ['pushgate', 'floor', 'socketio'];

/** `--name value` or `--name=value` from argv, else `fallback`. */
export function flag(name, fallback) {
  const argv = process.argv.slice(2);
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === `--${name}`) return argv[i + 1] ?? fallback;
    if (argv[i].startsWith(`--${name}=`)) return argv[i].slice(name.length + 3);
  }
  return fallback;
}

/** Targets to run: `--targets pushgate,floor` narrows the default three. */
export function targets() {
  return flag('targets', TARGETS.join(',')).split(',').filter(Boolean);
}

/** One result line on stdout (run.mjs collects them). */
export function emit(line) {
  process.stdout.write(`${JSON.stringify(line)}\n`);
}

/** Progress for the person watching, on stderr. */
export function progress(scenario, text) {
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${scenario}: ${text}\n`);
}

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Request/answer over a forked child's IPC: `ask(msg)` sends `msg` (except
 * `ready`, which the child sends on its own) and resolves with the child's
 * next message of the same `op`; rejects after `timeoutMs`, naming `who`.
 */
export function ipcAsker(child, who, defaultTimeoutMs) {
  const waiting = new Map();
  child.on('message', (msg) => {
    const w = waiting.get(msg.op);
    if (w) {
      waiting.delete(msg.op);
      w(msg);
    }
  });
  return (msg, timeoutMs = defaultTimeoutMs) => new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${who}: no answer to ${msg.op} within ${timeoutMs} ms`)), timeoutMs);
    waiting.set(msg.op, (m) => {
      clearTimeout(timer);
      resolve(m);
    });
    if (msg.op !== 'ready') child.send(msg);
  });
}

/** Monotonic nanoseconds as a Number: CLOCK_MONOTONIC, the same clock in every process of this machine. */
export function nowNs() {
  return Number(process.hrtime.bigint());
}

const TICKS_PER_S = 100; // USER_HZ on Linux

/** Resident set size of a process in bytes (VmRSS). */
export function rssOf(pid) {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) * 1024 : 0;
}

/** CPU time (user + system) a process used so far, in ms. */
export function cpuMsOf(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // fields[0] is field 3 (state); utime and stime are fields 14 and 15.
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / TICKS_PER_S;
}

/** A process and all its descendants (a `serve --workers N` primary and its workers). */
export function processTree(pid) {
  const children = new Map();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (!children.has(ppid)) children.set(ppid, []);
      children.get(ppid).push(Number(name));
    } catch {
      // the process ended meanwhile
    }
  }
  const out = [];
  const walk = (p) => {
    out.push(p);
    for (const c of children.get(p) ?? []) walk(c);
  };
  walk(pid);
  return out;
}

/** Sum of rssOf over a process tree, and each member's RSS. */
export function treeRss(pid) {
  const each = processTree(pid).map((p) => {
    try {
      return { pid: p, rss: rssOf(p) };
    } catch {
      return { pid: p, rss: 0 };
    }
  });
  return { total: each.reduce((s, e) => s + e.rss, 0), each };
}

/** Sum of cpuMsOf over a process tree. */
export function treeCpuMs(pid) {
  let ms = 0;
  for (const p of processTree(pid)) {
    try {
      ms += cpuMsOf(p);
    } catch {
      // ended
    }
  }
  return ms;
}

/** p-quantile (0..1) of an ascending sorted array; undefined when empty. */
export function quantile(sorted, p) {
  if (sorted.length === 0) return undefined;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))];
}

/** Rounded to `d` decimals (results stay readable). */
export function round(x, d = 2) {
  if (x === undefined || x === null || !Number.isFinite(x)) return x ?? null;
  const f = 10 ** d;
  return Math.round(x * f) / f;
}

/** p50/p90/p99/p99.9/max of latencies in ms. */
export function latencySummary(values) {
  const s = Float64Array.from(values).sort();
  return {
    count: s.length,
    p50: round(quantile(s, 0.5), 3),
    p90: round(quantile(s, 0.9), 3),
    p99: round(quantile(s, 0.99), 3),
    p999: round(quantile(s, 0.999), 3),
    max: round(s.length ? s[s.length - 1] : undefined, 3),
  };
}

/**
 * A source address for load generator `i`: 127.<a>.<b>.<2+i>, with a and b
 * random per run, so sockets a previous run left in TIME_WAIT on their
 * (address, port) never collide with this run's explicit ports.
 */
const RUN_NET = `127.${1 + Math.floor(Math.random() * 250)}.${Math.floor(Math.random() * 250)}`;
export function sourceAddress(i) {
  return `${RUN_NET}.${2 + i}`;
}

/** Run `fn` and always run `cleanup` (servers, client processes) even when it throws. */
export async function withCleanup(fn, cleanup) {
  try {
    return await fn();
  } finally {
    await cleanup();
  }
}
