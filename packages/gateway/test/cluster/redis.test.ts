/**
 * The Redis bus with real gateway processes on the shared Redis (each test
 * its own key prefix): exactly one notification per browser across nodes,
 * every node reached, registration and the per-user limit cluster-wide,
 * ids unique across nodes with `?since=` resume on another node, and a
 * killed node's state expiring.
 */
import { Redis } from 'ioredis';
import t, { type Test } from 'tap';
import type { Gateway } from '../../src/gateway.js';
import { clusterDir, startGatewayProcess, type GatewayProcess } from '../gateway-process.js';
import { redisSkip, redisUrl, testPrefix } from '../fixtures/redis.js';
import { hostMessage, httpRequest, openClient, openRegisteredClient, postMessage, type TestClient, tryHandshake, WAIT_MS, waitFor } from '../helpers.js';

const skip = await redisSkip();

/** The helpers take a Gateway; of a process they only need its URL. */
const gw = (p: GatewayProcess): Gateway => ({ url: p.url }) as Gateway;

/** Parsed `/metrics` of a node: series → value. */
async function metrics(p: GatewayProcess): Promise<Map<string, number>> {
  const res = await httpRequest(`${p.url}/metrics`);
  const out = new Map<string, number>();
  for (const line of res.body.split('\n')) {
    const m = /^(pushgate_bus_\S+) (\S+)$/.exec(line);
    if (m) out.set(m[1]!, Number(m[2]));
  }
  return out;
}

/** A KeepAlive round trip: every frame the server wrote before it has arrived. */
async function flush(c: TestClient): Promise<void> {
  c.send({ type: 'KeepAlive', message: '', payload: null });
  for (;;) {
    const f = JSON.parse(await c.next()) as { type: string };
    if (f.type === 'KeepAlive') return;
    (c as unknown as { leftovers: string[] }).leftovers ??= [];
    (c as unknown as { leftovers: string[] }).leftovers.push(JSON.stringify(f));
  }
}

/** Every ProcessPushNotification a client got so far (after a flush). */
async function notifications(c: TestClient): Promise<number[]> {
  await flush(c);
  const frames = (c as unknown as { leftovers?: string[] }).leftovers ?? [];
  (c as unknown as { leftovers: string[] }).leftovers = [];
  return frames.map((f) => JSON.parse(f) as { type: string; payload: { id: number } })
    .filter((f) => f.type === 'ProcessPushNotification').map((f) => f.payload.id);
}

async function startCluster(t: Test, n: number, extra: Record<string, unknown> = {}): Promise<{ nodes: GatewayProcess[]; redis: Redis; prefix: string }> {
  const dir = await clusterDir(t);
  const prefix = testPrefix();
  const bus = { type: 'redis', url: redisUrl(), prefix, nodeTtlMs: 1500 };
  const nodes = await Promise.all(Array.from({ length: n }, () => startGatewayProcess(t, dir, { bus, ...extra })));
  const redis = new Redis(redisUrl());
  t.teardown(async () => {
    await Promise.all(nodes.map((p) => p.stop().catch(() => undefined)));
    const keys = await redis.keys(`${prefix}*`);
    if (keys.length > 0) await redis.del(...keys);
    redis.disconnect();
  });
  return { nodes, redis, prefix };
}

/** Fields of the user's presence hash whose name starts with `kind` (`c:`, `b:`). */
async function presence(redis: Redis, prefix: string, userId: number, kind: string): Promise<Record<string, string>> {
  const all = await redis.hgetall(`${prefix}u:${userId}`);
  return Object.fromEntries(Object.entries(all).filter(([f]) => f.startsWith(kind)));
}

