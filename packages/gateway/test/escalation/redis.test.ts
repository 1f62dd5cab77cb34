/**
 * Escalation on several nodes over real Redis (docs/escalation.md "Several
 * nodes"), real gateway processes: each step runs once however many nodes
 * there are; a ladder is visible to every node, so an ACKNOWLEDGEMENT at
 * another node stops it; when the owner dies by SIGKILL another node takes
 * its ladders over within seconds and runs the rest, each step once.
 */
import { Redis } from 'ioredis';
import t, { type Test } from 'tap';
import type { Gateway } from '../../src/gateway.js';
import { redisSkip, redisUrl, testPrefix } from '../fixtures/redis.js';
import { clusterDir, startGatewayProcess, type GatewayProcess } from '../gateway-process.js';
import { hostMessage, openRegisteredClient, postMessage, SERVICE_UUID, startTestGateway, waitFor, type TestClient } from '../helpers.js';
import { distinct, hookServer } from './hook.js';

const skip = await redisSkip();
const at = (url: string): Gateway => ({ url }) as Gateway;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

const LADDER = [{ after: '1s', targets: ['hook'] }, { after: '3s', targets: ['hook'] }, { after: '5s', targets: ['hook'] }];

async function cluster(t: Test, nodes: number, hookUrl: string, steps: unknown[] = LADDER): Promise<GatewayProcess[]> {
  const dir = await clusterDir(t);
  const prefix = testPrefix();
  // The tests stop their processes before they end: then this test's keys leave Redis.
  t.teardown(async () => {
    const redis = new Redis(redisUrl());
    const keys = await redis.keys(`${prefix}*`);
    if (keys.length > 0) await redis.del(...keys);
    await redis.quit();
  });
  const config = {
    bus: { type: 'redis', url: redisUrl(), prefix },
    notifications: { channels: { hook: { type: 'webhook', url: hookUrl, minRetryDelayMs: 0 } } },
    escalation: {
      policies: { oncall: { steps } },
      defaultPolicies: ['oncall'],
      leaseMs: 1500,
    },
  };
  const out: GatewayProcess[] = [];
  for (let i = 0; i < nodes; i++) out.push(await startGatewayProcess(t, dir, config));
  return out;
}

const ran = (p: GatewayProcess): unknown[] => p.logs().filter((l) => l.msg === 'escalation: step run').map((l) => l.step);

t.test('two nodes: each step once; an ACKNOWLEDGEMENT at the other node stops a ladder; takeover after the owner\'s SIGKILL', { skip }, async (t) => {
  const hook = await hookServer(t);
  const [a, b] = await cluster(t, 2, hook.url);
  t.equal((await postMessage(at(a!.url), hostMessage())).status, 200, 'host PROBLEM at a');
  const service = { type: 'service', serviceUuid: SERVICE_UUID, state: 2 };
  t.equal((await postMessage(at(a!.url), hostMessage(service))).status, 200, 'service PROBLEM at a');
  const ack = await postMessage(at(b!.url), hostMessage({ ...service, notificationtype: 'ACKNOWLEDGEMENT', ackauthor: 'bob' }));
  t.equal(ack.status, 200, 'its ACKNOWLEDGEMENT at b');
  await b!.waitLog((l) => l.msg === 'escalation: steps cancelled' && l.reason === 'acknowledged');

  await waitFor(() => distinct(hook.got).length >= 1, 10_000, 'step 0');
  await a!.waitLog((l) => l.msg === 'escalation: step run' && l.step === 0);
  t.same(ran(b!), [], 'b ran nothing while a owned the ladder');
  const killed = Date.now();
  await a!.stop('SIGKILL');
  await b!.waitLog((l) => l.msg === 'escalation: ladders taken over from a node that is gone', 15_000);
  t.ok(Date.now() - killed < 8000, 'taken over within seconds');
  await waitFor(() => distinct(hook.got).length >= 3, 15_000, 'steps 1 and 2');
  await sleep(1000);
  t.equal(distinct(hook.got).length, 3, 'three steps, the acknowledged service ladder none');
  t.ok(hook.got.every((d) => /web-01 is DOWN/.test(d.body.title)), 'all of the host ladder');
  await b!.waitLog((l) => l.msg === 'escalation: step run' && l.step === 2);
  t.same(ran(b!).sort(), [1, 2], 'b ran steps 1 and 2, once each');
  await b!.stop();
});

