/**
 * Session binding's lookups against a real HTTPS stand-in for openITCOCKPIT
 * (fixtures/oitc-web.ts): which user a cookie belongs to, 401 as "not logged
 * in", the cache (per cookie hash, bounded, expiring), slow / failing / down
 * as "unavailable", TLS verified against `caFile` and `serverName`, and the
 * cookie never in a log line.
 */
import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { MAX_IN_FLIGHT, OpenItcockpitSession, PUSH_CONFIGURATION_PATH, userIdOf } from '../../src/auth/openitcockpit-session.js';
import { parseConfig, type ConfigInput } from '../../src/config.js';
import { startOitcWeb, sessionCookie, type OitcWeb } from '../fixtures/oitc-web.js';
import { capturedLogger, silentLogger } from '../helpers.js';

type SessionInput = NonNullable<NonNullable<ConfigInput['auth']>['openitcockpitSession']>;

function sessionConfig(web: OitcWeb, extra: SessionInput = {}) {
  return parseConfig({
    auth: { allowedOrigins: ['https://oitc.test'], openitcockpitSession: { enabled: true, baseUrl: web.url, caFile: web.caFile, ...extra } },
  }).auth.openitcockpitSession;
}

const web = await startOitcWeb({ 'sess-seven': 7, 'sess-eight': 8 });
t.teardown(() => web.close());

t.test('a logged-in cookie names its user; a check of another user is refused 403, of no session 401', async (t) => {
  const s = new OpenItcockpitSession(sessionConfig(web), silentLogger());
  t.teardown(() => s.close());
  t.same(await s.lookup(sessionCookie('sess-seven')), { kind: 'user', userId: 7 });
  t.same(await s.check(sessionCookie('sess-seven'), 7), { ok: true, userId: 7 });
  const other = await s.check(sessionCookie('sess-seven'), 8);
  t.match(other, { ok: false, status: 403, body: 'Forbidden', reason: 'session belongs to user 7, not 8' });
  t.match(await s.check(sessionCookie('nobody'), 7), { ok: false, status: 401, body: 'Unauthorized' });
  t.match(await s.check(undefined, 7), { ok: false, status: 401, reason: /no Cookie header/ });
  t.same(await s.check(sessionCookie('sess-eight'), 8), { ok: true, userId: 8 });
  t.same(s.stats.checks, { match: 2, 'other-user': 1, 'not-logged-in': 2 });
});

t.test('the request goes to the configured base URL with the browser\'s Cookie only, never another Host', async (t) => {
  const s = new OpenItcockpitSession(sessionConfig(web), silentLogger());
  t.teardown(() => s.close());
  const before = web.requests.length;
  await s.lookup(sessionCookie('sess-seven', 'other=1'));
  const req = web.requests[before]!;
  t.equal(req.method, 'GET');
  t.equal(req.url, PUSH_CONFIGURATION_PATH);
  t.equal(req.url, '/angular/push_configuration.json?angular=true');
  t.equal(req.headers.host, `127.0.0.1:${web.port}`);
  t.equal(req.headers.cookie, 'other=1; CAKEPHP=sess-seven');
  t.equal(req.headers.authorization, undefined);
  t.equal(req.headers['x-forwarded-host'], undefined);
});

t.test('a base URL with a path prefix keeps it', async (t) => {
  const s = new OpenItcockpitSession(sessionConfig(web, { baseUrl: `${web.url}/oitc/` }), silentLogger());
  t.teardown(() => s.close());
  const before = web.requests.length;
  const found = await s.lookup(sessionCookie('sess-seven'));
  t.equal(web.requests[before]!.url, '/oitc/angular/push_configuration.json?angular=true');
  t.match(found, { kind: 'unavailable', reason: 'openITCOCKPIT answered 404' }, 'the stand-in has no such prefix: 404 is a broken setup, not a logout');
});

t.test('answers are cached per cookie until they expire: logged in for cacheTtlMs, not logged in for anonymousCacheTtlMs', async (t) => {
  let now = 1_000_000;
  const s = new OpenItcockpitSession(sessionConfig(web, { cacheTtlMs: 1000, anonymousCacheTtlMs: 100 }), silentLogger(), () => now);
  t.teardown(() => s.close());
  web.sessions.set('sess-cache', 7);
  const cookie = sessionCookie('sess-cache');
  await s.check(cookie, 7);
  await s.check(cookie, 7);
  t.equal(web.requestsFor('sess-cache'), 1, 'the second check was answered from the cache');
  t.equal(s.stats.cacheHits, 1);
  now += 999;
  await s.check(cookie, 7);
  t.equal(web.requestsFor('sess-cache'), 1, 'still cached just before cacheTtlMs');
  web.sessions.delete('sess-cache'); // logged out in openITCOCKPIT
  now += 2;
  t.match(await s.check(cookie, 7), { ok: false, status: 401 }, 'after cacheTtlMs the logout is seen');
  t.equal(web.requestsFor('sess-cache'), 2);
  web.sessions.set('sess-cache', 7); // logged in again with the same id
  now += 50;
  t.match(await s.check(cookie, 7), { ok: false, status: 401 }, 'the 401 is cached for anonymousCacheTtlMs');
  now += 51;
  t.match(await s.check(cookie, 7), { ok: true, userId: 7 });
  t.equal(web.requestsFor('sess-cache'), 3);
});

