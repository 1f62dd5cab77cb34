#!/usr/bin/env node
// micro: one micro-benchmark per hot function of a notification's path, so a
// regression shows before the end-to-end scenarios do. Each against a
// baseline doing the least the same job needs, measured in the same process,
// interleaved round by round so machine noise hits both alike (median of
// ROUNDS rounds, each after a warm-up):
// - serialise: targets/oitc-frame.ts `oitcFrame` (a fresh notification each
//   time, so its cache never answers) vs JSON.stringify of the same envelope
//   object + Buffer.from;
// - frame: transport/ws/frame.ts `wireFrame` (ws's frame header + one
//   Buffer) vs allocating header + payload and copying;
// - route: pipeline/router.ts `Router.plan` over the default targets (browser,
//   /events, mobile push) for one user vs filtering the same targets by kind;
// - journal append: pipeline/journal.ts `Journal.append` in awaited batches
//   (1, 10, 100 records) with the default syncIntervalMs and with 0 (fsync
//   per batch) vs a write(2) (and fdatasync) of the same lines, per record.
// Times are CPU time of the whole process (process.cpuUsage: a thread-pool
// hop counts, being preempted by other processes does not, so a loaded
// machine skews them far less than wall time); wall time is given too.
// Payload sizes: body of 64 B, 1 KiB and 8 KiB. One JSON line per function
// and size: CPU ns per op, the baseline's, their ratio, and the wall times.
// `--smoke`: one round, few iterations.
//   pnpm build && node bench/scenarios/micro.mjs
import { mkdtempSync, rmSync, writeSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SMOKE, emit, gatewayRequire, progress, round } from '../lib/common.mjs';

const dist = (p) => new URL(`../../packages/gateway/dist/${p}`, import.meta.url).href;
const { oitcFrame } = await import(dist('targets/oitc-frame.js'));
const { wireFrame } = await import(dist('transport/ws/frame.js'));
const { Router } = await import(dist('pipeline/router.js'));
const { Journal } = await import(dist('pipeline/journal.js'));
const { envelope, ServerMessageType } = await import(new URL('../../packages/protocol/dist/index.js', import.meta.url).href);
const { pino } = gatewayRequire('pino');

const ROUNDS = SMOKE ? 1 : 9;
const SIZES = [64, 1024, 8192];
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/** CPU ns per op (process.cpuUsage: every thread of the process, so a thread-pool hop counts; preemption by other processes does not) and wall ns per op of `fn(i)` run `n` times, awaited when it returns a promise. */
async function time(fn, n) {
  const c = process.cpuUsage();
  const t = process.hrtime.bigint();
  for (let i = 0; i < n; i++) {
    const r = fn(i);
    if (r instanceof Promise) await r;
  }
  const wall = Number(process.hrtime.bigint() - t) / n;
  const u = process.cpuUsage(c);
  return { cpu: ((u.user + u.system) * 1000) / n, wall };
}

/** Median CPU (and wall) ns/op of `subject` and `baseline`, alternating rounds after one warm-up each; the ratio is of CPU. */
async function compare(subject, baseline, n) {
  await time(subject, Math.max(1, n >> 2));
  await time(baseline, Math.max(1, n >> 2));
  const s = [];
  const b = [];
  for (let r = 0; r < ROUNDS; r++) {
    s.push(await time(subject, n));
    b.push(await time(baseline, n));
  }
  const cpu = (xs) => median(xs.map((x) => x.cpu));
  const wall = (xs) => median(xs.map((x) => x.wall));
  return {
    nsPerOp: round(cpu(s), 1), baselineNsPerOp: round(cpu(b), 1), ratio: round(cpu(s) / cpu(b), 2),
    wallNsPerOp: round(wall(s), 1), baselineWallNsPerOp: round(wall(b), 1),
  };
}

function notification(id, size) {
  const body = 'CRITICAL - socket timeout after 10 seconds '.repeat(Math.ceil(size / 43)).slice(0, size);
  return {
    id, objectKey: 'c36b8048-93ce-4385-ac19-ab5c90574b77/74fd8f59-1348-4e16-85f0-4a5c57c7dd62', kind: 'PROBLEM', severity: 'critical',
    title: 'web.example.org / HTTP frontend', body, recipients: [{ kind: 'user', userId: 7 }], source: 'message', created: Date.now(),
    host: 'web.example.org',
    oitc: {
      timestamp: 1_700_000_000, type: 'service', hostUuid: 'c36b8048-93ce-4385-ac19-ab5c90574b77', serviceUuid: '74fd8f59-1348-4e16-85f0-4a5c57c7dd62',
      icon: 'fa-exclamation-triangle', envelopeMessage: body, state: 2, notificationType: 'PROBLEM',
    },
  };
}

