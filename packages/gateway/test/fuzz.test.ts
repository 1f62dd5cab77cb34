/**
 * Property tests (fast-check): random and mutated client frames (both
 * frontend generations), `/message`
 * bodies, handshake headers, tokens and config objects. The invariant is
 * always a clear answer, no crash, no unhandled rejection and no state
 * change. `FUZZ_RUNS` (scripts/fuzz) raises the number of cases per property.
 */
import fc from 'fast-check';
import t from 'tap';
import { WebSocket } from 'ws';
import { parseConfig } from '../src/config.js';
import { FileDirectory } from '../src/directory/file.js';
import { GatewayError } from '../src/errors.js';
import { EVENTS_PATH } from '../src/transport/sse/events.js';
import { mintToken, verifyToken } from '../src/auth/token.js';
import {
  HOST_UUID, hostMessage, httpRequest, openClient, openRegisteredClient, postMessage, SERVICE_UUID, silentLogger, startTestGateway,
  TEST_API_KEY, testDirectoryData, tryHandshake, type TestClient,
} from './helpers.js';
import { subscribe } from './sse-client.js';
import { openRegisteredLegacy, type LegacyClient } from './legacy-client.js';

const RUNS = Number(process.env.FUZZ_RUNS ?? '') || 100;
const SECRET = 'fuzz-secret-0123456789abcdef0123456789';
const options = { numRuns: RUNS };

const unhandled: unknown[] = [];
const onUnhandled = (err: unknown): void => { unhandled.push(err); };
process.on('unhandledRejection', onUnhandled);
t.teardown(() => {
  process.off('unhandledRejection', onUnhandled);
});

/** Any JSON value, as text. */
const jsonText = fc.jsonValue().map((v) => JSON.stringify(v));
/** A client envelope with a known or random type and any payload. */
const envelopeText = fc.record({
  type: fc.oneof(fc.constantFrom('KeepAlive', 'RegisterBrowserPushNotification', 'TestPushNotification', 'Error', ''), fc.string()),
  message: fc.oneof(fc.string(), fc.jsonValue()),
  payload: fc.jsonValue(),
}, { requiredKeys: [] }).map((v) => JSON.stringify(v));
/** Valid JSON text with one character replaced, dropped or inserted. */
const mutated = (base: fc.Arbitrary<string>): fc.Arbitrary<string> => fc.tuple(base, fc.nat(), fc.string({ maxLength: 1 })).map(([s, i, c]) => {
  const at = s.length === 0 ? 0 : i % s.length;
  return s.slice(0, at) + c + s.slice(at + 1);
});

/** Drain frames until the KeepAlive answer arrives: proves the connection still works. */
async function pong(client: TestClient): Promise<void> {
  client.send({ type: 'KeepAlive', message: '', payload: null });
  for (;;) {
    const f = JSON.parse(await client.next()) as { type: string; message: string };
    if (f.type === 'KeepAlive' && f.message === 'Pong') return;
  }
}

t.test('random and mutated legacy frames are answered, ignored or closed with 4003/4004, and never route the socket as another user', async (t) => {
  const gw = await startTestGateway({ config: { limits: { maxFailedHandshakesPerIp: 0 } } });
  t.teardown(() => gw.close());
  const PONG = '{"type":"keepAlive","message":"Pong","data":[]}';
  const legacyText = fc.record({
    task: fc.oneof(fc.constantFrom('register', 'keepAlive', 'testMessage'), fc.string()),
    key: fc.oneof(fc.constant(TEST_API_KEY), fc.string(), fc.jsonValue()),
    uuid: fc.oneof(fc.constant('@uuid@'), fc.string(), fc.jsonValue()),
    data: fc.oneof(fc.constant({ userId: 1, browserUuid: 'b' }), fc.record({ userId: fc.jsonValue(), browserUuid: fc.jsonValue() }), fc.jsonValue()),
  }, { requiredKeys: [] }).map((v) => JSON.stringify(v));
  let c: LegacyClient = await openRegisteredLegacy(gw, 1, 'b');
  t.teardown(() => c.close());
  await fc.assert(fc.asyncProperty(fc.oneof(jsonText, legacyText, mutated(legacyText)), async (frame) => {
    c.client.send(frame.replaceAll('@uuid@', c.uuid));
    c.keepAlive();
    const outcome = await Promise.race([
      (async () => { for (;;) if ((await c.client.next()) === PONG) return 'open' as const; })(),
      c.client.closed.then((cl) => cl.code),
    ]);
    if (outcome !== 'open') {
      if (outcome !== 4003 && outcome !== 4004) return false;
      c = await openRegisteredLegacy(gw, 1, 'b');
    }
    // Only user 1, browser b, ever: no frame re-routes the socket.
    return [...gw.registry.all()].every((conn) => conn.userId === 1 && conn.browserUuid === 'b');
  }), options);
  t.equal(gw.stats.handshakesRejected['500'], undefined);
  t.equal((await httpRequest(`${gw.url}/healthz`)).status, 200);
  t.same(unhandled, []);
});

