/**
 * Round trips through a real reverse proxy (nginx.test.ts, apache.test.ts):
 * the proxy runs one of deploy/'s snippets, unchanged except for the
 * upstream ports, in a server of the test's own under a temp prefix on a
 * free loopback port. Checked: the proxy's config test accepts it, a
 * WebSocket client registers through it and receives a notification POSTed
 * through it, and a /events stream and an Icinga stream (real MariaDB) each
 * receive their event while the stream is still open (no buffering).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import type { Test } from 'tap';
import { parseConfig } from '../../src/config.js';
import type { IcingaService } from '../../src/transport/sse/icinga.js';
import { icingaService } from '../icinga-pipeline.js';
import { createIcingaFixture, mariadbSkip } from '../fixtures/icinga.js';
import { hostMessage, httpRequest, openRegisteredClient, postMessage, silentLogger, startTestGateway, TEST_API_KEY, waitFor } from '../helpers.js';
import { subscribe } from '../sse-client.js';

/** `name` on PATH, else the first of `fallbacks` that exists (Debian puts daemons in /usr/sbin, not on a non-root PATH). */
export function findBinary(name: string, ...fallbacks: string[]): string | undefined {
  const which = spawnSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' });
  const onPath = which.status === 0 ? which.stdout.trim() : '';
  if (onPath) return onPath;
  return fallbacks.find((f) => existsSync(f));
}

/** A loopback port that was free a moment ago. */
export async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const { port } = srv.address() as AddressInfo;
  await new Promise<void>((resolve) => srv.close(() => resolve()));
  return port;
}

/** Where the proxy sends what: pushgate's main listener and the Icinga endpoint's own listener. */
export interface Upstreams {
  main: number;
  icinga: number;
}

/** One proxy under test. */
export interface ProxyUnderTest {
  /** Its binary. */
  bin: string;
  /**
   * Write the config into `prefix` (the snippet with `127.0.0.1:8083` and
   * `127.0.0.1:5664` replaced by the upstreams, in a server listening on
   * 127.0.0.1:`port` that also passes `POST /message` to pushgate) and return
   * the arguments of the config test, what its output must match, the
   * arguments of a foreground run, and the log files to show on failure.
   */
  render(prefix: string, port: number, upstream: Upstreams): Promise<{ check: string[]; checkOk: RegExp; run: string[]; logs: string[] }>;
  /** Path prefix of the `/events` location in the snippet (`/pushgate/events`). */
  eventsPath: string;
}

/** Replace the snippet's upstream addresses by the test's ports. */
export function substitute(snippet: string, upstream: Upstreams): string {
  return snippet.replaceAll('127.0.0.1:8083', `127.0.0.1:${upstream.main}`).replaceAll('127.0.0.1:5664', `127.0.0.1:${upstream.icinga}`);
}

