import { request } from 'node:http';
import { connect } from 'node:net';
import { pino } from 'pino';
import t, { type Test } from 'tap';
import { WebSocket } from 'ws';
import { parseConfig, type ConfigInput } from '../../src/config.js';
import { CloseCodes } from '../../src/transport/ws/connection.js';
import { FileDirectory } from '../../src/directory/file.js';
import { EVENTS_PATH } from '../../src/transport/sse/events.js';
import { mintToken } from '../../src/auth/token.js';
import {
  hostMessage, openClient, openRegisteredClient, postMessage, silentLogger, startTestGateway, TEST_API_KEY,
  testDirectoryData, TestClient, tryHandshake, WAIT_MS, waitFor, wsUrl,
} from '../helpers.js';
import { subscribe } from '../sse-client.js';
import type { Gateway } from '../../src/gateway.js';

const SECRET = 'pushgate-test-secret-0123456789abcdef';
const OLD_SECRET = 'pushgate-old-secret-0123456789abcdef';
const nowS = (): number => Math.floor(Date.now() / 1000);
const token = (userId: number, ttlS = 3600, secret = SECRET): string => mintToken(userId, nowS() + ttlS, secret);

async function gateway(t: Test, config: ConfigInput = {}): Promise<Gateway> {
  const gw = await startTestGateway({ config: { auth: { mode: 'both', secrets: [SECRET] }, ...config } });
  t.teardown(() => gw.close());
  return gw;
}

const proto = (key: string): string => `access_token, ${key}`;

t.test('config: auth.mode token without secrets is a config error naming auth.secrets', async (t) => {
  t.throws(() => parseConfig({ auth: { mode: 'token' } }), { code: 'GW_ERR_CONFIG', message: /auth\.secrets/ });
  t.throws(() => parseConfig({ auth: { secrets: ['short'] } }), { code: 'GW_ERR_CONFIG', message: /auth\.secrets\.0/ });
  t.equal(parseConfig({}).auth.mode, 'both', 'default mode keeps openITCOCKPIT frontends working');
});

t.test('a WebSocket with a valid token for its userId opens; forged, expired and other-user tokens get 401', async (t) => {
  const gw = await gateway(t);
  const ok = await tryHandshake(gw, '/?userId=42&browserUuid=b', proto(token(42)));
  t.equal(ok.status, 101);
  const forged = `${token(42).slice(0, -4)}AAAA`;
  const cases: Array<[string, string]> = [
    ['forged', forged],
    ['signed with an unknown secret', token(42, 3600, 'some-other-secret-0123456789abcdef')],
    ['expired', mintToken(42, nowS() - 1, SECRET)],
    ['for another user', token(43)],
    ['intake scope', token(0)],
  ];
  for (const [what, tok] of cases) {
    const r = await tryHandshake(gw, '/?userId=42&browserUuid=b', proto(tok));
    t.equal(r.status, 401, what);
    t.equal(r.body, 'Unauthorized', what);
  }
  t.equal(gw.registry.size, 0);
});

t.test('an old secret still verifies while it is listed (rotation)', async (t) => {
  const gw = await gateway(t, { auth: { mode: 'token', secrets: [SECRET, OLD_SECRET] } });
  t.equal((await tryHandshake(gw, '/?userId=5&browserUuid=b', proto(token(5, 3600, OLD_SECRET)))).status, 101);
  t.equal((await tryHandshake(gw, '/?userId=5&browserUuid=b', proto(token(5)))).status, 101);
});

t.test('auth.mode token refuses the shared API key; shared-key refuses tokens; both accepts either', async (t) => {
  const tok = await gateway(t, { auth: { mode: 'token', secrets: [SECRET] } });
  t.equal((await tryHandshake(tok, '/?userId=1&browserUuid=b', proto(TEST_API_KEY))).status, 401);
  const shared = await gateway(t, { auth: { mode: 'shared-key', secrets: [SECRET] } });
  t.equal((await tryHandshake(shared, '/?userId=1&browserUuid=b', proto(token(1)))).status, 401);
  t.equal((await tryHandshake(shared, '/?userId=1&browserUuid=b', proto(TEST_API_KEY))).status, 101);
  const both = await gateway(t);
  t.equal((await tryHandshake(both, '/?userId=1&browserUuid=b', proto(TEST_API_KEY))).status, 101);
  t.equal((await tryHandshake(both, '/?userId=1&browserUuid=b', proto(token(1)))).status, 101);
});