t.test('random and mutated client frames get an answer or nothing, and the connection stays open', async (t) => {
  const gw = await startTestGateway();
  t.teardown(() => gw.close());
  const client = await openClient(gw);
  t.teardown(() => client.close());
  const frame = fc.oneof(
    fc.string({ maxLength: 512 }),
    fc.string({ unit: 'binary', maxLength: 256 }),
    jsonText,
    envelopeText,
    mutated(envelopeText),
    fc.uint8Array({ maxLength: 256 }).map((b) => Buffer.from(b)),
  );
  await fc.assert(fc.asyncProperty(frame, async (f) => {
    client.ws.send(f, { binary: Buffer.isBuffer(f) });
    await pong(client);
    return client.ws.readyState === WebSocket.OPEN && gw.registry.size === 1;
  }), options);
  t.equal(client.ws.readyState, WebSocket.OPEN);
  t.same(gw.stats.closes, {});
  t.same(unhandled, []);
});

t.test('random and mutated /message bodies get 200, 202 or 400 with a reason, never 500', async (t) => {
  const gw = await startTestGateway();
  t.teardown(() => gw.close());
  const client = await openRegisteredClient(gw);
  t.teardown(() => client.close());
  const valid = hostMessage();
  const field = fc.constantFrom(...Object.keys(valid), 'extra');
  const body = fc.oneof(
    fc.string({ maxLength: 256 }),
    jsonText,
    mutated(fc.constant(JSON.stringify(valid))),
    fc.tuple(field, fc.jsonValue()).map(([k, v]) => JSON.stringify({ ...valid, [k]: v })),
    fc.record({
      userId: fc.oneof(fc.constant(1), fc.integer()),
      type: fc.constantFrom('host', 'service', 'HOST', 'Service', 'x'),
      hostUuid: fc.constantFrom(HOST_UUID, '', 'unknown'),
      serviceUuid: fc.constantFrom(SERVICE_UUID, '', 'unknown'),
      state: fc.oneof(fc.integer({ min: -1, max: 5 }), fc.jsonValue()),
      notificationtype: fc.oneof(fc.constantFrom('PROBLEM', 'ACKNOWLEDGEMENT', 'DOWNTIMESTART', 'FLAPPINGSTOP'), fc.string()),
      timestamp: fc.oneof(fc.constant(Math.floor(Date.now() / 1000)), fc.integer()),
    }).map((r) => JSON.stringify({ ...valid, ...r })),
  );
  await fc.assert(fc.asyncProperty(body, async (b) => {
    const r = await postMessage(gw, b);
    return [200, 202, 400].includes(r.status) && r.body.length > 0 && gw.registry.size === 1;
  }), options);
  t.equal(gw.stats.messages['500'], undefined);
  t.equal(client.ws.readyState, WebSocket.OPEN);
  t.same(unhandled, []);
});

t.test('random handshake query strings and protocol headers get 101, 400 or 401, and the server keeps serving', async (t) => {
  const gw = await startTestGateway({ config: { auth: { mode: 'both', secrets: [SECRET] }, limits: { maxFailedHandshakesPerIp: 0 } } });
  t.teardown(() => gw.close());
  const token = mintToken(1, Math.floor(Date.now() / 1000) + 3600, SECRET);
  const query = fc.oneof(
    fc.dictionary(fc.constantFrom('userId', 'browserUuid', 'since', 'x'), fc.string({ maxLength: 20 })),
    fc.record({ userId: fc.oneof(fc.constant('1'), fc.string({ maxLength: 8 }), fc.integer().map(String)), browserUuid: fc.string({ maxLength: 8 }) }),
  ).map((q) => `/?${new URLSearchParams(q).toString()}`);
  // Header values node:http will send: printable ASCII.
  const protocol = fc.oneof(
    fc.string({ maxLength: 80 }),
    fc.string({ maxLength: 60 }).map((k) => `access_token, ${k}`),
    mutated(fc.constant(`access_token, ${token}`)),
    fc.constant(undefined),
  ).filter((h) => h === undefined || /^[\x20-\x7e]*$/.test(h));
  await fc.assert(fc.asyncProperty(query, protocol, async (path, header) => {
    const r = await tryHandshake(gw, path, header);
    return [101, 400, 401].includes(r.status);
  }), options);
  t.equal((await httpRequest(`${gw.url}/healthz`)).status, 200);
  t.equal(gw.stats.handshakesRejected['500'], undefined);
  t.same(unhandled, []);
});

