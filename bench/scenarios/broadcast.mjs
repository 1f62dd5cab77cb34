#!/usr/bin/env node
// broadcast: one ExportStatus broadcast to 15k connections, 5 times, 1 s
// apart: time from the server starting the broadcast until the last client
// has read it (and the median client). pushgate runs its own ExportStatus
// poll (directory asked, frame serialised once, registry.broadcast); the
// floor loops ws.send over one prebuilt Buffer; Socket.IO does io.emit.
// One JSON line per server. `--smoke`: 40 connections, 2 broadcasts.
import { SMOKE, emit, progress, quantile, round, sleep, targets, withCleanup } from '../lib/common.mjs';
import { Fleet, clientList } from '../lib/fleet.mjs';
import { startTarget } from '../lib/targets.mjs';

const CONNECTIONS = SMOKE ? 40 : 15_000;
const TABS = 2;
const ROUNDS = SMOKE ? 2 : 5;

for (const kind of targets()) {
  const target = await startTarget(kind);
  const fleet = new Fleet(SMOKE ? 1 : 2);
  await withCleanup(async () => {
    const c = await fleet.connect(target, clientList(CONNECTIONS / TABS, TABS));
    progress('broadcast', `${kind}: ${c.ok} connected`);
    await sleep(SMOKE ? 100 : 1000);
    const lasts = [];
    const medians = [];
    const loops = [];
    let missing = 0;
    for (let i = 0; i < ROUNDS; i++) {
      await fleet.reset();
      const { t0, t1, connections } = await target.broadcast();
      loops.push((t1 - t0) / 1e6);
      const got = await fleet.waitFor((x) => x.broadcasts >= connections, 10_000);
      missing += Math.max(0, c.ok - got.broadcasts);
      const times = Float64Array.from((await fleet.collect()).broadcasts.map((t) => (t - t0) / 1e6)).sort();
      lasts.push(times.length ? times[times.length - 1] : NaN);
      medians.push(quantile(times, 0.5));
      await sleep(SMOKE ? 50 : 1000);
    }
    const sorted = [...lasts].sort((a, b) => a - b);
    const line = {
      scenario: 'broadcast', target: kind, connections: c.ok, rounds: ROUNDS,
      lastMs: round(quantile(sorted, 0.5), 2), lastMsMax: round(sorted[sorted.length - 1], 2),
      medianClientMs: round([...medians].sort((a, b) => a - b)[Math.floor(medians.length / 2)], 2),
      missing, eachLastMs: lasts.map((x) => round(x, 2)),
      // Time the server spent in its broadcast call (writing to every socket); the rest is the kernel and the clients.
      serverLoopMs: round([...loops].sort((a, b) => a - b)[Math.floor(loops.length / 2)], 2),
    };
    progress('broadcast', `${kind}: last client after ${line.lastMs} ms (median of ${ROUNDS}; worst ${line.lastMsMax}), server loop ${line.serverLoopMs} ms`);
    emit(line);
  }, async () => {
    await fleet.close();
    await target.stop();
  });
}
