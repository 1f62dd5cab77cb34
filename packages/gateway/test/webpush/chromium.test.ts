/**
 * The service worker in a real Chromium (docs/web-push.md "Tests"): the app
 * registers it, a push is delivered to it through the DevTools protocol
 * (`ServiceWorker.deliverPushMessage`) with exactly the plaintext pushgate
 * sent to the push-service stand-in, and the test reads what the worker
 * showed. Chromium's own `pushManager.subscribe` needs Google's push
 * service, which is not reachable here, so the subscription registered with
 * pushgate is the stand-in's.
 */
import { existsSync } from 'node:fs';
import t from 'tap';
import { chromium, type BrowserContext, type CDPSession, type Page } from 'playwright-core';
import { HOST_UUID, hostMessage, postMessage, SERVICE_UUID } from '../helpers.js';
import { eventually, pushSetup } from './harness.js';

const CHROMIUM = '/usr/bin/chromium';
const FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'];
const BROWSER_WAIT_MS = 20_000;

const skip = !existsSync(CHROMIUM) && process.env.CI !== 'true'
  ? `Chromium not found at ${CHROMIUM}; install it with: apt-get install -y chromium (scripts/test does when it can)` : false;

interface Shown { title: string; body: string; icon: string; tag: string; renotify: boolean; data: { url: string; kind?: string } }

async function shownNotifications(page: Page): Promise<Shown[]> {
  // Browser code as strings: the tests type-check with Node's types, not the DOM's.
  return page.evaluate(`navigator.serviceWorker.ready.then((reg) => reg.getNotifications()).then((list) =>
    list.map((n) => ({ title: n.title, body: n.body, icon: n.icon, tag: n.tag, renotify: n.renotify, data: n.data })))`) as Promise<Shown[]>;
}

/** The registration id of the app's service worker, from the DevTools protocol. */
async function registrationId(cdp: CDPSession, scope: string): Promise<string> {
  let id: string | undefined;
  cdp.on('ServiceWorker.workerRegistrationUpdated', (e: { registrations: { registrationId: string; scopeURL: string; isDeleted: boolean }[] }) => {
    for (const r of e.registrations) if (r.scopeURL === scope && !r.isDeleted) id = r.registrationId;
  });
  await cdp.send('ServiceWorker.enable');
  return eventually(() => id, 'the service worker registration');
}