/** Run the config test and the round trips; `t` gets the subtests. */
export async function proxyRoundTrips(t: Test, proxy: ProxyUnderTest): Promise<void> {
  const mariadb = await mariadbSkip();

  // pushgate: the WebSocket endpoint and /events on the main listener.
  const gw = await startTestGateway({ config: { events: { enabled: true, keepAliveFirstMs: 600_000 }, webPush: { enabled: true, subject: 'mailto:ops@example.com' } } });
  t.teardown(() => gw.close());
  const sse = gw.events!;

  // The Icinga endpoint on a listener of its own (Icinga's 5664 in production), when MariaDB is there.
  let icinga: { svc: IcingaService; port: number; history: (id: number) => Promise<void> } | undefined;
  if (mariadb === false) {
    const fx = await createIcingaFixture();
    t.teardown(() => fx.drop());
    await fx.contact({ id: 1, username: 'alice' });
    await fx.session({ id: 'sess-alice', username: 'alice', userAgent: 'UA', authenticatedAt: Date.now() });
    await fx.incident({ id: 1, object: 'web-01', severity: 'crit', startedAt: Date.now() });
    const config = parseConfig({ icinga: { enabled: true, database: fx.connection, pollIntervalMs: 20, keepAliveFirstMs: 600_000, keepAliveMs: 600_000 } }).icinga;
    const svc = await icingaService({ config, connection: fx.connection, logger: pino({ level: 'silent' }) });
    t.teardown(() => svc.close());
    const port = await svc.listen('127.0.0.1', 0);
    svc.start();
    const history = async (id: number): Promise<void> => {
      await fx.notified({ id, incident: 1, contact: 1, time: Date.now(), message: 'through the proxy', state: 'sent' });
    };
    icinga = { svc, port, history };
  }

  const prefix = await mkdtemp(join(tmpdir(), 'pushgate-proxy-'));
  // Apache run as root reads nothing here after dropping privileges, but let it look.
  await chmod(prefix, 0o755);
  t.teardown(() => rm(prefix, { recursive: true, force: true }));
  const port = await freePort();
  // Without MariaDB the Icinga upstream is a closed port: config tests do not connect upstreams.
  const r = await proxy.render(prefix, port, { main: gw.port, icinga: icinga?.port ?? await freePort() });

  const check = spawnSync(proxy.bin, r.check, { encoding: 'utf8', timeout: 20_000 });
  t.equal(check.status, 0, `the config test accepts the snippet: ${check.stdout}${check.stderr}`);
  t.match(check.stdout + check.stderr, r.checkOk);

  const proc: ChildProcess = spawn(proxy.bin, r.run, { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  proc.stderr!.on('data', (c: Buffer) => { stderr += c.toString(); });
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  t.teardown(async () => {
    proc.kill('SIGTERM');
    const timer = setTimeout(() => proc.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(timer);
  });
  const url = `http://127.0.0.1:${port}`;
  // Up once it answers anything at all.
  const up = async (): Promise<boolean> => httpRequest(`${url}/proxy-ready`).then(() => true, () => false);
  for (let i = 0; !(await up()); i++) {
    if (proc.exitCode !== null || i > 400) {
      const logs = await Promise.all(r.logs.map((l) => readFile(l, 'utf8').catch(() => '')));
      throw new Error(`${proxy.bin} did not come up on ${url}: ${stderr}${logs.join('')}`);
    }
    await new Promise((res) => setTimeout(res, 25));
  }

  t.test('a WebSocket client registers through /push_notification and receives a notification POSTed through the proxy', async (t) => {
    const client = await openRegisteredClient({ url: `${url}/push_notification` }, { browserUuid: 'via-proxy' });
    t.teardown(() => client.close());
    t.equal(gw.registry.size, 1, 'the gateway sees the proxied connection');
    const res = await postMessage({ url }, hostMessage());
    t.same([res.status, res.body], [200, 'ok']);
    t.match(await client.nextJson(), { type: 'ProcessPushNotification', payload: { title: 'PROBLEM: web-01 is DOWN!' } });
  });

  t.test('the Web Push app and its API are served under /pushgate/app/', async (t) => {
    const page = await httpRequest(`${url}/pushgate/app/`);
    t.equal(page.status, 200);
    t.match(page.body, /<link rel="manifest" href="manifest.webmanifest">/);
    const sw = await httpRequest(`${url}/pushgate/app/sw.js`);
    t.equal(sw.status, 200);
    t.match(sw.headers['content-type'], /^text\/javascript/);
    const config = await httpRequest(`${url}/pushgate/app/api/config`);
    t.same(JSON.parse(config.body), { vapidPublicKey: gw.webPush!.keys.publicKey, appPath: '/app/' });
    const body = JSON.stringify({ userId: 1, subscription: { endpoint: 'https://10.0.0.1/push', keys: { p256dh: Buffer.concat([Buffer.from([4]), Buffer.alloc(64, 1)]).toString('base64url'), auth: Buffer.alloc(16).toString('base64url') } } });
    const refused = await httpRequest(`${url}/pushgate/app/api/subscription`, { method: 'POST', headers: { Authorization: `Bearer ${TEST_API_KEY}`, 'Content-Type': 'application/json' }, body });
    t.equal(refused.status, 400, 'the API answers through the proxy (a private endpoint is refused)');
    t.match(refused.body, /^Bad Request: endpoint refused: /);
    // The app's live connection: a WebSocket at /pushgate/app/ws.
    const client = await openRegisteredClient({ url }, { browserUuid: 'app-via-proxy', path: '/pushgate/app/ws' });
    t.teardown(() => client.close());
    t.equal((await postMessage({ url }, hostMessage())).status, 200);
    t.match(await client.nextJson(), { type: 'ProcessPushNotification' });
  });

  t.test(`a ${proxy.eventsPath} stream receives the event while it stays open (not buffered)`, async (t) => {
    const s = await subscribe(`${url}${proxy.eventsPath}?userId=1&browserUuid=sse-via-proxy`, { Authorization: `Bearer ${TEST_API_KEY}` });
    t.teardown(() => s.close());
    t.equal(s.status, 200);
    t.match(s.headers['content-type'], /^text\/event-stream/);
    let ended = false;
    void s.ended.then(() => { ended = true; });
    await waitFor(() => sse.hub.size('1') === 1, undefined, 'the stream reaching pushgate');
    t.equal((await postMessage({ url }, hostMessage())).status, 200);
    await s.waitFor((text) => text.includes('"type":"ProcessPushNotification"'), 'the event through the proxy');
    t.equal(ended, false, 'the event arrived while the stream is still open');
    t.match(s.text, /^data: \{"type":"ProcessPushNotification".*\nid: \d+\nretry: 3000\n\n$/);
  });

  t.test('an Icinga stream receives icinga2.notification through the snippet\'s rule', { skip: mariadb }, async (t) => {
    const { svc, history } = icinga!;
    await waitFor(() => svc.poller.stats.polls >= 2, undefined, 'the first polls');
    const s = await subscribe(`${url}/icingaweb2/notifications/v1/subscribe`, { Cookie: 'Icingaweb2=sess-alice', 'User-Agent': 'UA' });
    t.teardown(() => s.close());
    t.equal(s.status, 200, 'authenticated, and the version header the proxy adds is accepted');
    let ended = false;
    void s.ended.then(() => { ended = true; });
    await waitFor(() => svc.hub.size('1') === 1, undefined, 'the stream reaching pushgate');
    await history(1000);
    await s.waitFor((text) => text.includes('event: icinga2.notification'), 'the event through the proxy');
    t.equal(ended, false, 'the event arrived while the stream is still open');
    t.match(s.text, /"title":"web-01","message":"through the proxy"/);
    const v2 = await httpRequest(`${url}/icingaweb2/notifications/v2/subscribe`, { headers: { Cookie: 'Icingaweb2=sess-alice', 'User-Agent': 'UA' } });
    t.equal(v2.status, 400, 'the version from the path reaches pushgate as the header');
  });
}
