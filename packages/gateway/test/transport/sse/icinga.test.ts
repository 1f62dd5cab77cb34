import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { pino } from 'pino';
import { parseConfig } from '../../../src/config.js';
import { ICINGA_SQL, resolveIcingaDatabase } from '../../../src/directory/icinga.js';
import { numberPlaceholders } from '../../../src/directory/sql/pgsql.js';
import { IcingaDedupe } from '../../../src/sources/icinga-dedupe.js';
import { icingaFrame, rfc3339Ms } from '../../../src/transport/sse/icinga-frame.js';
import { icingaConnection, isIcingaSubscribePath } from '../../../src/transport/sse/icinga.js';
import { icingaService, startIcingaService } from '../../icinga-pipeline.js';
import { createIcingaFixture, ICINGA_VARIANTS, icingaSkip, type IcingaFixture, type IcingaVariant, variantName } from '../../fixtures/icinga.js';
import { capturedLogger, startTestGateway } from '../../helpers.js';
import { subscribe, until } from '../../sse-client.js';
import { startTcpProxy } from '../../tcp-proxy.js';

const UA = 'Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0';
const UA2 = 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/130.0';
const PATH = '/icingaweb2/notifications/v1/subscribe';
/** 2024-05-01T12:00:00.123Z */
const T0 = Date.UTC(2024, 4, 1, 12, 0, 0, 123);

t.test('the subscribe route matches exactly the paths ending in /notifications/v<N>/subscribe', async (t) => {
  t.ok(isIcingaSubscribePath('/icingaweb2/notifications/v1/subscribe'));
  t.ok(isIcingaSubscribePath('/notifications/v12/subscribe'));
  t.notOk(isIcingaSubscribePath('/notifications/v1/subscribe/'));
  t.notOk(isIcingaSubscribePath('/notifications/vx/subscribe'));
  t.notOk(isIcingaSubscribePath('/notifications/v1/subscribed'));
});

t.test('an icinga2.notification event is framed byte for byte as Icinga sends it, plus id', async (t) => {
  t.equal(rfc3339Ms(T0), '2024-05-01T12:00:00.123+00:00');
  const frame = icingaFrame({ id: 7, time: T0, incidentId: 3, severity: 'crit', title: 'web-01!HTTP', message: 'HTTP CRITICAL - 500' }, 3000);
  t.equal(frame.toString('utf8'),
    'event: icinga2.notification\n' +
    'data: {"time":"2024-05-01T12:00:00.123+00:00","payload":{"incident_id":3,"severity":"crit","title":"web-01!HTTP","message":"HTTP CRITICAL - 500"}}\n' +
    'id: 7\n' +
    'retry: 3000\n\n');
  t.equal(icingaFrame({ id: 8, time: T0, incidentId: 3, severity: 'ok', title: 'web-01', message: null }, 3000).toString(),
    'event: icinga2.notification\n' +
    'data: {"time":"2024-05-01T12:00:00.123+00:00","payload":{"incident_id":3,"severity":"ok","title":"web-01","message":null}}\n' +
    'id: 8\n' +
    'retry: 3000\n\n', 'a missing history message is null');
});

t.test('the icinga config section is off by default and needs a database when enabled', async (t) => {
  const c = parseConfig({});
  t.equal(c.icinga.enabled, false);
  t.equal(c.icinga.pollIntervalMs, 3000);
  t.equal(c.icinga.keepAliveFirstMs, 1000);
  t.equal(c.icinga.keepAliveMs, 30000);
  t.equal(c.icinga.maxStreamsPerBrowser, 2);
  t.equal(c.icinga.sessionMaxAgeMs, 86_400_000);
  t.throws(() => parseConfig({ icinga: { enabled: true } }), { code: 'GW_ERR_CONFIG', message: /icinga/ });
  t.throws(() => parseConfig({ icinga: { pollIntervalMS: 5 } }), { code: 'GW_ERR_CONFIG', message: /pollIntervalMS/ });
});