t.test('the cache holds at most cacheSize cookies, by hash, the oldest leaving first', async (t) => {
  const { logger, lines } = capturedLogger('trace');
  const s = new OpenItcockpitSession(sessionConfig(web, { cacheSize: 2 }), logger);
  t.teardown(() => s.close());
  for (const id of ['c1', 'c2', 'c3']) web.sessions.set(id, 7);
  for (const id of ['c1', 'c2', 'c3']) await s.lookup(sessionCookie(id));
  t.equal(s.cacheSize, 2);
  await s.lookup(sessionCookie('c3'));
  await s.lookup(sessionCookie('c2'));
  t.equal(web.requestsFor('c2') + web.requestsFor('c3'), 2, 'the two newest are cached');
  await s.lookup(sessionCookie('c1'));
  t.equal(web.requestsFor('c1'), 2, 'the oldest was evicted and asked again');
  t.equal(s.cacheSize, 2, 'still bounded');
  for (let i = 0; i < 50; i++) await s.lookup(sessionCookie(`unknown-${i}`));
  t.equal(s.cacheSize, 2, 'not-logged-in answers are bounded by the same cache');
  t.notOk(JSON.stringify(lines).includes('c1'), 'no cookie in any log line');
});

t.test('concurrent checks of one cookie share one request', async (t) => {
  const s = new OpenItcockpitSession(sessionConfig(web), silentLogger());
  t.teardown(() => s.close());
  web.sessions.set('sess-burst', 9);
  web.slowMs = 100;
  t.teardown(() => { web.slowMs = 0; });
  const all = await Promise.all(Array.from({ length: 20 }, () => s.check(sessionCookie('sess-burst'), 9)));
  t.ok(all.every((v) => v.ok));
  t.equal(web.requestsFor('sess-burst'), 1);
});

t.test(`at most ${MAX_IN_FLIGHT} distinct cookies are asked at once; more are "unavailable" at once, not queued`, async (t) => {
  const s = new OpenItcockpitSession(sessionConfig(web, { timeoutMs: 20_000 }), silentLogger());
  t.teardown(() => s.close());
  web.slowMs = 50;
  t.teardown(() => { web.slowMs = 0; });
  const before = web.requests.length;
  const answers = await Promise.all(Array.from({ length: MAX_IN_FLIGHT + 4 }, (_, i) => s.lookup(sessionCookie(`flood-${i}`))));
  const refused = answers.filter((a) => a.kind === 'unavailable' && a.reason === `${MAX_IN_FLIGHT} session checks already in flight`);
  t.equal(refused.length, 4);
  t.equal(web.requests.length - before, MAX_IN_FLIGHT, 'only the first ones reached openITCOCKPIT');
  t.ok(answers.slice(0, MAX_IN_FLIGHT).every((a) => a.kind === 'anonymous'), 'they were answered (401: no such sessions)');
});

t.test('slow, failing, nonsense and down are "unavailable", never cached, and logged once per outage without the cookie', async (t) => {
  const { logger, lines } = capturedLogger('trace');
  // Generous: on a loaded 2-core machine a fresh TLS connection alone can take a few hundred ms.
  const s = new OpenItcockpitSession(sessionConfig(web, { timeoutMs: 1500 }), logger);
  t.teardown(() => s.close());
  const cookie = sessionCookie('sess-seven');

  web.slowMs = 5000;
  const started = Date.now();
  t.match(await s.lookup(cookie), { kind: 'unavailable', reason: 'no answer within timeoutMs' });
  t.ok(Date.now() - started < 5000, 'gave up at timeoutMs, before the answer came');
  web.slowMs = 0;

  web.status = 500;
  t.match(await s.lookup(cookie), { kind: 'unavailable', reason: 'openITCOCKPIT answered 500' });
  web.status = 302;
  t.match(await s.lookup(cookie), { kind: 'unavailable', reason: 'openITCOCKPIT answered 302' });
  web.status = undefined;

  await web.stop();
  t.match(await s.lookup(cookie), { kind: 'unavailable', reason: /ECONNREFUSED/ });
  await web.start();
  t.same(await s.lookup(cookie), { kind: 'user', userId: 7 }, 'nothing of the outage was cached');

  const warnings = lines.filter((l) => l.msg === 'openITCOCKPIT session check failed');
  t.equal(warnings.length, 1, 'one warning for the whole outage');
  t.ok(lines.some((l) => l.msg === 'openITCOCKPIT session check answers again'));
  t.notOk(JSON.stringify(lines).includes('sess-seven'), 'the cookie is never logged');
  t.same(s.stats.requests, { unavailable: 4, user: 1 });
});

