/**
 * Redis lost and back, cut with a real TCP proxy (the shared Redis keeps
 * running): the cut node keeps delivering to its own clients, counts what
 * could not cross, reports `bus:` in /readyz (not /healthz), logs the loss
 * once and the return once, and after reconnecting delivers across nodes
 * again with its state re-announced. Plus the export status: one node asks
 * the directory (the lease holder), every node's clients hear the answer.
 */
import { Redis } from 'ioredis';
import { pino } from 'pino';
import t from 'tap';
import { FileDirectory } from '../../src/directory/file.js';
import type { Gateway } from '../../src/gateway.js';
import { clusterDir, startGatewayProcess, type GatewayProcess } from '../gateway-process.js';
import { redisSkip, redisUrl, REDIS, testPrefix } from '../fixtures/redis.js';
import { hostMessage, httpRequest, openClient, openRegisteredClient, postMessage, startTestGateway, testDirectoryData, WAIT_MS, waitFor } from '../helpers.js';
import { startTcpProxy } from '../tcp-proxy.js';

const skip = await redisSkip();

const gw = (p: GatewayProcess): Gateway => ({ url: p.url }) as Gateway;

async function busMetric(url: string, series: string): Promise<number> {
  const res = await httpRequest(`${url}/metrics`);
  const line = res.body.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? 0 : Number(line.slice(series.length + 1));
}

t.test('Redis cut and restored between one node and Redis', { skip }, async (t) => {
  const dir = await clusterDir(t);
  const prefix = testPrefix();
  const proxy = await startTcpProxy(REDIS);
  t.teardown(() => proxy.close());
  const common = { prefix, nodeTtlMs: 1500, reconnectMaxMs: 200 };
  const a = await startGatewayProcess(t, dir, { bus: { type: 'redis', url: redisUrl(proxy.port), ...common } });
  const b = await startGatewayProcess(t, dir, { bus: { type: 'redis', url: redisUrl(), ...common } });
  const redis = new Redis(redisUrl());
  t.teardown(async () => {
    await Promise.all([a.stop().catch(() => undefined), b.stop().catch(() => undefined)]);
    const keys = await redis.keys(`${prefix}*`);
    if (keys.length > 0) await redis.del(...keys);
    redis.disconnect();
  });

  const onA = await openRegisteredClient(gw(a), { userId: 1, browserUuid: 'A' });
  const onB = await openRegisteredClient(gw(b), { userId: 1, browserUuid: 'B' });
  t.equal((await httpRequest(`${a.url}/readyz`)).status, 200, 'A ready with Redis');
  t.equal(await busMetric(a.url, 'pushgate_bus_up{type="redis"}'), 1);

  proxy.cut();
  await waitFor(async () => (await httpRequest(`${a.url}/readyz`)).status === 503, WAIT_MS * 2, 'A sees Redis lost');
  const ready = await httpRequest(`${a.url}/readyz`);
  t.match(ready.body, /^bus: Redis unreachable at redis:\/\/127\.0\.0\.1:\d+ \(.*\): notifications do not cross nodes$/m, '/readyz names the bus and why');
  t.equal((await httpRequest(`${a.url}/healthz`)).status, 200, 'liveness is not affected');
  t.equal(await busMetric(a.url, 'pushgate_bus_up{type="redis"}'), 0, 'bus up gauge 0');

  const before = await busMetric(a.url, 'pushgate_bus_undelivered_total');
  const res = await postMessage(gw(a), hostMessage({ output: 'during the cut' }));
  t.equal(res.status, 200, 'A still accepts /message (its own user is registered)');
  const got = await onA.nextJson();
  t.equal(got.type, 'ProcessPushNotification', 'local delivery continues during the cut');
  t.equal(await busMetric(a.url, 'pushgate_bus_undelivered_total'), before + 1, 'the message that could not cross is counted');
  t.match(JSON.parse((await httpRequest(`${a.url}/status`)).body).bus, { type: 'redis', up: false, reason: /^Redis unreachable/, undelivered: before + 1 }, '/status shows the bus down and why');
  // B never hears of it: a notification posted on B afterwards is the next thing B's client gets.
  const viaB = await postMessage(gw(b), hostMessage({ output: 'from B' }));
  t.equal(viaB.status, 200);
  t.match(await onB.nextJson(), { payload: { message: /from B/ } }, 'B got nothing from A during the cut');
  // Let ioredis retry a few times against the cut proxy: still one warn line.
  await waitFor(() => proxy.accepted >= 6, WAIT_MS * 2, 'retries');

  proxy.restore();
  await waitFor(async () => (await httpRequest(`${a.url}/readyz`)).status === 200, WAIT_MS * 2, 'A ready again');
  await a.waitLog((l) => l.msg === 'bus: Redis is back; cross-node delivery resumed');
  t.equal(a.logs().filter((l) => l.msg === 'bus: Redis lost; delivering to local clients only until it is back').length, 1, 'the loss is logged once, not per retry');
  t.equal(a.logs().find((l) => l.msg?.toString().startsWith('bus: Redis lost'))?.level, 40, 'as a warning');
  t.equal(a.logs().find((l) => l.msg?.toString().startsWith('bus: Redis is back'))?.level, 30, 'the return as info');

  // Re-announced: B sees A's registration and connection again, and notifications cross both ways.
  await waitFor(async () => Object.keys(await redis.hgetall(`${prefix}u:1`)).filter((f) => f.startsWith('c:')).length === 2, WAIT_MS * 2, 'A re-announced');
  t.equal((await postMessage(gw(b), hostMessage({ output: 'B to all' }))).status, 200);
  t.match(await onA.nextJson(), { payload: { message: /B to all/ } }, 'B → A crosses again');
  t.match(await onB.nextJson(), { payload: { message: /B to all/ } });
  t.equal((await postMessage(gw(a), hostMessage({ output: 'A to all' }))).status, 200);
  t.match(await onB.nextJson(), { payload: { message: /A to all/ } }, 'A → B crosses again');
  t.match(await onA.nextJson(), { payload: { message: /A to all/ } });
  await onA.close();
  await onB.close();
});

