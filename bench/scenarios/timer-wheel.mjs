#!/usr/bin/env node
// timer-wheel: the relay's TimerWheel (packages/relay/src/timer-wheel.ts)
// against one setTimeout per item (what the outbox did before), with
// ITEMS pending retry waits (default 100k, spread over 0–300 s): schedule
// and cancel cost per item, heap per pending item (after GC); for the wheel
// also the cost of a tick with everything pending and nothing due, and of
// firing (a test clock moves it, so no real waiting). Each measurement is
// the median of 9 rounds (1 with --smoke), the two interleaved so machine noise hits
// both alike: each implementation runs in processes of its own, alternating,
// after two uncounted warm-up rounds per process. One JSON line per
// implementation. `--smoke`: 1000 items.
//   pnpm build && node bench/scenarios/timer-wheel.mjs
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { SMOKE, emit, progress, round } from '../lib/common.mjs';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc');
const { TimerWheel } = await import('../../packages/relay/dist/timer-wheel.js');

const ITEMS = SMOKE ? 1000 : Number(process.env.ITEMS ?? 100_000);
/** Processes per implementation, alternating wheel / setTimeout so machine noise hits both alike; each measures CHILD_ROUNDS rounds. */
const ALTERNATIONS = SMOKE ? 1 : 3;
const CHILD_ROUNDS = SMOKE ? 1 : 3;
const IDLE_TICKS = SMOKE ? 1000 : 30_000;
// Deterministic spread of delays over 0–300 s (the outbox's maxRetryDelayMs).
const delays = Float64Array.from({ length: ITEMS }, (_, i) => ((i * 7919) % 300_000) + 1);
const noop = () => {};

const ns = (start) => Number(process.hrtime.bigint() - start);
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

function heapAfterGc() {
  gc();
  gc();
  return process.memoryUsage().heapUsed;
}

function wheelRound() {
  let now = 0;
  const wheel = new TimerWheel({ tickMs: 100, now: () => now });
  const handles = new Array(ITEMS);
  const heap0 = heapAfterGc();
  let t = process.hrtime.bigint();
  for (let i = 0; i < ITEMS; i++) handles[i] = wheel.schedule(delays[i], noop, i);
  const schedule = ns(t);
  const heap = heapAfterGc() - heap0;
  // Ticks with everything pending and nothing due: move every item an hour out first.
  for (let i = 0; i < ITEMS; i++) wheel.cancel(handles[i]);
  for (let i = 0; i < ITEMS; i++) handles[i] = wheel.schedule(3_600_000 + delays[i], noop, i);
  heapAfterGc();
  // Median of short batches: on a loaded machine a long loop mostly measures preemption.
  const batches = [];
  for (let b = 0; b < IDLE_TICKS / 1000; b++) {
    t = process.hrtime.bigint();
    for (let k = 0; k < 1000; k++) {
      now += 100;
      wheel.advance();
    }
    batches.push(ns(t) / 1000);
  }
  const idleTick = median(batches);
  t = process.hrtime.bigint();
  for (let i = 0; i < ITEMS; i++) wheel.cancel(handles[i]);
  const cancel = ns(t);
  for (let i = 0; i < ITEMS; i++) wheel.schedule(delays[i], noop, i);
  t = process.hrtime.bigint();
  // Every item fires: the clock moves in 1 s steps (10 ticks per advance, as a loop 1 s late would).
  while (wheel.size > 0) {
    now += 1000;
    wheel.advance();
  }
  const fire = ns(t);
  wheel.close();
  return { schedule: schedule / ITEMS, cancel: cancel / ITEMS, fire: fire / ITEMS, idleTick, heap: heap / ITEMS };
}

function setTimeoutRound() {
  const handles = new Array(ITEMS);
  const heap0 = heapAfterGc();
  let t = process.hrtime.bigint();
  // A closure per item, as the outbox had (`setTimeout(() => this.#ready(entry), wait)`).
  for (let i = 0; i < ITEMS; i++) handles[i] = setTimeout(() => noop(i), delays[i]);
  const schedule = ns(t);
  const heap = heapAfterGc() - heap0;
  t = process.hrtime.bigint();
  for (let i = 0; i < ITEMS; i++) clearTimeout(handles[i]);
  const cancel = ns(t);
  return { schedule: schedule / ITEMS, cancel: cancel / ITEMS, heap: heap / ITEMS };
}

if (process.argv.includes('--child')) {
  // One implementation per process: 100k setTimeouts leave Node's timer lists
  // behind, which slowed the wheel's loops 10-fold when both shared a process.
  const round = process.argv.includes('setTimeout') ? setTimeoutRound : wheelRound;
  for (let r = 0; r < 2; r++) round(); // warm-up, not counted: the JIT settles
  const out = [];
  for (let r = 0; r < CHILD_ROUNDS; r++) out.push(round());
  process.stdout.write(JSON.stringify(out));
} else {
  const runs = { wheel: [], setTimeout: [] };
  for (let r = 0; r < ALTERNATIONS; r++) {
    for (const impl of ['wheel', 'setTimeout']) runs[impl].push(...child(impl));
  }
  const med = (list, key) => median(list.map((x) => x[key]));
  const base = { scheduleNs: med(runs.setTimeout, 'schedule'), cancelNs: med(runs.setTimeout, 'cancel') };
  for (const [target, list] of Object.entries(runs)) {
    const line = {
      scenario: 'timer-wheel', target, items: ITEMS, rounds: list.length,
      scheduleNsPerItem: round(med(list, 'schedule'), 1),
      cancelNsPerItem: round(med(list, 'cancel'), 1),
      heapBytesPerItem: round(med(list, 'heap'), 0),
      ...(target === 'wheel' ? { idleTickNs: round(med(list, 'idleTick'), 0), fireNsPerItem: round(med(list, 'fire'), 1), scheduleRatio: round(med(list, 'schedule') / base.scheduleNs, 2), cancelRatio: round(med(list, 'cancel') / base.cancelNs, 2) } : {}),
    };
    progress('timer-wheel', `${target}: schedule ${line.scheduleNsPerItem} ns, cancel ${line.cancelNsPerItem} ns, ${line.heapBytesPerItem} B per item${line.idleTickNs !== undefined ? `, idle tick ${line.idleTickNs} ns, fire ${line.fireNsPerItem} ns` : ''}`);
    emit(line);
  }
}

function child(impl) {
  const args = [fileURLToPath(import.meta.url), '--child', impl, ...(SMOKE ? ['--smoke'] : [])];
  return JSON.parse(execFileSync(process.execPath, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 1 << 20 }));
}