t.test('icinga.database: type mysql or pgsql with its default port, or a URL whose scheme picks the type', async (t) => {
  const db = (database: unknown) => resolveIcingaDatabase(parseConfig({ icinga: { enabled: true, database } }).icinga.database!);
  t.same(db({ user: 'icinga' }), { type: 'mysql', host: 'localhost', port: 3306, user: 'icinga', password: '', database: 'notifications' });
  t.same(db({ type: 'pgsql', user: 'icinga', password: 'pw' }), { type: 'pgsql', host: 'localhost', port: 5432, user: 'icinga', password: 'pw', database: 'notifications' });
  t.same(db({ type: 'pgsql', host: 'db', port: 6432, user: 'u', database: 'n', socket: '/run/postgresql' }),
    { type: 'pgsql', host: 'db', port: 6432, user: 'u', password: '', database: 'n', socket: '/run/postgresql' });
  t.same(db({ url: 'pgsql://icinga:s%40cret@db.example:5433/notif' }),
    { type: 'pgsql', host: 'db.example', port: 5433, user: 'icinga', password: 's@cret', database: 'notif' });
  t.same(db({ url: 'postgresql://icinga@db.example/notif' }), { type: 'pgsql', host: 'db.example', port: 5432, user: 'icinga', password: '', database: 'notif' });
  t.same(db({ url: 'postgres://icinga@db.example', password: 'pw' }), { type: 'pgsql', host: 'db.example', port: 5432, user: 'icinga', password: 'pw', database: 'notifications' });
  t.same(db({ url: 'mariadb://icinga:pw@127.0.0.1/notif' }), { type: 'mysql', host: '127.0.0.1', port: 3306, user: 'icinga', password: 'pw', database: 'notif' });
  t.same(db({ url: 'mysql://icinga@localhost/notif?socket=/run/mysqld/mysqld.sock' }),
    { type: 'mysql', host: 'localhost', port: 3306, user: 'icinga', password: '', database: 'notif', socket: '/run/mysqld/mysqld.sock' });
  t.same(await icingaConnection(parseConfig({ icinga: { enabled: true, database: { url: 'pgsql://u@h/d' } } }).icinga),
    { type: 'pgsql', host: 'h', port: 5432, user: 'u', password: '', database: 'd' }, 'startIcinga resolves the same way');
  const bad = (database: unknown, message: RegExp) =>
    t.throws(() => parseConfig({ icinga: { enabled: true, database } }), { code: 'GW_ERR_CONFIG', message });
  bad({ type: 'oracle', user: 'u' }, /icinga\.database\.type: /);
  bad({ host: 'db' }, /icinga\.database\.user: required \(or give icinga\.database\.url\)/);
  bad({ url: 'redis://u@h/d' }, /icinga\.database\.url: expected a mysql:\/\/, mariadb:\/\/, pgsql:\/\/, postgres:\/\/ or postgresql:\/\/ URL/);
  bad({ url: 'pgsql://u@h/d', host: 'other', port: 5 }, /icinga\.database\.url: give either url or host\/port, not both/);
  bad({ url: 'pgsql://u@h/d', type: 'mysql' }, /icinga\.database\.type: mysql contradicts the url's scheme pgsql:/);
  bad({ url: 'pgsql://h/d' }, /icinga\.database\.url: names no user/);
  bad({ url: 'pgsql://u:p@h/d', password: 'q' }, /icinga\.database\.password: the url has a password already/);
  bad({ url: 'pgsql://u@h/d', paswsord: 'q' }, /icinga\.database: unknown key\(s\) "paswsord"/);
});

t.test('? placeholders are numbered for PostgreSQL, leaving quoted text alone', async (t) => {
  t.equal(numberPlaceholders("SELECT '?', \"a?\" FROM t WHERE a = ? AND b IN (?) LIMIT ?"), "SELECT '?', \"a?\" FROM t WHERE a = $1 AND b IN ($2) LIMIT $3");
  t.equal(numberPlaceholders(ICINGA_SQL.contact), "SELECT id FROM contact WHERE username = $1 AND deleted = 'n'");
});

t.test('startIcinga returns nothing when disabled', async (t) => {
  t.equal(await startIcingaService(parseConfig({}).icinga, pino({ level: 'silent' })), undefined);
});

t.test('when the database is unreachable a subscription gets 503 and polls are counted as failed, not thrown', async (t) => {
  const config = parseConfig({
    icinga: { enabled: true, database: { host: '127.0.0.1', port: 1, user: 'nobody' }, queryTimeoutMs: 2000, keepAliveFirstMs: 600_000 },
  }).icinga;
  const svc = await icingaService({ config, connection: resolveIcingaDatabase(config.database!), logger: pino({ level: 'silent' }) });
  t.teardown(() => svc.close());
  const port = await svc.listen('127.0.0.1', 0);
  const c = await subscribe(`http://127.0.0.1:${port}${PATH}`, { Cookie: 'Icingaweb2=x', 'User-Agent': UA });
  await c.ended;
  t.equal(c.status, 503);
  t.equal(c.headers['retry-after'], '3');
  await svc.poller.pollOnce();
  t.equal(svc.poller.stats.pollErrors, 1);
});

t.test('with auth.allowedOrigins set, a subscription from an unlisted Origin gets 403 before any session lookup', async (t) => {
  const config = parseConfig({
    icinga: { enabled: true, database: { host: '127.0.0.1', port: 1, user: 'nobody' }, queryTimeoutMs: 2000, keepAliveFirstMs: 600_000 },
  }).icinga;
  const svc = await icingaService({
    config, connection: resolveIcingaDatabase(config.database!), logger: pino({ level: 'silent' }), allowedOrigins: ['https://icinga.example.com'],
  });
  t.teardown(() => svc.close());
  const port = await svc.listen('127.0.0.1', 0);
  const url = `http://127.0.0.1:${port}${PATH}`;
  const headers = { Cookie: 'Icingaweb2=x', 'User-Agent': UA };
  const foreign = await subscribe(url, { ...headers, Origin: 'https://evil.example.net' });
  await foreign.ended;
  t.equal(foreign.status, 403);
  t.equal(svc.stats.answers['403'], 1);
  // A listed Origin, and a request without one (not from a web page), reach the session check
  // (503 here: the database is unreachable).
  for (const extra of [{ Origin: 'https://icinga.example.com' }, {}]) {
    const c = await subscribe(url, { ...headers, ...extra });
    await c.ended;
    t.equal(c.status, 503);
  }
});


t.test('the dedupe merges one round over several channels and keeps every later notification', async (t) => {
  const d = new IcingaDedupe({ maxEntries: 100, maxAgeMs: 3_600_000, roundMs: 1000 });
  let id = 0;
  const row = (o: { contact?: number; incident?: number; channel?: number | null; time: number; message?: string | null; event?: number | null }) => ({
    id: ++id, incidentId: o.incident ?? 1, contactId: o.contact ?? 1, channelId: o.channel === undefined ? 1 : o.channel,
    eventId: o.event ?? null, time: o.time, message: o.message === undefined ? 'CRITICAL - down' : o.message,
    state: 'sent' as const, severity: 'crit', title: 'web-01',
  });
  const T = 1_700_000_000_000;
  t.equal(d.repeats(row({ time: T }), 0), false, 'the first row of a round is delivered');
  t.equal(d.repeats(row({ time: T + 2, channel: 2 }), 0), true, 'the same round on a second channel repeats it');
  t.equal(d.repeats(row({ time: T + 3, channel: 3 }), 0), true, '... and on a third');
  t.equal(d.repeats(row({ time: T + 4, contact: 2, channel: 2 }), 0), false, 'another contact of the round gets its own');
  t.equal(d.repeats(row({ time: T + 5, channel: 1 }), 0), false, 'a channel the round already had starts a new round (a re-notification)');
  t.equal(d.repeats(row({ time: T + 6, channel: 2 }), 0), true, '... which the second channel repeats');
  t.equal(d.repeats(row({ time: T + 7, channel: 3, message: 'Acknowledged by alice' }), 0), false, 'another message (an acknowledgement) is delivered');
  t.equal(d.repeats(row({ time: T + 60_000, channel: 2 }), 0), false, 'the same message a minute later is delivered (same incident, same severity)');
  t.equal(d.repeats(row({ time: T + 60_001, channel: 1 }), 0), true, '... once');
  t.equal(d.repeats(row({ incident: 3, time: T, channel: 1 }), 0), false, 'incident 3: round one on channel 1 (its channel 2 row still pending) ...');
  t.equal(d.repeats(row({ incident: 3, time: T + 60_000, channel: 1 }), 0), false, '... round two a minute later ...');
  t.equal(d.repeats(row({ incident: 3, time: T + 2, channel: 2 }), 0), true, '... then round one\'s channel 2 row is sent: it still finds its round');
  t.equal(d.repeats(row({ time: T + 8, channel: 2, message: null }), 0), false, 'a NULL message is a message of its own');
  t.equal(d.repeats(row({ time: T + 9, channel: 1, message: null }), 0), true, '... and merges with itself over channels');
  t.equal(d.repeats(row({ time: T + 10, incident: 2 }), 0), false, 'another incident is another notification');

  t.equal(d.repeats(row({ time: T, event: 7, channel: 1 }), 0), false, 'with event_id: the first row of an event is delivered');
  t.equal(d.repeats(row({ time: T + 500_000, event: 7, channel: 2 }), 0), true, 'any further row of that event repeats it, however late');
  t.equal(d.repeats(row({ time: T + 1, event: 8, channel: 1 }), 0), false, 'another event (an acknowledgement, a re-notification) is delivered');

  const small = new IcingaDedupe({ maxEntries: 2, maxAgeMs: 1000, roundMs: 1000 });
  small.repeats(row({ time: T, contact: 1 }), 0);
  small.repeats(row({ time: T, contact: 2 }), 0);
  small.repeats(row({ time: T, contact: 3 }), 0);
  t.equal(small.size, 2, 'at most maxEntries keys');
  t.equal(small.repeats(row({ time: T, contact: 1, channel: 2 }), 0), false, 'the oldest key was forgotten');
  t.equal(small.repeats(row({ time: T, contact: 3, channel: 2 }), 1001), false, 'a key older than maxAgeMs is forgotten');
  t.equal(small.size, 1);
});

for (const v of ICINGA_VARIANTS) {
  t.test(`on ${variantName(v)}`, { skip: await icingaSkip(v.dialect) }, (t) => variantSuite(t, v));
}

/** Everything the endpoint does against a real database of variant `v`. */
async function variantSuite(t: Test, v: IcingaVariant): Promise<void> {
  const fx: IcingaFixture = await createIcingaFixture(v);
  t.teardown(() => fx.drop());
  const now = Date.now();
  await fx.contact({ id: 1, username: 'alice', fullName: 'Alice' });
  await fx.contact({ id: 2, username: 'Bob', fullName: 'Bob' });
  await fx.contact({ id: 3, username: 'carol', fullName: 'Carol', deleted: true });
  await fx.contact({ id: 4, username: null, fullName: 'Dave' });
  for (const [id, username, userAgent, authenticatedAt] of [
    ['sess-alice', 'alice', UA, now - 1000],
    ['sess-alice-old', 'alice', UA, now - 60_000],
    ['sess-alice-2', 'alice', UA2, now - 1000],
    ['sess-bob', 'BOB', UA, now - 1000],
    ['sess-expired', 'bob', UA2, now - 25 * 3600_000],
    ['sess-carol', 'carol', UA, now],
    ['sess-nobody', 'nobody', UA, now],
  ] as const) await fx.session({ id, username, userAgent, authenticatedAt });
  await fx.incident({ id: 1, object: 'web-01!HTTP', severity: 'crit', startedAt: T0 });
  await fx.incident({ id: 2, object: 'web-01', severity: 'warning', startedAt: T0 });

  const config = parseConfig({
    icinga: {
      enabled: true,
      database: fx.connection,
      // Polls are driven by hand (pollOnce) for determinism; keep-alives are tested in sse.test.ts.
      pollIntervalMs: 600_000,
      keepAliveFirstMs: 600_000,
      keepAliveMs: 600_000,
    },
  }).icinga;
  const { logger, lines } = capturedLogger();
  const svc = await icingaService({ config, connection: fx.connection, logger });
  t.teardown(() => svc.close());
  const port = await svc.listen('127.0.0.1', 0);
  const url = `http://127.0.0.1:${port}${PATH}`;
  const open = (sessionId: string | undefined, ua: string | string[] | undefined, extra: Record<string, string> = {}) =>
    subscribe(url, {
      ...(sessionId !== undefined ? { Cookie: `_chc=1; Icingaweb2=${sessionId}; icingaweb2-tzo=0-0` } : {}),
      ...(ua !== undefined ? { 'User-Agent': ua } : {}),
      ...extra,
    });
  let nextId = 1;
  /** A notified row for `contact`; on the v0.2.0 schema its own event unless `event` says otherwise. */
  const history = async (contact: number, state: 'sent' | 'pending' | 'failed', opts: { incident?: number; event?: number | null; message?: string | null; channel?: number; time?: number } = {}): Promise<number> => {
    const id = nextId++;
    const event = v.generation === '0.2.0' && opts.event !== null ? opts.event ?? 10_000 + id : undefined;
    await fx.notified({
      id, incident: opts.incident ?? 1, contact, channel: opts.channel ?? 1, time: opts.time ?? T0 + id,
      message: opts.message === undefined ? `msg ${id}` : opts.message, state, ...(event !== undefined ? { event } : {}),
    });
    return id;
  };
  const frame = (id: number, incident = 1, message: string | null = `msg ${id}`, time = T0 + id): string => icingaFrame({
    id, time, incidentId: incident, severity: incident === 1 ? 'crit' : 'warning', title: incident === 1 ? 'web-01!HTTP' : 'web-01', message,
  }, 3000).toString();

  // Rows that existed before the first poll are not pushed (as Icinga's daemon).
  await history(1, 'sent');
  await svc.poller.pollOnce();
  t.equal(svc.poller.stats.pollErrors, 0, `the first poll works: ${svc.poller.lastError ?? ''}`);

  await t.test('the first poll detects the schema generation from information_schema and logs the choice', async (t) => {
    const expected = v.generation === '0.2.0' ? 'with-event-id' : 'without-event-id';
    t.equal(svc.directory.historySchema, expected);
    t.equal(svc.directory.dialect, v.dialect);
    const chosen = lines.filter((l) => l.msg.startsWith('icinga: incident_history has'));
    t.equal(chosen.length, 1, 'logged once');
    t.match(chosen[0], {
      level: 30,
      schema: expected,
      database: `${v.dialect} ${fx.connection.host}:${fx.connection.port}/${fx.connection.database}`,
      msg: v.generation === '0.2.0' ? /has event_id \(Icinga Notifications v0\.2 schema\)/ : /has no event_id \(current Icinga Notifications schema\)/,
    });
  });

  await t.test('the contact lookup is `username = ?` answered by the unique index, as Icinga Web does', async (t) => {
    // EXPLAIN the directory's own statement: a LOWER(username) comparison could not use uk_contact_username.
    if (v.dialect === 'mysql') {
      const [plan] = await fx.query(`EXPLAIN ${ICINGA_SQL.contact}`, ['ALICE']);
      t.equal(plan!.key, 'uk_contact_username', `the plan uses the unique index: ${JSON.stringify(plan)}`);
    } else {
      // On a tiny table the planner prefers a sequential scan; forbid it to see whether the index applies.
      await fx.query('SET enable_seqscan = off');
      const plan = (await fx.query(`EXPLAIN ${ICINGA_SQL.contact}`, ['ALICE'])).map((r) => String(r['QUERY PLAN'])).join('\n');
      await fx.query('RESET enable_seqscan');
      t.match(plan, /Index Scan using uk_contact_username on contact/, plan);
    }
    const [row] = await fx.query(ICINGA_SQL.contact, ['ALICE']);
    t.equal(Number(row!.id), 1, 'and it compares case-insensitively, by the schema (collation / citext)');
  });

  await t.test('every authentication failure answers 204 with an empty body', async (t) => {
    const cases: Array<[string, string | undefined, string | string[] | undefined]> = [
      ['no Icingaweb2 cookie', undefined, UA],
      ['an unknown session id', 'sess-unknown', UA],
      ['no User-Agent', 'sess-alice', undefined],
      ['two User-Agent headers', 'sess-alice', [UA, UA]],
      ['a User-Agent other than the session\'s', 'sess-alice', UA2],
      ['a User-Agent in other letter case', 'sess-alice', UA.toUpperCase()],
      ['a session superseded by a newer login of the same user and browser', 'sess-alice-old', UA],
      ['a session older than 24 h', 'sess-expired', UA2],
      ['a deleted contact', 'sess-carol', UA],
      ['a username without a contact', 'sess-nobody', UA],
      ['a session id in other letter case', 'SESS-ALICE', UA],
    ];
    for (const [what, sid, ua] of cases) {
      const c = await open(sid, ua);
      await c.ended;
      t.equal(c.status, 204, what);
      t.equal(c.text, '', `${what}: empty body`);
    }
    t.equal(svc.hub.size(), 0, 'no stream was opened');
  });

  await t.test('a valid session and User-Agent (trimmed, username case-insensitive) open the stream', async (t) => {
    const c = await open(' sess-bob ', `  ${UA}  `);
    t.teardown(() => c.close());
    t.equal(c.status, 200);
    t.equal(c.headers['content-type'], 'text/event-stream; charset=utf-8');
    t.equal(c.headers['cache-control'], 'no-cache');
    t.equal(c.headers['x-accel-buffering'], 'no');
    await until(() => svc.hub.size('2') === 1, 'the stream of contact 2 (Bob)');
  });

  await t.test('protocol versions: v1 is served, others get 400 with a one-line reason, the header wins over the path', async (t) => {
    const v2 = await subscribe(`http://127.0.0.1:${port}/icingaweb2/notifications/v2/subscribe`, { Cookie: 'Icingaweb2=sess-alice', 'User-Agent': UA });
    await v2.ended;
    t.equal(v2.status, 400);
    t.equal(v2.text, 'Bad Request: unsupported protocol version 2; this server speaks version 1\n');
    const h2 = await open('sess-alice', UA, { 'X-Icinga-Notifications-Protocol-Version': '2' });
    await h2.ended;
    t.equal(h2.status, 400, 'header 2 on a v1 path');
    const h1 = await subscribe(`http://127.0.0.1:${port}/icingaweb2/notifications/v2/subscribe`,
      { Cookie: 'Icingaweb2=sess-alice', 'User-Agent': UA, 'X-Icinga-Notifications-Protocol-Version': '1' });
    t.equal(h1.status, 200, 'header 1 on a v2 path');
    h1.close();
    const post = await subscribe(url, { Cookie: 'Icingaweb2=sess-alice', 'User-Agent': UA }, 'POST');
    await post.ended;
    t.equal(post.status, 405);
    const other = await subscribe(`http://127.0.0.1:${port}/icingaweb2/other`);
    await other.ended;
    t.equal(other.status, 404, 'the own listener serves only the subscribe path');
    await until(() => svc.hub.size('1') === 0, 'the v2-path stream to close');
  });

  await t.test('a sent row reaches its contact only, byte for byte; pending, failed and rows of other contacts do not', async (t) => {
    const alice = await open('sess-alice', UA);
    const bob = await open('sess-bob', UA);
    t.teardown(() => { alice.close(); bob.close(); });
    await until(() => svc.hub.size('1') === 1 && svc.hub.size('2') === 1, 'both streams');
    const failedBefore = svc.poller.stats.failed;
    const a1 = await history(1, 'sent', { message: 'HTTP CRITICAL - 500' });
    const failed = await history(1, 'failed');
    const b1 = await history(2, 'sent', { incident: 2, message: null });
    await svc.poller.pollOnce();
    await alice.waitFor((s) => s.length >= frame(a1, 1, 'HTTP CRITICAL - 500').length, 'alice event');
    await bob.waitFor((s) => s.length >= frame(b1, 2, null).length, 'bob event');
    t.equal(alice.text, frame(a1, 1, 'HTTP CRITICAL - 500'));
    t.equal(bob.text, frame(b1, 2, null));
    t.equal(svc.poller.stats.failed - failedBefore, 1, `failed row ${failed} counted, never pushed`);
  });

  await t.test('a row still pending behind a sent one is delivered once it is sent', async (t) => {
    const alice = await open('sess-alice', UA);
    t.teardown(() => alice.close());
    await until(() => svc.hub.size('1') === 1, 'alice stream');
    const late = await history(1, 'pending');
    const early = await history(1, 'sent');
    await svc.poller.pollOnce();
    await alice.waitFor((s) => s === frame(early), 'the sent row');
    t.same(svc.poller.pendingIds(), [late], 'the pending row is kept for re-checking');
    await svc.poller.pollOnce();
    t.equal(alice.text, frame(early), 'still pending: nothing yet');
    await fx.setState(late, 'sent');
    await svc.poller.pollOnce();
    await alice.waitFor((s) => s === frame(early) + frame(late), 'the late row');
    t.same(svc.poller.pendingIds(), []);
  });

  await t.test('a contact notified over several channels in one round gets one desktop notification', async (t) => {
    const alice = await open('sess-alice', UA);
    t.teardown(() => alice.close());
    await until(() => svc.hub.size('1') === 1, 'alice stream');
    const dupBefore = svc.poller.stats.duplicates;
    // As the daemon writes a round: one row per channel, each time taken a few ms after the last.
    const round = T0 + 500_000;
    const shared = v.generation === '0.2.0' ? { event: 900 } : {};
    const email = await history(1, 'sent', { ...shared, channel: 1, time: round, message: 'same' });
    const chat = await history(1, 'pending', { ...shared, channel: 2, time: round + 3, message: 'same' });
    const pager = await history(1, 'sent', { ...shared, channel: 3, time: round + 4, message: 'same' });
    await svc.poller.pollOnce();
    await fx.setState(chat, 'sent');
    await svc.poller.pollOnce();
    const next = await history(1, 'sent');
    await svc.poller.pollOnce();
    await alice.waitFor((s) => s.endsWith(frame(next)), 'the next event');
    t.equal(alice.text, frame(email, 1, 'same', round) + frame(next), `rows ${chat} and ${pager} of the other channels were not pushed again`);
    t.equal(svc.poller.stats.duplicates - dupBefore, 2, 'counted as duplicates');
  });

  await t.test('a later notification of the same incident and severity is delivered: acknowledgement, re-notification', async (t) => {
    const alice = await open('sess-alice', UA);
    t.teardown(() => alice.close());
    await until(() => svc.hub.size('1') === 1, 'alice stream');
    const at = T0 + 900_000;
    // All rows of incident 1 (severity crit, unchanged): the problem, then what the daemon sends later.
    const problem = await history(1, 'sent', { time: at, message: 'HTTP CRITICAL - 503' });
    const ack = await history(1, 'sent', { time: at + 20, message: 'Acknowledged by alice: on it' });
    const renotify = await history(1, 'sent', { time: at + 600_000, message: 'HTTP CRITICAL - 503' });
    const renotifyFast = await history(1, 'sent', { time: at + 600_010, message: 'HTTP CRITICAL - 503' });
    await svc.poller.pollOnce();
    const expected = frame(problem, 1, 'HTTP CRITICAL - 503', at) + frame(ack, 1, 'Acknowledged by alice: on it', at + 20) +
      frame(renotify, 1, 'HTTP CRITICAL - 503', at + 600_000) + frame(renotifyFast, 1, 'HTTP CRITICAL - 503', at + 600_010);
    await alice.waitFor((s) => s === expected, 'four events');
    t.equal(alice.text, expected, 'each one pushed, in order (the last one reached channel 1 again: a new round)');
  });

  await t.test('a reconnect with Last-Event-ID replays the events the browser missed', async (t) => {
    const first = await open('sess-alice', UA);
    await until(() => svc.hub.size('1') === 1, 'alice stream');
    const seen = await history(1, 'sent');
    await svc.poller.pollOnce();
    await first.waitFor((s) => s === frame(seen), 'first event');
    first.close();
    await until(() => svc.hub.size('1') === 0, 'the server to notice the close');
    const missed1 = await history(1, 'sent');
    const missed2 = await history(1, 'sent', { incident: 2 });
    await svc.poller.pollOnce();
    const again = await open('sess-alice', UA, { 'Last-Event-ID': String(seen) });
    t.teardown(() => again.close());
    await again.waitFor((s) => s === frame(missed1) + frame(missed2, 2), 'the missed events');
    t.equal(again.text, frame(missed1) + frame(missed2, 2));
  });

  await t.test('a third stream of one browser gets 204; the standby takes over when the first closes', async (t) => {
    const a = await open('sess-alice', UA);
    await until(() => svc.hub.size('1') === 1, 'first stream');
    const b = await open('sess-alice', UA);
    t.teardown(() => { a.close(); b.close(); });
    await until(() => svc.hub.size('1') === 2, 'second stream');
    const c = await open('sess-alice', UA);
    await c.ended;
    t.equal(c.status, 204);
    const other = await open('sess-alice-2', UA2);
    t.teardown(() => other.close());
    t.equal(other.status, 200, 'the same contact in another browser');
    await until(() => svc.hub.size('1') === 3, 'third stream');
    const e1 = await history(1, 'sent');
    await svc.poller.pollOnce();
    await a.waitFor((s) => s === frame(e1), 'event on the first stream');
    await other.waitFor((s) => s === frame(e1), 'event in the other browser');
    a.close();
    await until(() => svc.hub.size('1') === 2, 'the first stream to close');
    const e2 = await history(1, 'sent');
    await svc.poller.pollOnce();
    await b.waitFor((s) => s === frame(e2), 'the standby got the next event only');
    t.equal(b.text, frame(e2));
  });

  await t.test('the poll timer delivers without being driven', async (t) => {
    const fast = await icingaService({ config: { ...config, pollIntervalMs: 20 }, connection: fx.connection, logger: pino({ level: 'silent' }) });
    t.teardown(() => fast.close());
    const p = await fast.listen('127.0.0.1', 0);
    fast.start();
    await until(() => fast.poller.stats.polls >= 2, 'two polls');
    const c = await subscribe(`http://127.0.0.1:${p}${PATH}`, { Cookie: 'Icingaweb2=sess-bob', 'User-Agent': UA });
    t.teardown(() => c.close());
    await until(() => fast.hub.size('2') === 1, 'bob stream');
    const id = await history(2, 'sent', { incident: 2 });
    await c.waitFor((s) => s === frame(id, 2), 'the event');
    t.equal(c.text, frame(id, 2));
  });

  if (v.dialect === 'mysql') {
    await t.test('startIcinga reads a my.cnf, binds its own listener and polls', async (t) => {
      const dir = await mkdtemp(join(tmpdir(), 'pushgate-icinga-'));
      t.teardown(() => rm(dir, { recursive: true, force: true }));
      const cnf = join(dir, 'icinga.cnf');
      const cx = fx.connection;
      await writeFile(cnf, `[client]\nhost = ${cx.host}\nport = ${cx.port}\nuser = ${cx.user}\npassword = "${cx.password}"\ndatabase = ${cx.database}\n`);
      const cfg = parseConfig({ icinga: { enabled: true, mysqlCnf: cnf, listen: { port: 0 }, pollIntervalMs: 20, keepAliveFirstMs: 600_000 } }).icinga;
      const svc2 = await startIcingaService(cfg, pino({ level: 'silent' }));
      t.ok(svc2);
      t.teardown(() => svc2!.close());
      await until(() => svc2!.poller.stats.polls >= 2 && svc2!.poller.stats.pollErrors === 0, 'two good polls');
      t.pass('polled through the my.cnf connection');
    });
  } else {
    await t.test('startIcinga connects by a pgsql:// URL, binds its own listener and polls', async (t) => {
      const cx = fx.connection;
      const cfg = parseConfig({
        icinga: { enabled: true, database: { url: `pgsql://${cx.user}@${cx.host}:${cx.port}/${cx.database}` }, listen: { port: 0 }, pollIntervalMs: 20, keepAliveFirstMs: 600_000 },
      }).icinga;
      const svc2 = await startIcingaService(cfg, pino({ level: 'silent' }));
      t.ok(svc2);
      t.teardown(() => svc2!.close());
      await until(() => svc2!.poller.stats.polls >= 2 && svc2!.poller.stats.pollErrors === 0, 'two good polls');
      t.equal(svc2!.directory.dialect, 'pgsql');
    });
  }

  await t.test('mounted on the gateway, the endpoint shares the WebSocket port', async (t) => {
    const svc3 = await icingaService({ config, connection: fx.connection, logger: pino({ level: 'silent' }) });
    const gw = await startTestGateway({ httpRoutes: [svc3.route] });
    // Streams end first, so the gateway's close does not wait for them.
    t.teardown(async () => { await svc3.close(); await gw.close(); });
    await svc3.poller.pollOnce();
    const c = await subscribe(`${gw.url}${PATH}`, { Cookie: 'Icingaweb2=sess-bob', 'User-Agent': UA });
    t.equal(c.status, 200);
    const refused = await subscribe(`${gw.url}${PATH}`, { Cookie: 'Icingaweb2=sess-unknown', 'User-Agent': UA });
    await refused.ended;
    t.equal(refused.status, 204);
    await until(() => svc3.hub.size('2') === 1, 'bob stream');
    const id = await history(2, 'sent', { incident: 2 });
    await svc3.poller.pollOnce();
    await c.waitFor((s) => s === frame(id, 2), 'the event through the gateway port');
    t.equal(c.text, frame(id, 2));
    await svc3.close();
    await c.ended;
    t.pass('close() ended the stream');
  });

  await t.test('the pending window is bounded in count and age, each dropped row counted', async (t) => {
    let clock = Date.now();
    const cfg = parseConfig({ icinga: { enabled: true, database: fx.connection, pending: { maxIds: 2, maxAgeMs: 60_000 } } }).icinga;
    const p = await icingaService({ config: cfg, connection: fx.connection, logger: pino({ level: 'silent' }), now: () => clock });
    t.teardown(() => p.close());
    await p.poller.pollOnce();
    const r1 = await history(1, 'pending');
    const r2 = await history(1, 'pending');
    const r3 = await history(1, 'pending');
    await p.poller.pollOnce();
    t.same(p.poller.pendingIds(), [r2, r3], `the oldest (${r1}) left when a third arrived`);
    t.equal(p.poller.stats.pendingDropped, 1);
    clock += 60_001;
    await p.poller.pollOnce();
    t.same(p.poller.pendingIds(), [], 'rows pending longer than pending.maxAgeMs are given up');
    t.equal(p.poller.stats.pendingDropped, 3);
    for (const r of [r1, r2, r3]) await fx.setState(r, 'failed');
  });

  await t.test(`faults on ${v.dialect === 'mysql' ? 'MariaDB' : 'PostgreSQL'}: down at start, cut mid-run, recovery without losing a row`, async (t) => {
    const proxy = await startTcpProxy({ host: fx.connection.host, port: fx.connection.port });
    t.teardown(() => proxy.close());
    const connection = { ...fx.connection, port: proxy.port };
    const cfg = parseConfig({ icinga: { enabled: true, database: connection, pollIntervalMs: 20, queryTimeoutMs: 2000, keepAliveFirstMs: 600_000, keepAliveMs: 600_000 } }).icinga;
    const cap = capturedLogger();
    proxy.cut();
    const f = await icingaService({ config: cfg, connection, logger: cap.logger });
    t.teardown(() => f.close());
    const p = await f.listen('127.0.0.1', 0);
    f.start();
    await until(() => f.poller.stats.pollErrors >= 2, 'failing polls while the database is down');
    t.equal(f.health().ok, false, 'unhealthy from the start');
    t.equal(f.directory.historySchema, undefined, 'no schema detected yet');
    const refused = await subscribe(`http://127.0.0.1:${p}${PATH}`, { Cookie: 'Icingaweb2=sess-alice', 'User-Agent': UA });
    await refused.ended;
    t.same([refused.status, refused.headers['retry-after']], [503, '3'], 'a subscription gets 503, not a 204 that would stop the browser');

    proxy.restore();
    await until(() => f.health().ok && f.directory.historySchema !== undefined, 'the first successful poll', 10_000);
    const c = await subscribe(`http://127.0.0.1:${p}${PATH}`, { Cookie: 'Icingaweb2=sess-alice', 'User-Agent': UA });
    t.teardown(() => c.close());
    t.equal(c.status, 200);
    await until(() => f.hub.size('1') === 1, 'alice stream');
    const before = await history(1, 'sent');
    await c.waitFor((s) => s === frame(before), 'an event before the cut');

    proxy.cut();
    const errors = f.poller.stats.pollErrors;
    await until(() => f.poller.stats.pollErrors > errors + 2, 'polls failing after the cut', 10_000);
    t.equal(f.health().ok, false);
    const during = await history(1, 'sent');
    proxy.restore();
    await c.waitFor((s) => s === frame(before) + frame(during), 'the row written during the outage, after recovery', 10_000);
    t.ok(f.health().ok, 'healthy again');
    const failed = cap.lines.filter((l) => l.msg.startsWith('icinga: polling incident_history')).map((l) => l.msg);
    t.same(failed.slice(0, 2), ['icinga: polling incident_history failed', 'icinga: polling incident_history works again'], 'the outage at start is logged when it starts and ends');

    // Slower than queryTimeoutMs: polls fail on the timeout instead of waiting, and recover.
    proxy.setDelay(3000);
    t.teardown(() => proxy.setDelay(0));
    const slowErrors = f.poller.stats.pollErrors;
    await until(() => f.poller.stats.pollErrors > slowErrors, 'a poll timing out', 10_000);
    t.match(f.poller.lastError, /timeout/i, `timed out: ${f.poller.lastError ?? ''}`);
    const slow = await history(1, 'sent');
    proxy.setDelay(0);
    await c.waitFor((s) => s === frame(before) + frame(during) + frame(slow), 'the row written while the database was slow', 10_000);
  });

  if (v.generation === '0.2.0') {
    await t.test('upgrading the schema under a running poller (upgrade 004 drops event_id): it detects again and goes on', async (t) => {
      const cap = capturedLogger();
      const u = await icingaService({ config, connection: fx.connection, logger: cap.logger });
      t.teardown(() => u.close());
      const alice = await subscribe(`http://127.0.0.1:${await u.listen('127.0.0.1', 0)}${PATH}`, { Cookie: 'Icingaweb2=sess-alice', 'User-Agent': UA });
      t.teardown(() => alice.close());
      await u.poller.pollOnce();
      t.equal(u.directory.historySchema, 'with-event-id');
      // What schema/<dialect>/upgrades/004.sql does to incident_history.
      if (v.dialect === 'mysql') {
        await fx.query('ALTER TABLE incident_history DROP FOREIGN KEY fk_incident_history_event');
        await fx.query('ALTER TABLE incident_history DROP COLUMN event_id');
      } else {
        await fx.query('ALTER TABLE incident_history DROP CONSTRAINT fk_incident_history_event');
        await fx.query('ALTER TABLE incident_history DROP COLUMN event_id');
      }
      const id = nextId++;
      await fx.notified({ id, incident: 1, contact: 1, time: T0 + id, message: `msg ${id}`, state: 'sent' });
      await u.poller.pollOnce();
      t.equal(u.poller.stats.pollErrors, 1, 'the first poll after the upgrade fails on the missing column');
      t.equal(u.directory.historySchema, undefined, 'and forgets the detected schema');
      await u.poller.pollOnce();
      t.equal(u.directory.historySchema, 'without-event-id');
      await alice.waitFor((s) => s === frame(id), 'the row written after the upgrade');
      t.ok(cap.lines.some((l) => l.msg === 'icinga: incident_history changed, detecting its columns again'), 'logged');
    });
  }
}