t.test('an open WebSocket whose token expires is closed with 4401 and counted', async (t) => {
  // A short sweep interval so the heartbeat notices the expiry soon after it passes.
  const gw = await gateway(t, { websocket: { pingIntervalMs: 100, pongTimeoutMs: 60_000, writeTimeoutMs: 10_000 } });
  const keyClient = await openClient(gw, { userId: 9, browserUuid: 'k' });
  t.teardown(() => keyClient.close());
  // Two seconds ahead: at least one whole second of validity whatever the sub-second clock, so the handshake passes.
  const ws = new WebSocket(wsUrl(gw, 9, 't'), ['access_token', mintToken(9, nowS() + 2, SECRET)]);
  const client = new TestClient(ws);
  t.equal(JSON.parse(await client.next()).type, 'ConnectionEstablished');
  let timer: NodeJS.Timeout | undefined;
  const closed = await Promise.race([
    client.closed,
    new Promise<never>((_r, reject) => { timer = setTimeout(() => reject(new Error('not closed')), 3000 + WAIT_MS); }),
  ]);
  clearTimeout(timer);
  t.same(closed, { code: CloseCodes.tokenExpired, reason: 'token expired, fetch a new one' });
  await waitFor(() => gw.stats.closes['token-expired'] === 1, WAIT_MS, 'close counted');
  t.equal(keyClient.ws.readyState, WebSocket.OPEN, 'an API-key connection of the same user stays open');
});

t.test('/message accepts an intake token (userId 0) and refuses a user token, a forged one and none with 401', async (t) => {
  const gw = await gateway(t);
  const ws = await openRegisteredClient(gw);
  t.teardown(() => ws.close());
  const bearer = (tok: string): Record<string, string> => ({ Authorization: `Bearer ${tok}` });
  const ok = await postMessage(gw, hostMessage(), { apiKey: null, headers: bearer(token(0)) });
  t.equal(ok.status, 200, ok.body);
  t.equal(JSON.parse(await ws.next()).type, 'ProcessPushNotification');
  for (const [what, headers] of [
    ['user token', bearer(token(1))],
    ['expired intake token', bearer(mintToken(0, nowS() - 1, SECRET))],
    ['forged intake token', bearer(token(0, 3600, 'forger-secret-0123456789abcdef0123'))],
    ['nothing', {}],
  ] as Array<[string, Record<string, string>]>) {
    const r = await postMessage(gw, hostMessage(), { apiKey: null, headers });
    t.equal(r.status, 401, what);
    t.equal(r.body, 'Unauthorized', what);
  }
  t.equal(ws.pending, 0, 'nothing else was delivered');
});

t.test('/events accepts a token for its userId and refuses another user\'s token with 401', async (t) => {
  const directory = new FileDirectory(testDirectoryData());
  const gw = await startTestGateway({ directory, config: { events: { enabled: true, keepAliveFirstMs: 60_000 }, auth: { mode: 'token', secrets: [SECRET] } } });
  t.teardown(() => gw.close());
  const url = `${gw.url}${EVENTS_PATH}?userId=3&browserUuid=b`;
  const good = await subscribe(url, { Authorization: `Bearer ${token(3)}` });
  t.teardown(() => good.close());
  t.equal(good.status, 200);
  const bad: Array<[string, string]> = [['other user', token(4)], ['expired', mintToken(3, nowS() - 1, SECRET)], ['API key in token mode', TEST_API_KEY]];
  for (const [what, key] of bad) {
    const refused = await subscribe(url, { Authorization: `Bearer ${key}` });
    t.equal(refused.status, 401, what);
    refused.close();
  }
});

