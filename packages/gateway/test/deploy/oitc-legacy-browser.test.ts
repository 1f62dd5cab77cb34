/**
 * The legacy openITCOCKPIT frontend's path end to end, with real parts:
 * headless Chromium (Debian's, via playwright-core) loads a page from a real
 * nginx over TLS; the page does what the frontend on openITCOCKPIT's default
 * branch does (openITCOCKPIT/openITCOCKPIT-frontend-angular@88c55668815091bef9616450f9c22d4bc65d0316,
 * push-notifications.component.ts and push-notifications.service.ts; our own
 * script, the same requests and frames): fetch
 * `/angular/push_configuration.json` with its session cookie, open a plain
 * WebSocket to `PUSH_NOTIFICATIONS.URL`, register, show each `message` frame
 * as a Notification. nginx runs openITCOCKPIT's own `location
 * /push_notifications` as shipped in
 * openITCOCKPIT/openITCOCKPIT@1cbd1ce171df76aadd9e22682c20aafc815056d3
 * system/etc/nginx/openitc/master.conf (upstream port substituted), and
 * passes `/angular/` to the HTTPS stand-in for openITCOCKPIT's PHP
 * (fixtures/oitc-web.ts), which pushgate also asks for session binding.
 *
 * Proven: three tabs of one browser show one notification; a browser whose
 * cookie belongs to user 8 cannot register as user 7 and sees none of user
 * 7's notifications. Without Chromium or nginx the test skips with the
 * reason, except under CI=true where that fails.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'node:https';
import t from 'tap';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { LegacyCloseCodes } from '../../src/transport/ws/legacy.js';
import { SESSION_COOKIE, startOitcWeb } from '../fixtures/oitc-web.js';
import { hostMessage, postMessage, startTestGateway, waitFor } from '../helpers.js';
import { findBinary, freePort } from './proxy-harness.js';

const CHROMIUM = '/usr/bin/chromium';
const FLAGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
  '--disable-component-update', '--disable-sync', '--no-first-run',
];
const BROWSER_WAIT_MS = 20_000;
const nginx = findBinary('nginx', '/usr/sbin/nginx');

function skipReason(): string | false {
  if (process.env.CI === 'true') return false;
  if (!existsSync(CHROMIUM)) return `Chromium not found at ${CHROMIUM}; install it with: apt-get install -y chromium`;
  if (!nginx) return 'nginx is not installed (scripts/test installs Debian\'s nginx-light as root; or apt-get install nginx-light)';
  return false;
}

/** openITCOCKPIT's location for the push service, as it ships it (only the upstream port differs). */
const OITC_LOCATION = (port: number): string => `
#Proxy for WebSockets over HTTPS (firewalls bypass)
location /push_notifications {
    proxy_pass http://127.0.0.1:${port};
    proxy_http_version 1.1;
    proxy_set_header Upgrade $http_upgrade;
    proxy_set_header Connection "upgrade";
}
`;

/**
 * The page: the frontend's sequence (config, plain WebSocket, register with the
 * key and the connection uuid, Notification per `message`). `?as=<id>` makes it
 * register as another user, as a tampering user would. `window.__ping()` sends a
 * keepAlive and resolves at its answer: frames arrive in order, so after it
 * resolves everything sent before has arrived.
 */
const PAGE = `<!doctype html>
<meta charset="utf-8"><title>legacy push</title>
<script>
window.__frames = []; window.__closed = null; window.__shown = [];
(async () => {
  const as = new URLSearchParams(location.search).get('as');
  const res = await fetch('/angular/push_configuration.json?angular=true&includeUser=true', { credentials: 'same-origin' });
  const config = await res.json();
  if (!config.user.hasPushContact) return;
  let browserUuid = localStorage.getItem('browserUuid');
  if (browserUuid === null) { browserUuid = crypto.randomUUID(); localStorage.setItem('browserUuid', browserUuid); }
  const key = config.websocket['SUDO_SERVER.API_KEY'];
  const userId = as === null ? config.user.id : Number(as);
  const ws = new WebSocket(config.websocket['PUSH_NOTIFICATIONS.URL']);
  let uuid = null;
  const pongs = [];
  window.__ping = () => new Promise((resolve) => { pongs.push(resolve); ws.send(JSON.stringify({ task: 'keepAlive', key, uuid })); });
  ws.onmessage = (event) => {
    window.__frames.push(event.data);
    const data = JSON.parse(event.data);
    if (data.type === 'connection') {
      uuid = data.data.uuid;
      ws.send(JSON.stringify({ task: 'register', key, uuid, data: { userId, browserUuid } }));
      window.__ping().then(() => { window.__registered = true; });
    } else if (data.type === 'keepAlive') {
      const resolve = pongs.shift(); if (resolve) resolve();
    } else if (data.type === 'message') {
      const options = { body: data.message };
      if (data.data.icon !== null) options.icon = data.data.icon;
      new Notification(data.data.title, options);
      window.__shown.push({ title: data.data.title, body: data.message });
    }
  };
  ws.onclose = (event) => { window.__closed = { code: event.code, reason: event.reason }; };
})();
</script>
`;

