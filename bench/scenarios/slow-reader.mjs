#!/usr/bin/env node
// slow reader: one client stops reading its socket and its user is flooded
// (1000/s, 4 KiB output, 5 s) while 1k other clients receive a background
// rate (200/s to random users). Then the client reads again. Reported:
// - accepted (200) notifications for the flooded user, how many its client
//   read, whether the server closed it (the drop is then visible: a counted
//   close the client reconnects after), and silent drops = accepted but
//   neither delivered nor closed (must be 0);
// - the server's peak RSS growth during the flood (bounded for pushgate by
//   websocket.maxBufferedBytes; the baselines buffer without limit);
// - the background clients' latency (p99) and losses.
// One JSON line per server. `--smoke`: 20 background clients, 1 s, 200/s flood.
import { SMOKE, emit, progress, round, sleep, targets, withCleanup } from '../lib/common.mjs';
import { deliveryReport, expectedPerMessage } from '../lib/delivery.mjs';
import { Fleet, clientList } from '../lib/fleet.mjs';
import { Poster } from '../lib/poster.mjs';
import { startTarget } from '../lib/targets.mjs';

const BACKGROUND = SMOKE ? 20 : 1000;
const TABS = 2;
const SECONDS = SMOKE ? 0.5 : 5;
const FLOOD_RATE = SMOKE ? 200 : 1000;
const BACKGROUND_RATE = SMOKE ? 20 : 200;
const FLOOD_USER = 1_000_000;
const FLOOD_SEQ = 1_000_000_000;
const PADDING = 'x'.repeat(4096);

for (const kind of targets()) {
  const target = await startTarget(kind);
  const fleet = new Fleet(SMOKE ? 1 : 2);
  await withCleanup(async () => {
    // The flooded client first: it is client 0 of the list (load generator 0, index 0).
    const list = [[FLOOD_USER, 'browser-flood'], ...clientList(BACKGROUND / TABS, TABS)];
    const c = await fleet.connect(target, list);
    progress('slow-reader', `${kind}: ${c.ok} connected`);
    await fleet.pause(0);
    await sleep(SMOKE ? 50 : 200);
    const rss0 = target.rss();
    let peak = rss0;
    const sampler = setInterval(() => {
      try {
        peak = Math.max(peak, target.rss());
      } catch {
        // server gone: reported below
      }
    }, 100);
    const background = new Poster(target.port, 4);
    const flood = new Poster(target.port, 8, FLOOD_SEQ);
    await Promise.all([background.opened(), flood.opened()]);
    const [bg, fl] = await Promise.all([
      background.openLoop(BACKGROUND_RATE, SECONDS, () => 1 + Math.floor(Math.random() * (BACKGROUND / TABS))),
      flood.openLoop(FLOOD_RATE, SECONDS, () => FLOOD_USER, PADDING),
    ]);
    await sleep(SMOKE ? 100 : 500);
    clearInterval(sampler);
    peak = Math.max(peak, target.rss());
    const accepted = fl.statuses[200] ?? 0;
    await fleet.resume(0);
    // Read what the server still holds for it, until everything arrived or it stays quiet.
    let last = -1;
    let client = await fleet.client(0);
    for (let i = 0; i < 100 && client.received < accepted && client.received !== last; i++) {
      last = client.received;
      await sleep(SMOKE ? 100 : 300);
      client = await fleet.client(0);
    }
    const received = await fleet.collect();
    const bgReceived = { seqs: [], lats: [] };
    received.seqs.forEach((s, i) => {
      if (s < FLOOD_SEQ) {
        bgReceived.seqs.push(s);
        bgReceived.lats.push(received.lats[i]);
      }
    });
    const bgReport = deliveryReport(background.statuses, bgReceived, expectedPerMessage(kind, TABS));
    background.close();
    flood.close();
    const closed = client.closeCode !== 0;
    const stats = (await target.stats()).stats;
    const line = {
      scenario: 'slow-reader', target: kind, background: BACKGROUND, seconds: SECONDS,
      flood: { ratePerS: FLOOD_RATE, outputBytes: PADDING.length, statuses: fl.statuses, errors: flood.errors, accepted, delivered: client.received, closedByServer: closed, closeCode: client.closeCode },
      silentDrops: closed ? 0 : Math.max(0, accepted - client.received),
      droppedWithClose: closed ? Math.max(0, accepted - client.received) : 0,
      serverCloses: stats.closes ?? null,
      rssBeforeBytes: rss0, rssPeakGrowthBytes: peak - rss0,
      backgroundLatencyMs: bgReport.latencyMs, backgroundLost: bgReport.lost, backgroundStatuses: bg.statuses,
    };
    progress('slow-reader', `${kind}: flood accepted ${accepted}, delivered ${client.received}, closed ${closed} (${client.closeCode}), silent drops ${line.silentDrops}, RSS +${(line.rssPeakGrowthBytes / 1048576).toFixed(1)} MiB, background p99 ${bgReport.latencyMs.p99} ms`);
    emit(line);
  }, async () => {
    await fleet.close();
    await target.stop();
  });
}