/** A WebSocket handshake with extra headers, optionally from another loopback address; the HTTP answer, or 101. */
function handshake(gw: Gateway, path: string, headers: Record<string, string> = {}, localAddress?: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(`${gw.url}${path}`, {
      headers: {
        Connection: 'Upgrade', Upgrade: 'websocket', 'Sec-WebSocket-Version': '13', 'Sec-WebSocket-Key': 'dGhlIHNhbXBsZSBub25jZQ==',
        'Sec-WebSocket-Protocol': proto(TEST_API_KEY), ...headers,
      },
      timeout: WAIT_MS,
      agent: false,
      ...(localAddress ? { localAddress } : {}),
    });
    req.on('upgrade', (res, socket) => { socket.destroy(); resolve({ status: res.statusCode ?? 0, body: '' }); });
    req.on('response', (res) => {
      let body = '';
      res.on('data', (c: Buffer) => { body += c.toString(); });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('timeout', () => req.destroy(new Error(`no answer within ${WAIT_MS} ms`)));
    req.on('error', reject);
    req.end();
  });
}

/** Write raw bytes on a fresh TCP connection and collect everything until the server closes it (bounded). */
function raw(port: number, text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const sock = connect(port, '127.0.0.1');
    let out = '';
    const timer = setTimeout(() => { sock.destroy(); reject(new Error(`server kept the connection open; got ${JSON.stringify(out)}`)); }, WAIT_MS * 2);
    sock.on('data', (c: Buffer) => { out += c.toString('latin1'); });
    sock.on('error', () => undefined);
    sock.on('close', () => { clearTimeout(timer); resolve(out); });
    sock.write(text);
  });
}

const ORIGIN = 'https://oitc.example.com';

t.test('a WebSocket from an Origin not in auth.allowedOrigins gets 403; listed or absent Origins open', async (t) => {
  const gw = await gateway(t, { auth: { mode: 'both', secrets: [SECRET], allowedOrigins: [ORIGIN] } });
  t.same(await handshake(gw, '/?userId=1&browserUuid=b', { Origin: 'https://evil.example' }), { status: 403, body: 'Origin not allowed' });
  t.equal((await handshake(gw, '/?userId=1&browserUuid=b', { Origin: ORIGIN })).status, 101);
  t.equal((await handshake(gw, '/?userId=1&browserUuid=b', { Origin: 'HTTPS://OITC.example.com/' })).status, 101, 'case and trailing slash');
  t.equal((await handshake(gw, '/?userId=1&browserUuid=b')).status, 101, 'no Origin: not a browser page');
  t.equal(gw.stats.limitRefusals.origin, 1);
  t.equal(gw.stats.handshakesRejected['403'], 1);
});

t.test('an /events stream from an Origin not in auth.allowedOrigins gets 403', async (t) => {
  const directory = new FileDirectory(testDirectoryData());
  const gw = await startTestGateway({ directory, config: { events: { enabled: true, keepAliveFirstMs: 60_000 }, auth: { allowedOrigins: [ORIGIN] } } });
  t.teardown(() => gw.close());
  const url = `${gw.url}${EVENTS_PATH}?userId=3&browserUuid=b`;
  const refused = await subscribe(url, { 'X-Api-Key': TEST_API_KEY, Origin: 'https://evil.example' });
  t.equal(refused.status, 403);
  refused.close();
  const ok = await subscribe(url, { 'X-Api-Key': TEST_API_KEY, Origin: ORIGIN });
  t.teardown(() => ok.close());
  t.equal(ok.status, 200);
});

t.test('one WebSocket more than limits.maxConnectionsPerUser gets 429 and is counted; other users still connect', async (t) => {
  const gw = await gateway(t, { limits: { maxConnectionsPerUser: 2 } });
  const a = await openClient(gw, { userId: 1, browserUuid: 'a' });
  const b = await openClient(gw, { userId: 1, browserUuid: 'b' });
  t.same(await handshake(gw, '/?userId=1&browserUuid=c'), { status: 429, body: 'Too many connections for this user' });
  t.equal(gw.stats.limitRefusals['user-connections'], 1);
  const other = await openClient(gw, { userId: 2 });
  await a.close();
  await waitFor(() => gw.registry.countUser(1) === 1, WAIT_MS, 'a closed');
  t.equal((await handshake(gw, '/?userId=1&browserUuid=c')).status, 101, 'a freed slot can be used');
  await b.close();
  await other.close();
});

