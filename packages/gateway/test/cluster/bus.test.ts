/**
 * The bus pieces that need no Redis: the in-process bus is the plain local
 * delivery, and the cluster ids (cluster/ids.ts) and the replay log (slots, a Lamport counter,
 * frames from other nodes kept in id order).
 */
import t from 'tap';
import { IdClock } from '../../src/cluster/ids.js';
import { LocalBus } from '../../src/cluster/local-bus.js';
import { parseSince, ReplayLog } from '../../src/pipeline/replay.js';
import { hostMessage, openRegisteredClient, postMessage, startTestGateway } from '../helpers.js';

t.test('the in-process bus is the default and delivers once per browser', async (t) => {
  const gw = await startTestGateway();
  t.teardown(() => gw.close());
  t.type(gw.bus, LocalBus);
  t.equal(gw.bus.health().ok, true);
  const tab1 = await openRegisteredClient(gw, { browserUuid: 'b' });
  const tab2 = await openRegisteredClient(gw, { browserUuid: 'b' });
  t.equal((await postMessage(gw, hostMessage())).status, 200);
  const first = await Promise.race([tab1.nextJson(), tab2.nextJson()]);
  t.equal(first.type, 'ProcessPushNotification');
  t.equal(tab1.pending + tab2.pending, 0, 'one tab of the browser got it');
  t.same(await gw.bus.lead('x', 1000), true, 'one node always leads');
  t.same(await gw.bus.connectionsElsewhere(1), 0);
  t.same(await gw.bus.registeredElsewhere(1), false);
  await tab1.close();
  await tab2.close();
});

t.test('cluster ids: slots never collide, observed ids push the counter, late frames are kept in order', async (t) => {
  let now = 1_000_000;
  const ca = new IdClock({ slots: 1024, slot: 1, now: () => now });
  const cb = new IdClock({ slots: 1024, slot: 2, now: () => now });
  const b = new ReplayLog({ maxEvents: 10, maxAgeMs: 60_000, now: () => now, ids: cb });
  const ia = ca.next();
  const ib = cb.next();
  t.not(ia, ib, 'same clock, different slots: different ids');
  t.equal(ia % 1024, 1);
  t.equal(ib % 1024, 2);
  for (let i = 0; i < 5; i++) ca.next();
  const ahead = ca.next();
  cb.observe(ahead);
  t.ok(cb.next() > ahead, 'after seeing an id, a node issues higher ones');

  now += 10;
  const frame = (id: number): Buffer => Buffer.from(String(id));
  const late = cb.lastId + 1024 * 5 + 1;
  const later = cb.lastId + 1024 * 9 + 1;
  b.record(7, later, frame(later));
  b.record(7, late, frame(late));
  cb.observe(later);
  const { frames } = b.resume(7, cb.lastId - 1);
  t.same(frames.map(String), [String(late), String(later)], 'replayed in id order though recorded out of order');
  t.equal(b.resume(7, later).gap, undefined, 'an id seen from another node is not "never issued"');
});

t.test('?since= takes ids up to 16 digits (cluster ids) within the safe integer range', async (t) => {
  t.equal(parseSince('/?since=1800000000000000'), 1_800_000_000_000_000);
  t.equal(parseSince('/?since=9999999999999999'), undefined, 'above Number.MAX_SAFE_INTEGER');
  t.equal(parseSince('/?since=12345678901234567'), undefined);
});
