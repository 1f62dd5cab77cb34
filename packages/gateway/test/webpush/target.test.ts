import t from 'tap';
import { topicOf, MAX_PLAINTEXT_BYTES } from '../../src/webpush/payload.js';
import { hostMessage, HOST_UUID, openRegisteredClient, postMessage, SERVICE_UUID, TEST_API_KEY } from '../helpers.js';
import { subscriptionId } from '../../src/webpush/subscriptions.js';
import { icingaNotification } from '../../src/sources/icinga-poller.js';
import { api, eventually, pushSetup, subscribeWithKey } from './harness.js';

t.test('a PROBLEM reaches a user with no tab open through the push service, encrypted and signed, with Urgency, Topic and TTL', async (t) => {
  const { push, gw } = await pushSetup(t, { ttlSeconds: 3600, clickUrl: { service: 'https://oitc.example/#!/services/browser/{serviceUuid}' } });
  const sub = push.subscribe();
  const r = await subscribeWithKey(gw, sub);
  t.equal(r.status, 201, r.body);
  const ans = await postMessage(gw, hostMessage({ type: 'service', serviceUuid: SERVICE_UUID, state: 2, output: 'CRITICAL - connection refused' }));
  t.equal(ans.status, 200, ans.body);
  const [p] = await push.waitFor(1);
  t.same(push.errors, [], 'JWT verified and body decrypted');
  const payload = JSON.parse(p!.plaintext) as Record<string, unknown>;
  t.match(payload, { v: 1, key: `${HOST_UUID}/${SERVICE_UUID}`, kind: 'PROBLEM', severity: 'critical', body: 'CRITICAL - connection refused', url: `https://oitc.example/#!/services/browser/${SERVICE_UUID}` });
  t.type(payload.id, 'number');
  t.ok(typeof payload.title === 'string' && (payload.title as string).length > 0, 'a title');
  t.equal(p!.urgency, 'high');
  t.equal(p!.topic, topicOf(`${HOST_UUID}/${SERVICE_UUID}`));
  t.ok(Number(p!.ttl) <= 3600 && Number(p!.ttl) >= 3590, `TTL ${p!.ttl}`);
  t.equal(p!.vapidKey, gw.webPush!.keys.publicKey, 'signed with the stored VAPID key');
  t.equal(p!.claims.sub, 'mailto:ops@example.com');
  t.equal(p!.claims.aud, push.origin);

  // The RECOVERY of the same object: low urgency, same Topic (the push service replaces an undelivered PROBLEM).
  await postMessage(gw, hostMessage({ type: 'service', serviceUuid: SERVICE_UUID, state: 0, notificationtype: 'RECOVERY', output: 'OK' }));
  const [, rec] = await push.waitFor(2);
  t.equal(rec!.urgency, 'low');
  t.equal(rec!.topic, p!.topic);
  t.equal(JSON.parse(rec!.plaintext).kind, 'RECOVERY');
  t.equal(rec!.authorization, p!.authorization, 'one JWT per push-service origin is reused');
  const sent = await eventually(async () => (await gw.webPush!.subscriptions.get('user:1', subscriptionId(sub.endpoint)))?.lastPushAt, 'last push time');
  t.type(sent, 'number', 'the last successful push is kept');
});

t.test('a WARNING is normal urgency; a long body is cut to fit 3993 bytes, the title never', async (t) => {
  const { push, gw } = await pushSetup(t);
  await subscribeWithKey(gw, push.subscribe());
  await postMessage(gw, hostMessage({ type: 'service', serviceUuid: SERVICE_UUID, state: 1, output: 'ä'.repeat(5000) }));
  const [p] = await push.waitFor(1);
  t.ok(Buffer.byteLength(p!.plaintext) <= MAX_PLAINTEXT_BYTES, `${Buffer.byteLength(p!.plaintext)} bytes`);
  const payload = JSON.parse(p!.plaintext) as { body: string; title: string };
  t.ok(payload.body.endsWith('…'), 'the body is cut with an ellipsis');
  t.ok(payload.body.length > 1000, 'as much of the body as fits');
  t.equal(p!.urgency, 'normal');
});

t.test('replies: 410 deletes the subscription, 404 too; 413 counts a bug; 400/403 keep it; 429 and 500 are retried honouring Retry-After', async (t) => {
  const { push, gw } = await pushSetup(t);
  const subs = gw.webPush!.subscriptions;
  const gone = push.subscribe('gone');
  await subscribeWithKey(gw, gone);
  push.respond(410);
  await postMessage(gw, hostMessage());
  await push.waitFor(1);
  await eventually(async () => (await subs.forOwner('user:1')).length === 0, 'deletion');
  t.same(await subs.forOwner('user:1'), [], '410: deleted');
  t.equal(gw.webPush!.stats.pushes.gone, 1);

  const keep = push.subscribe('keep');
  await subscribeWithKey(gw, keep);
  push.respond(403);
  push.respond(413);
  await postMessage(gw, hostMessage({ output: 'a' }));
  await postMessage(gw, hostMessage({ output: 'b' }));
  await push.waitFor(3);
  await eventually(() => gw.webPush!.stats.pushes['too-large'] === 1 && gw.webPush!.stats.pushes['config-error'] === 1, '413 and 403 counted');
  t.equal((await subs.forOwner('user:1')).length, 1, '403 and 413 keep the subscription');

  push.respond(429, { 'Retry-After': '1' });
  push.respond(500);
  const before = Date.now();
  await postMessage(gw, hostMessage({ output: 'retried' }));
  const all = await push.waitFor(6, 15_000);
  t.same(all.slice(3).map((p) => p.status), [429, 500, 201], 'retried until accepted');
  t.ok(Date.now() - before >= 1000, 'the retry after 429 waited for Retry-After');
  t.same(new Set(all.slice(3).map((p) => p.plaintext)).size, 1, 'the same push each attempt');
  t.match(gw.webPush!.stats.pushes, { 'rate-limited': 1, 'server-error': 1 });
  const metrics = await (await fetch(`${gw.url}/metrics`)).text();
  t.match(metrics, /pushgate_webpush_pushes_total\{result="gone"\} 1/);
  t.match(metrics, /pushgate_webpush_pushes_total\{result="too-large"\} 1/);
});