t.test('one WebSocket more than limits.maxConnectionsPerIp gets 429 and is counted', async (t) => {
  const gw = await gateway(t, { limits: { maxConnectionsPerIp: 2, exemptAddresses: [] } });
  const a = await openClient(gw, { userId: 1 });
  const b = await openClient(gw, { userId: 2 });
  t.same(await handshake(gw, '/?userId=3&browserUuid=c'), { status: 429, body: 'Too many connections from this address' });
  t.equal(gw.stats.limitRefusals['ip-connections'], 1);
  t.equal((await handshake(gw, '/?userId=3&browserUuid=c', {}, '127.0.0.2')).status, 101, 'another address is not affected');
  await a.close();
  await waitFor(() => gw.registry.size <= 1, WAIT_MS, 'a closed');
  t.equal((await handshake(gw, '/?userId=3&browserUuid=c')).status, 101, 'a freed slot can be used');
  await b.close();
});

t.test('after limits.maxFailedHandshakesPerIp failures an address gets 429, even with a good key, until the window ends', async (t) => {
  const windowMs = 400;
  const gw = await gateway(t, { limits: { maxFailedHandshakesPerIp: 3, failedHandshakeWindowMs: windowMs, exemptAddresses: [] } });
  for (let i = 0; i < 3; i++) t.equal((await handshake(gw, '/?userId=1&browserUuid=b', { 'Sec-WebSocket-Protocol': proto('wrong-key') })).status, 401);
  t.same(await handshake(gw, '/?userId=1&browserUuid=b'), { status: 429, body: 'Too many failed handshakes' });
  t.equal(gw.stats.limitRefusals['failed-handshakes'], 1);
  t.equal((await handshake(gw, '/?userId=1&browserUuid=b', {}, '127.0.0.2')).status, 101, 'another address is not affected');
  await new Promise((r) => setTimeout(r, windowMs + 50));
  t.equal((await handshake(gw, '/?userId=1&browserUuid=b')).status, 101, 'the window ended');
});

t.test('failed-handshake tracking keeps at most limits.maxTrackedIps addresses', async (t) => {
  const gw = await gateway(t, { limits: { maxTrackedIps: 2, exemptAddresses: [] } });
  for (const ip of ['127.0.0.1', '127.0.0.2', '127.0.0.3', '127.0.0.4']) {
    t.equal((await handshake(gw, '/?userId=1&browserUuid=b', { 'Sec-WebSocket-Protocol': proto('wrong') }, ip)).status, 401);
  }
  t.equal(gw.guard?.trackedIps, 2);
});

t.test('a /message body over message.maxBodyBytes gets 413', async (t) => {
  const gw = await gateway(t, { message: { maxBodyBytes: 1024 } });
  const r = await postMessage(gw, hostMessage({ output: 'x'.repeat(2048) }));
  t.equal(r.status, 413);
  t.equal(r.body, 'Payload too large');
});

t.test('a request whose headers exceed limits.maxHeaderBytes gets 431', async (t) => {
  const gw = await gateway(t, { limits: { maxHeaderBytes: 1024 } });
  const out = await raw(gw.port, `GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(4096)}\r\n\r\n`);
  t.match(out, /^HTTP\/1\.1 431 /);
});

t.test('a request whose headers do not complete within limits.headersTimeoutMs gets 408 and is closed', async (t) => {
  const gw = await gateway(t, { limits: { headersTimeoutMs: 200, requestTimeoutMs: 400 } });
  const out = await raw(gw.port, 'GET /?userId=1&browserUuid=b HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n');
  t.match(out, /^HTTP\/1\.1 408 /);
});

t.test('a paused reader flooded past websocket.maxBufferedBytes is closed and counted while another user keeps receiving', async (t) => {
  const gw = await gateway(t, { websocket: { maxBufferedBytes: 1024 } });
  const reader = await openRegisteredClient(gw, { userId: 1 });
  t.teardown(() => reader.close());
  const slow = await openClient(gw, { userId: 2 });
  t.teardown(() => slow.ws.terminate());
  (slow.ws as unknown as { _socket: { pause(): void } })._socket.pause();
  const conn = gw.registry.toUser(2)[0]!;
  const frame = Buffer.alloc(1 << 20, 'x');
  let sent = 0;
  // Bounded: loopback kernel buffers hold a few MB at most.
  while (conn.readyState === WebSocket.OPEN && sent < 256) {
    for (const c of gw.registry.toUser(2)) c.sendFrame(frame);
    sent++;
    await new Promise((r) => setImmediate(r));
  }
  await waitFor(() => gw.registry.countUser(2) === 0, WAIT_MS, 'slow reader closed');
  t.equal(gw.stats.closes['slow-consumer'], 1);
  t.ok(sent < 256, `cut after ${sent} MB`);
  const r = await postMessage(gw, hostMessage({ userId: 1 }));
  t.equal(r.status, 200);
  t.equal(JSON.parse(await reader.next()).type, 'ProcessPushNotification');
});

