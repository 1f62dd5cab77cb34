#!/usr/bin/env node
// idle: N authenticated and registered connections (2 tabs per user sharing
// a browserUuid), ramped 1k → 5k → 15k on each server: connect rate, server
// RSS per connection (RSS delta after GC / N) and CPU per connection (the
// server's user+system time during the ramp / new connections).
// One JSON line per server and N. `--smoke`: N = 20, 60.
import { SMOKE, emit, progress, round, sleep, targets, withCleanup } from '../lib/common.mjs';
import { Fleet, clientList } from '../lib/fleet.mjs';
import { startTarget } from '../lib/targets.mjs';

const STEPS = SMOKE ? [20, 60] : [1000, 5000, 15_000];
const TABS = 2;

for (const kind of targets()) {
  const target = await startTarget(kind);
  const fleet = new Fleet(SMOKE ? 1 : 2);
  await withCleanup(async () => {
    const baseRss = await target.rssAfterGc();
    let have = 0;
    for (const n of STEPS) {
      const list = clientList((n - have) / TABS, TABS, have / TABS + 1);
      const cpu0 = target.cpuMs();
      const r = await fleet.connect(target, list);
      const cpu = target.cpuMs() - cpu0;
      if (r.failed > 0) progress('idle', `${kind}: ${r.failed} of ${list.length} connections failed`);
      have = n;
      await sleep(SMOKE ? 100 : 1000);
      const rss = await target.rssAfterGc();
      const line = {
        scenario: 'idle', target: kind, connections: n, failed: r.failed,
        connectPerS: round((list.length / r.ms) * 1000, 0),
        rssBytes: rss, baseRssBytes: baseRss,
        rssPerConnBytes: round((rss - baseRss) / n, 0),
        cpuMsPerConn: round(cpu / list.length, 4),
      };
      progress('idle', `${kind} ${n}: ${line.connectPerS} conn/s, ${(line.rssPerConnBytes / 1024).toFixed(2)} KiB/conn, ${line.cpuMsPerConn} ms CPU/conn`);
      emit(line);
    }
  }, async () => {
    await fleet.close();
    await target.stop();
  });
}
