import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { pino } from 'pino';
import { parseConfig } from '../../../src/config.js';
import { icingaFrame, rfc3339Ms } from '../../../src/transport/sse/icinga-frame.js';
import { isIcingaSubscribePath } from '../../../src/transport/sse/icinga.js';
import { icingaService, startIcingaService } from '../../icinga-pipeline.js';
import { createIcingaFixture, mariadbSkip, type IcingaFixture } from '../../fixtures/icinga.js';
import { startTestGateway } from '../../helpers.js';
import { subscribe, until } from '../../sse-client.js';

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

t.test('startIcinga returns nothing when disabled', async (t) => {
  t.equal(await startIcingaService(parseConfig({}).icinga, pino({ level: 'silent' })), undefined);
});

t.test('when the database is unreachable a subscription gets 503 and polls are counted as failed, not thrown', async (t) => {
  const config = parseConfig({
    icinga: { enabled: true, database: { host: '127.0.0.1', port: 1, user: 'nobody' }, queryTimeoutMs: 2000, keepAliveFirstMs: 600_000 },
  }).icinga;
  const svc = await icingaService({ config, connection: config.database!, logger: pino({ level: 'silent' }) });
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
    config, connection: config.database!, logger: pino({ level: 'silent' }), allowedOrigins: ['https://icinga.example.com'],
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

t.test('with MariaDB', { skip: await mariadbSkip() }, async (t) => {
  const fx: IcingaFixture = await createIcingaFixture();
  t.teardown(() => fx.drop());
  const now = Date.now();
  await fx.query(`INSERT INTO contact (id, full_name, username, deleted) VALUES
    (1, 'Alice', 'alice', 'n'), (2, 'Bob', 'Bob', 'n'), (3, 'Carol', 'carol', 'y'), (4, 'Dave', NULL, 'n')`);
  await fx.query(`INSERT INTO browser_session (php_session_id, username, user_agent, authenticated_at) VALUES
    ('sess-alice', 'alice', ?, ?),
    ('sess-alice-old', 'alice', ?, ?),
    ('sess-alice-2', 'alice', ?, ?),
    ('sess-bob', 'BOB', ?, ?),
    ('sess-expired', 'bob', ?, ?),
    ('sess-carol', 'carol', ?, ?),
    ('sess-nobody', 'nobody', ?, ?)`,
  [UA, now - 1000, UA, now - 60_000, UA2, now - 1000, UA, now - 1000, UA2, now - 25 * 3600_000, UA, now, UA, now]);
  await fx.query(`INSERT INTO object (id, name) VALUES (UNHEX(SHA2('web-01', 256)), 'web-01'), (UNHEX(SHA2('web-01!HTTP', 256)), 'web-01!HTTP')`);
  await fx.query(`INSERT INTO incident (id, object_id, started_at, severity) VALUES
    (1, UNHEX(SHA2('web-01!HTTP', 256)), ?, 'crit'), (2, UNHEX(SHA2('web-01', 256)), ?, 'warning')`, [T0, T0]);

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
  const svc = await icingaService({ config, connection: fx.connection, logger: pino({ level: 'silent' }) });
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
  const history = async (contact: number, state: string, opts: { incident?: number; event?: number | null; message?: string | null; channel?: number } = {}): Promise<number> => {
    const id = nextId++;
    await fx.query(`INSERT INTO incident_history (id, incident_id, event_id, contact_id, channel_id, time, message, type, notification_state)
      VALUES (?, ?, ?, ?, ?, ?, ?, 'notified', ?)`,
    [id, opts.incident ?? 1, opts.event === undefined ? id : opts.event, contact, opts.channel ?? 1, T0 + id, opts.message === undefined ? `msg ${id}` : opts.message, state]);
    return id;
  };
  const frame = (id: number, incident = 1, message: string | null = `msg ${id}`): string => icingaFrame({
    id, time: T0 + id, incidentId: incident, severity: incident === 1 ? 'crit' : 'warning', title: incident === 1 ? 'web-01!HTTP' : 'web-01', message,
  }, 3000).toString();

  // Rows that existed before the first poll are not pushed (as Icinga's daemon).
  await history(1, 'sent');
  await svc.poller.pollOnce();

  await t.test('every authentication failure answers 204 with an empty body', async (t) => {
    const cases: Array<[string, string | undefined, string | string[] | undefined]> = [
      ['no Icingaweb2 cookie', undefined, UA],
      ['an unknown session id', 'sess-unknown', UA],
      ['no User-Agent', 'sess-alice', undefined],
      ['two User-Agent headers', 'sess-alice', [UA, UA]],
      ['a User-Agent other than the session\'s', 'sess-alice', UA2],
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
    const a1 = await history(1, 'sent', { message: 'HTTP CRITICAL - 500' });
    const failed = await history(1, 'failed');
    const b1 = await history(2, 'sent', { incident: 2, message: null });
    await svc.poller.pollOnce();
    await alice.waitFor((s) => s.length >= frame(a1, 1, 'HTTP CRITICAL - 500').length, 'alice event');
    await bob.waitFor((s) => s.length >= frame(b1, 2, null).length, 'bob event');
    t.equal(alice.text, frame(a1, 1, 'HTTP CRITICAL - 500'));
    t.equal(bob.text, frame(b1, 2, null));
    t.equal(svc.poller.stats.failed, 1, `failed row ${failed} counted, never pushed`);
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
    await fx.query("UPDATE incident_history SET notification_state = 'sent' WHERE id = ?", [late]);
    await svc.poller.pollOnce();
    await alice.waitFor((s) => s === frame(early) + frame(late), 'the late row');
    t.same(svc.poller.pendingIds(), []);
  });

  await t.test('a contact notified over two channels for one event gets one desktop notification', async (t) => {
    const alice = await open('sess-alice', UA);
    t.teardown(() => alice.close());
    await until(() => svc.hub.size('1') === 1, 'alice stream');
    const email = await history(1, 'sent', { event: 900, channel: 1, message: 'same' });
    const chat = await history(1, 'pending', { event: 900, channel: 2, message: 'same' });
    await svc.poller.pollOnce();
    await fx.query("UPDATE incident_history SET notification_state = 'sent' WHERE id = ?", [chat]);
    await svc.poller.pollOnce();
    const next = await history(1, 'sent', { event: 901 });
    await svc.poller.pollOnce();
    await alice.waitFor((s) => s.endsWith(frame(next)), 'the next event');
    t.equal(alice.text, frame(email, 1, 'same') + frame(next), `row ${chat} of the second channel was dropped as a duplicate`);
    t.ok(svc.poller.stats.duplicates >= 1);
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
    const fast = await icingaService({
      config: { ...config, pollIntervalMs: 20 },
      connection: fx.connection,
      logger: pino({ level: 'silent' }),
    });
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
    let now = Date.now();
    const cfg = parseConfig({ icinga: { enabled: true, database: fx.connection, pending: { maxIds: 2, maxAgeMs: 60_000 } } }).icinga;
    const p = await icingaService({ config: cfg, connection: fx.connection, logger: pino({ level: 'silent' }), now: () => now });
    t.teardown(() => p.close());
    await p.poller.pollOnce();
    const r1 = await history(1, 'pending');
    const r2 = await history(1, 'pending');
    const r3 = await history(1, 'pending');
    await p.poller.pollOnce();
    t.same(p.poller.pendingIds(), [r2, r3], `the oldest (${r1}) left when a third arrived`);
    t.equal(p.poller.stats.pendingDropped, 1);
    now += 60_001;
    await p.poller.pollOnce();
    t.same(p.poller.pendingIds(), [], 'rows pending longer than pending.maxAgeMs are given up');
    t.equal(p.poller.stats.pendingDropped, 3);
    await fx.query("UPDATE incident_history SET notification_state = 'failed' WHERE id IN (?)", [[r1, r2, r3]]);
  });
});