t.test('a push wakes the service worker: title, body, icon, tag; a RECOVERY replaces its PROBLEM; a click opens the URL', { skip }, async (t) => {
  // `always`: the app page keeps a live WebSocket, which would otherwise make the user count as having a tab open.
  const { push, gw } = await pushSetup(t, { when: 'always', clickUrl: { service: 'https://oitc.example/#!/services/browser/{serviceUuid}' } });
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: FLAGS });
  t.teardown(() => browser.close());
  const context: BrowserContext = await browser.newContext({ bypassCSP: true });
  await context.grantPermissions(['notifications'], { origin: gw.url });
  const page = await context.newPage();

  // Enrolment without the API key: the link's code is exchanged by the app page.
  const code = await gw.webPush!.devices.createLink({ owner: 'user:1' }, 60_000);
  await page.goto(`${gw.url}/app/#enrol=${code}`);
  await page.waitForFunction(`document.getElementById('connection').dataset.ok === 'true'`, undefined, { timeout: BROWSER_WAIT_MS });
  t.match(await page.textContent('#who'), /Enrolled as user:1 \(device [0-9a-f]{16}\)/);
  t.match(await page.textContent('#connection'), /^Connected to pushgate/, 'the live WebSocket, authenticated by the device credential');
  await eventually(() => gw.registry.isRegistered(1), 'the app registered as user 1');
  t.notMatch(page.url(), /enrol=/, 'the code leaves the address bar');
  await page.evaluate('navigator.serviceWorker.ready.then(() => undefined)');
  const manifest = await (await fetch(`${gw.url}/app/manifest.webmanifest`)).json() as { icons: { src: string }[]; display: string };
  t.equal(manifest.display, 'standalone', 'installable: a manifest with display standalone');
  for (const icon of manifest.icons) t.equal((await fetch(`${gw.url}/app/${icon.src}`)).status, 200, icon.src);

  // The stand-in's subscription, registered by the page with its device credential.
  const sub = push.subscribe();
  const status = await page.evaluate(`(async (subscription) => {
    const cache = await caches.open('pushgate-app');
    const credential = await (await cache.match(new URL('__state/credential', location.href).href)).json();
    const res = await fetch('api/subscription', { method: 'POST', headers: { 'Content-Type': 'application/json', Authorization: 'Bearer ' + credential }, body: JSON.stringify({ subscription }) });
    return res.status;
  })(${JSON.stringify({ endpoint: sub.endpoint, keys: sub.keys })})`);
  t.equal(status, 201);
  await page.close();

  const cdp = await context.newCDPSession(await context.newPage());
  const scope = `${gw.url}/app/`;
  const regId = await registrationId(cdp, scope);
  const viewer = context.pages()[0]!;
  await viewer.goto(`${gw.url}/app/`);

  const problem = hostMessage({ type: 'service', serviceUuid: SERVICE_UUID, state: 2, output: 'CRITICAL - connection refused' });
  t.equal((await postMessage(gw, problem)).status, 200);
  const [p] = await push.waitFor(1);
  const payload = JSON.parse(p!.plaintext) as { title: string; body: string; icon?: string; key: string };
  await cdp.send('ServiceWorker.deliverPushMessage', { origin: gw.url, registrationId: regId, data: p!.plaintext });
  const shown = await eventually(async () => { const s = await shownNotifications(viewer); return s.length === 1 ? s : undefined; }, 'the PROBLEM on screen', BROWSER_WAIT_MS);
  t.equal(shown[0]!.title, payload.title);
  t.equal(shown[0]!.body, 'CRITICAL - connection refused');
  t.equal(shown[0]!.tag, `${HOST_UUID}/${SERVICE_UUID}`, 'tag = object key');
  t.equal(shown[0]!.icon, payload.icon === undefined ? '' : new URL(payload.icon, scope).href, 'the payload\'s icon');
  t.equal(shown[0]!.renotify, true, 'a new PROBLEM renotifies');
  t.equal(shown[0]!.data.url, `https://oitc.example/#!/services/browser/${SERVICE_UUID}`);

  await postMessage(gw, { ...problem, state: 0, notificationtype: 'RECOVERY', output: 'OK - back' });
  const [, r] = await push.waitFor(2);
  await cdp.send('ServiceWorker.deliverPushMessage', { origin: gw.url, registrationId: regId, data: r!.plaintext });
  const after = await eventually(async () => { const s = await shownNotifications(viewer); return s.length === 1 && s[0]!.body === 'OK - back' ? s : undefined; }, 'the RECOVERY replacing the PROBLEM', BROWSER_WAIT_MS);
  t.equal(after.length, 1, 'one notification for the object: the RECOVERY replaced the PROBLEM');
  t.equal(after[0]!.data.kind, 'RECOVERY');
  t.equal(after[0]!.renotify, false);

  // The app lists what the worker showed.
  await viewer.reload();
  await viewer.waitForFunction(`document.querySelectorAll('#last li').length >= 2 && document.querySelector('#last li').textContent.includes('OK - back')`, undefined, { timeout: BROWSER_WAIT_MS });

  // A click on the notification: dispatched in the worker (DevTools has no notification click), it opens the URL.
  const [worker] = context.serviceWorkers();
  t.ok(worker, 'the service worker is reachable');
  const opened = context.waitForEvent('page', { timeout: BROWSER_WAIT_MS }).catch(() => undefined);
  const clickError = await worker!.evaluate(`(async () => {
    const [n] = await self.registration.getNotifications();
    const errors = [];
    self.addEventListener('unhandledrejection', (e) => errors.push(String(e.reason)));
    self.dispatchEvent(new NotificationEvent('notificationclick', { notification: n }));
    // The handler's promise settles within a few event-loop turns; bounded, as there is no event to await here.
    for (let i = 0; i < 50 && errors.length === 0; i++) await new Promise((r) => setTimeout(r, 20));
    return errors.join('; ');
  })()`) as string;
  const page2 = await opened;
  t.comment(`click: ${page2 ? `opened ${page2.url()}` : `no window (${clickError})`}`);
  t.ok(page2 !== undefined || /not allowed to open a window|InvalidAccessError/i.test(clickError), 'the click handler asked for the URL (a synthetic click may not open windows)');
  if (page2) t.equal(page2.url(), `https://oitc.example/#!/services/browser/${SERVICE_UUID}`);
  t.same(await shownNotifications(viewer), [], 'the clicked notification is closed');
});