t.test('a mutated token never verifies, and verifyToken never throws', async (t) => {
  const nowS = 1_800_000_000;
  fc.assert(fc.property(fc.nat({ max: 1e9 }), fc.nat({ max: 1e6 }), fc.nat(), fc.string({ minLength: 1, maxLength: 1 }), (user, ttl, i, c) => {
    const token = mintToken(user, nowS + ttl + 1, SECRET);
    const at = i % token.length;
    const bad = token.slice(0, at) + c + token.slice(at + 1);
    return bad === token || !verifyToken(bad, [SECRET], nowS).ok;
  }), options);
  fc.assert(fc.property(fc.string(), (s) => verifyToken(s, [SECRET], nowS).ok === false), options);
  t.pass('no counterexample');
});

t.test('parseConfig on random and mutated objects returns a frozen config or throws GW_ERR_CONFIG', async (t) => {
  const sections = ['listen', 'directory', 'websocket', 'message', 'auth', 'limits', 'events', 'log', 'demo', 'shutdownTimeoutMs', 'typo'];
  const input = fc.oneof(
    fc.anything(),
    fc.dictionary(fc.constantFrom(...sections), fc.anything()),
    fc.dictionary(fc.constantFrom(...sections), fc.dictionary(fc.string({ maxLength: 24 }), fc.jsonValue())),
    fc.record({ auth: fc.record({ mode: fc.constantFrom('shared-key', 'token', 'both', 'x'), secrets: fc.array(fc.string({ maxLength: 40 })) }, { requiredKeys: [] }) }),
  );
  fc.assert(fc.property(input, (value) => {
    try {
      return Object.isFrozen(parseConfig(value));
    } catch (err) {
      return err instanceof GatewayError && err.code === 'GW_ERR_CONFIG' && err.message.length > 0;
    }
  }), options);
  t.pass('no counterexample');
});

t.test('random /events query strings and headers get 200, 204, 400, 401 or 403, never 500', async (t) => {
  const directory = new FileDirectory(testDirectoryData());
  const gw = await startTestGateway({ directory, config: { events: { enabled: true, keepAliveFirstMs: 60_000 }, auth: { mode: 'both', secrets: [SECRET], allowedOrigins: ['https://oitc.example.com'] } } });
  t.teardown(() => gw.close());
  const token = mintToken(1, Math.floor(Date.now() / 1000) + 3600, SECRET);
  const printable = (a: fc.Arbitrary<string>): fc.Arbitrary<string> => a.filter((h) => /^[\x21-\x7e]([\x20-\x7e]*[\x21-\x7e])?$/.test(h));
  const query = fc.dictionary(fc.constantFrom('userId', 'browserUuid', 'token', 'x'), fc.oneof(fc.constant('1'), fc.string({ maxLength: 12 })))
    .map((q) => `?${new URLSearchParams(q).toString()}`);
  const headers = fc.record({
    Authorization: fc.oneof(fc.constant(`Bearer ${token}`), fc.constant(`Bearer ${TEST_API_KEY}`), printable(fc.string({ maxLength: 60 })), mutated(fc.constant(`Bearer ${token}`)).filter((h) => /^[\x21-\x7e]([\x20-\x7e]*[\x21-\x7e])?$/.test(h))),
    'Last-Event-ID': printable(fc.string({ maxLength: 20 })),
    Origin: fc.oneof(fc.constant('https://oitc.example.com'), printable(fc.string({ maxLength: 20 }))),
  }, { requiredKeys: [] });
  await fc.assert(fc.asyncProperty(query, headers, async (q, h) => {
    const c = await subscribe(`${gw.url}${EVENTS_PATH}${q}`, h);
    c.close();
    return [200, 204, 400, 401, 403].includes(c.status);
  }), { numRuns: Math.min(RUNS, 100) });
  t.equal((await httpRequest(`${gw.url}/healthz`)).status, 200);
  t.same(unhandled, []);
});
