import t from 'tap';
import { WebSocket } from 'ws';
import { GatewayError } from '../../../src/errors.js';
import { FileDirectory } from '../../../src/directory/file.js';
import { openClient, startTestGateway, testDirectoryData, TestClient, tryHandshake, httpRequest, TEST_API_KEY } from '../../helpers.js';

const KEY = TEST_API_KEY;

t.test('bad handshakes are answered 401 Unauthorized before the upgrade', async (t) => {
  const gw = await startTestGateway();
  t.teardown(() => gw.close());
  // No Sec-WebSocket-Protocol at all is the legacy frontend's plain WebSocket (legacy.test.ts).
  const cases: [string, string, string | undefined][] = [
    ['userId missing', '/?browserUuid=b1', `access_token, ${KEY}`],
    ['userId zero', '/?userId=0&browserUuid=b1', `access_token, ${KEY}`],
    ['userId negative', '/?userId=-3&browserUuid=b1', `access_token, ${KEY}`],
    ['userId not an integer', '/?userId=1.5&browserUuid=b1', `access_token, ${KEY}`],
    ['userId not a number', '/?userId=abc&browserUuid=b1', `access_token, ${KEY}`],
    ['browserUuid empty', '/?userId=1&browserUuid=', `access_token, ${KEY}`],
    ['browserUuid missing', '/?userId=1', `access_token, ${KEY}`],
    ['protocol header with one value only', '/?userId=1&browserUuid=b1', 'access_token'],
    ['protocol header with three values', '/?userId=1&browserUuid=b1', `access_token, ${KEY}, extra`],
    ['first protocol value not access_token', '/?userId=1&browserUuid=b1', `token, ${KEY}`],
    ['key first, access_token second', '/?userId=1&browserUuid=b1', `${KEY}, access_token`],
    ['wrong key', '/?userId=1&browserUuid=b1', 'access_token, wrong-key-0123456789abcdef'],
  ];
  for (const [name, path, header] of cases) {
    const res = await tryHandshake(gw, path, header);
    t.equal(res.status, 401, `${name}: status`);
    t.equal(res.body, 'Unauthorized', `${name}: body`);
  }
  t.equal(gw.registry.size, 0, 'no connection was registered');
  t.equal(gw.stats.handshakesRejected['401'], cases.length, 'every rejection is counted');
});

t.test('a good handshake echoes the access_token subprotocol and greets with ConnectionEstablished', async (t) => {
  const gw = await startTestGateway();
  t.teardown(() => gw.close());
  const raw = await tryHandshake(gw, '/?userId=1&browserUuid=b1', `access_token, ${KEY}`);
  t.equal(raw.status, 101);
  t.equal(raw.headers['sec-websocket-protocol'], 'access_token');

  const client = await openClient(gw, { skipGreeting: false });
  t.teardown(() => client.close());
  t.equal(client.ws.protocol, 'access_token');
  const greeting = await client.next();
  t.match(greeting, /^\{"type":"ConnectionEstablished","message":"Connection established successfully","payload":\{"clientUuid":"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}"\}\}$/);
  const uuid = JSON.parse(greeting).payload.clientUuid;
  t.equal(greeting, `{"type":"ConnectionEstablished","message":"Connection established successfully","payload":{"clientUuid":"${uuid}"}}`);
  t.equal(gw.registry.size, 1);
});

t.test('any path that is not an HTTP route is a WebSocket endpoint', async (t) => {
  const gw = await startTestGateway();
  t.teardown(() => gw.close());
  const ws = new WebSocket(`${gw.url.replace('http', 'ws')}/sockjs/push?userId=7&browserUuid=x`, ['access_token', KEY]);
  const client = new TestClient(ws);
  t.teardown(() => client.close());
  t.equal(JSON.parse(await client.next()).type, 'ConnectionEstablished');
  t.same(gw.registry.toUser(7).length, 1);
});

t.test('a plain GET on the WebSocket endpoint is answered 426 with a short text', async (t) => {
  const gw = await startTestGateway();
  t.teardown(() => gw.close());
  const res = await httpRequest(`${gw.url}/?userId=1&browserUuid=b1`);
  t.equal(res.status, 426);
  t.equal(res.body, 'Upgrade Required: this path is a WebSocket endpoint');
});

t.test('an upgrade on an HTTP route is refused with 400', async (t) => {
  const gw = await startTestGateway();
  t.teardown(() => gw.close());
  const res = await tryHandshake(gw, '/healthz?userId=1&browserUuid=b1', `access_token, ${KEY}`);
  t.equal(res.status, 400);
  t.equal(res.body, 'This path does not accept WebSocket upgrades');
});

class DownDirectory extends FileDirectory {
  override async verifyApiKey(): Promise<boolean> {
    throw new GatewayError('GW_ERR_DIRECTORY_UNAVAILABLE', 'database down');
  }
}

t.test('a directory that cannot verify the key answers 503, not 401', async (t) => {
  const gw = await startTestGateway({ directory: new DownDirectory(testDirectoryData()) });
  t.teardown(() => gw.close());
  const res = await tryHandshake(gw, '/?userId=1&browserUuid=b1', `access_token, ${KEY}`);
  t.equal(res.status, 503);
  t.equal(res.body, 'Directory unavailable');
});

t.test('close() closes open clients with 1001 and resolves', async (t) => {
  const gw = await startTestGateway();
  const client = await openClient(gw);
  const closing = gw.close();
  const closed = await client.closed;
  t.equal(closed.code, 1001, 'open clients are closed with 1001');
  await closing;
  t.equal(gw.registry.size, 0);
  t.equal(gw.stats.closes.shutdown, 1, 'counted as a shutdown close');
});