t.test('the legacy frontend through openITCOCKPIT\'s nginx location, with session binding', { skip: skipReason() }, async (t) => {
  if (!nginx || !existsSync(CHROMIUM)) {
    t.fail('Chromium and nginx are required under CI=true (scripts/test installs them)');
    return;
  }
  const web = await startOitcWeb({ 'sid-alice': 7, 'sid-mallory': 8 });
  t.teardown(() => web.close());
  const port = await freePort();
  const origin = `https://127.0.0.1:${port}`;
  const gw = await startTestGateway({
    config: { auth: { allowedOrigins: [origin], openitcockpitSession: { enabled: true, baseUrl: web.url, caFile: web.caFile } } },
  });
  t.teardown(() => gw.close());

  const prefix = await mkdtemp(join(tmpdir(), 'pushgate-oitc-nginx-'));
  t.teardown(() => rm(prefix, { recursive: true, force: true }));
  await mkdir(join(prefix, 'www'));
  await writeFile(join(prefix, 'www', 'index.html'), PAGE);
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
    listen 127.0.0.1:${port} ssl;
    ssl_certificate ${web.caFile};
    ssl_certificate_key ${web.keyFile};
    root ${prefix}/www;
    index index.html;
    # Stands in for openITCOCKPIT's php-fpm: the JSON API, answered with the browser's Host.
    location /angular/ {
      proxy_pass https://127.0.0.1:${web.port};
      proxy_set_header Host $http_host;
    }
${OITC_LOCATION(gw.port)}
  }
}
`);
  const check = spawnSync(nginx, ['-t', '-p', prefix, '-c', conf], { encoding: 'utf8', timeout: 20_000 });
  t.equal(check.status, 0, check.status === 0 ? "nginx -t accepts it" : `nginx -t: ${check.stderr}`);
  const proc: ChildProcess = spawn(nginx, ['-p', prefix, '-c', conf], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  proc.stderr!.on('data', (c: Buffer) => { stderr += c.toString(); });
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  t.teardown(async () => {
    proc.kill('SIGTERM');
    const timer = setTimeout(() => proc.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(timer);
  });
  const up = (): Promise<boolean> => new Promise((resolve) => {
    const req = request(`${origin}/`, { ca: [readFileSync(web.caFile)], timeout: 1000 }, (res) => { res.resume(); resolve(true); });
    req.on('error', () => resolve(false));
    req.on('timeout', () => req.destroy());
    req.end();
  });
  for (let i = 0; !(await up()); i++) {
    if (proc.exitCode !== null || i > 400) throw new Error(`nginx did not come up: ${stderr}${await readFile(join(prefix, 'error.log'), 'utf8').catch(() => '')}`);
    await new Promise((r) => setTimeout(r, 25));
  }

  const browser: Browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: FLAGS, timeout: BROWSER_WAIT_MS });
  t.teardown(() => browser.close());
  const contextFor = async (sessionId: string): Promise<BrowserContext> => {
    const context = await browser.newContext({ ignoreHTTPSErrors: true });
    await context.grantPermissions(['notifications'], { origin });
    await context.addCookies([{ name: SESSION_COOKIE, value: sessionId, url: origin, httpOnly: true, secure: true }]);
    return context;
  };
  const frames = (p: Page): Promise<string[]> => p.evaluate('window.__frames') as Promise<string[]>;
  const shown = async (pages: Page[]): Promise<{ title: string; body: string }[]> =>
    (await Promise.all(pages.map((p) => p.evaluate('window.__shown') as Promise<{ title: string; body: string }[]>))).flat();
  // After a keepAlive round trip every frame sent to the page before it has arrived.
  const settle = async (pages: Page[]): Promise<void> => { for (const p of pages) await p.evaluate('window.__ping()'); };

  const alice = await contextFor('sid-alice');
  t.teardown(() => alice.close());
  const tabs = [await alice.newPage(), await alice.newPage(), await alice.newPage()];
  for (const p of tabs) {
    await p.goto(`${origin}/`);
    await p.waitForFunction('window.__registered === true', undefined, { timeout: BROWSER_WAIT_MS });
  }
  await waitFor(() => gw.registry.countUser(7) === 3, BROWSER_WAIT_MS, 'three tabs of user 7 registered');
  t.equal(gw.registry.browsersOf(7).length, 1, 'one browser (the tabs share localStorage\'s browserUuid)');
  const first = (await frames(tabs[0]!))[0]!;
  t.match(first, /^\{"type":"connection","message":"Connection established successfully","data":\{"uuid":"[0-9a-f-]{36}"\}\}$/);
  t.equal((await frames(tabs[0]!))[1], '{"type":"keepAlive","message":"Pong","data":[]}');

  const mallory = await contextFor('sid-mallory');
  t.teardown(() => mallory.close());
  const thief = await mallory.newPage();
  await thief.goto(`${origin}/?as=7`);
  await thief.waitForFunction('window.__closed !== null', undefined, { timeout: BROWSER_WAIT_MS });
  t.same(await thief.evaluate('window.__closed'), { code: LegacyCloseCodes.sessionMismatch, reason: 'session belongs to another user' },
    'a browser logged in as user 8 cannot register as user 7');
  t.equal(gw.registry.countUser(7), 3, 'still only Alice\'s tabs');

  const res = await postMessage(gw, hostMessage({ userId: 7, output: 'seen once' }));
  t.same([res.status, res.body], [200, 'ok']);
  await waitFor(async () => (await shown(tabs)).length >= 1, BROWSER_WAIT_MS, 'the notification in one of Alice\'s tabs');
  await settle(tabs);
  t.same(await shown(tabs), [{ title: 'PROBLEM: web-01 is DOWN!', body: 'seen once' }], 'shown once across three tabs');
  t.same(await shown([thief]), [], 'nothing for the thief');
  const checks = web.requests.filter((r) => r.headers['user-agent'] === 'pushgate session check');
  t.ok(checks.length >= 2, 'pushgate asked openITCOCKPIT for both browsers\' sessions');
  t.ok(checks.every((r) => r.headers.host === `127.0.0.1:${web.port}`), 'at its configured address, not the browser\'s Host');
});
