/**
 * Receipts and the trail through whole gateways on loopback: the
 * WebSocket's `Receipt` frame and `POST /receipts` count once per
 * notification, device and kind; `GET /trail` (admin keys only) lists each
 * notification's events in order; the store keeps to its bounds and the
 * index survives a restart; with the Redis bus a receipt given to another
 * node reaches the node that owns the notification.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import t from 'tap';
import type { Gateway } from '../../src/gateway.js';
import { TrailStore } from '../../src/trail/store.js';
import { Trail } from '../../src/trail/trail.js';
import { redisSkip, redisUrl, testPrefix } from '../fixtures/redis.js';
import { clusterDir, startGatewayProcess } from '../gateway-process.js';
import {
  hostMessage, httpRequest, openRegisteredClient, postMessage, SERVICE_UUID, silentLogger, startTestGateway, TEST_API_KEY, type TestClient, waitFor,
} from '../helpers.js';

const ADMIN_KEY = 'admin-key-0123456789abcdef0123456789abcdef';

/** The next ProcessPushNotification's payload (other frames are skipped). */
async function nextNotification(c: TestClient): Promise<{ id: number; title: string; [k: string]: unknown }> {
  for (;;) {
    const f = await c.nextJson();
    if (f.type === 'ProcessPushNotification') return f.payload as { id: number; title: string };
  }
}

/** A KeepAlive round trip: every frame sent before it was handled. */
async function roundTrip(c: TestClient): Promise<void> {
  c.send({ type: 'KeepAlive', message: '', payload: null });
  for (;;) if ((await c.nextJson()).type === 'KeepAlive') return;
}

function receipt(c: TestClient, id: number, kind: string, reason?: string): void {
  c.send({ type: 'Receipt', message: '', payload: { id, kind, ...(reason ? { reason } : {}) } });
}