t.test('one notification per browser across nodes; every node reached; ids unique; resume on another node', { skip }, async (t) => {
  const { nodes: [a, b, c], redis, prefix } = await startCluster(t, 3);
  // Browser X has a tab on A and one on B; browser Y one tab on B; browser Z one on C.
  const x1 = await openRegisteredClient(gw(a!), { userId: 1, browserUuid: 'X' });
  await waitFor(async () => Object.keys(await presence(redis, prefix, 1, 'b:')).length === 1, WAIT_MS * 2, 'X announced by A');
  const x2 = await openClient(gw(b!), { userId: 1, browserUuid: 'X' });
  const y = await openClient(gw(b!), { userId: 1, browserUuid: 'Y' });
  const z = await openClient(gw(c!), { userId: 1, browserUuid: 'Z' });
  await waitFor(async () => Object.keys(await presence(redis, prefix, 1, 'b:')).length === 4, WAIT_MS * 2, 'all browsers announced');
  // B's announcement of X told A (an `s` message): A has received it before any notification.
  await waitFor(async () => ((await metrics(a!)).get('pushgate_bus_messages_total{direction="received"}') ?? 0) >= 1, WAIT_MS * 2, 'A knows X is shared');

  const slots = await redis.keys(`${prefix}slot:*`);
  t.equal(slots.length, 3, 'each node leased its own id slot');
  t.equal(new Set(await redis.mget(...slots)).size, 3, 'held by three different nodes');

  const posted: number[] = [];
  for (const [i, node] of [a!, b!, c!, a!, b!, c!].entries()) {
    const res = await postMessage(gw(node), hostMessage({ output: `n${i}` }));
    t.equal(res.status, 200, `POST on node ${i % 3} answers 200`);
  }
  // X is held by A and B: posts on A or B are written by the posting node and skipped by the other;
  // the two posts on C make A and B claim X: four claims, two won.
  const expected = [['A', a!, 5], ['B', b!, 4], ['C', c!, 5]] as const; // the other nodes' posts, plus B's `s` on A and C
  await waitFor(async () => {
    for (const [, node, n] of expected) if (((await metrics(node)).get('pushgate_bus_messages_total{direction="received"}') ?? 0) < n) return false;
    return true;
  }, WAIT_MS * 2, 'every node processed every message');
  await waitFor(async () => {
    const [ma, mb] = await Promise.all([metrics(a!), metrics(b!)]);
    const claims = (m: Map<string, number>, o: string): number => m.get(`pushgate_bus_claims_total{outcome="${o}"}`) ?? 0;
    return claims(ma, 'won') + claims(ma, 'lost') + claims(mb, 'won') + claims(mb, 'lost') === 4
      && claims(ma, 'won') + claims(mb, 'won') === 2;
  }, WAIT_MS * 2, 'claims settled');
  // Ids increase along causality (a node issues ids above every id it has seen); notifications posted
  // on different nodes within the same instant may reach a browser in either order: compare sorted.
  const [gotX1, gotX2, gotY, gotZ] = (await Promise.all([x1, x2, y, z].map(notifications))).map((ids) => ids.sort((p, q) => p - q));
  const gotX = [...gotX1!, ...gotX2!].sort((p, q) => p - q);
  t.equal(gotX.length, 6, 'browser X (tabs on A and B) got each notification exactly once');
  t.equal(new Set(gotX).size, 6, 'six distinct ids');
  t.same(gotY, gotX, 'browser Y (on B) got the same six');
  t.same(gotZ, gotX, 'browser Z (on C) got the same six');
  posted.push(...gotZ!);

  // Resume on another node: a new tab on C with ?since=<first id> gets the five later ones, in order.
  const ws = await openClient({ url: c!.url } as Gateway, { userId: 1, browserUuid: 'W' });
  await ws.close();
  const { WebSocket } = await import('ws');
  const { TestClient: Client, TEST_API_KEY } = await import('../helpers.js');
  const resumed = new Client(new WebSocket(`ws://127.0.0.1:${a!.port}/?userId=1&browserUuid=R&since=${posted[0]}`, ['access_token', TEST_API_KEY]));
  t.equal((await resumed.nextJson()).type, 'ConnectionEstablished');
  const replayed: number[] = [];
  for (let i = 0; i < 5; i++) replayed.push(((await resumed.nextJson()).payload as { id: number }).id);
  t.same(replayed, posted.slice(1), 'node A replays the notifications of every node after since, in id order');
  for (const cl of [x1, x2, y, z, resumed]) await cl.close();
});

t.test('exactly once per browser while its tabs join other nodes under concurrent notifications', { skip }, async (t) => {
  const { nodes: [a, b, c] } = await startCluster(t, 3);
  const browsers: { name: string; tabs: TestClient[]; since: number }[] = [];
  const posts = { A: 0, B: 0, C: 0 };
  let posted = 0;
  const post = async (node: GatewayProcess, key: keyof typeof posts): Promise<void> => {
    posts[key]++;
    posted++;
    t.equal((await postMessage(gw(node), hostMessage({ userId: 5, output: `p${posted}` }))).status, 200);
  };
  // User 5 registers once (browser R); the browsers under test never send anything before the end,
  // so the only KeepAlive answer they get is the one the final flush asks for.
  const registrar = await openRegisteredClient(gw(a!), { userId: 5, browserUuid: 'R' });
  for (let i = 0; i < 12; i++) {
    // The browser's first tab opens on A; then, all at once, its second tab opens on B
    // while notifications are posted on C, A and B: the join races them.
    const first = await openClient(gw(a!), { userId: 5, browserUuid: `J${i}` });
    const entry = { name: `J${i}`, tabs: [first], since: posted };
    browsers.push(entry);
    const [second] = await Promise.all([openClient(gw(b!), { userId: 5, browserUuid: `J${i}` }), post(c!, 'C'), post(a!, 'A'), post(b!, 'B')]);
    entry.tabs.push(second);
  }
  // Every node has seen every other node's posts (and B's 12 `s` markers, which A and C receive) ...
  const expected: [GatewayProcess, number][] = [[a!, posts.B + posts.C + 12], [b!, posts.A + posts.C], [c!, posts.A + posts.B + 12]];
  await waitFor(async () => {
    for (const [node, n] of expected) if (((await metrics(node)).get('pushgate_bus_messages_total{direction="received"}') ?? 0) < n) return false;
    return true;
  }, WAIT_MS * 2, 'every message processed');
  // ... and a /message for an unknown user asks Redis on the connection the claims went out on: answered after them.
  for (const node of [a!, b!]) t.equal((await postMessage(gw(node), hostMessage({ userId: 999 }))).status, 202);
  for (const br of browsers) {
    const got = (await Promise.all(br.tabs.map(notifications))).flat();
    t.equal(new Set(got).size, got.length, `${br.name}: no notification twice`);
    // Posted after its first tab opened: all of them; posted just before (still crossing nodes): maybe.
    t.ok(got.length >= posted - br.since && got.length <= posted, `${br.name}: none lost (${got.length} of ${posted}, at least ${posted - br.since})`);
  }
  for (const br of browsers) for (const tab of br.tabs) await tab.close();
  await registrar.close();
});

