/**
 * deploy/nginx/pushgate.conf through a real nginx (Debian's package;
 * scripts/test installs it): `nginx -t` accepts it, and a WebSocket client,
 * a /events stream and an Icinga stream all work through it. The snippet is
 * included unchanged except for the two upstream ports; the server block
 * around it is this test's own, in a temp prefix, on a free loopback port.
 * Without nginx the test skips with the reason, except under CI=true where
 * that is a failure.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import t from 'tap';
import { parseConfig } from '../src/config.js';
import { IcingaService } from '../src/icinga/route.js';
import { PushSse } from '../src/sse/notifications.js';
import { createIcingaFixture, mariadbSkip } from './fixtures/icinga.js';
import { hostMessage, httpRequest, openRegisteredClient, postMessage, silentLogger, startTestGateway, TEST_API_KEY, waitFor } from './helpers.js';
import { subscribe } from './sse-client.js';

const SNIPPET = new URL('../../../deploy/nginx/pushgate.conf', import.meta.url);

/** The nginx binary: on PATH, else Debian's /usr/sbin/nginx (not on a non-root PATH). */
function findNginx(): string | undefined {
  const which = spawnSync('sh', ['-c', 'command -v nginx'], { encoding: 'utf8' });
  const onPath = which.status === 0 ? which.stdout.trim() : '';
  if (onPath) return onPath;
  return existsSync('/usr/sbin/nginx') ? '/usr/sbin/nginx' : undefined;
}

/** A loopback port that was free a moment ago. */
async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const { port } = srv.address() as AddressInfo;
  await new Promise<void>((resolve) => srv.close(() => resolve()));
  return port;
}

/**
 * Write `<prefix>/nginx.conf`: a foreground single-process nginx (no
 * privilege switch, so it runs as whoever runs the tests) whose pid, logs
 * and temp files stay in `prefix`, with one server on `port` that includes
 * the snippet with the upstream ports replaced, plus the test's own
 * `/message` (the sender posting through the proxy) and `/nginx-ready`.
 */
async function renderConfig(prefix: string, port: number, upstream: { main: number; icinga: number }): Promise<string> {
  const snippet = (await readFile(SNIPPET, 'utf8'))
    .replaceAll('127.0.0.1:8083', `127.0.0.1:${upstream.main}`)
    .replaceAll('127.0.0.1:5664', `127.0.0.1:${upstream.icinga}`);
  await writeFile(join(prefix, 'pushgate.conf'), snippet);
  for (const d of ['body', 'proxy', 'fastcgi', 'uwsgi', 'scgi']) await mkdir(join(prefix, 'tmp', d), { recursive: true });
  const conf = join(prefix, 'nginx.conf');
  await writeFile(conf, `
daemon off;
master_process off;
pid ${prefix}/nginx.pid;
error_log ${prefix}/error.log info;
events { worker_connections 128; }
http {
  access_log ${prefix}/access.log;
  client_body_temp_path ${prefix}/tmp/body;
  proxy_temp_path ${prefix}/tmp/proxy;
  fastcgi_temp_path ${prefix}/tmp/fastcgi;
  uwsgi_temp_path ${prefix}/tmp/uwsgi;
  scgi_temp_path ${prefix}/tmp/scgi;
  server {
    listen 127.0.0.1:${port};
    include ${prefix}/pushgate.conf;
    location = /message { proxy_pass http://127.0.0.1:${upstream.main}; }
    location = /nginx-ready { return 200 "ok"; }
  }
}
`);
  return conf;
}

const nginx = findNginx();
const missing = nginx ? false : 'nginx is not installed (scripts/test installs Debian\'s nginx-light as root; or apt-get install nginx-light)';

