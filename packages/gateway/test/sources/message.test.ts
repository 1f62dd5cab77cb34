import { execFile } from 'node:child_process';
import { Agent, createServer, request } from 'node:http';
import type { AddressInfo } from 'node:net';
import t from 'tap';
import { FileDirectory } from '../../src/directory/file.js';
import { GatewayError } from '../../src/errors.js';
import {
  HOST_UUID, SERVICE_UUID, hostMessage, httpRequest, once, openClient, openRegisteredClient, postMessage,
  silentLogger, startTestGateway, testDirectoryData, TEST_API_KEY,
} from '../helpers.js';

t.test('/message answers every method but POST with 405 Method not allowed', async (t) => {
  const gw = await startTestGateway();
  t.teardown(() => gw.close());
  for (const method of ['GET', 'PUT', 'DELETE']) {
    const res = await httpRequest(`${gw.url}/message`, { method, headers: { 'X-Api-Key': TEST_API_KEY } });
    t.equal(res.status, 405, method);
    t.equal(res.body, 'Method not allowed', method);
  }
});

t.test('/message without a valid API key is 401 Unauthorized; X-Api-Key and Bearer both work', async (t) => {
  const gw = await startTestGateway();
  t.teardown(() => gw.close());
  const client = await openRegisteredClient(gw);
  t.teardown(() => client.close());
  for (const [name, opts] of [
    ['no key', { apiKey: null }],
    ['wrong key', { apiKey: 'wrong-key-0123456789abcdef' }],
    ['empty bearer', { apiKey: null, headers: { Authorization: 'Bearer ' } }],
    ['basic auth', { apiKey: null, headers: { Authorization: `Basic ${TEST_API_KEY}` } }],
  ] as const) {
    const res = await postMessage(gw, hostMessage(), opts);
    t.equal(res.status, 401, name);
    t.equal(res.body, 'Unauthorized', name);
  }
  t.equal(client.pending, 0, 'nothing was delivered');
  const bearer = await postMessage(gw, hostMessage(), { apiKey: null, headers: { Authorization: `Bearer ${TEST_API_KEY}` } });
  t.equal(bearer.status, 200);
  t.equal(JSON.parse(await client.next()).type, 'ProcessPushNotification');
});

t.test('message.allowUnauthenticatedLoopback accepts /message from loopback without a key', async (t) => {
  const gw = await startTestGateway({ config: { message: { allowUnauthenticatedLoopback: true } } });
  t.teardown(() => gw.close());
  const client = await openRegisteredClient(gw);
  t.teardown(() => client.close());
  const res = await postMessage(gw, hostMessage(), { apiKey: null });
  t.equal(res.status, 200);
  t.equal(res.body, 'ok');
});

t.test('/message 4xx answers carry the exact texts', async (t) => {
  const gw = await startTestGateway();
  t.teardown(() => gw.close());
  const client = await openRegisteredClient(gw);
  t.teardown(() => client.close());
  const cases: [string, unknown, number, string][] = [
    ['not JSON', '{"userId": 1,', 400, 'Invalid JSON'],
    ['JSON but not an object', '[1]', 400, 'Invalid JSON'],
    ['empty body', '', 400, 'Invalid JSON'],
    ['userId 0', hostMessage({ userId: 0 }), 400, 'Invalid userId'],
    ['userId negative', hostMessage({ userId: -5 }), 400, 'Invalid userId'],
    ['userId missing', hostMessage({ userId: undefined }), 400, 'Invalid userId'],
    ['userId a string', hostMessage({ userId: '1' }), 400, 'Invalid userId'],
    ['type unknown', hostMessage({ type: 'router' }), 400, 'type must be "host" or "service"'],
    ['timestamp a string', hostMessage({ timestamp: 'now' }), 400, 'timestamp must be a number (unix seconds)'],
    ['state a string', hostMessage({ state: 'DOWN' }), 400, 'Invalid state: Invalid input: expected number, received string'],
    ['host unknown', hostMessage({ hostUuid: 'no-such-host' }), 400, 'No host found for given UUID'],
    ['service unknown', hostMessage({ type: 'service', serviceUuid: 'no-such-service' }), 400, 'No service found for given UUID'],
  ];
  for (const [name, body, status, text] of cases) {
    const res = await postMessage(gw, body);
    t.equal(res.status, status, `${name}: status`);
    t.equal(res.body, text, `${name}: body`);
  }
  t.equal(client.pending, 0, 'nothing was delivered');
  t.equal(gw.stats.messages['400'], cases.length);
});