t.test('userIdOf takes user.id > 0 (a number, or digits) and nothing else', async (t) => {
  t.equal(userIdOf({ user: { id: 7, hasPushContact: true } }), 7);
  t.equal(userIdOf({ user: { id: '12' } }), 12);
  for (const bad of [{}, { user: {} }, { user: { id: 0 } }, { user: { id: -1 } }, { user: { id: 1.5 } }, { user: { id: '7a' } }, null, []]) {
    t.type(userIdOf(bad), 'string', JSON.stringify(bad));
  }
});

t.test('TLS is verified: an untrusted certificate or a wrong serverName is "unavailable"; the right serverName verifies', async (t) => {
  const untrusted = new OpenItcockpitSession(sessionConfig(web, { caFile: undefined }), silentLogger());
  t.teardown(() => untrusted.close());
  t.match(await untrusted.lookup(sessionCookie('sess-seven')), { kind: 'unavailable', reason: /self[- ]signed|certificate/i });

  const wrongName = new OpenItcockpitSession(sessionConfig(web, { serverName: 'elsewhere.test' }), silentLogger());
  t.teardown(() => wrongName.close());
  t.match(await wrongName.lookup(sessionCookie('sess-seven')), { kind: 'unavailable', reason: /altnames|ERR_TLS_CERT_ALTNAME_INVALID|Hostname/i });

  const rightName = new OpenItcockpitSession(sessionConfig(web, { serverName: 'oitc.test' }), silentLogger());
  t.teardown(() => rightName.close());
  t.same(await rightName.lookup(sessionCookie('sess-seven')), { kind: 'user', userId: 7 });
});

t.test('a missing or certificate-less caFile stops the start with GW_ERR_CONFIG naming it', async (t) => {
  const missing = join(tmpdir(), 'pushgate-no-such-ca.pem');
  t.throws(() => new OpenItcockpitSession(sessionConfig(web, { caFile: missing }), silentLogger()), { code: 'GW_ERR_CONFIG', message: new RegExp(missing.replaceAll('.', '\\.')) });
  const empty = join(tmpdir(), `pushgate-empty-ca-${process.pid}.pem`);
  writeFileSync(empty, 'not a certificate\n');
  t.teardown(() => { try { writeFileSync(empty, ''); } catch { /* gone */ } });
  t.throws(() => new OpenItcockpitSession(sessionConfig(web, { caFile: empty }), silentLogger()), { code: 'GW_ERR_CONFIG', message: /holds no PEM certificate/ });
});

t.test('config: session binding needs a base URL and the Origin allow-list; the URL must be plain http(s)', async (t) => {
  const fails = (input: unknown, re: RegExp, what: string): void => {
    t.throws(() => parseConfig(input), { code: 'GW_ERR_CONFIG', message: re }, what);
  };
  fails({ auth: { openitcockpitSession: { enabled: true, baseUrl: 'https://127.0.0.1' } } }, /auth\.allowedOrigins: auth\.openitcockpitSession\.enabled needs auth\.allowedOrigins/, 'no allow-list');
  fails({ auth: { allowedOrigins: ['https://oitc.test'], openitcockpitSession: { enabled: true } } }, /auth\.openitcockpitSession\.baseUrl: .*needs auth\.openitcockpitSession\.baseUrl/, 'no base URL');
  for (const bad of ['ftp://x', 'https://x/?a=1', 'https://u:p@x', 'not a url', 'https://x/#f']) {
    fails({ auth: { openitcockpitSession: { baseUrl: bad } } }, /auth\.openitcockpitSession\.baseUrl: expected an http\(s\) URL/, bad);
  }
  fails({ auth: { openitcockpitSession: { onUnavailable: 'allow' } } }, /auth\.openitcockpitSession\.onUnavailable/, 'unknown outcome');
  const ok = parseConfig({ auth: { allowedOrigins: ['https://oitc.test'], openitcockpitSession: { enabled: true, baseUrl: 'https://127.0.0.1' } } });
  t.equal(ok.auth.openitcockpitSession.onUnavailable, 'refuse', 'refuse by default');
  t.equal(parseConfig({}).auth.openitcockpitSession.enabled, false, 'off by default');
});
