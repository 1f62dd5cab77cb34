#!/usr/bin/env node
// saturate: closed loop, 32 keep-alive connections posting `/message` to
// random users for 10 s (after a 1 s warm-up), at 5k and then 15k connected
// clients: requests/s and deliveries/s. Delivery cost must not grow with the
// number of connected users, so the 15k/5k ratio should stay near 1.
// Also `pushgate serve --workers 2` (needs the Redis bus), skipped with a
// JSON line when this build's CLI has no --workers.
// One JSON line per server and N. `--smoke`: 20 → 60 clients, 1 s.
import { SMOKE, emit, progress, round, sleep, targets, withCleanup } from '../lib/common.mjs';
import { expectedPerMessage } from '../lib/delivery.mjs';
import { Fleet, clientList } from '../lib/fleet.mjs';
import { Poster } from '../lib/poster.mjs';
import { freePort, startTarget, startWorkers, workersSupported } from '../lib/targets.mjs';

const STEPS = SMOKE ? [20, 60] : [5000, 15_000];
const TABS = 2;
const SECONDS = SMOKE ? 0.5 : 10;
const CONNECTIONS = 32;

async function measure(target) {
  const fleet = new Fleet(SMOKE ? 1 : 2);
  await withCleanup(async () => {
    let have = 0;
    for (const n of STEPS) {
      const c = await fleet.connect(target, clientList((n - have) / TABS, TABS, have / TABS + 1));
      have = n;
      const users = n / TABS;
      progress('saturate', `${target.kind}: ${n} connected (${c.failed} failed)`);
      const poster = new Poster(target.port, CONNECTIONS);
      await poster.opened();
      const pick = () => 1 + Math.floor(Math.random() * users);
      await poster.closedLoop(SMOKE ? 0.1 : 1, pick);
      await sleep(200);
      await fleet.reset();
      const cpu0 = target.cpuMs();
      const run = await poster.closedLoop(SECONDS, pick);
      const cpuMs = target.cpuMs() - cpu0;
      poster.close();
      const want = (run.statuses[200] ?? 0) * expectedPerMessage(target.kind, TABS);
      const got = await fleet.waitFor((x) => x.notifications >= want, 3000);
      await fleet.collect();
      const line = {
        scenario: 'saturate', target: target.kind, connections: n, httpConnections: CONNECTIONS, seconds: round(run.seconds, 2),
        requestsPerS: round(run.requests / run.seconds, 0),
        deliveriesPerS: round(got.notifications / run.seconds, 0),
        statuses: run.statuses, lost: Math.max(0, want - got.notifications),
        serverCpuPct: round((cpuMs / (run.seconds * 1000)) * 100, 1),
        // The steadiest number on a shared machine: the server's own CPU (user + system) per request.
        serverCpuUsPerRequest: round((cpuMs * 1000) / Math.max(1, run.requests), 1),
      };
      progress('saturate', `${target.kind} ${n}: ${line.requestsPerS} req/s, ${line.deliveriesPerS} deliveries/s, server CPU ${line.serverCpuPct}%, ${line.serverCpuUsPerRequest} us/request`);
      emit(line);
    }
  }, () => fleet.close());
}

for (const kind of targets()) {
  const target = await startTarget(kind);
  await withCleanup(() => measure(target), () => target.stop());
}

if (targets().includes('pushgate')) {
  if (!workersSupported()) {
    emit({ scenario: 'saturate', target: 'pushgate-workers2', skipped: 'serve --workers not available' });
  } else {
    const target = await startWorkers(2, { port: await freePort() });
    await withCleanup(() => measure(target), () => target.stop());
  }
}