t.test('export status: one node asks the directory, clients of every node hear it', { skip }, async (t) => {
  const prefix = testPrefix();
  const asked = [0, 0];
  const nodes: Gateway[] = [];
  for (const i of [0, 1]) {
    const directory = new FileDirectory(testDirectoryData());
    Object.assign(directory, { exportRunning: async () => { asked[i]!++; return true; } });
    nodes.push(await startTestGateway({
      directory,
      logger: pino({ level: 'silent' }),
      config: { bus: { type: 'redis', url: redisUrl(), prefix }, websocket: { exportStatusIntervalMs: 100 } },
    }));
  }
  const redis = new Redis(redisUrl());
  t.teardown(async () => {
    for (const n of nodes) await n.close();
    const keys = await redis.keys(`${prefix}*`);
    if (keys.length > 0) await redis.del(...keys);
    redis.disconnect();
  });
  const clients = await Promise.all(nodes.map((n, i) => openClient(n, { userId: i + 1 })));
  for (const [i, c] of clients.entries()) {
    t.same(await c.nextJson(), { type: 'ExportStatus', message: '', payload: true }, `a client of node ${i} gets the export status`);
  }
  await waitFor(() => asked[0]! + asked[1]! >= 5, WAIT_MS * 2, 'a few rounds');
  t.ok(asked[0] === 0 || asked[1] === 0, `only the lease holder asks the directory (asked ${asked.join(' and ')} times)`);
  const late = await openClient(nodes[asked[0] === 0 ? 0 : 1]!, { userId: 9 });
  t.same(await late.nextJson(), { type: 'ExportStatus', message: '', payload: true }, 'the node that never asked greets a new client with the last answer');
  for (const c of [...clients, late]) await c.close();
});

t.test('Redis absent at start: the gateway serves local clients, and joins once Redis answers', { skip }, async (t) => {
  const proxy = await startTcpProxy(REDIS);
  t.teardown(() => proxy.close());
  proxy.cut();
  const prefix = testPrefix();
  const node = await startTestGateway({ config: { bus: { type: 'redis', url: redisUrl(proxy.port), prefix, connectTimeoutMs: 300, reconnectMaxMs: 200 } } });
  t.teardown(() => node.close());
  const client = await openRegisteredClient(node, { userId: 3 });
  t.equal((await postMessage(node, hostMessage({ userId: 3 }))).status, 200, '/message works without Redis');
  t.equal((await client.nextJson()).type, 'ProcessPushNotification');
  const down = await httpRequest(`${node.url}/readyz`);
  t.equal(down.status, 503);
  t.match(down.body, /^bus: /m);
  proxy.restore();
  await waitFor(async () => (await httpRequest(`${node.url}/readyz`)).status === 200, WAIT_MS * 2, 'ready once Redis answers');
  const redis = new Redis(redisUrl());
  t.teardown(async () => {
    const keys = await redis.keys(`${prefix}*`);
    if (keys.length > 0) await redis.del(...keys);
    redis.disconnect();
  });
  await waitFor(async () => (await redis.hget(`${prefix}u:3`, 'r')) === '1', WAIT_MS * 2, 'its client announced');
  t.pass('the node announced its connected, registered user');
  await client.close();
});
