import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { parseConfig } from '../../src/config.js';
import { FileDirectory } from '../../src/directory/file.js';
import { createOpenItcockpitDirectory } from '../../src/directory/openitcockpit.js';
import { IcingaService } from '../../src/transport/sse/icinga.js';
import { startGateway } from '../../src/gateway.js';
import { PushSse } from '../../src/transport/sse/events.js';
import { createIcingaFixture } from '../fixtures/icinga.js';
import { createOitcFixture, mariadbSkip, OITC } from '../fixtures/openitcockpit.js';
import { subscribe } from '../sse-client.js';
import { startTcpProxy } from '../tcp-proxy.js';
import { capturedLogger, hostMessage, httpRequest, openRegisteredClient, postMessage, silentLogger, startTestGateway, TEST_API_KEY, type TestClient, testDirectoryData, tryHandshake, WAIT_MS, waitFor } from '../helpers.js';

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
  t.notMatch(first.body, /^(process_open_fds|nodejs_active_handles|nodejs_active_resources)/m, 'no default metric whose scrape walks every socket');
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
  t.equal(after.get('pushgate_messages_total{outcome="delivered",status="200"}'), 1);
  t.equal(after.get('pushgate_messages_total{outcome="rejected",status="400"}'), 1);
  t.equal((await postMessage(gw, hostMessage({ userId: 99 }))).status, 202, 'nobody of user 99 is connected');
  const dropped = samples((await httpRequest(`${gw.url}/metrics`)).body);
  t.equal(dropped.get('pushgate_messages_total{outcome="dropped",status="202"}'), 1);
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
  const gw = await startTestGateway({
    config: { notifications: { channels: { hook: { type: 'webhook', url } }, defaultChannels: ['hook'], outbox: { dir, maxPending: 1, retryBaseMs: 600_000 } } },
    directory: new FileDirectory(testDirectoryData()),
  });
  t.teardown(() => gw.close());
  const ch = gw.outbox!;

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