t.test('a body over message.maxBodyBytes is 413, declared or streamed', async (t) => {
  const gw = await startTestGateway({ config: { message: { maxBodyBytes: 1024 } } });
  t.teardown(() => gw.close());
  const big = JSON.stringify(hostMessage({ output: 'x'.repeat(2000) }));
  const declared = await postMessage(gw, big);
  t.equal(declared.status, 413);
  t.equal(declared.body, 'Payload too large');
  const streamed = await postMessage(gw, big, { headers: { 'Transfer-Encoding': 'chunked' } });
  t.equal(streamed.status, 413);
  const fits = await postMessage(gw, hostMessage({ output: 'x'.repeat(500) }));
  t.equal(fits.status, 202, 'a body under the limit is processed (user not registered)');
});

t.test('a notification older than message.maxAgeSeconds is dropped with 202', async (t) => {
  const gw = await startTestGateway();
  t.teardown(() => gw.close());
  const client = await openRegisteredClient(gw);
  t.teardown(() => client.close());
  const res = await postMessage(gw, hostMessage({ timestamp: Math.floor(Date.now() / 1000) - 301 }));
  t.equal(res.status, 202);
  t.equal(res.body, 'Notification is too old and was dropped');
  t.equal(client.pending, 0);
});

t.test('a user without a registered browser and without a relay gets 202 not registered', async (t) => {
  const gw = await startTestGateway();
  t.teardown(() => gw.close());
  const unregistered = await openClient(gw);
  t.teardown(() => unregistered.close());
  const res = await postMessage(gw, hostMessage());
  t.equal(res.status, 202);
  t.equal(res.body, 'User is not registered for push notifications');
  const other = await postMessage(gw, hostMessage({ userId: 99 }));
  t.equal(other.body, 'User is not registered for push notifications', 'a user with no connection at all');
});

t.test('a service notification is formatted and delivered with both uuids, type compared case-insensitively', async (t) => {
  const gw = await startTestGateway();
  t.teardown(() => gw.close());
  const client = await openRegisteredClient(gw);
  t.teardown(() => client.close());
  const ts = Math.floor(Date.now() / 1000);
  const res = await postMessage(gw, hostMessage({ timestamp: ts, type: 'SERVICE', serviceUuid: SERVICE_UUID, state: 2, output: 'HTTP 500' }));
  t.equal(res.status, 200);
  t.equal(res.body, 'ok');
  t.equal(await client.next(), JSON.stringify({
    type: 'ProcessPushNotification',
    message: 'HTTP 500',
    payload: {
      timestamp: ts, userId: 1, title: 'PROBLEM: web-01/HTTP is CRITICAL!', message: 'HTTP 500', type: 'service',
      hostUuid: HOST_UUID, serviceUuid: SERVICE_UUID, icon: '/img/push_notifications/wh/ServicePushIconCRITICAL.png', id: gw.ids.lastId,
    },
  }));
});

t.test('an acknowledgement carries no icon', async (t) => {
  const gw = await startTestGateway();
  t.teardown(() => gw.close());
  const client = await openRegisteredClient(gw);
  t.teardown(() => client.close());
  const ts = Math.floor(Date.now() / 1000);
  await postMessage(gw, hostMessage({ timestamp: ts, notificationtype: 'ACKNOWLEDGEMENT', state: 2, ackauthor: 'alice', ackcomment: 'on it' }));
  t.equal(await client.next(), `{"type":"ProcessPushNotification","message":"alice: on it","payload":{"timestamp":${ts},"userId":1,"title":"Acknowledgement for web-01 (UNREACHABLE)","message":"alice: on it","type":"host","hostUuid":"${HOST_UUID}","id":${gw.ids.lastId}}}`);
});