t.test('deploy/nginx/pushgate.conf through a real nginx', { skip: process.env.CI ? false : missing }, async (t) => {
  if (!nginx) {
    t.fail('nginx is required under CI=true: scripts/test installs nginx-light');
    return;
  }
  const mariadb = await mariadbSkip();

  // pushgate: the WebSocket endpoint and /events on the main listener.
  const sse = new PushSse({ verifyApiKey: async (k) => k === TEST_API_KEY, logger: silentLogger(), keepAliveFirstMs: 600_000 });
  const gw = await startTestGateway({ httpRoutes: [sse.route] });
  t.teardown(() => gw.close());
  t.teardown(() => sse.close());
  gw.context.sse = sse;

  // The Icinga endpoint on a listener of its own (Icinga's 5664 in production), when MariaDB is there.
  let icinga: { svc: IcingaService; port: number; history: (id: number) => Promise<void> } | undefined;
  if (mariadb === false) {
    const fx = await createIcingaFixture();
    t.teardown(() => fx.drop());
    await fx.query("INSERT INTO contact (id, full_name, username, deleted) VALUES (1, 'Alice', 'alice', 'n')");
    await fx.query("INSERT INTO browser_session (php_session_id, username, user_agent, authenticated_at) VALUES ('sess-alice', 'alice', 'UA', ?)", [Date.now()]);
    await fx.query("INSERT INTO object (id, name) VALUES (UNHEX(SHA2('web-01', 256)), 'web-01')");
    await fx.query("INSERT INTO incident (id, object_id, started_at, severity) VALUES (1, UNHEX(SHA2('web-01', 256)), ?, 'crit')", [Date.now()]);
    const config = parseConfig({ icinga: { enabled: true, database: fx.connection, pollIntervalMs: 20, keepAliveFirstMs: 600_000, keepAliveMs: 600_000 } }).icinga;
    const svc = new IcingaService({ config, connection: fx.connection, logger: pino({ level: 'silent' }) });
    t.teardown(() => svc.close());
    const port = await svc.listen('127.0.0.1', 0);
    svc.start();
    const history = async (id: number): Promise<void> => {
      await fx.query(`INSERT INTO incident_history (id, incident_id, event_id, contact_id, channel_id, time, message, type, notification_state)
        VALUES (?, 1, ?, 1, 1, ?, 'through nginx', 'notified', 'sent')`, [id, id, Date.now()]);
    };
    icinga = { svc, port, history };
  }

  const prefix = await mkdtemp(join(tmpdir(), 'pushgate-nginx-'));
  t.teardown(() => rm(prefix, { recursive: true, force: true }));
  const port = await freePort();
  // Without MariaDB the Icinga upstream is a closed port: nginx -t does not connect upstreams.
  const conf = await renderConfig(prefix, port, { main: gw.port, icinga: icinga?.port ?? await freePort() });

  const check = spawnSync(nginx, ['-t', '-p', prefix, '-c', conf], { encoding: 'utf8', timeout: 20_000 });
  t.equal(check.status, 0, `nginx -t accepts the snippet: ${check.stderr}`);
  t.match(check.stderr, /syntax is ok/);
  t.match(check.stderr, /test is successful/);

  const proc: ChildProcess = spawn(nginx, ['-p', prefix, '-c', conf], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  proc.stderr!.on('data', (c: Buffer) => { stderr += c.toString(); });
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  t.teardown(async () => {
    proc.kill('SIGQUIT');
    const timer = setTimeout(() => proc.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(timer);
  });
  const url = `http://127.0.0.1:${port}`;
  const up = async (): Promise<boolean> => httpRequest(`${url}/nginx-ready`).then((a) => a.status === 200, () => false);
  for (let i = 0; !(await up()); i++) {
    if (proc.exitCode !== null || i > 200) throw new Error(`nginx did not come up on ${url}: ${stderr}${await readFile(join(prefix, 'error.log'), 'utf8').catch(() => '')}`);
    await new Promise((r) => setTimeout(r, 25));
  }

  t.test('a WebSocket client registers through /push_notification and receives a notification POSTed through nginx', async (t) => {
    const client = await openRegisteredClient({ url: `${url}/push_notification` }, { browserUuid: 'via-nginx' });
    t.teardown(() => client.close());
    t.equal(gw.registry.size, 1, 'the gateway sees the proxied connection');
    const res = await postMessage({ url }, hostMessage());
    t.same([res.status, res.body], [200, 'ok']);
    t.match(await client.nextJson(), { type: 'ProcessPushNotification', payload: { title: 'PROBLEM: web-01 is DOWN!' } });
  });

  t.test('a /pushgate/events stream receives the event while it stays open (nginx does not buffer it)', async (t) => {
    const s = await subscribe(`${url}/pushgate/events?userId=1&browserUuid=sse-via-nginx`, { Authorization: `Bearer ${TEST_API_KEY}` });
    t.teardown(() => s.close());
    t.equal(s.status, 200);
    t.match(s.headers['content-type'], /^text\/event-stream/);
    let ended = false;
    void s.ended.then(() => { ended = true; });
    await waitFor(() => sse.hub.size('1') === 1, undefined, 'the stream reaching pushgate');
    t.equal((await postMessage({ url }, hostMessage())).status, 200);
    await s.waitFor((text) => text.includes('"type":"ProcessPushNotification"'), 'the event through nginx');
    t.equal(ended, false, 'the event arrived while the stream is still open');
    t.match(s.text, /^data: \{"type":"ProcessPushNotification".*\nid: \d+\nretry: 3000\n\n$/);
  });

  t.test('an Icinga stream receives icinga2.notification through the snippet\'s location', { skip: mariadb }, async (t) => {
    const { svc, history } = icinga!;
    await waitFor(() => svc.poller.stats.polls >= 2, undefined, 'the first polls');
    const s = await subscribe(`${url}/icingaweb2/notifications/v1/subscribe`, { Cookie: 'Icingaweb2=sess-alice', 'User-Agent': 'UA' });
    t.teardown(() => s.close());
    t.equal(s.status, 200, 'authenticated, and the version header nginx adds is accepted');
    let ended = false;
    void s.ended.then(() => { ended = true; });
    await waitFor(() => svc.hub.size('1') === 1, undefined, 'the stream reaching pushgate');
    await history(1000);
    await s.waitFor((text) => text.includes('event: icinga2.notification'), 'the event through nginx');
    t.equal(ended, false, 'the event arrived while the stream is still open');
    t.match(s.text, /"title":"web-01","message":"through nginx"/);
    const v2 = await httpRequest(`${url}/icingaweb2/notifications/v2/subscribe`, { headers: { Cookie: 'Icingaweb2=sess-alice', 'User-Agent': 'UA' } });
    t.equal(v2.status, 400, 'the version from the path reaches pushgate as the header');
  });
});
