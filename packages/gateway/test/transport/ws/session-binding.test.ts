/**
 * `auth.openitcockpitSession` end to end on real sockets: a real gateway
 * asks a real HTTPS stand-in for openITCOCKPIT (fixtures/oitc-web.ts) whose
 * session each upgrade's Cookie is, for both frontend generations and
 * `/events`. A browser whose cookie belongs to user 7 cannot subscribe as
 * user 8; a forged Origin is refused; openITCOCKPIT down follows
 * `onUnavailable`; the cookie never reaches a log line.
 */
import t from 'tap';
import { WebSocket } from 'ws';
import { mintToken } from '../../../src/auth/token.js';
import { parseConfig, type ConfigInput } from '../../../src/config.js';
import { FileDirectory } from '../../../src/directory/file.js';
import { LegacyCloseCodes } from '../../../src/transport/ws/legacy.js';
import { CheckStatus, DEFAULT_CHECK_USER_ID, runCheck } from '../../../src/ops/check.js';
import { startOitcWeb, sessionCookie } from '../../fixtures/oitc-web.js';
import {
  capturedLogger, HOST_UUID, hostMessage, httpRequest, postMessage, startTestGateway, TEST_API_KEY, TestClient, testDirectoryData, tryHandshake, WAIT_MS, wsUrl,
} from '../../helpers.js';
import { openLegacy } from '../../legacy-client.js';

const ORIGIN = 'https://oitc.test';
const SECRET = 'session-binding-secret-0123456789abcdef';
const PONG = '{"type":"keepAlive","message":"Pong","data":[]}';

const web = await startOitcWeb({ 'sid-seven-secret': 7, 'sid-eight-secret': 8 });
t.teardown(() => web.close());
const SEVEN = sessionCookie('sid-seven-secret');
const EIGHT = sessionCookie('sid-eight-secret');

function bound(extra: Partial<NonNullable<NonNullable<ConfigInput['auth']>['openitcockpitSession']>> = {}, auth: ConfigInput['auth'] = {}): ConfigInput {
  return {
    auth: { allowedOrigins: [ORIGIN], ...auth, openitcockpitSession: { enabled: true, baseUrl: web.url, caFile: web.caFile, ...extra } },
    limits: { maxFailedHandshakesPerIp: 0 },
  };
}

const proto = (key = TEST_API_KEY): string => `access_token, ${key}`;
const browser = (cookie: string | undefined, origin = ORIGIN): Record<string, string> => ({ Origin: origin, ...(cookie ? { Cookie: cookie } : {}) });

/** A registered newer-generation client with the browser's headers. */
async function openModern(gw: { url: string }, userId: number, headers: Record<string, string>): Promise<TestClient> {
  const ws = new WebSocket(wsUrl(gw, userId, `b${userId}`), ['access_token', TEST_API_KEY], { headers });
  const c = new TestClient(ws);
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('did not open')), WAIT_MS);
    ws.once('open', () => { clearTimeout(timer); resolve(); });
    ws.once('error', (err) => { clearTimeout(timer); reject(err); });
  });
  await c.next(); // ConnectionEstablished
  c.send({ type: 'RegisterBrowserPushNotification', message: '', payload: {} });
  c.send({ type: 'KeepAlive', message: '', payload: null });
  await c.next(); // Pong: the register was processed
  return c;
}

t.test('newer generation: the cookie of user 7 opens user 7\'s socket only; no session is 401, another user\'s 403', async (t) => {
  const { logger, lines } = capturedLogger('debug');
  const gw = await startTestGateway({ config: bound(), logger });
  t.teardown(() => gw.close());
  t.equal((await tryHandshake(gw, '/?userId=7&browserUuid=b', proto(), browser(SEVEN))).status, 101);
  const as8 = await tryHandshake(gw, '/?userId=8&browserUuid=b', proto(), browser(SEVEN));
  t.same([as8.status, as8.body], [403, 'Forbidden']);
  const none = await tryHandshake(gw, '/?userId=7&browserUuid=b', proto(), browser(undefined));
  t.same([none.status, none.body], [401, 'Unauthorized']);
  const stale = await tryHandshake(gw, '/?userId=7&browserUuid=b', proto(), browser(sessionCookie('logged-out')));
  t.same([stale.status, stale.body], [401, 'Unauthorized']);
  t.equal(gw.stats.handshakesRejected['403'], 1);
  t.equal(gw.stats.handshakesRejected['401'], 2);
  t.match(gw.session?.stats.checks, { match: 1, 'other-user': 1, 'not-logged-in': 2 });
  t.ok(lines.some((l) => l.level === 40 && l.msg === 'websocket handshake refused: openITCOCKPIT session of another user'), 'the cross-user attempt is a warning');
  t.notOk(JSON.stringify(lines).includes('secret'), 'no cookie in any log line');

  // And so user 7's browser never sees user 8's notifications.
  const seven = await openModern(gw, 7, browser(SEVEN));
  const eight = await openModern(gw, 8, browser(EIGHT));
  t.teardown(async () => { await seven.close(); await eight.close(); });
  t.equal((await postMessage(gw, hostMessage({ userId: 8, output: 'for eight' }))).status, 200);
  t.equal((await eight.nextJson()).message, 'for eight');
  t.equal((await postMessage(gw, hostMessage({ userId: 7, output: 'for seven' }))).status, 200);
  t.equal((await seven.nextJson()).message, 'for seven', 'user 7 got only its own');
  t.equal(web.requestsFor('sid-seven-secret'), 1, 'one request for all of user 7\'s upgrades: the rest came from the cache');
});

