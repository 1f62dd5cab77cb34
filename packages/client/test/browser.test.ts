/**
 * `@pushgate/client` and the demo page in a real browser: Debian's Chromium
 * driven by playwright-core against a real gateway on loopback port 0.
 * `window.Notification` is wrapped by an init script that records each
 * notification the page shows (instrumentation of the browser API; the
 * client itself runs unchanged).
 *
 * Chromium: `/usr/bin/chromium` (scripts/test installs it when missing);
 * absent outside CI the test skips with the reason, under CI=true it fails.
 * `PUSHGATE_UPDATE_SCREENSHOT=1` rewrites docs/demo.png.
 */
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { parseConfig } from '../../gateway/src/config.js';
import { demoRoutes } from '../../gateway/src/transport/http/demo.js';
import { icingaFrame } from '../../gateway/src/transport/sse/icinga-frame.js';
import { icingaService } from '../../gateway/test/icinga-pipeline.js';
import { FileDirectory } from '../../gateway/src/directory/file.js';
import { createIcingaFixture, mariadbSkip } from '../../gateway/test/fixtures/icinga.js';
import { nagiosSkip, startNagios } from '../../gateway/test/fixtures/nagios.js';
import {
  HOST_UUID, hostMessage, openRegisteredClient, postMessage, SERVICE_UUID, silentLogger, startTestGateway, TEST_API_KEY, testDirectoryData, waitFor,
} from '../../gateway/test/helpers.js';
import { until } from '../../gateway/test/sse-client.js';
import { startTcpProxy } from '../../gateway/test/tcp-proxy.js';

const CHROMIUM = '/usr/bin/chromium';
const FLAGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
  '--disable-component-update', '--disable-sync', '--no-first-run',
];
/** Bound of every wait in a browser (Chromium on a loaded 2-core machine). */
const BROWSER_WAIT_MS = 20_000;
const repo = new URL('../../../', import.meta.url);

function chromiumSkip(): string | false {
  if (existsSync(CHROMIUM)) return false;
  if (process.env.CI === 'true') return false;
  return `Chromium not found at ${CHROMIUM}; install it with: apt-get install -y chromium (scripts/test does when it can)`;
}

/**
 * Records every notification the page constructs, in `window.__shown` (and
 * the objects in `window.__instances`, so a test can click one), then
 * constructs the real one.
 */
const RECORD_NOTIFICATIONS = `(() => {
  window.__shown = [];
  window.__instances = [];
  const Real = window.Notification;
  if (typeof Real !== 'function') return;
  window.Notification = class extends Real {
    constructor(title, options) {
      super(title, options);
      window.__shown.push({ title, tag: options && options.tag, body: options && options.body });
      window.__instances.push(this);
    }
  };
})();`;

interface Shown { title: string; tag?: string; body?: string }

async function shown(page: Page): Promise<Shown[]> {
  return page.evaluate('window.__shown') as Promise<Shown[]>;
}

/** Wait until the demo page's state badge reads `state`. */
async function waitState(page: Page, state: string): Promise<void> {
  await page.waitForFunction(`document.getElementById('status').dataset.state === ${JSON.stringify(state)}`, undefined, { timeout: BROWSER_WAIT_MS });
}

/** Wait until the demo page lists a notification whose title contains `text`. */
async function waitListed(page: Page, text: string, ms = BROWSER_WAIT_MS): Promise<void> {
  await page.waitForFunction(`[...document.querySelectorAll('#list .title')].some((e) => e.textContent.includes(${JSON.stringify(text)}))`, undefined, { timeout: ms });
}

async function listed(page: Page): Promise<string[]> {
  return page.evaluate(`[...document.querySelectorAll('#list .title')].map((e) => e.textContent)`) as Promise<string[]>;
}

async function newContext(browser: Browser, origin: string, opts: { userAgent?: string; permission?: boolean } = {}): Promise<BrowserContext> {
  // bypassCSP: waitForFunction polls string predicates with eval, which the demo page's CSP (script-src 'self') forbids.
  const context = await browser.newContext({ bypassCSP: true, ...(opts.userAgent ? { userAgent: opts.userAgent } : {}) });
  if (opts.permission ?? true) await context.grantPermissions(['notifications'], { origin });
  await context.addInitScript(RECORD_NOTIFICATIONS);
  return context;
}

