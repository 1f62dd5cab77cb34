#!/usr/bin/env node
// scale: 60k concurrent connections on this machine across
// `pushgate serve --workers 4` (every process stays under 20k fds), with
// the RSS of every process, and 500 `/message` posts to random users, which
// spread over every worker: each must reach its user whichever worker took
// the POST (the Redis bus). Only pushgate: it is the multi-process claim.
// Skipped with a JSON line when this build's CLI has no --workers.
// `--smoke`: 2 workers, 200 connections, 50 posts.
import { SMOKE, emit, flag, progress, round, sleep, withCleanup } from '../lib/common.mjs';
import { deliveryReport } from '../lib/delivery.mjs';
import { Fleet, PER_PROCESS, clientList } from '../lib/fleet.mjs';
import { Poster } from '../lib/poster.mjs';
import { freePort, startWorkers, workersSupported } from '../lib/targets.mjs';

const WORKERS = Number(flag('workers', SMOKE ? 2 : 4));
const CONNECTIONS = Number(flag('connections', SMOKE ? 200 : 60_000));
const TABS = 2;
const POSTS = SMOKE ? 50 : 500;

if (!workersSupported()) {
  emit({ scenario: 'scale', skipped: 'serve --workers not available' });
  process.exit(0);
}

const target = await startWorkers(WORKERS, { port: await freePort() });
const fleet = new Fleet(Math.max(1, Math.ceil(CONNECTIONS / Math.min(PER_PROCESS, 15_000))));
await withCleanup(async () => {
  const users = CONNECTIONS / TABS;
  const cpu0 = target.cpuMs();
  const c = await fleet.connect(target, clientList(users, TABS));
  const cpuMs = target.cpuMs() - cpu0;
  progress('scale', `${c.ok} connected (${c.failed} failed) in ${(c.ms / 1000).toFixed(1)} s`);
  await sleep(2000);
  const each = target.rssEach();
  const total = each.reduce((s, e) => s + e.rss, 0);
  await fleet.reset();
  const poster = new Poster(target.port, 8);
  await poster.opened();
  const run = await poster.openLoop(Math.min(200, POSTS), POSTS / Math.min(200, POSTS), () => 1 + Math.floor(Math.random() * users));
  await fleet.waitFor((x) => x.notifications >= (run.statuses[200] ?? 0), 5000);
  const report = deliveryReport(poster.statuses, await fleet.collect(), 1);
  poster.close();
  const line = {
    scenario: 'scale', target: `pushgate-workers${WORKERS}`, workers: WORKERS, connections: c.ok, failed: c.failed,
    connectPerS: round((c.ok / c.ms) * 1000, 0), cpuMsPerConn: round(cpuMs / Math.max(1, c.ok), 4),
    rssTotalBytes: total, rssPerConnBytes: round(total / Math.max(1, c.ok), 0), rssEachBytes: each.map((e) => e.rss),
    posts: run.sent, statuses: run.statuses, delivered: report.delivered, lost: report.lost, duplicates: report.duplicates,
    latencyMs: report.latencyMs,
  };
  progress('scale', `${WORKERS} workers, ${c.ok} connections, RSS ${(total / 1048576).toFixed(0)} MiB, ${report.delivered}/${run.sent} delivered, lost ${report.lost}`);
  emit(line);
}, async () => {
  await fleet.close();
  await target.stop();
});
