/**
 * The Icinga endpoint on two gateway nodes sharing the Redis bus: one node
 * polls incident_history (the lease holder), the streams on both nodes get
 * their contacts' events, each exactly once.
 */
import { rm } from 'node:fs/promises';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import t from 'tap';
import { parseConfig } from '../../src/config.js';
import { FileDirectory } from '../../src/directory/file.js';
import { startGateway, type Gateway } from '../../src/gateway.js';
import { createIcingaFixture, mariadbSkip } from '../fixtures/icinga.js';
import { redisSkip, redisUrl, testPrefix } from '../fixtures/redis.js';
import { tempDir, testDirectoryData } from '../helpers.js';
import { subscribe, until } from '../sse-client.js';

const UA = 'Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0';
const PATH = '/icingaweb2/notifications/v1/subscribe';
const skip = (await mariadbSkip()) || (await redisSkip());

t.test('one poller for the cluster; events reach the streams of every node once', { skip }, async (t) => {
  const fx = await createIcingaFixture();
  t.teardown(() => fx.drop());
  const now = Date.now();
  await fx.contact({ id: 1, username: 'alice' });
  await fx.contact({ id: 2, username: 'bob' });
  await fx.session({ id: 'sess-alice', username: 'alice', userAgent: UA, authenticatedAt: now });
  await fx.session({ id: 'sess-bob', username: 'bob', userAgent: UA, authenticatedAt: now });
  await fx.incident({ id: 1, object: 'web-01', severity: 'crit', startedAt: now });

  const prefix = testPrefix();
  const config = parseConfig({
    listen: { host: '127.0.0.1', port: 0 },
    bus: { type: 'redis', url: redisUrl(), prefix },
    icinga: { enabled: true, database: fx.connection, pollIntervalMs: 100 },
  });
  const logger = pino({ level: 'silent' });
  const nodes: { gw: Gateway }[] = [];
  for (let i = 0; i < 2; i++) {
    const stateDir = tempDir();
    t.teardown(() => rm(stateDir, { recursive: true, force: true }));
    const gw = await startGateway({ config, directory: new FileDirectory(testDirectoryData()), logger, stateDir });
    nodes.push({ gw });
  }
  const redis = new Redis(redisUrl());
  t.teardown(async () => {
    for (const n of nodes) await n.gw.close();
    const keys = await redis.keys(`${prefix}*`);
    if (keys.length > 0) await redis.del(...keys);
    redis.disconnect();
  });

  const alice = await subscribe(`${nodes[0]!.gw.url}${PATH}`, { Cookie: 'Icingaweb2=sess-alice', 'User-Agent': UA });
  const bob = await subscribe(`${nodes[1]!.gw.url}${PATH}`, { Cookie: 'Icingaweb2=sess-bob', 'User-Agent': UA });
  t.teardown(() => { alice.close(); bob.close(); });
  t.equal(alice.status, 200);
  t.equal(bob.status, 200);
  // Both pollers have read the starting position (the shared cursor exists) before rows are added.
  await until(() => nodes.every((n) => n.gw.icinga!.poller.stats.polls > 0), 'first polls');
  let id = 0;
  for (const contact of [1, 2, 1, 2]) {
    id++;
    await fx.notified({ id, incident: 1, contact, time: now + id, message: `event ${id}`, state: 'sent' });
  }
  await alice.waitFor((s) => s.includes('event 3'), 'Alice\'s second event');
  await bob.waitFor((s) => s.includes('event 4'), 'Bob\'s second event');
  const events = (s: string): string[] => [...s.matchAll(/"message":"(event \d)"/g)].map((m) => m[1]!);
  t.same(events(alice.text), ['event 1', 'event 3'], 'Alice (stream on node 0) got her events once each');
  t.same(events(bob.text), ['event 2', 'event 4'], 'Bob (stream on node 1) got his events once each');
  const delivered = nodes.map((n) => n.gw.icinga!.poller.stats.delivered);
  t.same(delivered.slice().sort(), [0, 4], `one node polled and delivered all four (${delivered.join(', ')})`);
});