t.test('a signed token binds the user itself: no cookie needed, and it cannot be used for another user', async (t) => {
  const gw = await startTestGateway({ config: bound({}, { mode: 'both', secrets: [SECRET] }) });
  t.teardown(() => gw.close());
  const token = mintToken(8, Math.floor(Date.now() / 1000) + 3600, SECRET);
  t.equal((await tryHandshake(gw, '/?userId=8&browserUuid=b', proto(token), browser(undefined))).status, 101);
  t.equal((await tryHandshake(gw, '/?userId=7&browserUuid=b', proto(token), browser(SEVEN))).status, 401);
});

t.test('legacy generation: the cookie of user 7 registers as 7; registering as 8, or without a session, closes with 4005', async (t) => {
  const { logger, lines } = capturedLogger('debug');
  const gw = await startTestGateway({ config: bound(), logger });
  t.teardown(() => gw.close());
  const seven = await openLegacy(gw, { headers: browser(SEVEN) });
  t.teardown(() => seven.close());
  seven.register(7, 'browser-7');
  seven.keepAlive();
  t.equal(await seven.client.next(), PONG);

  const thief = await openLegacy(gw, { headers: browser(SEVEN) });
  thief.register(8, 'browser-7');
  t.same(await thief.client.closed, { code: LegacyCloseCodes.sessionMismatch, reason: 'session belongs to another user' });
  t.equal(gw.registry.toUser(8).length, 0, 'never routed as user 8');
  const res = await postMessage(gw, hostMessage({ userId: 8 }));
  t.equal(res.status, 202, 'user 8 has no socket at all');
  t.ok(lines.some((l) => l.level === 40 && l.msg === 'legacy register refused: openITCOCKPIT session of another user' && l.user === 8
    && l.reason === 'session belongs to user 7, not 8'));

  for (const cookie of [sessionCookie('logged-out'), undefined]) {
    const anonymous = await openLegacy(gw, { headers: browser(cookie) });
    anonymous.register(7, 'browser-x');
    t.same(await anonymous.client.closed, { code: LegacyCloseCodes.sessionMismatch, reason: 'no logged-in openITCOCKPIT session' });
  }
  t.match(gw.session?.stats.checks, { 'other-user': 1, 'not-logged-in': 2 });

  // Without the key nothing is asked: the session is checked only after the key.
  const before = web.requests.length;
  const keyless = await openLegacy(gw, { headers: browser(sessionCookie('sid-never-asked')) });
  keyless.register(7, 'browser-y', { key: 'wrong-key-0123456789abcdef' });
  t.equal((await keyless.client.closed).code, LegacyCloseCodes.unauthorized);
  t.equal(web.requests.length, before, 'openITCOCKPIT was not asked for a socket without the key');
  t.notOk(JSON.stringify(lines).includes('secret'), 'no cookie in any log line');

  t.equal((await postMessage(gw, hostMessage({ userId: 7, output: 'mine' }))).status, 200);
  t.match(await seven.client.next(), /^\{"type":"message","message":"mine",/);
});

t.test('a forged Origin is refused 403 for both generations, even with a good cookie', async (t) => {
  const gw = await startTestGateway({ config: bound() });
  t.teardown(() => gw.close());
  const before = web.requests.length;
  const modern = await tryHandshake(gw, '/?userId=7&browserUuid=b', proto(), browser(SEVEN, 'https://evil.example'));
  t.same([modern.status, modern.body], [403, 'Origin not allowed']);
  const legacy = await tryHandshake(gw, '/push_notifications', undefined, browser(SEVEN, 'https://evil.example'));
  t.same([legacy.status, legacy.body], [403, 'Origin not allowed']);
  t.equal(gw.stats.limitRefusals.origin, 2);
  t.equal(web.requests.length, before, 'refused before openITCOCKPIT is asked');
});

t.test('the session is asked at the configured base URL, whatever Host the upgrade carries', async (t) => {
  web.sessions.set('sid-host-check', 7);
  const gw = await startTestGateway({ config: bound() });
  t.teardown(() => gw.close());
  const before = web.requests.length;
  const r = await tryHandshake(gw, '/?userId=7&browserUuid=b', proto(), { ...browser(sessionCookie('sid-host-check')), Host: 'evil.example:443' });
  t.equal(r.status, 101);
  const asked = web.requests.slice(before);
  t.equal(asked.length, 1);
  t.equal(asked[0]!.headers.host, `127.0.0.1:${web.port}`);
});

t.test('openITCOCKPIT down with onUnavailable refuse: the newer generation gets 503, a legacy register 4008, counted', async (t) => {
  const gw = await startTestGateway({ config: bound() });
  t.teardown(() => gw.close());
  await web.stop();
  t.teardown(() => web.start());
  web.sessions.set('sid-down', 7);
  const cookie = sessionCookie('sid-down');
  const modern = await tryHandshake(gw, '/?userId=7&browserUuid=b', proto(), browser(cookie));
  t.same([modern.status, modern.body], [503, 'Session check unavailable']);
  const legacy = await openLegacy(gw, { headers: browser(cookie) });
  legacy.register(7, 'b');
  t.same(await legacy.client.closed, { code: LegacyCloseCodes.sessionUnavailable, reason: 'session check unavailable' });
  t.equal(gw.session?.stats.checks['unavailable-refused'], 2);
  t.equal(gw.stats.handshakesRejected['503'], 1);
});

t.test('openITCOCKPIT down with onUnavailable key-only: the key alone decides, logged and counted', async (t) => {
  const { logger, lines } = capturedLogger();
  const gw = await startTestGateway({ config: bound({ onUnavailable: 'key-only' }), logger });
  t.teardown(() => gw.close());
  await web.stop();
  t.teardown(() => web.start());
  web.sessions.set('sid-down-2', 7);
  const cookie = sessionCookie('sid-down-2');
  t.equal((await tryHandshake(gw, '/?userId=8&browserUuid=b', proto(), browser(cookie))).status, 101, 'not checkable: accepted on the key');
  const legacy = await openLegacy(gw, { headers: browser(cookie) });
  t.teardown(() => legacy.close());
  legacy.register(8, 'b');
  legacy.keepAlive();
  t.equal(await legacy.client.next(), PONG, 'the legacy register is accepted on the key too');
  t.equal(gw.session?.stats.checks['unavailable-key-only'], 2);
  t.ok(lines.some((l) => l.level === 40 && /accepted on the API key alone/.test(l.msg)));
  t.notOk(JSON.stringify(lines).includes('sid-down-2'));
});

t.test('a slow openITCOCKPIT counts as unavailable after timeoutMs', async (t) => {
  const gw = await startTestGateway({ config: bound({ timeoutMs: 1000 }) });
  t.teardown(() => gw.close());
  web.slowMs = 4000;
  t.teardown(() => { web.slowMs = 0; });
  web.sessions.set('sid-slow', 7);
  const r = await tryHandshake(gw, '/?userId=7&browserUuid=b', proto(), browser(sessionCookie('sid-slow')));
  t.equal(r.status, 503);
});

t.test('/events with the API key needs the session of the same user', async (t) => {
  const input = { ...bound(), events: { enabled: true } };
  const { logger } = capturedLogger();
  const gw = await startTestGateway({ config: input, logger });
  t.teardown(() => gw.close());
  const get = (userId: number, cookie: string | undefined) => httpRequest(`${gw.url}/events?userId=${userId}&browserUuid=b`, {
    headers: { 'X-Api-Key': TEST_API_KEY, Origin: ORIGIN, ...(cookie ? { Cookie: cookie } : {}) },
  });
  const other = await get(8, SEVEN);
  t.same([other.status, other.body], [403, 'Forbidden\n']);
  const none = await get(7, undefined);
  t.same([none.status, none.body], [401, 'Unauthorized\n']);
  // A good one streams: read its headers and let it go.
  const ok = await new Promise<number>((resolve, reject) => {
    import('node:http').then(({ request }) => {
      const req = request(`${gw.url}/events?userId=7&browserUuid=b`, { headers: { 'X-Api-Key': TEST_API_KEY, Origin: ORIGIN, Cookie: SEVEN } }, (res) => {
        resolve(res.statusCode ?? 0);
        req.destroy();
      });
      req.on('error', reject);
      req.end();
    }, reject);
  });
  t.equal(ok, 200);
});

t.test('pushgate check\'s synthetic user needs no session (auth.openitcockpitSession.exemptUserIds), real users still do', async (t) => {
  const gw = await startTestGateway({ config: bound() });
  t.teardown(() => gw.close());
  t.same(parseConfig({}).auth.openitcockpitSession.exemptUserIds, [DEFAULT_CHECK_USER_ID], 'the check\'s default user is exempt by default');
  const r = await runCheck({ url: gw.url, apiKey: TEST_API_KEY, hostUuid: HOST_UUID });
  t.equal(r.code, CheckStatus.ok, r.line);
  t.equal(gw.session?.stats.checks.exempt, 1);
  t.equal((await tryHandshake(gw, '/?userId=7&browserUuid=b', proto(), browser(undefined))).status, 401, 'user 7 still needs its session');
});
