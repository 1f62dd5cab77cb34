#!/usr/bin/env node
// latency: 5k connections (2 tabs per user), open-loop `POST /message` at
// 500/s and 2000/s for 10 s each to random users; end-to-end latency from
// the POST being written to the WebSocket frame being read by the client
// (p50/p90/p99/p99.9/max, ms), lost and duplicate deliveries.
// One JSON line per server and rate. `--smoke`: 40 connections, 50/s for 1 s.
import { SMOKE, emit, progress, round, sleep, targets, withCleanup } from '../lib/common.mjs';
import { deliveryReport, expectedPerMessage } from '../lib/delivery.mjs';
import { Fleet, clientList } from '../lib/fleet.mjs';
import { Poster } from '../lib/poster.mjs';
import { startTarget } from '../lib/targets.mjs';

const CONNECTIONS = SMOKE ? 40 : 5000;
const TABS = 2;
const RATES = SMOKE ? [50] : [500, 2000];
const SECONDS = SMOKE ? 0.5 : 10;
const users = CONNECTIONS / TABS;

for (const kind of targets()) {
  const target = await startTarget(kind);
  const fleet = new Fleet(SMOKE ? 1 : 2);
  await withCleanup(async () => {
    const c = await fleet.connect(target, clientList(users, TABS));
    progress('latency', `${kind}: ${c.ok} connected in ${(c.ms / 1000).toFixed(1)} s`);
    for (const rate of RATES) {
      await fleet.reset();
      const poster = new Poster(target.port, 16);
      await poster.opened();
      const cpu0 = target.cpuMs();
      const run = await poster.openLoop(rate, SECONDS, () => 1 + Math.floor(Math.random() * users));
      const cpuMs = target.cpuMs() - cpu0;
      const expected = expectedPerMessage(kind, TABS);
      // Let the last frames arrive (bounded: what is still missing then is lost).
      const want = (run.statuses[200] ?? 0) * expected;
      await fleet.waitFor((n) => n.notifications >= want, 3000);
      await sleep(100);
      const report = deliveryReport(poster.statuses, await fleet.collect(), expected);
      poster.close();
      const line = {
        scenario: 'latency', target: kind, connections: CONNECTIONS, ratePerS: rate, seconds: SECONDS,
        sent: run.sent, achievedPerS: round(run.sent / run.seconds, 0), statuses: run.statuses,
        ...report, serverCpuPct: round((cpuMs / (run.seconds * 1000)) * 100, 1),
      };
      progress('latency', `${kind} ${rate}/s: p50 ${report.latencyMs.p50} p99 ${report.latencyMs.p99} max ${report.latencyMs.max} ms, lost ${report.lost}, dup ${report.duplicates}`);
      emit(line);
    }
  }, async () => {
    await fleet.close();
    await target.stop();
  });
}