t.test('no-live-browser: a user with a registered tab gets no push, unless it is a test; always pushes anyway', async (t) => {
  const { push, gw } = await pushSetup(t);
  await subscribeWithKey(gw, push.subscribe());
  const client = await openRegisteredClient(gw);
  t.teardown(() => client.close());
  await postMessage(gw, hostMessage());
  t.equal(gw.webPush!.stats.skipped['live-browser'], 1, 'skipped: the tab shows it');
  client.send({ type: 'TestPushNotification', message: '', payload: { title: 'test', icon: '' } });
  const [p] = await push.waitFor(1);
  t.equal(JSON.parse(p!.plaintext).kind, 'CUSTOM', 'a test notification is pushed although a tab is open');
  t.equal(push.pushes.length, 1);

  const always = await pushSetup(t, { when: 'always' });
  await subscribeWithKey(always.gw, always.push.subscribe());
  const c2 = await openRegisteredClient(always.gw);
  t.teardown(() => c2.close());
  await postMessage(always.gw, hostMessage());
  await always.push.waitFor(1);
});

t.test('a forged subscription to a private or unlisted address is refused and nothing is stored', async (t) => {
  const { push, gw } = await pushSetup(t, { allowHosts: [] });
  const sub = push.subscribe();
  for (const endpoint of [sub.endpoint, 'https://10.0.0.7/push/x', 'https://169.254.169.254/latest', 'http://fcm.googleapis.com/fcm/send/x', 'https://evil.example/push', 'https://[::1]/x', 'https://fcm.googleapis.com:8443/x']) {
    const r = await api(gw, 'subscription', { userId: 1, subscription: { endpoint, keys: sub.keys } }, TEST_API_KEY);
    t.equal(r.status, 400, `${endpoint}: ${r.body.trim()}`);
    t.match(r.body, /^Bad Request: endpoint refused: /);
  }
  t.same(await gw.webPush!.subscriptions.forOwner('user:1'), []);
  t.equal(gw.webPush!.stats.subscriptions.refused, 7);
  const bad = await api(gw, 'subscription', { userId: 1, subscription: { endpoint: sub.endpoint, keys: { p256dh: sub.keys.p256dh, auth: 'AAAA' } } }, TEST_API_KEY);
  t.equal(bad.status, 400);
  t.equal(bad.body, 'Bad Request: keys.auth must be 16 bytes\n');
  const nokey = await api(gw, 'subscription', { userId: 1, subscription: { endpoint: sub.endpoint, keys: sub.keys } }, undefined);
  t.equal(nokey.status, 401);
  const wrong = await api(gw, 'subscription', { userId: 1, subscription: { endpoint: sub.endpoint, keys: sub.keys } }, 'not-the-key');
  t.equal(wrong.status, 401);
});

t.test('subscriptions are bounded per user (least recently used goes) and expire when unused', async (t) => {
  const { push, gw } = await pushSetup(t, { maxSubscriptionsPerUser: 2, expireAfterMs: 60_000 });
  const a = push.subscribe('a');
  const b = push.subscribe('b');
  const c = push.subscribe('c');
  for (const s of [a, b, c]) t.equal((await subscribeWithKey(gw, s)).status, 201);
  const left = (await gw.webPush!.subscriptions.forOwner('user:1')).map((s) => s.endpoint).sort();
  t.same(left, [b.endpoint, c.endpoint].sort(), 'the oldest was evicted');
  t.same((await gw.webPush!.subscriptions.forOwner('user:1', Date.now() + 61_000)), [], 'unused for expireAfterMs: expired');
  t.equal(gw.webPush!.stats.subscriptions.expired, 2);
  t.equal(gw.webPush!.stats.subscriptions.evicted, 1);
  // DELETE removes a subscription.
  await subscribeWithKey(gw, a);
  const del = await api(gw, 'subscription', { userId: 1, endpoint: a.endpoint }, TEST_API_KEY, 'DELETE');
  t.equal(del.status, 200);
  t.same(JSON.parse(del.body), { removed: true });
});

t.test('an Icinga contact with a subscription gets its Icinga notifications by Web Push', async (t) => {
  const { push, gw } = await pushSetup(t);
  const sub = push.subscribe();
  t.same(await gw.webPush!.subscriptions.add('contact:5', { endpoint: sub.endpoint, keys: sub.keys }, undefined), { ok: true, id: subscriptionId(sub.endpoint) });
  const n = icingaNotification({ id: 41, incidentId: 9, contactId: 5, channelId: 1, eventId: null, state: 'sent', severity: 'crit', title: 'db01 / disk', message: 'disk full', time: Date.now() }, gw.ids.next(), Date.now());
  const r = await gw.pipeline.accept(n);
  t.equal(r.ok, true);
  const [p] = await push.waitFor(1);
  t.match(JSON.parse(p!.plaintext), { key: 'icinga:db01 / disk', kind: 'PROBLEM', severity: 'critical', body: 'disk full', url: '/app/' });
  t.equal(p!.urgency, 'high');
});