class FailingDirectory extends FileDirectory {
  override async hostName(): Promise<string | undefined> {
    throw new GatewayError('GW_ERR_DIRECTORY_UNAVAILABLE', 'query timed out');
  }
}

t.test('a failing directory answers 503 Directory unavailable', async (t) => {
  const gw = await startTestGateway({ directory: new FailingDirectory(testDirectoryData()) });
  t.teardown(() => gw.close());
  const client = await openRegisteredClient(gw);
  t.teardown(() => client.close());
  const res = await postMessage(gw, hostMessage());
  t.equal(res.status, 503);
  t.equal(res.body, 'Directory unavailable');
});

t.test('with the relay enabled an unregistered user gets 200 and a mobile push, answered before the phone', async (t) => {
  let release: () => void = () => undefined;
  const held = new Promise<void>((r) => { release = r; });
  const bodies: string[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      bodies.push(Buffer.concat(chunks).toString('utf8'));
      server.emit('pushed');
      // The push gateway answers only after /message did: the intake must not wait for it.
      void held.then(() => res.end('{}'));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => new Promise<void>((r) => { release(); server.closeAllConnections(); server.close(() => r()); }));
  const directory = new FileDirectory(testDirectoryData({
    devices: { '5': ['phone-5'] },
    relay: { address: 'http://127.0.0.1', port: (server.address() as AddressInfo).port, authKey: 'relay-key', enabled: true },
  }));
  const gw = await startTestGateway({ directory, config: { relay: { timeoutMs: 5000 } } });
  t.teardown(() => gw.close());

  const pushed = once(server, 'pushed');
  const res = await postMessage(gw, hostMessage({ userId: 5, state: 0, notificationtype: 'RECOVERY', output: 'PING OK' }));
  t.equal(res.status, 200);
  t.equal(res.body, 'ok');
  await pushed;
  const body = JSON.parse(bodies[0]!);
  t.same(
    { title: body.title, body: body.body, token: body.token, type: body.type, notification_type: body.notification_type, current_state: body.current_state, host_uuid: body.host_uuid, service_uuid: body.service_uuid, user_id: body.user_id },
    { title: 'RECOVERY: web-01 is UP!', body: 'PING OK', token: 'phone-5', type: 'host', notification_type: 'RECOVERY', current_state: 0, host_uuid: HOST_UUID, service_uuid: '', user_id: 5 },
  );
  release();
  await gw.outbox!.outbox.idle();
});

t.test('a keep-alive connection that authenticated once still needs the right key on every request', async (t) => {
  const gw = await startTestGateway();
  t.teardown(() => gw.close());
  const client = await openRegisteredClient(gw);
  t.teardown(() => client.close());
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  t.teardown(() => agent.destroy());
  const post = (key: string): Promise<{ status: number; reused: boolean }> => new Promise((resolve, reject) => {
    const req = request(`${gw.url}/message`, { method: 'POST', agent, headers: { 'X-Api-Key': key, 'Content-Type': 'application/json' } }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode ?? 0, reused: req.reusedSocket }));
    });
    req.on('error', reject);
    req.end(JSON.stringify(hostMessage()));
  });
  t.same(await post(TEST_API_KEY), { status: 200, reused: false });
  t.same(await post(TEST_API_KEY), { status: 200, reused: true }, 'same key, same connection');
  const wrongSameLength = TEST_API_KEY.slice(0, -1) + (TEST_API_KEY.endsWith('f') ? 'e' : 'f');
  t.same(await post(wrongSameLength), { status: 401, reused: true }, 'a different key of the same length is refused');
  t.same(await post('short-but-long-enough-key'), { status: 401, reused: true }, 'a different length too');
  t.same(await post(TEST_API_KEY), { status: 200, reused: true }, 'the right key still works after');
});

