import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import t, { type Test } from 'tap';
import { FileDirectory } from '../../../src/directory/file.js';
import { once, openClient, silentLogger, startTestGateway, testDirectoryData, waitFor } from '../../helpers.js';

const KEEPALIVE = { type: 'KeepAlive', message: '', payload: null };
const PONG = '{"type":"KeepAlive","message":"Pong","payload":null}';

t.test('KeepAlive is answered with KeepAlive/Pong', async (t) => {
  const gw = await startTestGateway();
  t.teardown(() => gw.close());
  const client = await openClient(gw);
  t.teardown(() => client.close());
  client.send(KEEPALIVE);
  t.equal(await client.next(), PONG);
  client.send({ type: 'KeepAlive', message: 'Ping', payload: { extra: true }, unknownField: 1 });
  t.equal(await client.next(), PONG, 'unknown fields are ignored');
});

t.test('an unknown message type is answered with Error naming the type', async (t) => {
  const gw = await startTestGateway();
  t.teardown(() => gw.close());
  const client = await openClient(gw);
  t.teardown(() => client.close());
  client.send({ type: 'Subscribe', message: '', payload: null });
  t.equal(await client.next(), '{"type":"Error","message":"Unknown message type: Subscribe","payload":null}');
});

t.test('bad frames get an Error naming the problem and the connection stays open', async (t) => {
  const gw = await startTestGateway();
  t.teardown(() => gw.close());
  const client = await openClient(gw);
  t.teardown(() => client.close());

  client.send('{"type": "KeepAlive",');
  const invalid = JSON.parse(await client.next());
  t.equal(invalid.type, 'Error');
  t.match(invalid.message, /^Invalid JSON: /);
  t.equal(invalid.payload, null);

  client.send('[1,2,3]');
  t.equal(await client.next(), '{"type":"Error","message":"Invalid message: expected an object {\\"type\\": string, \\"message\\": string, \\"payload\\": any}","payload":null}');

  client.send({ type: 'TestPushNotification', message: '', payload: { title: 42 } });
  const badPayload = JSON.parse(await client.next());
  t.equal(badPayload.type, 'Error');
  t.match(badPayload.message, /^Invalid payload for TestPushNotification: title: /);

  client.send({ type: 'RegisterBrowserPushNotification', message: '', payload: 'not an object' });
  t.match(JSON.parse(await client.next()).message, /^Invalid payload for RegisterBrowserPushNotification: /);

  client.send(KEEPALIVE);
  t.equal(await client.next(), PONG, 'the socket still answers');
  t.equal(gw.stats.clientErrors, 4);
});

t.test('a frame over websocket.maxPayloadBytes (8192) closes the connection with 1009', async (t) => {
  const gw = await startTestGateway();
  t.teardown(() => gw.close());
  const client = await openClient(gw);
  const fits = JSON.stringify({ type: 'KeepAlive', message: 'x'.repeat(8192 - 48), payload: null });
  t.equal(Buffer.byteLength(fits), 8192);
  client.send(fits);
  t.equal(await client.next(), PONG, 'exactly 8192 bytes is accepted');
  client.send('x'.repeat(8193));
  const closed = await client.closed;
  t.equal(closed.code, 1009);
  await t.resolves(waitFor(() => gw.registry.size === 0), 'the connection left the registry');
  t.equal(gw.stats.closes['too-big'], 1);
});

/** A real HTTP server standing in for the openITCOCKPIT push gateway. */
async function pushGateway(t: Test): Promise<{ port: number; requests: { req: IncomingMessage; body: string }[]; server: ReturnType<typeof createServer> }> {
  const requests: { req: IncomingMessage; body: string }[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      requests.push({ req, body: Buffer.concat(chunks).toString('utf8') });
      res.end('{}');
      server.emit('pushed');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }));
  return { port: (server.address() as AddressInfo).port, requests, server };
}

t.test('TestPushNotification sends the user a ProcessPushNotification and a CUSTOM mobile push', async (t) => {
  const pg = await pushGateway(t);
  const directory = new FileDirectory(testDirectoryData({
    devices: { '3': ['device-token-3'] },
    relay: { address: 'http://127.0.0.1', port: pg.port, authKey: 'relay-auth-key', enabled: true },
  }));
  const gw = await startTestGateway({ directory, config: { relay: { timeoutMs: 2000 } } });
  t.teardown(() => gw.close());
  const client = await openClient(gw, { userId: 3, browserUuid: 'b3' });
  t.teardown(() => client.close());

  const pushed = once(pg.server, 'pushed');
  const before = Math.floor(Date.now() / 1000);
  client.send({ type: 'TestPushNotification', message: '', payload: { title: 'Hello', icon: '/img/test.png' } });
  const frame = await client.next();
  const ts = JSON.parse(frame).payload.timestamp;
  t.ok(ts >= before && ts <= before + 5, 'timestamp is now in unix seconds');
  t.equal(frame, `{"type":"ProcessPushNotification","message":"This is a test push notification triggered by the client","payload":{"timestamp":${ts},"userId":3,"title":"Hello","message":"Hello","type":"host","icon":"/img/test.png","id":${gw.ids.lastId}}}`);

  await pushed;
  t.equal(pg.requests.length, 1);
  const body = JSON.parse(pg.requests[0]!.body);
  t.equal(body.notification_type, 'CUSTOM');
  t.equal(body.title, 'Hello');
  t.equal(body.token, 'device-token-3');
  t.equal(body.user_id, 3);
});

t.test('TestPushNotification without a payload uses a default title and leaves the icon out', async (t) => {
  const gw = await startTestGateway();
  t.teardown(() => gw.close());
  const client = await openClient(gw);
  t.teardown(() => client.close());
  client.send({ type: 'TestPushNotification', message: '' });
  const msg = JSON.parse(await client.next());
  t.same(Object.keys(msg.payload), ['timestamp', 'userId', 'title', 'message', 'type', 'id']);
  t.equal(msg.payload.title, 'Test notification');
});
