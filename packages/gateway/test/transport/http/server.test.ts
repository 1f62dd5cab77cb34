import t from 'tap';
import { FileDirectory } from '../../../src/directory/file.js';
import { capturedLogger, HOST_UUID, hostMessage, httpRequest, openClient, openRegisteredClient, postMessage, startTestGateway, TEST_API_KEY, testDirectoryData, tryHandshake, waitFor } from '../../helpers.js';

t.test('a registered browser receives the notification POSTed to /message', async (t) => {
  const gw = await startTestGateway();
  t.teardown(() => gw.close());
  const client = await openRegisteredClient(gw);
  t.teardown(() => client.close());
  const ts = Math.floor(Date.now() / 1000);
  const res = await postMessage(gw, hostMessage({ timestamp: ts }));
  t.equal(res.status, 200);
  t.equal(res.body, 'ok');
  t.equal(await client.next(), JSON.stringify({
    type: 'ProcessPushNotification',
    message: 'CRITICAL - host unreachable',
    payload: { timestamp: ts, userId: 1, title: 'PROBLEM: web-01 is DOWN!', message: 'CRITICAL - host unreachable', type: 'host', hostUuid: HOST_UUID, icon: '/img/push_notifications/wh/HostPushIconDOWN.png', id: gw.ids.lastId },
  }));
  t.equal(gw.stats.messages['200'], 1);
  t.match(gw.url, /^http:\/\/127\.0\.0\.1:\d+$/);
});

t.test('a handshake whose path starts with // (a proxy joining paths) is read like any other', async (t) => {
  const gw = await startTestGateway();
  t.teardown(() => gw.close());
  t.equal((await tryHandshake(gw, '//?userId=1&browserUuid=b1', `access_token, ${TEST_API_KEY}`)).status, 101);
  t.equal((await tryHandshake(gw, '//?userId=0&browserUuid=b1', `access_token, ${TEST_API_KEY}`)).status, 401, 'and its query is still checked');
});

t.test('GET /healthz answers 200 ok', async (t) => {
  const gw = await startTestGateway();
  t.teardown(() => gw.close());
  const res = await httpRequest(`${gw.url}/healthz`);
  t.equal(res.status, 200);
  t.equal(res.body, 'ok');
});

class SickDirectory extends FileDirectory {
  sick = true;
  override health(): { ok: true } {
    return (this.sick ? { ok: false, reason: 'connection refused' } : { ok: true }) as { ok: true };
  }
}

t.test('GET /readyz follows directory.health()', async (t) => {
  const directory = new SickDirectory(testDirectoryData());
  const gw = await startTestGateway({ directory });
  t.teardown(() => gw.close());
  const sick = await httpRequest(`${gw.url}/readyz`);
  t.equal(sick.status, 503);
  t.equal(sick.body, 'directory: connection refused');
  directory.sick = false;
  const ok = await httpRequest(`${gw.url}/readyz`);
  t.equal(ok.status, 200);
  t.equal(ok.body, 'ok');
});

t.test('HTTP routes added by exact path or by predicate are served instead of the WebSocket endpoint', async (t) => {
  let size = (): number => -1;
  const gw = await startTestGateway({
    httpRoutes: [
      { path: '/metrics', handler: (_req, res) => res.end('metrics here') },
      { path: (p) => /\/notifications\/v\d+\/subscribe$/.test(p), handler: (req, res) => res.end(`sse ${req.url} ${size()}`) },
      { path: '/boom', handler: () => { throw new Error('handler bug'); } },
    ],
  });
  size = () => gw.registry.size;
  t.teardown(() => gw.close());
  t.equal((await httpRequest(`${gw.url}/metrics`)).body, 'metrics here');
  t.equal((await httpRequest(`${gw.url}/icingaweb2/notifications/v1/subscribe`)).body, 'sse /icingaweb2/notifications/v1/subscribe 0');
  t.equal((await httpRequest(`${gw.url}/other`)).status, 426);
  const boom = await httpRequest(`${gw.url}/boom`);
  t.equal(boom.status, 500, 'a throwing handler answers 500 and the server lives on');
  t.equal((await httpRequest(`${gw.url}/healthz`)).body, 'ok');
  t.equal((await tryHandshake(gw, '/metrics', `access_token, ${TEST_API_KEY}`)).status, 400);
});

class ExportDirectory extends FileDirectory {
  running: boolean | undefined = true;
  polls = 0;
  async exportRunning(): Promise<boolean | undefined> {
    this.polls++;
    return this.running;
  }
}

t.test('ExportStatus is broadcast while clients are connected and the last value greets new clients', async (t) => {
  const directory = new ExportDirectory(testDirectoryData());
  const gw = await startTestGateway({ directory, config: { websocket: { exportStatusIntervalMs: 20 } } });
  t.teardown(() => gw.close());
  await new Promise((r) => setTimeout(r, 60));
  t.equal(directory.polls, 0, 'no queries without clients');

  const first = await openClient(gw, { browserUuid: 'one' });
  t.teardown(() => first.close());
  t.equal(await first.next(), '{"type":"ExportStatus","message":"","payload":true}');
  directory.running = false;
  let frame = await first.next();
  // A poll may have been in flight when the value changed.
  while (frame.endsWith('true}')) frame = await first.next();
  t.equal(frame, '{"type":"ExportStatus","message":"","payload":false}');

  const second = await openClient(gw, { browserUuid: 'two', skipGreeting: false });
  t.teardown(() => second.close());
  t.equal(JSON.parse(await second.next()).type, 'ConnectionEstablished');
  t.equal(await second.next(), '{"type":"ExportStatus","message":"","payload":false}', 'right after ConnectionEstablished');
});

t.test('a failing export status query is logged once when it starts and once when it recovers, not every tick', async (t) => {
  const directory = new ExportDirectory(testDirectoryData());
  let failing = true;
  const inner = directory.exportRunning.bind(directory);
  directory.exportRunning = async () => {
    if (failing) {
      directory.polls++;
      throw new Error('openitcockpit database 127.0.0.1:3306/openitcockpit unavailable: connect ECONNREFUSED');
    }
    return inner();
  };
  const { logger, lines } = capturedLogger();
  const gw = await startTestGateway({ directory, logger, config: { websocket: { exportStatusIntervalMs: 10 } } });
  t.teardown(() => gw.close());
  const client = await openClient(gw);
  t.teardown(() => client.close());
  await waitFor(() => directory.polls >= 20, undefined, 'twenty failed polls');
  const about = (): string[] => lines.filter((l) => l.msg.startsWith('export status query')).map((l) => `${l.level} ${l.msg}`);
  t.same(about(), ['40 export status query failed'], 'twenty failures, one line');
  failing = false;
  t.equal(await client.next(), '{"type":"ExportStatus","message":"","payload":true}');
  t.same(about(), ['40 export status query failed', '30 export status query works again']);
});

t.test('no ExportStatus is sent while the directory has no export record', async (t) => {
  const directory = new ExportDirectory(testDirectoryData());
  directory.running = undefined;
  const gw = await startTestGateway({ directory, config: { websocket: { exportStatusIntervalMs: 10 } } });
  t.teardown(() => gw.close());
  const client = await openClient(gw);
  t.teardown(() => client.close());
  await waitFor(() => directory.polls >= 3);
  client.send({ type: 'KeepAlive', message: '', payload: null });
  t.equal(await client.next(), '{"type":"KeepAlive","message":"Pong","payload":null}', 'the Pong is the first frame');
});