t.test('tokens, keys and secrets never reach the log, even at trace level', async (t) => {
  let logged = '';
  const logger = pino({ level: 'trace' }, { write: (line: string) => { logged += line; } });
  const gw = await startTestGateway({ logger, config: { auth: { mode: 'both', secrets: [SECRET] }, log: { level: 'trace' } } });
  t.teardown(() => gw.close());
  const good = token(1);
  const forged = token(1, 3600, 'forger-secret-0123456789abcdef0123');
  t.equal((await handshake(gw, '/?userId=1&browserUuid=b', { 'Sec-WebSocket-Protocol': proto(good) })).status, 101);
  t.equal((await handshake(gw, '/?userId=1&browserUuid=b', { 'Sec-WebSocket-Protocol': proto(forged) })).status, 401);
  t.equal((await handshake(gw, '/?userId=2&browserUuid=b', { 'Sec-WebSocket-Protocol': proto(good) })).status, 401);
  t.equal((await postMessage(gw, hostMessage(), { apiKey: null, headers: { Authorization: `Bearer ${forged}` } })).status, 401);
  t.equal((await postMessage(gw, hostMessage(), { apiKey: 'wrong-key-0123456789' })).status, 401);
  t.ok(logged.length > 0, 'something was logged');
  for (const secret of [good, forged, SECRET, TEST_API_KEY, 'wrong-key-0123456789', good.split('.')[3]!]) t.notOk(logged.includes(secret), 'not logged');
});

t.test('after limits.maxFailedHandshakesPerIp failed /message authentications the address gets 429, even with the key', async (t) => {
  const gw = await gateway(t, { limits: { maxFailedHandshakesPerIp: 2, exemptAddresses: [] } });
  for (let i = 0; i < 2; i++) t.equal((await postMessage(gw, hostMessage(), { apiKey: 'wrong-key' })).status, 401);
  const r = await postMessage(gw, hostMessage());
  t.equal(r.status, 429);
  t.equal(r.body, 'Too many failed authentications');
  t.equal(gw.stats.limitRefusals['failed-handshakes'], 1);
  t.same(await handshake(gw, '/?userId=1&browserUuid=b'), { status: 429, body: 'Too many failed handshakes' }, 'one budget for both');
});

t.test('in auth.mode token /message refuses the shared API key and accepts an intake token in X-Api-Key', async (t) => {
  const gw = await gateway(t, { auth: { mode: 'token', secrets: [SECRET] } });
  const ws = await openRegisteredClient(gw, { apiKey: token(1) });
  t.teardown(() => ws.close());
  t.equal((await postMessage(gw, hostMessage())).status, 401, 'shared key');
  const r = await postMessage(gw, hostMessage(), { apiKey: token(0) });
  t.equal(r.status, 200, r.body);
  t.equal(JSON.parse(await ws.next()).type, 'ProcessPushNotification');
});

t.test('limits.exemptAddresses (default loopback, the local reverse proxy) are never limited per IP', async (t) => {
  const gw = await gateway(t, { limits: { maxConnectionsPerIp: 1, maxFailedHandshakesPerIp: 1 } });
  for (let i = 0; i < 3; i++) t.equal((await handshake(gw, '/?userId=1&browserUuid=b', { 'Sec-WebSocket-Protocol': proto('wrong') })).status, 401);
  const a = await openClient(gw, { userId: 1 });
  const b = await openClient(gw, { userId: 2 });
  t.equal(gw.registry.size, 2);
  t.same(gw.stats.limitRefusals, {});
  t.equal((await handshake(gw, '/?userId=1&browserUuid=b', { 'Sec-WebSocket-Protocol': proto('wrong') }, '127.0.0.2')).status, 401);
  t.same(await handshake(gw, '/?userId=3&browserUuid=b', {}, '127.0.0.2'), { status: 429, body: 'Too many failed handshakes' }, 'other addresses are');
  await a.close();
  await b.close();
});