t.test('in Chromium', { skip: chromiumSkip() }, async (t) => {
  const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: FLAGS, timeout: BROWSER_WAIT_MS });
  // Closing the browser ends the Chromium processes it started.
  t.teardown(() => browser.close());

  const gw = await startTestGateway({ httpRoutes: demoRoutes({ demoApiKey: TEST_API_KEY }) });
  t.teardown(() => gw.close());

  await t.test('a /message notification is shown exactly once across 3 tabs of one browser, and once in a second browser', async (t) => {
    const a = await newContext(browser, gw.url);
    t.teardown(() => a.close());
    const tabs = [await a.newPage(), await a.newPage(), await a.newPage()];
    for (const p of tabs) await p.goto(`${gw.url}/demo?userId=1`);
    for (const p of tabs) await waitState(p, 'connected');
    const b = await newContext(browser, gw.url);
    t.teardown(() => b.close());
    const other = await b.newPage();
    await other.goto(`${gw.url}/demo?userId=1`);
    await waitState(other, 'connected');
    await waitFor(() => gw.registry.isRegistered(1) && gw.registry.countUser(1) === 2, BROWSER_WAIT_MS, 'one connection per browser, registered');

    const res = await postMessage(gw, hostMessage({ type: 'service', serviceUuid: SERVICE_UUID, state: 2, output: 'HTTP 500' }));
    t.equal(res.status, 200);
    const title = 'PROBLEM: web-01/HTTP is CRITICAL!';
    // Each tab shows (or not) in the same task that lists it: once all list it, every show has happened.
    for (const p of [...tabs, other]) await waitListed(p, title);
    const inA = (await Promise.all(tabs.map(shown))).flat();
    t.same(inA.map((n) => n.title), [title], 'one OS notification in browser A');
    t.equal(inA[0]?.tag, `pushgate:${hostMessage().hostUuid as string}:${SERVICE_UUID}`, 'tagged per host and service');
    t.equal(inA[0]?.body, 'HTTP 500');
    t.same((await shown(other)).map((n) => n.title), [title], 'one in browser B');
    const leaders = await Promise.all(tabs.map((p) => p.evaluate('window.pushgateClient.leader')));
    t.equal(leaders.filter(Boolean).length, 1, 'one leader tab');
  });

  await t.test('a notification sent while the connection is cut is shown exactly once after the client reconnects', async (t) => {
    const proxy = await startTcpProxy({ host: '127.0.0.1', port: gw.port });
    t.teardown(() => proxy.close());
    const origin = `http://127.0.0.1:${proxy.port}`;
    // The user's other device keeps them registered at /message while this browser is away.
    const phone = await openRegisteredClient(gw, { userId: 2, browserUuid: 'other-device' });
    t.teardown(() => phone.close());
    const ctx = await newContext(browser, origin);
    t.teardown(() => ctx.close());
    const page = await ctx.newPage();
    await page.goto(`${origin}/demo?userId=2`);
    await waitState(page, 'connected');
    await waitFor(() => gw.registry.countUser(2) === 2, BROWSER_WAIT_MS, 'the browser connected through the proxy');

    const before = await postMessage(gw, hostMessage({ userId: 2, output: 'before the cut' }));
    t.equal(before.status, 200);
    await waitListed(page, 'PROBLEM: web-01 is DOWN!');
    await phone.next();

    proxy.cut();
    await waitState(page, 'reconnecting');
    await waitFor(() => gw.registry.countUser(2) === 1, BROWSER_WAIT_MS, 'the gateway saw the browser go');
    const during = await postMessage(gw, hostMessage({ userId: 2, notificationtype: 'RECOVERY', state: 0, output: 'sent while cut' }));
    t.equal(during.status, 200);
    await phone.next();
    t.same((await shown(page)).map((n) => n.title), ['PROBLEM: web-01 is DOWN!'], 'nothing new while cut');

    proxy.restore();
    // The backoff doubles per failed attempt while cut (0.5 s, 1 s, 2 s, ...): a slow machine may wait one long step.
    await waitListed(page, 'RECOVERY: web-01 is UP!', 3 * BROWSER_WAIT_MS);
    await waitState(page, 'connected');
    const after = await postMessage(gw, hostMessage({ userId: 2, notificationtype: 'ACKNOWLEDGEMENT', ackauthor: 'alice', ackcomment: 'on it' }));
    t.equal(after.status, 200);
    await waitListed(page, 'Acknowledgement for web-01');
    t.same((await shown(page)).map((n) => n.title),
      ['PROBLEM: web-01 is DOWN!', 'RECOVERY: web-01 is UP!', 'Acknowledgement for web-01 (DOWN)'],
      'each once, in order: the missed one replayed after the reconnect');
    t.same(await listed(page), ['Acknowledgement for web-01 (DOWN)', 'RECOVERY: web-01 is UP!', 'PROBLEM: web-01 is DOWN!']);
  });

  await t.test('the demo page shows state and notifications and its button sends a test notification', async (t) => {
    const ctx = await newContext(browser, gw.url);
    t.teardown(() => ctx.close());
    const page = await ctx.newPage();
    await page.setViewportSize({ width: 900, height: 640 });
    const response = await page.goto(`${gw.url}/demo?userId=3`);
    t.match(response?.headers()['content-security-policy'], /script-src 'self'/, 'no inline script runs on the page');
    t.equal(response?.headers()['cache-control'], 'no-store', 'the page carrying the demo key is never cached');
    await waitState(page, 'connected');
    await waitFor(() => gw.registry.isRegistered(3), BROWSER_WAIT_MS, 'user 3 registered');
    t.equal(await page.textContent('#status'), 'connected');
    t.ok(await page.isHidden('#login'), 'the embedded demo needs no key form');
    await postMessage(gw, hostMessage({ userId: 3, type: 'service', serviceUuid: SERVICE_UUID, state: 2, output: 'HTTP CRITICAL - 500 Internal Server Error' }));
    await waitListed(page, 'PROBLEM: web-01/HTTP is CRITICAL!');
    await page.click('#test');
    await waitListed(page, 'Test notification from the demo page');
    t.same((await shown(page)).map((n) => n.title), ['PROBLEM: web-01/HTTP is CRITICAL!', 'Test notification from the demo page']);

    const dir = await mkdtemp(join(tmpdir(), 'pushgate-demo-'));
    t.teardown(() => rm(dir, { recursive: true, force: true }));
    const target = process.env.PUSHGATE_UPDATE_SCREENSHOT === '1' ? new URL('docs/demo.png', repo).pathname : join(dir, 'demo.png');
    await page.screenshot({ path: target, fullPage: true });
    const png = await readFile(target);
    t.equal(png.subarray(1, 4).toString('latin1'), 'PNG', 'a PNG screenshot');
  });

  await t.test('a configured deployment\'s demo page asks for the key instead of carrying one', async (t) => {
    const plain = await startTestGateway({ httpRoutes: demoRoutes() });
    t.teardown(() => plain.close());
    const ctx = await newContext(browser, plain.url);
    t.teardown(() => ctx.close());
    const page = await ctx.newPage();
    await page.goto(`${plain.url}/demo`);
    t.notOk(await page.isHidden('#login'), 'the key form is shown');
    t.notMatch(await page.content(), TEST_API_KEY);
    await page.fill('#apiKey', 'wrong-key-0123456789abcdef');
    await page.click('#login button');
    await waitState(page, 'rejected');
    t.match(await page.textContent('#detail'), /refused/);
    await page.evaluate('window.pushgateClient.stop()');
  });

  /** The receipts the gateway's trail holds for notification `id`: `<kind> <device>`, in order. */
  const receiptsOf = async (id: number): Promise<string[]> => ((await gw.trail!.read(id)) ?? [])
    .filter((e) => e.type === 'receipt').map((e) => `${e.kind as string} ${e.device as string}${e.reason ? ` ${e.reason as string}` : ''}`);
  /** The id of the next notification the gateway accepts (one node, one slot: the last one plus one). */
  const nextId = (): number => gw.ids.lastId + 1;

  await t.test('receipts from a real tab: delivered and shown once per notification and browser, clicked when clicked', async (t) => {
    const ctx = await newContext(browser, gw.url);
    t.teardown(() => ctx.close());
    const tabs = [await ctx.newPage(), await ctx.newPage()];
    for (const p of tabs) await p.goto(`${gw.url}/demo?userId=11`);
    for (const p of tabs) await waitState(p, 'connected');
    await waitFor(() => gw.registry.isRegistered(11), BROWSER_WAIT_MS, 'user 11 registered');
    const device = await tabs[0]!.evaluate('window.pushgateClient.browserUuid') as string;
    const id = nextId();
    t.equal((await postMessage(gw, hostMessage({ userId: 11, type: 'service', serviceUuid: SERVICE_UUID, state: 2, output: 'HTTP 500' }))).status, 200);
    await waitFor(async () => (await receiptsOf(id)).length >= 2, BROWSER_WAIT_MS, 'delivered and shown reached the trail');
    t.same(await receiptsOf(id), [`delivered ${device}`, `shown ${device}`], 'once for the browser, although two tabs have it');

    const leader = (await Promise.all(tabs.map((p) => p.evaluate('window.pushgateClient.leader')))).indexOf(true);
    // The page's Notification object stands in for the OS: its onclick is what a click on it runs.
    await tabs[leader]!.evaluate('window.__instances[0].onclick()');
    await waitFor(async () => (await receiptsOf(id)).length === 3, BROWSER_WAIT_MS, 'the click reached the trail');
    t.same(await receiptsOf(id), [`delivered ${device}`, `shown ${device}`, `clicked ${device}`], 'a click is no dismissal');
  });

  await t.test('a tab leader that suppresses a duplicate another context showed reports suppressed, not shown', async (t) => {
    const ctx = await newContext(browser, gw.url);
    t.teardown(() => ctx.close());
    const page = await ctx.newPage();
    await page.goto(`${gw.url}/demo?userId=12`);
    await waitState(page, 'connected');
    await waitFor(() => gw.registry.isRegistered(12), BROWSER_WAIT_MS, 'user 12 registered');
    const device = await page.evaluate('window.pushgateClient.browserUuid') as string;
    const id = nextId();
    // Another context of the browser (the service worker's role) says it shows this notification, on the tabs' channel.
    const other = await ctx.newPage();
    await other.goto(`${gw.url}/healthz`);
    await other.evaluate(`new BroadcastChannel(${JSON.stringify(`pushgate:ws://${new URL(gw.url).host}/:12`)}).postMessage({ kind: 'shown', id: ${id} })`);
    t.equal((await postMessage(gw, hostMessage({ userId: 12, output: 'PING CRITICAL' }))).status, 200);
    await waitListed(page, 'PROBLEM: web-01 is DOWN!');
    await waitFor(async () => (await receiptsOf(id)).length >= 2, BROWSER_WAIT_MS, 'receipts reached the trail');
    t.same(await receiptsOf(id), [`delivered ${device}`, `suppressed ${device} shown-elsewhere`]);
    t.same(await shown(page), [], 'the tab did not show it a second time');
  });

  await t.test('without notification permission the tab reports suppressed', async (t) => {
    const ctx = await newContext(browser, gw.url, { permission: false });
    t.teardown(() => ctx.close());
    const page = await ctx.newPage();
    await page.goto(`${gw.url}/demo?userId=13`);
    await waitState(page, 'connected');
    await waitFor(() => gw.registry.isRegistered(13), BROWSER_WAIT_MS, 'user 13 registered');
    const device = await page.evaluate('window.pushgateClient.browserUuid') as string;
    const id = nextId();
    t.equal((await postMessage(gw, hostMessage({ userId: 13 }))).status, 200);
    await waitFor(async () => (await receiptsOf(id)).length >= 2, BROWSER_WAIT_MS, 'receipts reached the trail');
    t.same(await receiptsOf(id), [`delivered ${device}`, `suppressed ${device} permission`]);
  });

  await t.test('a RECOVERY replaces the PROBLEM: the same tag', async (t) => {
    const ctx = await newContext(browser, gw.url);
    t.teardown(() => ctx.close());
    const page = await ctx.newPage();
    await page.goto(`${gw.url}/demo?userId=14`);
    await waitState(page, 'connected');
    await waitFor(() => gw.registry.isRegistered(14), BROWSER_WAIT_MS, 'user 14 registered');
    await postMessage(gw, hostMessage({ userId: 14, type: 'service', serviceUuid: SERVICE_UUID, state: 2, output: 'HTTP 500' }));
    await postMessage(gw, hostMessage({ userId: 14, type: 'service', serviceUuid: SERVICE_UUID, notificationtype: 'RECOVERY', state: 0, output: 'HTTP 200' }));
    await waitListed(page, 'RECOVERY: web-01/HTTP is OK!');
    const tags = (await shown(page)).map((n) => n.tag);
    t.equal(tags.length, 2);
    t.equal(tags[0], tags[1], 'the OS replaces the PROBLEM with the RECOVERY');
  });

  await t.test('the demo page\'s Acknowledge button acknowledges in nagios4 and shows the result', { skip: nagiosSkip() }, async (t) => {
    const host = HOST_UUID;
    const nagios = await startNagios(t, {
      objects: `define host {\n  use generic-host\n  host_name ${host}\n}\ndefine service {\n  use generic-service\n  host_name ${host}\n  service_description ${SERVICE_UUID}\n  check_command pushgate-noop\n}\n`,
    });
    const ackGw = await startTestGateway({
      httpRoutes: demoRoutes({ demoApiKey: TEST_API_KEY }),
      config: {
        auth: { secrets: ['action-secret-0123456789abcdef0123456789'] },
        acknowledge: { engine: { type: 'naemon', commandFile: nagios.commandFile, statusFile: nagios.statusFile, statusWaitMs: 10_000 } },
      },
      directory: new FileDirectory(testDirectoryData({ users: { 15: 'Dana Demo' } })),
    });
    t.teardown(() => ackGw.close());
    await nagios.serviceResult(host, SERVICE_UUID, 2, 'CRITICAL - down');
    await nagios.waitService(host, SERVICE_UUID, (s) => s.current_state === '2');
    const ctx = await newContext(browser, ackGw.url);
    t.teardown(() => ctx.close());
    const page = await ctx.newPage();
    await page.goto(`${ackGw.url}/demo?userId=15`);
    await waitState(page, 'connected');
    await waitFor(() => ackGw.registry.isRegistered(15), BROWSER_WAIT_MS, 'user 15 registered');
    await postMessage(ackGw, hostMessage({ userId: 15, type: 'service', serviceUuid: SERVICE_UUID, state: 2, output: 'HTTP 500' }));
    await waitListed(page, 'PROBLEM: web-01/HTTP is CRITICAL!');
    await page.click('#list button.ack');
    await page.waitForFunction(`document.querySelector('#list .ack-result').dataset.outcome !== undefined`, undefined, { timeout: BROWSER_WAIT_MS });
    t.match(await page.textContent('#list .ack-result'), /^done: ACKNOWLEDGE_SVC_PROBLEM/, 'the person sees the engine took it');
    t.ok(await page.isDisabled('#list button.ack'), 'the button cannot be used twice');
    await nagios.waitService(host, SERVICE_UUID, (s) => s.problem_has_been_acknowledged === '1');
    t.match(await nagios.comments(host, SERVICE_UUID), [{ entry_type: '4', author: 'Dana Demo' }]);
  });

  await t.test('an Icinga-style EventSource page receives an icinga2.notification', { skip: await mariadbSkip() }, async (t) => {
    const UA = 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0 Safari/537.36';
    const fx = await createIcingaFixture();
    t.teardown(() => fx.drop());
    await fx.contact({ id: 1, username: 'alice' });
    await fx.session({ id: 'sess-alice', username: 'alice', userAgent: UA, authenticatedAt: Date.now() - 1000 });
    const T0 = Date.UTC(2024, 4, 1, 12, 0, 0, 123);
    await fx.incident({ id: 1, object: 'web-01!HTTP', severity: 'crit', startedAt: T0 });
    const config = parseConfig({
      icinga: { enabled: true, database: fx.connection, pollIntervalMs: 600_000, keepAliveFirstMs: 600_000, keepAliveMs: 600_000 },
    }).icinga;
    const svc = await icingaService({ config, connection: fx.connection, logger: silentLogger() });
    t.teardown(() => svc.close());
    const port = await svc.listen('127.0.0.1', 0);
    await svc.poller.pollOnce();

    const origin = `http://127.0.0.1:${port}`;
    const ctx = await newContext(browser, origin, { userAgent: UA });
    t.teardown(() => ctx.close());
    await ctx.addCookies([{ name: 'Icingaweb2', value: 'sess-alice', url: origin }]);
    const page = await ctx.newPage();
    // Only this page is served by the test (Icinga Web's role); the stream is the real endpoint on the same origin.
    await page.route(`${origin}/icingaweb2/`, (route) => route.fulfill({
      contentType: 'text/html',
      body: `<!doctype html><script>
        window.events = [];
        const es = new EventSource('/icingaweb2/notifications/v1/subscribe');
        es.addEventListener('icinga2.notification', (e) => window.events.push({ data: e.data, id: e.lastEventId }));
      </script>`,
    }));
    await page.goto(`${origin}/icingaweb2/`);
    await until(() => svc.hub.size('1') === 1, 'the browser\'s stream', BROWSER_WAIT_MS);
    await fx.notified({ id: 1, incident: 1, contact: 1, time: T0 + 1, message: 'HTTP CRITICAL - 500', state: 'sent' });
    await svc.poller.pollOnce();
    await page.waitForFunction('window.events.length === 1', undefined, { timeout: BROWSER_WAIT_MS });
    const expected = icingaFrame({ id: 1, time: T0 + 1, incidentId: 1, severity: 'crit', title: 'web-01!HTTP', message: 'HTTP CRITICAL - 500' }, 3000)
      .toString().split('\n').find((l) => l.startsWith('data: '))!.slice('data: '.length);
    t.same(await page.evaluate('window.events'), [{ data: expected, id: '1' }]);
  });
});