t.test('the outbox age gauge reads the oldest pending delivery and is 0 once the outbox is empty', async (t) => {
  // The receiver holds each request until the test releases it.
  const held: Array<() => void> = [];
  const rx = createServer((req, res) => {
    req.resume();
    req.on('end', () => held.push(() => res.end('ok')));
  });
  await new Promise<void>((resolve) => rx.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => { rx.closeAllConnections(); rx.close(() => resolve()); }));
  const dir = await mkdtemp(join(tmpdir(), 'pushgate-metrics-age-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const url = `http://127.0.0.1:${(rx.address() as AddressInfo).port}/hook`;
  const gw = await startTestGateway({ config: { notifications: { channels: { hook: { type: 'webhook', url } }, defaultChannels: ['hook'], outbox: { dir } } } });
  t.teardown(() => gw.close());
  const ch = gw.outbox!;

  const age = async (): Promise<number | undefined> => samples((await httpRequest(`${gw.url}/metrics`)).body).get('pushgate_outbox_oldest_pending_age_seconds');
  t.equal(await age(), 0, 'nothing pending');
  const before = Date.now();
  t.equal((await postMessage(gw, hostMessage())).status, 200);
  await waitFor(() => held.length === 1, WAIT_MS, 'the delivery reaching the receiver');
  const pendingAge = await age();
  const bound = (Date.now() - before) / 1000;
  t.ok(pendingAge! >= 0 && pendingAge! <= bound, `age ${pendingAge} s lies within the ${bound} s since the POST`);
  t.equal(ch.outbox.oldestPendingAt! >= before, true);
  held.shift()!();
  await waitFor(() => ch.outbox.pending === 0, WAIT_MS, 'the delivery settling');
  t.equal(await age(), 0, 'back to 0 once sent');
});

t.test('drops and deliveries of the /events stream are counted by reason', async (t) => {
  const gw = await startTestGateway({ config: { events: { enabled: true, keepAliveFirstMs: 600_000, maxBufferedBytes: 64 * 1024 } } });
  t.teardown(() => gw.close());
  const sse = gw.events!;
  const slow = await subscribe(`${gw.url}/events?userId=1&browserUuid=b1`, { Authorization: `Bearer ${TEST_API_KEY}` });
  t.teardown(() => slow.close());
  t.equal(slow.status, 200);
  const first = samples((await httpRequest(`${gw.url}/metrics`)).body);
  t.equal(first.get('pushgate_connections{transport="sse"}'), 1);
  t.equal(first.get('pushgate_sse_events_delivered_total{endpoint="events"}'), 0);

  sse.publish(1, '{"type":"ProcessPushNotification","message":"m","payload":null}');
  await slow.waitFor((s) => s.includes('ProcessPushNotification'), 'the first event');
  t.equal(samples((await httpRequest(`${gw.url}/metrics`)).body).get('pushgate_sse_events_delivered_total{endpoint="events"}'), 1);

  // Stop reading: the kernel buffers fill, then the server-side buffer grows past maxBufferedBytes.
  slow.pause();
  const big = JSON.stringify({ type: 'ProcessPushNotification', message: 'y'.repeat(64 * 1024), payload: null });
  for (let n = 0; sse.dropped['slow-consumer'] === undefined && n < 2000; n++) {
    sse.publish(1, big);
    await new Promise((r) => setImmediate(r));
  }
  const m = samples((await httpRequest(`${gw.url}/metrics`)).body);
  t.equal(m.get('pushgate_sse_drops_total{endpoint="events",reason="slow-consumer"}'), 1);
  t.equal(m.get('pushgate_closes_total{transport="sse",reason="slow-consumer"}'), 1);
  t.equal(m.get('pushgate_connections{transport="sse"}'), 0);
});

t.test('with MariaDB', { skip: await mariadbSkip() }, async (t) => {
  t.test('openITCOCKPIT directory: query latency by kind, errors and up while the database is cut and back', async (t) => {
    const fx = await createOitcFixture();
    t.teardown(() => fx.drop());
    const proxy = await startTcpProxy({ host: '127.0.0.1', port: 3306 });
    t.teardown(() => proxy.close());
    const d = parseConfig({ directory: { type: 'openitcockpit', mysqlCnf: await fx.writeCnf({ host: '127.0.0.1', port: proxy.port }), queryTimeoutMs: 3000, reconnectMinMs: 20, reconnectMaxMs: 200 } }).directory;
    if (d.type !== 'openitcockpit') throw new Error('unreachable');
    const directory = await createOpenItcockpitDirectory(d, { logger: silentLogger(), env: {} });
    t.teardown(() => directory.close());
    const gw = await startTestGateway({ directory });
    t.teardown(() => gw.close());
    const scrape = async (): Promise<Map<string, number>> => samples((await httpRequest(`${gw.url}/metrics`)).body);
    const key = { apiKey: OITC.apiKey };

    const m0 = await scrape();
    t.equal(m0.get('pushgate_directory_up{directory="openitcockpit"}'), 1);
    t.equal(m0.get('pushgate_directory_query_duration_seconds_count{directory="openitcockpit",query="host"}'), undefined, 'no host query yet');
    const c = await openRegisteredClient(gw, key);
    t.teardown(() => c.close());
    t.equal((await postMessage(gw, hostMessage({ hostUuid: OITC.hosts.web }), key)).status, 200);
    const m1 = await scrape();
    t.equal(m1.get('pushgate_directory_query_duration_seconds_count{directory="openitcockpit",query="host"}'), 1, 'one host name query');
    t.ok(m1.get('pushgate_directory_query_duration_seconds_sum{directory="openitcockpit",query="host"}')! >= 0);
    t.equal(m1.get('pushgate_directory_query_duration_seconds_bucket{le="+Inf",directory="openitcockpit",query="host"}'), 1);
    t.equal(m1.get('pushgate_directory_query_errors_total{directory="openitcockpit",query="host",reason="connection"}'), undefined);

    proxy.cut();
    t.teardown(() => proxy.restore());
    t.equal((await postMessage(gw, hostMessage({ hostUuid: OITC.hosts.db }), key)).status, 503);
    const m2 = await scrape();
    t.equal(m2.get('pushgate_directory_up{directory="openitcockpit"}'), 0);
    t.equal(m2.get('pushgate_directory_query_errors_total{directory="openitcockpit",query="host",reason="connection"}'), 1, 'the failed host query, as a connection error');
    t.equal(m2.get('pushgate_directory_query_duration_seconds_count{directory="openitcockpit",query="host"}'), 2, 'its latency is observed too');
    proxy.restore();
    await waitFor(() => directory.health().ok, 10_000, 'the directory reconnecting');
    const m3 = await scrape();
    t.equal(m3.get('pushgate_directory_up{directory="openitcockpit"}'), 1);
    t.ok(m3.get('pushgate_directory_query_duration_seconds_count{directory="openitcockpit",query="api-key"}')! >= 1, 'the reconnect probe reads the API key');
  });

  t.test('Icinga: /readyz turns 503 with an icinga: reason while the poller fails, back to 200, with query metrics', async (t) => {
    const fx = await createIcingaFixture();
    t.teardown(() => fx.drop());
    const proxy = await startTcpProxy({ host: '127.0.0.1', port: 3306 });
    t.teardown(() => proxy.close());
    const connection = { ...fx.connection, host: '127.0.0.1', port: proxy.port };
    const config = parseConfig({ icinga: { enabled: true, database: connection, pollIntervalMs: 20, queryTimeoutMs: 2000, keepAliveFirstMs: 600_000, keepAliveMs: 600_000 } }).icinga;
    const { logger, lines } = capturedLogger();
    const polling = (): string[] => lines.filter((l) => l.msg.startsWith('icinga: polling')).map((l) => `${l.level} ${l.msg}`);
    const gw = await startTestGateway({ config: { icinga: config }, directory: new FileDirectory(testDirectoryData()), logger });
    t.teardown(() => gw.close());
    const icinga = gw.icinga!;
    const ready = async (): Promise<[number, string]> => httpRequest(`${gw.url}/readyz`).then((a) => [a.status, a.body]);
    const scrape = async (): Promise<Map<string, number>> => samples((await httpRequest(`${gw.url}/metrics`)).body);

    await waitFor(() => icinga.poller.stats.polls >= 3, WAIT_MS, 'three polls');
    t.same(await ready(), [200, 'ok']);
    const m1 = await scrape();
    t.equal(m1.get('pushgate_directory_up{directory="icinga"}'), 1);
    t.equal(m1.get('pushgate_directory_query_duration_seconds_count{directory="icinga",query="max-id"}'), 1, 'the first poll reads the highest id');
    t.ok(m1.get('pushgate_directory_query_duration_seconds_count{directory="icinga",query="notified"}')! >= 1, 'later polls read notified rows');

    proxy.cut();
    t.teardown(() => proxy.restore());
    const errorsBefore = icinga.poller.stats.pollErrors;
    await waitFor(() => icinga.poller.stats.pollErrors > errorsBefore + 5, 10_000, 'several failed polls');
    t.same(polling(), ['40 icinga: polling incident_history failed'], 'an outage of several polls is logged once (then at most once a minute)');
    const [status, body] = await ready();
    t.equal(status, 503);
    t.match(body, /^icinga: Icinga database query failed: /);
    const m2 = await scrape();
    t.equal(m2.get('pushgate_directory_up{directory="icinga"}'), 0);
    t.ok(m2.get('pushgate_icinga_polls_total{outcome="error"}')! >= 1);
    const errs = [...m2].filter(([k]) => k.startsWith('pushgate_directory_query_errors_total{directory="icinga",query="notified"'));
    t.ok(errs.length >= 1 && errs.every(([k]) => /reason="(connection|timeout)"/.test(k)), `the failed polls count as connection errors: ${JSON.stringify(errs)}`);

    proxy.restore();
    await waitFor(() => icinga.health().ok, 10_000, 'a poll succeeding again');
    t.same(await ready(), [200, 'ok']);
    t.same(polling(), ['40 icinga: polling incident_history failed', '30 icinga: polling incident_history works again']);
    t.equal((await scrape()).get('pushgate_directory_up{directory="icinga"}'), 1);
  });
});