t.test('register on one node, /message on another; the per-user limit counts every node; a killed node expires', { skip }, async (t) => {
  const { nodes: [a, b], redis, prefix } = await startCluster(t, 2, { limits: { maxConnectionsPerUser: 2 } });

  const unregistered = await postMessage(gw(b!), hostMessage({ userId: 7 }));
  t.same([unregistered.status, unregistered.body], [202, 'User is not registered for push notifications'], 'nobody registered yet');
  const onA = await openRegisteredClient(gw(a!), { userId: 7, browserUuid: 'A1' });
  await waitFor(async () => (await presence(redis, prefix, 7, 'c:')) !== null && Object.keys(await presence(redis, prefix, 7, 'c:')).length === 1, WAIT_MS * 2, 'A counts user 7');
  await waitFor(async () => (await redis.hget(`${prefix}u:7`, 'r')) === '1', WAIT_MS * 2, 'registration visible');
  const ok = await postMessage(gw(b!), hostMessage({ userId: 7 }));
  t.same([ok.status, ok.body], [200, 'ok'], 'registered on A, /message on B answers 200');
  t.equal((await onA.nextJson()).type, 'ProcessPushNotification', 'and A delivers it');

  const onB = await openClient(gw(b!), { userId: 7, browserUuid: 'B1' });
  await waitFor(async () => Object.keys(await presence(redis, prefix, 7, 'c:')).length === 2, WAIT_MS * 2, 'both counted');
  for (const node of [a!, b!]) {
    const third = await tryHandshake(gw(node), '/?userId=7&browserUuid=T', `access_token, ${(await import('../helpers.js')).TEST_API_KEY}`);
    t.equal(third.status, 429, 'a third connection is refused on either node (limit 2, one open on each)');
  }
  const other = await openClient(gw(a!), { userId: 8, browserUuid: 'O' });
  t.pass('other users are not limited');

  // Node A dies without cleanup: within nodeTtlMs its connection and registration stop counting.
  await onB.close();
  await waitFor(async () => Object.keys(await presence(redis, prefix, 7, 'c:')).length === 1, WAIT_MS * 2, 'B released');
  a!.child.kill('SIGKILL');
  await a!.exited;
  await waitFor(async () => (await postMessage(gw(b!), hostMessage({ userId: 7 }))).status === 202, WAIT_MS * 2, 'A expired');
  t.pass('after the node TTL, /message on B no longer sees A\'s registered user');
  const c1 = await openClient(gw(b!), { userId: 7, browserUuid: 'N1' });
  const c2 = await openClient(gw(b!), { userId: 7, browserUuid: 'N2' });
  t.pass('the dead node\'s connections no longer count against the limit');
  for (const cl of [onA, other, c1, c2]) await cl.close().catch(() => undefined);
});

t.test('a TestPushNotification from a tab on one node reaches the user\'s tab on another node, and is journaled there too', { skip }, async (t) => {
  const { nodes: [a, b] } = await startCluster(t, 2);
  const sender = await openClient(gw(a!), { userId: 3, browserUuid: 'here' });
  const elsewhere = await openClient(gw(b!), { userId: 3, browserUuid: 'there' });
  sender.send({ type: 'TestPushNotification', message: '', payload: { title: 'Across nodes', icon: '' } });
  const got = await elsewhere.nextJson(WAIT_MS * 2);
  t.equal(got.type, 'ProcessPushNotification');
  t.equal(got.message, 'This is a test push notification triggered by the client');
  t.match(got.payload, { userId: 3, title: 'Across nodes', message: 'Across nodes', type: 'host' });
  const mine = await sender.nextJson(WAIT_MS * 2);
  t.same(mine, got, 'the sending tab got the same frame');
  for (const cl of [sender, elsewhere]) await cl.close();
});
