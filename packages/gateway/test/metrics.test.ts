import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { openChannels, parseChannelsSection } from '../src/channels.js';
import { parseConfig } from '../src/config.js';
import { FileDirectory } from '../src/directory/file.js';
import { startGateway } from '../src/server.js';
import {
  httpRequest, openRegisteredClient, postMessage, hostMessage, silentLogger, startTestGateway, testDirectoryData, tryHandshake, waitFor, WAIT_MS,
  type TestClient,
} from './helpers.js';

/** A directory whose health the test flips: the stand-in for a failing database. */
class FlakyDirectory extends FileDirectory {
  fault: string | undefined;
  override health(): { ok: true } | { ok: false; reason: string } {
    return this.fault === undefined ? { ok: true } : { ok: false, reason: this.fault };
  }
}

/** The sample lines (no `#` comments) of a scrape, as a Map of `name{labels}` to value. */
function samples(body: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of body.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const sp = line.lastIndexOf(' ');
    out.set(line.slice(0, sp), Number(line.slice(sp + 1)));
  }
  return out;
}

t.test('metrics count connections, handshakes, messages and frames of a scripted scenario', async (t) => {
  const gw = await startTestGateway();
  t.teardown(() => gw.close());

  const first = await httpRequest(`${gw.url}/metrics`);
  t.equal(first.status, 200);
  t.match(first.headers['content-type'], /^text\/plain; version=0\.0\.4/);
  t.match(first.body, /^# HELP pushgate_connections /m, 'pushgate metrics are described');
  t.match(first.body, /^# TYPE pushgate_handshakes_total counter$/m);
  t.match(first.body, /^nodejs_eventloop_lag_seconds \d/m, 'default metrics include event-loop lag');
  t.match(first.body, /^process_resident_memory_bytes \d/m, 'default metrics include RSS');
  const before = samples(first.body);
  t.equal(before.get('pushgate_connections{transport="ws"}'), 0);
  t.equal(before.get('pushgate_registered_users'), 0);
  t.equal(before.get('pushgate_frames_sent_total'), 0);

  const clients: TestClient[] = [];
  for (const b of ['b1', 'b2', 'b3']) clients.push(await openRegisteredClient(gw, { browserUuid: b }));
  t.teardown(() => Promise.all(clients.map((c) => c.close())));
  const bad = await tryHandshake(gw, '/?userId=1&browserUuid=bx', 'access_token, wrong-key-0123456789abcdef');
  t.equal(bad.status, 401);

  const connected = samples((await httpRequest(`${gw.url}/metrics`)).body);
  t.equal(connected.get('pushgate_connections{transport="ws"}'), 3);
  t.equal(connected.get('pushgate_connections{transport="sse"}'), 0);
  t.equal(connected.get('pushgate_registered_users'), 1, 'three browsers of one user');
  t.equal(connected.get('pushgate_handshakes_total{outcome="accepted",status="101"}'), 3);
  t.equal(connected.get('pushgate_handshakes_total{outcome="rejected",status="401"}'), 1);
  const framesBefore = connected.get('pushgate_frames_sent_total')!;

  t.equal((await postMessage(gw, hostMessage())).status, 200);
  for (const c of clients) t.match(await c.next(), /ProcessPushNotification/);
  t.equal((await postMessage(gw, { not: 'a notification' })).status, 400);

  const after = samples((await httpRequest(`${gw.url}/metrics`)).body);
  t.equal(after.get('pushgate_messages_total{status="200"}'), 1);
  t.equal(after.get('pushgate_messages_total{status="400"}'), 1);
  t.equal(after.get('pushgate_frames_sent_total'), framesBefore + 3, 'one frame per routed socket');

  await clients.pop()!.close();
  const closed = samples((await httpRequest(`${gw.url}/metrics`)).body);
  t.equal(closed.get('pushgate_connections{transport="ws"}'), 2);
  t.equal(closed.get('pushgate_closes_total{transport="ws",reason="client"}'), 1);
});

t.test('metrics answer only GET and HEAD', async (t) => {
  const gw = await startTestGateway();
  t.teardown(() => gw.close());
  const post = await httpRequest(`${gw.url}/metrics`, { method: 'POST', body: '' });
  t.equal(post.status, 405);
  t.equal(post.headers.allow, 'GET, HEAD');
});

t.test('metrics.listen serves /metrics on its own address and not on the client port', async (t) => {
  const gw = await startTestGateway({ config: { metrics: { listen: { host: '127.0.0.1', port: 0 } } } });
  t.teardown(() => gw.close());
  const own = `http://127.0.0.1:${gw.metrics!.port!}`;
  const scrape = await httpRequest(`${own}/metrics`);
  t.equal(scrape.status, 200);
  t.match(scrape.body, /^pushgate_connections\{transport="ws"\} 0$/m);
  t.equal((await httpRequest(`${own}/readyz`)).status, 404, 'nothing else is served there');
  t.equal((await httpRequest(`${gw.url}/metrics`)).status, 426, 'the client port treats /metrics as a WebSocket path');
});

t.test('metrics.enabled false leaves /metrics unrouted', async (t) => {
  const gw = await startTestGateway({ config: { metrics: { enabled: false } } });
  t.teardown(() => gw.close());
  t.equal(gw.metrics, undefined);
  t.equal((await httpRequest(`${gw.url}/metrics`)).status, 426);
});

t.test('readyz turns 503 with the reason while the directory fails, and back to ok', async (t) => {
  const directory = new FlakyDirectory(testDirectoryData());
  const gw = await startTestGateway({ directory });
  t.teardown(() => gw.close());
  t.same(await httpRequest(`${gw.url}/readyz`).then((a) => [a.status, a.body]), [200, 'ok']);
  directory.fault = 'database unreachable';
  t.same(await httpRequest(`${gw.url}/readyz`).then((a) => [a.status, a.body]), [503, 'directory: database unreachable']);
  directory.fault = undefined;
  t.same(await httpRequest(`${gw.url}/readyz`).then((a) => [a.status, a.body]), [200, 'ok']);
});

t.test('a full outbox shows in readyz and in the outbox and relay metrics, and a closed one says closed', async (t) => {
  // The receiver fails every attempt, so the delivery stays pending (next retry far in the future).
  let attempts = 0;
  const rx = createServer((req, res) => {
    req.resume();
    req.on('end', () => { attempts++; res.statusCode = 500; res.end('down'); });
  });
  await new Promise<void>((resolve) => rx.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => { rx.closeAllConnections(); rx.close(() => resolve()); }));
  const dir = await mkdtemp(join(tmpdir(), 'pushgate-metrics-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const url = `http://127.0.0.1:${(rx.address() as AddressInfo).port}/hook`;
  const cfg = parseChannelsSection({ channels: { hook: { type: 'webhook', url } }, defaultChannels: ['hook'], outbox: { dir, maxPending: 1, retryBaseMs: 600_000 } })!;
  const ch = await openChannels(cfg, { logger: silentLogger() });
  t.teardown(() => ch.close());
  const gw = await startGateway({
    config: parseConfig({ listen: { host: '127.0.0.1', port: 0 } }),
    directory: new FileDirectory(testDirectoryData()),
    logger: silentLogger(),
    channels: ch.dispatcher,
    readiness: [{ name: 'outbox', health: () => ch.health() }],
  });
  t.teardown(() => gw.close());
  gw.metrics!.observe({ outbox: ch.outbox });

  t.same(await httpRequest(`${gw.url}/readyz`).then((a) => [a.status, a.body]), [200, 'ok']);
  t.equal((await postMessage(gw, hostMessage())).status, 200);
  await waitFor(() => attempts === 1 && ch.outbox.stats.retried === 1, WAIT_MS, 'first failed attempt');

  t.same(await httpRequest(`${gw.url}/readyz`).then((a) => [a.status, a.body]), [503, 'outbox: full: 1 deliveries pending (maxPending 1)']);
  const m = samples((await httpRequest(`${gw.url}/metrics`)).body);
  t.equal(m.get('pushgate_outbox_pending'), 1);
  t.equal(m.get('pushgate_relay_retries_total{channel="hook"}'), 1);
  t.equal(m.get('pushgate_relay_deliveries_total{channel="hook",outcome="sent"}'), 0);
  t.equal(m.get('pushgate_relay_dead_letters_total{channel="hook"}'), 0);
  t.ok(m.get('pushgate_outbox_journal_bytes')! > 0);
  t.notOk([...m.keys()].some((k) => k.includes(url)), 'the channel URL is not a label');

  await ch.close();
  t.same(await httpRequest(`${gw.url}/readyz`).then((a) => [a.status, a.body]), [503, 'outbox: closed']);
});