/** Run curl (the real binary, as a Naemon command would) and resolve with its stdout. */
function curl(args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile('curl', ['-sS', ...args], (err, stdout, stderr) => (err ? reject(new Error(`curl: ${stderr || err.message}`)) : resolve(stdout)));
  });
}

t.test('a form-encoded /message (curl --data-urlencode) is the JSON body\'s twin, whatever the macros hold', async (t) => {
  const gw = await startTestGateway();
  t.teardown(() => gw.close());
  const client = await openRegisteredClient(gw);
  t.teardown(() => client.close());
  const ts = Math.floor(Date.now() / 1000);
  const output = 'HTTP CRITICAL: "500" & <html>\nline 2 $ `x` 100% ü';
  const code = await curl([
    '-o', '/dev/null', '-w', '%{http_code}', '-H', `X-Api-Key: ${TEST_API_KEY}`,
    '--data-urlencode', `timestamp=${ts}`, '--data-urlencode', 'userId=1', '--data-urlencode', 'type=service',
    '--data-urlencode', `hostUuid=${HOST_UUID}`, '--data-urlencode', `serviceUuid=${SERVICE_UUID}`, '--data-urlencode', 'state=2',
    '--data-urlencode', 'notificationtype=PROBLEM', '--data-urlencode', `output=${output}`,
    `${gw.url}/message`,
  ]);
  t.equal(code, '200');
  t.equal(await client.next(), JSON.stringify({
    type: 'ProcessPushNotification',
    message: output,
    payload: {
      timestamp: ts, userId: 1, title: 'PROBLEM: web-01/HTTP is CRITICAL!', message: output, type: 'service',
      hostUuid: HOST_UUID, serviceUuid: SERVICE_UUID, icon: '/img/push_notifications/wh/ServicePushIconCRITICAL.png', id: gw.ids.lastId,
    },
  }), 'the same frame a JSON body gives, the output byte for byte');
});

t.test('a form-encoded /message is refused like JSON when a field is bad, and names a field given twice', async (t) => {
  const gw = await startTestGateway();
  t.teardown(() => gw.close());
  const client = await openRegisteredClient(gw);
  t.teardown(() => client.close());
  const ts = Math.floor(Date.now() / 1000);
  const form = (pairs: string): Promise<{ status: number; body: string }> => httpRequest(`${gw.url}/message`, {
    method: 'POST', headers: { 'X-Api-Key': TEST_API_KEY, 'Content-Type': 'application/x-www-form-urlencoded; charset=utf-8' }, body: pairs,
  });
  for (const [name, pairs, status, text] of [
    ['userId not a number', `timestamp=${ts}&userId=one&type=host&hostUuid=${HOST_UUID}`, 400, 'Invalid userId'],
    ['userId missing', `timestamp=${ts}&type=host&hostUuid=${HOST_UUID}`, 400, 'Invalid userId'],
    ['timestamp not a number', `timestamp=now&userId=1&type=host&hostUuid=${HOST_UUID}`, 400, 'timestamp must be a number (unix seconds)'],
    ['state given twice', `timestamp=${ts}&userId=1&type=host&hostUuid=${HOST_UUID}&state=1&state=2`, 400, 'Invalid state: given more than once'],
  ] as const) {
    const res = await form(pairs);
    t.same([res.status, res.body], [status, text], name);
  }
  t.equal((await form(`timestamp=${ts}&userId=1&type=host&hostUuid=${HOST_UUID}&state=1&output=a%2Bb+c&extra=ignored`)).status, 200, 'unknown fields are ignored, as unknown JSON keys are');
  t.equal((JSON.parse(await client.next()) as { message: string }).message, 'a+b c');
});
