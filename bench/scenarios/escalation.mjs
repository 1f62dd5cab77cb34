#!/usr/bin/env node
// escalation: the escalation engine (packages/gateway/src/escalation/) with
// STEPS pending steps (default 100k, one-step ladders due in an hour) in its
// one-node store (the fsynced journal under a temporary state directory):
// RSS and heap growth for them (after GC), CPU per second while they wait
// and nothing is due (the wheel ticking every 100 ms), the time to journal
// them, and the time to fire a due batch of BATCH further steps (default
// 10k, all due 3 s after they were planned): from their due time to the
// last delivery. Deliveries go to a counting deliverer (the pipeline's
// targets are not what this measures). One JSON line.
//   pnpm build && node bench/scenarios/escalation.mjs   (--smoke: 1000 steps)
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { SMOKE, emit, gatewayRequire, progress, round } from '../lib/common.mjs';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc');
const { Escalation } = await import('../../packages/gateway/dist/escalation/escalation.js');
const { FileStepStore } = await import('../../packages/gateway/dist/escalation/file-store.js');
const { IdClock } = await import('../../packages/gateway/dist/cluster/ids.js');
const pino = gatewayRequire('pino');

const STEPS = SMOKE ? 1000 : Number(process.env.STEPS ?? 100_000);
const BATCH = SMOKE ? 100 : Number(process.env.BATCH ?? 10_000);
const IDLE_MS = SMOKE ? 1000 : 5000;
const BATCH_AFTER_MS = 3000;

function mem() {
  gc();
  gc();
  const m = process.memoryUsage();
  return { rss: m.rss, heap: m.heapUsed };
}

const dir = mkdtempSync(join(tmpdir(), 'pushgate-bench-escalation-'));
const logger = pino({ level: 'silent' });
const config = {
  policies: {
    later: { steps: [{ after: 3_600_000, targets: ['hook'], unless: [] }] },
    soon: { steps: [{ after: BATCH_AFTER_MS, targets: ['hook'], unless: [] }] },
  },
  defaultPolicies: ['later'], hosts: { batch: { policies: ['soon'] } }, users: {}, leaseMs: 5000, compactBytes: 64 * 1024 * 1024, maxLadders: STEPS + BATCH,
};
let delivered = 0;
let lastDelivery = 0;
const deliverer = {
  step() {
    delivered++;
    lastDelivery = performance.now();
    return Promise.resolve({ hook: 'queued 1' });
  },
};
const ids = new IdClock();
const notification = (i, host) => ({
  id: ids.next(), objectKey: `${host}/svc-${i}`, kind: 'PROBLEM', severity: 'critical', title: `PROBLEM: ${host} svc-${i} is CRITICAL`,
  body: 'CRITICAL - check output', recipients: [{ kind: 'user', userId: 1 + (i % 500) }], source: 'message', created: Date.now(), host,
});

const before = mem();
const store = await FileStepStore.open({ dir, logger, compactBytes: config.compactBytes });
const esc = await Escalation.start({ config, store, deliverer, ids, logger });
let t = performance.now();
for (let i = 0; i < STEPS; i += 1000) {
  const chunk = [];
  for (let j = i; j < Math.min(STEPS, i + 1000); j++) chunk.push(esc.observe(notification(j, `host-${j % 1000}`)));
  await Promise.all(chunk);
}
const planMs = performance.now() - t;
const after = mem();
if (esc.pending !== STEPS) throw new Error(`expected ${STEPS} pending steps, have ${esc.pending}`);
progress('escalation', `${STEPS} steps pending: rss +${round((after.rss - before.rss) / 1048576, 1)} MiB, heap ${round((after.heap - before.heap) / STEPS, 0)} B per step, planned in ${round(planMs, 0)} ms`);

// Idle: everything pending, nothing due.
const cpu0 = process.cpuUsage();
t = performance.now();
await new Promise((r) => setTimeout(r, IDLE_MS));
const cpu = process.cpuUsage(cpu0);
const idleCpuMsPerSec = ((cpu.user + cpu.system) / 1000) / ((performance.now() - t) / 1000);

// A due batch.
const planned = performance.now();
const batch = [];
for (let i = 0; i < BATCH; i++) batch.push(esc.observe(notification(i, 'batch')));
await Promise.all(batch);
const due = planned + BATCH_AFTER_MS;
while (delivered < BATCH) await new Promise((r) => setTimeout(r, 20));
const fireMs = lastDelivery - due;

await esc.close();
rmSync(dir, { recursive: true, force: true });
const line = {
  scenario: 'escalation', target: 'pushgate', steps: STEPS, batch: BATCH,
  rssMiB: round((after.rss - before.rss) / 1048576, 1),
  heapBytesPerStep: round((after.heap - before.heap) / STEPS, 0),
  planMs: round(planMs, 0),
  idleCpuMsPerSec: round(idleCpuMsPerSec, 2),
  fireBatchMs: round(fireMs, 0),
};
progress('escalation', `idle ${line.idleCpuMsPerSec} ms CPU per s; a due batch of ${BATCH} fired within ${line.fireBatchMs} ms of its due time`);
emit(line);
