/**
 * Legacy frontend sockets on the Redis bus, with real gateway processes on
 * the shared Redis (each test its own key prefix): a legacy `register` on
 * one node makes its user registered for `/message` on another, and a
 * browser with a legacy tab on one node and a newer-generation tab on
 * another gets each notification exactly once, wherever it is posted.
 */
import { Redis } from 'ioredis';
import t from 'tap';
import type { Gateway } from '../../src/gateway.js';
import { clusterDir, startGatewayProcess } from '../gateway-process.js';
import { redisSkip, redisUrl, testPrefix } from '../fixtures/redis.js';
import { hostMessage, openClient, postMessage, WAIT_MS, waitFor } from '../helpers.js';
import { openRegisteredLegacy } from '../legacy-client.js';

const skip = await redisSkip();
const PONG = '{"type":"keepAlive","message":"Pong","data":[]}';

t.test('a legacy tab on node A and a newer tab of the same browser on node B get each notification once', { skip }, async (t) => {
  const dir = await clusterDir(t);
  const prefix = testPrefix();
  const bus = { type: 'redis', url: redisUrl(), prefix, nodeTtlMs: 1500 };
  const [a, b] = await Promise.all([startGatewayProcess(t, dir, { bus }), startGatewayProcess(t, dir, { bus })]);
  const redis = new Redis(redisUrl());
  t.teardown(async () => {
    await Promise.all([a!, b!].map((p) => p.stop().catch(() => undefined)));
    const keys = await redis.keys(`${prefix}*`);
    if (keys.length > 0) await redis.del(...keys);
    redis.disconnect();
  });
  const gw = (url: string): Gateway => ({ url }) as Gateway;

  t.equal((await postMessage(gw(b!.url), hostMessage({ userId: 7 }))).status, 202, 'nobody registered yet');
  const legacy = await openRegisteredLegacy(gw(a!.url), 7, 'X');
  t.teardown(() => legacy.close());
  await waitFor(async () => (await postMessage(gw(b!.url), hostMessage({ userId: 7, output: 'probe' }))).status === 200, WAIT_MS * 2,
    'the legacy register on A seen by B');
  const modern = await openClient(gw(b!.url), { userId: 7, browserUuid: 'X' });
  t.teardown(() => modern.close());
  await waitFor(async () => Object.keys(await redis.hgetall(`${prefix}u:7`)).filter((f) => f.startsWith('b:')).length === 2, WAIT_MS * 2,
    'browser X announced by both nodes');
  const seen: string[] = [];
  const record = (legacyFrame: string | undefined, modernFrame: { type: string; message: string } | undefined): void => {
    const m = legacyFrame === undefined ? null : /^\{"type":"message","message":"(n\d)"/.exec(legacyFrame);
    if (m) seen.push(m[1]!);
    if (modernFrame?.type === 'ProcessPushNotification' && /^n\d$/.test(modernFrame.message)) seen.push(modernFrame.message);
  };
  // A keepAlive round trip on both sockets: everything sent to them before it has arrived (and is recorded).
  const flush = async (): Promise<void> => {
    legacy.keepAlive();
    for (let f = await legacy.client.next(); f !== PONG; f = await legacy.client.next()) record(f, undefined);
    modern.send({ type: 'KeepAlive', message: '', payload: null });
    for (let f = await modern.nextJson(); f.type !== 'KeepAlive'; f = await modern.nextJson()) record(undefined, f);
  };
  await flush(); // the probes' deliveries
  for (const [i, node] of [a!, b!, a!, b!].entries()) {
    t.equal((await postMessage(gw(node.url), hostMessage({ userId: 7, output: `n${i}` }))).status, 200);
  }
  await waitFor(async () => {
    await flush();
    return seen.length >= 4;
  }, WAIT_MS * 2, 'four notifications for browser X');
  await flush();
  t.same([...seen].sort(), ['n0', 'n1', 'n2', 'n3'], 'each notification exactly once for the browser, across both generations and nodes');
});
