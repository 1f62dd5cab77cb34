import t from 'tap';
import { Redis } from 'ioredis';
import { startGatewayProcess, clusterDir } from '../gateway-process.js';
import { startPushService } from '../fixtures/push-service.js';
import { redisSkip, redisUrl, testPrefix } from '../fixtures/redis.js';
import { hostMessage, postMessage, startTestGateway } from '../helpers.js';
import { eventually, subscribeWithKey, webPushConfig } from './harness.js';

t.test('kill -9 with pushes in flight loses none: the restarted gateway sends every one', async (t) => {
  const push = await startPushService();
  t.teardown(() => push.close());
  const dir = await clusterDir(t);
  const config = { ...webPushConfig(push, { timeoutMs: 60_000 }), state: { dir: 'state-webpush' } } as Record<string, unknown>;
  const first = await startGatewayProcess(t, dir, config);
  t.equal((await subscribeWithKey(first, push.subscribe())).status, 201);
  // The push service takes the first pushes and never answers: they are in flight when the process dies.
  push.respond('hang', {}, 5);
  const ids: number[] = [];
  for (let i = 0; i < 5; i++) {
    const r = await postMessage(first, hostMessage({ output: `pending ${i}` }));
    t.equal(r.status, 200, r.body);
  }
  await push.waitFor(5);
  for (const p of push.pushes) ids.push((JSON.parse(p.plaintext) as { id: number }).id);
  first.child.kill('SIGKILL');
  await first.exited;

  const second = await startGatewayProcess(t, dir, config);
  t.teardown(() => second.stop());
  const delivered = await eventually(() => {
    const ok = new Set(push.pushes.filter((p) => p.status === 201).map((p) => (JSON.parse(p.plaintext) as { id: number }).id));
    return ids.every((id) => ok.has(id)) ? ok : undefined;
  }, 'every pending push sent after the restart', 30_000);
  t.equal(delivered.size, 5, 'each of the five notifications reached the push service');
  t.same(push.errors, []);
});

const skip = await redisSkip();

t.test('two nodes on Redis share the VAPID key and the subscriptions, and send each push once', { skip }, async (t) => {
  const push = await startPushService();
  t.teardown(() => push.close());
  const prefix = testPrefix();
  t.teardown(async () => {
    const redis = new Redis(redisUrl());
    const keys = await redis.keys(`${prefix}*`);
    if (keys.length > 0) await redis.del(...keys);
    await redis.quit();
  });
  const config = { ...webPushConfig(push), bus: { type: 'redis', url: redisUrl(), prefix } } as Record<string, unknown>;
  // Started together: HSETNX lets one key pair win.
  const [a, b] = await Promise.all([startTestGateway({ config }), startTestGateway({ config })]);
  t.teardown(() => Promise.all([a.close(), b.close()]));
  t.equal(a.webPush!.keys.publicKey, b.webPush!.keys.publicKey, 'one VAPID key for the cluster');

  t.equal((await subscribeWithKey(b, push.subscribe())).status, 201, 'subscribed through node B');
  for (let i = 0; i < 4; i++) {
    t.equal((await postMessage(i % 2 === 0 ? a : b, hostMessage({ output: `n${i}` }))).status, 200);
  }
  await push.waitFor(4);
  await eventually(() => a.outbox!.outbox.pending === 0 && b.outbox!.outbox.pending === 0, 'both outboxes empty');
  t.equal(push.pushes.length, 4, 'each notification pushed once');
  t.same(push.pushes.map((p) => (JSON.parse(p.plaintext) as { body: string }).body).sort(), ['n0', 'n1', 'n2', 'n3']);
  t.same(push.errors, []);
});