function postReceipts(gw: Pick<Gateway, 'url'>, query: string, body: unknown, key = TEST_API_KEY): ReturnType<typeof httpRequest> {
  return httpRequest(`${gw.url}/receipts?${query}`, {
    method: 'POST', headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${key}` }, body: JSON.stringify(body),
  });
}

function getTrail(gw: Pick<Gateway, 'url'>, path: string, key: string | null = ADMIN_KEY): ReturnType<typeof httpRequest> {
  return httpRequest(`${gw.url}${path}`, key === null ? {} : { headers: { Authorization: `Bearer ${key}` } });
}

t.test('receipts count once per notification, device and kind, and the trail lists every event in order', async (t) => {
  const counted: string[] = [];
  // onReceipt is the hook the escalation engine stops on: told of each counted receipt, once.
  const gw = await startTestGateway({ config: { auth: { adminKeys: [ADMIN_KEY] } }, onReceipt: (r) => counted.push(`${r.kind} ${r.device}`) });
  t.teardown(() => gw.close());
  const tab = await openRegisteredClient(gw, { userId: 1, browserUuid: 'laptop' });
  t.teardown(() => tab.close());
  const phone = await openRegisteredClient(gw, { userId: 1, browserUuid: 'phone' });
  t.teardown(() => phone.close());

  const res = await postMessage(gw, hostMessage({ type: 'service', serviceUuid: SERVICE_UUID, state: 2, output: 'HTTP 500' }));
  t.equal(res.status, 200);
  const n = await nextNotification(tab);
  t.equal((await nextNotification(phone)).id, n.id, 'both browsers got it');
  t.notOk('ackToken' in n, 'no action token without an acknowledge section');

  receipt(tab, n.id, 'delivered');
  receipt(tab, n.id, 'shown');
  receipt(tab, n.id, 'shown');
  tab.send({ type: 'Receipt', message: '', payload: { id: n.id, kind: 'seen' } });
  const error = await tab.nextJson();
  t.equal(error.type, 'Error');
  t.match(error.message, /^Invalid payload for Receipt: kind: /, 'a bad receipt is answered with what was wrong; the socket stays open');
  receipt(phone, n.id, 'delivered');
  receipt(phone, n.id, 'suppressed', 'permission');
  await roundTrip(tab);
  await roundTrip(phone);

  const sw = await postReceipts(gw, 'userId=1&browserUuid=sw-1', { receipts: [{ id: n.id, kind: 'delivered' }, { id: n.id, kind: 'clicked' }, { id: n.id, kind: 'clicked' }] });
  t.equal(sw.status, 204, 'the service worker\'s receipts are taken');
  t.equal((await postReceipts(gw, 'userId=2&browserUuid=sw-2', { receipts: [{ id: n.id, kind: 'shown' }] })).status, 204, 'taken, but not counted: user 2 was not a recipient');
  t.equal((await postReceipts(gw, 'userId=1&browserUuid=sw-1', { receipts: [{ id: n.id, kind: 'shown' }] }, 'wrong-key-0123456789')).status, 401);
  const bad = await postReceipts(gw, 'userId=1&browserUuid=sw-1', { receipts: [{ id: n.id, kind: 'read' }] });
  t.equal(bad.status, 400);
  t.match(bad.body, /^Bad Request: receipts\.0\.kind: /);
  t.equal((await postReceipts(gw, 'userId=1', { receipts: [{ id: n.id, kind: 'shown' }] })).status, 400, 'a receipt names its device');
  t.equal((await httpRequest(`${gw.url}/receipts?userId=1&browserUuid=x`)).status, 405);

  const trail = await getTrail(gw, `/trail/${n.id}`);
  t.equal(trail.status, 200);
  const events = (JSON.parse(trail.body) as { events: Record<string, unknown>[] }).events;
  t.same(events.map((e) => [e.type, e.kind ?? e.target, e.device ?? e.to]), [
    ['accepted', 'PROBLEM', undefined],
    ['delivered', 'ws', 'user:1'],
    ['receipt', 'delivered', 'laptop'],
    ['receipt', 'shown', 'laptop'],
    ['receipt', 'delivered', 'phone'],
    ['receipt', 'suppressed', 'phone'],
    ['receipt', 'delivered', 'sw-1'],
    ['receipt', 'clicked', 'sw-1'],
  ], 'each receipt once, in order, after the accept and the delivery');
  t.match(events[0], { objectKey: `${hostMessage().hostUuid as string}/${SERVICE_UUID}`, severity: 'critical', source: 'message', recipients: ['user:1'] });
  t.match(events[1], { count: 2 });
  t.match(events[5], { userId: 1, via: 'ws', reason: 'permission' });
  t.match(events[7], { via: 'http' });
  t.ok(events.every((e, i) => i === 0 || (e.at as number) >= (events[i - 1]!.at as number)), 'times never go back');
  t.same(gw.trail?.stats.receiptsIgnored, { duplicate: 2, 'not-recipient': 1 });
  t.same(counted, ['delivered laptop', 'shown laptop', 'delivered phone', 'suppressed phone', 'delivered sw-1', 'clicked sw-1'], 'onReceipt told of each counted one');

  await t.test('a RECOVERY of the object is recorded as replacing the PROBLEM', async (t) => {
    await postMessage(gw, hostMessage({ type: 'service', serviceUuid: SERVICE_UUID, notificationtype: 'RECOVERY', state: 0, output: 'HTTP 200' }));
    const r = await nextNotification(tab);
    const after = JSON.parse((await getTrail(gw, `/trail/${n.id}`)).body) as { events: Record<string, unknown>[] };
    t.match(after.events.at(-1), { type: 'replaced', by: r.id, kind: 'RECOVERY' });
  });

  await t.test('the listing filters by user, object and time; the admin key is required', async (t) => {
    const all = JSON.parse((await getTrail(gw, '/trail')).body) as { notifications: { id: number; shownAt?: number; kind: string }[] };
    t.same(all.notifications.map((s) => s.kind), ['RECOVERY', 'PROBLEM'], 'newest first');
    t.ok(all.notifications[1]!.shownAt !== undefined, 'the first shown receipt is in the summary');
    t.same(JSON.parse((await getTrail(gw, '/trail?user=2')).body), { notifications: [] });
    const byObject = JSON.parse((await getTrail(gw, `/trail?object=${encodeURIComponent(`${hostMessage().hostUuid as string}/${SERVICE_UUID}`)}&limit=1`)).body) as { notifications: unknown[] };
    t.equal(byObject.notifications.length, 1);
    t.same(JSON.parse((await getTrail(gw, `/trail?since=${Date.now() + 60_000}`)).body), { notifications: [] });
    t.equal((await getTrail(gw, '/trail', null)).status, 401);
    t.equal((await getTrail(gw, '/trail', TEST_API_KEY)).status, 401, 'the users\' API key is not the admin scope');
    const q = await getTrail(gw, '/trail?usr=1');
    t.equal(q.status, 400);
    t.match(q.body, /unknown parameter "usr"/);
    t.equal((await getTrail(gw, '/trail/12345')).status, 404);
    t.equal((await getTrail(gw, '/trail/abc')).status, 400);
  });

  await t.test('metrics count receipts and the time to the first shown', async (t) => {
    const m = (await httpRequest(`${gw.url}/metrics`)).body;
    t.match(m, /^pushgate_receipts_total\{outcome="counted",kind="shown"\} 1$/m);
    t.match(m, /^pushgate_receipts_total\{outcome="duplicate",kind=""\} 2$/m);
    t.match(m, /^pushgate_receipts_taken_total\{via="ws"\} 5$/m);
    t.match(m, /^pushgate_time_to_shown_seconds_count 1$/m);
    t.match(m, /^pushgate_trail_events_total\{type="receipt"\} 6$/m);
  });
});

t.test('the store keeps to its bounds and the index is read back after a restart', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'pushgate-trail-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const logger = silentLogger();
  let now = Date.now();
  const open = async (): Promise<Trail> => Trail.open({
    store: await TrailStore.open({ dir, logger, segmentBytes: 4096, maxBytes: 16 * 1024, maxAgeMs: 3_600_000, now: () => now }),
    logger, now: () => now,
  });
  let trail = await open();
  for (let id = 1; id <= 200; id++) {
    trail.record(id, { type: 'accepted', objectKey: `h${id}`, kind: 'PROBLEM', severity: 'critical', source: 'message', title: 'x'.repeat(40), recipients: ['user:1'] });
    trail.record(id, { type: 'delivered', target: 'ws', to: 'user:1', count: 1 });
    await trail.store.flush();
  }
  t.ok(trail.store.bytes <= 16 * 1024 + 4096, `bytes stay within maxBytes and one segment (${trail.store.bytes})`);
  t.ok(trail.store.stats.compactions > 0, 'old segments were deleted');
  t.equal(await trail.read(1), undefined, 'the oldest notification left with its segment');
  t.equal((await trail.read(200))?.length, 2);
  await trail.store.close();

  trail = await open();
  t.ok(trail.owns(200), 'the index is rebuilt from the store: the newest notification is still owned here');
  t.equal(trail.receipt({ notificationId: 200, kind: 'shown', userId: 1, device: 'd', via: 'ws' }), 'counted');
  t.equal(trail.receipt({ notificationId: 200, kind: 'shown', userId: 1, device: 'd', via: 'ws' }), 'duplicate');
  await trail.store.close();
  trail = await open();
  t.equal(trail.receipt({ notificationId: 200, kind: 'shown', userId: 1, device: 'd', via: 'ws' }), 'duplicate', 'counted receipts survive a restart too');
  await trail.store.close();

  now += 2 * 3_600_000;
  trail = await open();
  t.equal(trail.store.segments, 1, 'after maxAgeMs only the new segment is left');
  t.same(await trail.list(), []);
  await trail.store.close();
});

t.test('with the Redis bus a receipt given to another node counts on the node that owns the notification', { skip: await redisSkip() }, async (t) => {
  const prefix = testPrefix();
  const bus = { type: 'redis' as const, url: redisUrl(), prefix, nodeTtlMs: 1500 };
  const a = await startTestGateway({ config: { bus, auth: { adminKeys: [ADMIN_KEY] } } });
  const b = await startTestGateway({ config: { bus, auth: { adminKeys: [ADMIN_KEY] } } });
  const redis = new Redis(redisUrl());
  t.teardown(async () => {
    await a.close();
    await b.close();
    const keys = await redis.keys(`${prefix}*`);
    if (keys.length > 0) await redis.del(...keys);
    redis.disconnect();
  });
  await waitFor(() => a.bus.up && b.bus.up, 5000, 'both nodes on the bus');
  const onB = await openRegisteredClient(b, { userId: 5, browserUuid: 'tab-on-b' });
  t.teardown(() => onB.close());
  await waitFor(async () => (await postMessage(a, hostMessage({ userId: 5 }))).status === 200, 5000, 'node a sees the browser on node b');
  const n = await nextNotification(onB);
  receipt(onB, n.id, 'shown');
  await roundTrip(onB);
  await waitFor(() => a.trail?.stats.receipts.shown === 1, 5000, 'node a (the owner) counted the receipt');
  t.equal(b.receipts.stats.forwarded, 1, 'node b handed it to the bus');
  t.equal(b.trail?.stats.receipts.shown, undefined, 'node b did not count it');
  const events = JSON.parse((await getTrail(a, `/trail/${n.id}`)).body) as { events: { type: string; device?: string }[] };
  t.match(events.events.at(-1), { type: 'receipt', device: 'tab-on-b' });
  t.equal((await getTrail(b, `/trail/${n.id}`)).status, 404, 'the trail lives on the owner');
});

t.test('after kill -9 and a restart the trail still holds every event, and a receipt already counted is not counted again', async (t) => {
  const dir = await clusterDir(t);
  const config = { state: { dir: 'state' }, auth: { adminKeys: [ADMIN_KEY] } };
  const first = await startGatewayProcess(t, dir, config);
  const tab = await openRegisteredClient({ url: first.url }, { userId: 1, browserUuid: 'laptop' });
  t.equal((await postMessage({ url: first.url }, hostMessage())).status, 200);
  const n = await nextNotification(tab);
  receipt(tab, n.id, 'shown');
  await roundTrip(tab);
  // Reading the trail writes what is pending first: the kill comes after the receipt is in the file (lines are written in batches, not per event).
  t.equal((await getTrail(first, `/trail/${n.id}`)).status, 200);
  await first.stop('SIGKILL');
  await tab.closed;

  const second = await startGatewayProcess(t, dir, config);
  const before = JSON.parse((await getTrail(second, `/trail/${n.id}`)).body) as { events: { type: string; kind?: string }[] };
  t.same(before.events.map((e) => e.type === 'receipt' ? `receipt ${e.kind!}` : e.type), ['accepted', 'delivered', 'receipt shown'], 'nothing recorded before the kill is lost');
  t.equal((await postReceipts(second, 'userId=1&browserUuid=laptop', { receipts: [{ id: n.id, kind: 'shown' }, { id: n.id, kind: 'clicked' }] })).status, 204);
  const after = JSON.parse((await getTrail(second, `/trail/${n.id}`)).body) as { events: { type: string; kind?: string }[] };
  t.same(after.events.map((e) => e.type === 'receipt' ? e.kind : e.type), ['accepted', 'delivered', 'shown', 'clicked'], 'the restarted node owns it and counts the shown receipt once');
});
