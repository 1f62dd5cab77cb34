import t from 'tap';
import { FileDirectory } from '../src/directory/file.js';
import {
  httpRequest, openRegisteredClient, postMessage, hostMessage, startTestGateway, testDirectoryData, tryHandshake, type TestClient,
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