t.test('three nodes: each step once, and one survivor takes over after the owner\'s SIGKILL', { skip }, async (t) => {
  const hook = await hookServer(t);
  const nodes = await cluster(t, 3, hook.url);
  const [a, b, c] = nodes;
  t.equal((await postMessage(at(b!.url), hostMessage())).status, 200, 'PROBLEM at b');
  await waitFor(() => distinct(hook.got).length >= 1, 10_000, 'step 0');
  await b!.waitLog((l) => l.msg === 'escalation: step run' && l.step === 0);
  await b!.stop('SIGKILL');
  await waitFor(() => distinct(hook.got).length >= 3, 20_000, 'steps 1 and 2');
  await sleep(1000);
  t.equal(distinct(hook.got).length, 3, 'three steps');
  const survivors = [ran(a!), ran(c!)];
  t.same(survivors.flat().sort(), [1, 2], 'the survivors ran steps 1 and 2 once between them');
  t.ok(survivors.some((s) => s.length === 2), 'one survivor owns the ladder');
  t.ok(hook.got.length <= 4, 'at most one outbox resend');
  for (const p of [a!, c!]) await p.stop();
});

/** The next ProcessPushNotification payload of a client. */
async function nextPush(c: TestClient): Promise<{ id: number }> {
  for (;;) {
    const m = await c.nextJson(10_000);
    if (m.type === 'ProcessPushNotification') return m.payload as { id: number };
  }
}

t.test('a browser step of a ladder owned by one node reaches the browser on another node, once', { skip }, async (t) => {
  const hook = await hookServer(t);
  const [a, b] = await cluster(t, 2, hook.url, [{ after: '600ms', targets: ['browser'] }]);
  const browser = await openRegisteredClient(at(b!.url));
  t.equal((await postMessage(at(a!.url), hostMessage())).status, 200, 'PROBLEM at a');
  const first = await nextPush(browser);
  const reminder = await nextPush(browser);
  t.ok(reminder.id > first.id, 'the reminder, a new id, crossed the bus to b');
  await sleep(500);
  t.equal(browser.pending, 0, 'nothing else arrived');
  t.same(ran(a!), [0], 'a ran the step');
  t.same(ran(b!), [], 'b did not');
  await browser.close();
  for (const p of [a!, b!]) await p.stop();
});

t.test('the hooks work on any node: acknowledged and a receipt at b stop steps of a ladder a owns', { skip }, async (t) => {
  const hook = await hookServer(t);
  const prefix = testPrefix();
  t.teardown(async () => {
    const redis = new Redis(redisUrl());
    const keys = await redis.keys(`${prefix}*`);
    if (keys.length > 0) await redis.del(...keys);
    await redis.quit();
  });
  const config = {
    bus: { type: 'redis' as const, url: redisUrl(), prefix },
    notifications: { channels: { hook: { type: 'webhook' as const, url: hook.url, minRetryDelayMs: 0 } } },
    escalation: {
      policies: { oncall: { steps: [{ after: '700ms', targets: ['hook'], unless: ['clicked' as const] }, { after: '1400ms', targets: ['hook'] }] } },
      defaultPolicies: ['oncall'],
    },
  };
  const a = await startTestGateway({ config });
  t.teardown(() => a.close());
  const b = await startTestGateway({ config });
  t.teardown(() => b.close());
  t.equal((await postMessage(a, hostMessage())).status, 200, 'host PROBLEM at a');
  const hostId = a.ids.lastId;
  const service = { type: 'service', serviceUuid: SERVICE_UUID, state: 2 };
  t.equal((await postMessage(a, hostMessage(service))).status, 200, 'service PROBLEM at a');
  const serviceId = a.ids.lastId;
  t.equal(a.escalation!.pending, 4, 'a owns both ladders');
  t.equal(b.escalation!.pending, 0, 'b owns none');
  t.equal(await b.escalation!.receipt(hostId, 'clicked', 1), 1, 'a click at b cancels the host ladder\'s first step');
  t.equal(await b.escalation!.acknowledged({ notificationId: serviceId }, 'pushgate:alice'), 2, 'acknowledged at b: the service ladder ends');
  await waitFor(() => hook.got.length >= 1, 10_000, 'the host ladder\'s second step');
  await sleep(800);
  t.equal(distinct(hook.got).length, 1, 'only that step ran');
  t.match(hook.got[0]!.body.title, /web-01 is DOWN/);
  t.same(a.escalation!.stats.run, { oncall: 1 });
  t.same(b.escalation!.stats.cancelled, { oncall: { clicked: 1, acknowledged: 2 } }, 'b recorded what it cancelled');
  t.equal(a.escalation!.ladders, 0, 'a let go of both ladders');
});