function line(fn, size, r, extra = {}) {
  emit({ scenario: 'micro', fn, payloadBytes: size, ...extra, ...r });
  progress('micro', `${fn}${extra.batch ? ` batch ${extra.batch}` : ''}${extra.syncIntervalMs !== undefined ? ` sync ${extra.syncIntervalMs}` : ''} ${size} B: ${r.nsPerOp} ns/op (baseline ${r.baselineNsPerOp}, ${r.ratio}×)`);
}

for (const size of SIZES) {
  const n = SMOKE ? 200 : 20_000;
  const notes = Array.from({ length: n }, (_, i) => notification(i + 1, size));
  line('serialise', size, await compare(
    (i) => oitcFrame({ ...notes[i] }, 7),
    (i) => {
      const x = notes[i];
      const o = x.oitc;
      return Buffer.from(envelope(ServerMessageType.ProcessPushNotification, o.envelopeMessage, {
        timestamp: o.timestamp, userId: 7, title: x.title, message: x.body, type: o.type, hostUuid: o.hostUuid, serviceUuid: o.serviceUuid, icon: o.icon, id: x.id,
      }));
    }, n));

  const payload = oitcFrame(notes[0], 7);
  line('frame', size, await compare(
    () => wireFrame(payload),
    () => {
      const out = Buffer.allocUnsafe(payload.length + 4);
      out[0] = 0x81;
      out[1] = 126;
      out.writeUInt16BE(payload.length & 0xffff, 2);
      payload.copy(out, 4);
      return out;
    }, n));
}

{
  // Routing does not look at the payload: one size. The default targets' shapes (gateway.ts builds them
  // with registries and an outbox the plan never touches): browser and /events live, mobile push durable.
  const userTargets = [
    { name: 'ws', durable: false, serves: (to) => to.kind === 'user' },
    { name: 'events', durable: false, serves: (to) => to.kind === 'user' },
    { name: 'icinga-sse', durable: false, serves: (to) => to.kind === 'contact' },
    { name: 'mobile-push', durable: true, serves: (to) => to.kind === 'user' },
  ];
  const router = new Router(userTargets, [], undefined);
  const n = SMOKE ? 1000 : 200_000;
  const note = notification(1, 64);
  line('route', 64, await compare(
    () => router.plan(note),
    () => {
      const steps = [];
      for (const to of note.recipients) steps.push({ to, targets: userTargets.filter((t) => t.serves(to)) });
      return steps;
    }, n));
}

const logger = pino({ level: 'silent' });
for (const syncIntervalMs of [1000, 0]) {
  for (const batch of [1, 10, 100]) {
    const dir = mkdtempSync(join(tmpdir(), 'pushgate-bench-micro-'));
    const { journal } = await Journal.open({ dir: join(dir, 'journal'), logger, restoreAgeMs: 60_000, lastId: () => 0, syncIntervalMs, segmentBytes: 1 << 30, maxBytes: 1 << 30 });
    const fh = await open(join(dir, 'baseline.jsonl'), 'a');
    const fd = fh.fd;
    const note = notification(1, 1024);
    const rec = { t: 'n', at: note.created, n: note, live: { ws: 1 } };
    const batches = SMOKE ? 5 : syncIntervalMs === 0 ? 100 : 2000;
    try {
      const r = await compare(
        () => Promise.all(Array.from({ length: batch }, () => journal.append(rec))),
        async () => {
          const lines = [];
          for (let i = 0; i < batch; i++) lines.push(JSON.stringify(rec) + '\n');
          writeSync(fd, lines.join(''));
          if (syncIntervalMs === 0) await fh.datasync();
        }, batches);
      // Per record, not per batch.
      line('journal append', 1024, {
        nsPerOp: round(r.nsPerOp / batch, 1), baselineNsPerOp: round(r.baselineNsPerOp / batch, 1), ratio: r.ratio,
        wallNsPerOp: round(r.wallNsPerOp / batch, 1), baselineWallNsPerOp: round(r.baselineWallNsPerOp / batch, 1),
      }, { batch, syncIntervalMs });
    } finally {
      await journal.close();
      await fh.close();
      rmSync(dir, { recursive: true, force: true });
    }
  }
}
