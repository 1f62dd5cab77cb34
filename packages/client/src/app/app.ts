import { PushgateClient, type ClientState } from '../client.js';
import { deleteState, readState, writeState } from '../sw/state.js';

/**
 * The installable app's page (docs/web-push.md "The app"): enrols this
 * browser with a one-time link (`#enrol=<code>`), keeps a live WebSocket
 * (`<appPath>ws`, the device credential in place of the API key) and shows
 * its state, whether notifications are on, the last notifications, and
 * sends a test. The device credential lives in Cache Storage, where the
 * service worker finds it when it must re-subscribe.
 */

const base = new URL('./', location.href).href;
const api = (name: string): string => new URL(`api/${name}`, base).href;
const $ = (id: string): HTMLElement => document.getElementById(id)!;

function show(id: string, text: string, ok?: boolean): void {
  const el = $(id);
  el.textContent = text;
  if (ok === undefined) delete el.dataset.ok;
  else el.dataset.ok = String(ok);
}

async function credential(): Promise<string | undefined> {
  return readState<string>(base, 'credential');
}

async function call(name: string, method: string, body?: unknown): Promise<Response> {
  const cred = await credential();
  return fetch(api(name), {
    method,
    headers: { 'Content-Type': 'application/json', ...(cred !== undefined ? { Authorization: `Bearer ${cred}` } : {}) },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
}

/** `#enrol=<code>`: exchanged once for a device credential, then removed from the address bar. */
async function enrolFromLink(): Promise<void> {
  const m = /(?:^#|&)enrol=([A-Za-z0-9_-]+)/.exec(location.hash);
  if (!m) return;
  history.replaceState(null, '', location.pathname + location.search);
  const res = await fetch(api('enrol'), { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ code: m[1], label: navigator.userAgent }) });
  if (!res.ok) {
    show('connection', `Enrolment refused: ${(await res.text()).trim()}. Ask for a new link (pushgate enroll).`, false);
    throw new Error('enrolment refused');
  }
  const { credential: cred } = (await res.json()) as { credential: string };
  await writeState(base, 'credential', cred);
}

let live: PushgateClient | undefined;
/** Notifications that arrived over the live connection while this page is open. */
const liveSeen: Remembered[] = [];

function describe(state: ClientState): [string, boolean | undefined] {
  switch (state.state) {
    case 'connected': return ['Connected to pushgate: notifications arrive live while this page is open, by Web Push otherwise.', true];
    case 'connecting': return ['Connecting…', undefined];
    case 'reconnecting': return [`Connection lost (${state.reason}); retrying in ${Math.round(state.retryInMs / 1000)} s.`, false];
    case 'rejected': return [`pushgate refused this device (${state.reason}): enrol again if it was revoked.`, false];
    default: return ['Not connected.', false];
  }
}

/** The live connection for a user's device (Icinga contacts get Web Push only). */
async function connect(owner: string): Promise<void> {
  const cred = await credential();
  if (live !== undefined || cred === undefined || !owner.startsWith('user:')) return;
  const url = new URL('ws', base);
  url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
  // The service worker shows what arrives by Web Push; the live connection shows what arrives here.
  live = new PushgateClient({ url: url.href, userId: Number(owner.slice(5)), apiKey: cred });
  live.addEventListener('notification', (e) => {
    const n = (e as CustomEvent<{ title: string; message: string }>).detail;
    // Kept in the page only: the service worker alone writes the stored list (no two writers of one cache entry).
    liveSeen.unshift({ title: n.title, body: n.message, kind: 'live', receivedAt: Date.now() });
    liveSeen.length = Math.min(liveSeen.length, 20);
    void renderLast();
  });
  live.addEventListener('state', (e) => {
    const [text, ok] = describe((e as CustomEvent<ClientState>).detail);
    show('connection', text, ok);
  });
  live.start();
}

/** Who the server says this device is; false when it has no (valid) credential. */
async function checkServer(): Promise<boolean> {
  if ((await credential()) === undefined) {
    show('connection', 'Not enrolled: open the link `pushgate enroll` printed for you.', false);
    return false;
  }
  try {
    const res = await call('whoami', 'GET');
    if (res.status === 401) {
      await deleteState(base, 'credential');
      show('connection', 'This device was revoked or its credential is unknown: enrol again.', false);
      return false;
    }
    if (!res.ok) throw new Error(String(res.status));
    const who = (await res.json()) as { owner: string; device?: string };
    $('who').textContent = `Enrolled as ${who.owner}${who.device !== undefined ? ` (device ${who.device})` : ''}.`;
    if (who.owner.startsWith('user:')) await connect(who.owner);
    else show('connection', 'pushgate knows this device: notifications arrive by Web Push.', true);
    return true;
  } catch (err) {
    show('connection', `Server not reachable (${(err as Error).message}); retrying.`, false);
    return false;
  }
}

function b64urlToBytes(s: string): Uint8Array<ArrayBuffer> {
  return Uint8Array.from(atob(s.replace(/-/g, '+').replace(/_/g, '/')), (c) => c.charCodeAt(0));
}

async function registration(): Promise<ServiceWorkerRegistration> {
  return navigator.serviceWorker.register(new URL('sw.js', base).href, { scope: base });
}

async function pushState(): Promise<void> {
  if (!('serviceWorker' in navigator) || !('PushManager' in window)) {
    show('push', 'This browser has no Web Push (on iOS: add this page to the home screen first, iOS 16.4+).', false);
    return;
  }
  const reg = await registration();
  const sub = await reg.pushManager.getSubscription();
  if (Notification.permission === 'denied') show('push', 'Notifications are blocked for this site in the browser settings.', false);
  else if (sub !== null) show('push', 'Notifications are on for this browser.', true);
  else show('push', 'Notifications are off: press "Enable notifications".');
}

/** Asks for permission, subscribes with pushgate's VAPID key and registers the subscription. */
async function enable(): Promise<void> {
  const permission = await Notification.requestPermission();
  if (permission !== 'granted') {
    show('push', 'Permission not granted: notifications stay off.', false);
    return;
  }
  const reg = await registration();
  const { vapidPublicKey } = (await (await fetch(api('config'))).json()) as { vapidPublicKey: string };
  const sub = (await reg.pushManager.getSubscription()) ?? (await reg.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: b64urlToBytes(vapidPublicKey) }));
  const res = await call('subscription', 'POST', { subscription: sub.toJSON() });
  if (!res.ok) show('push', `pushgate refused the subscription: ${(await res.text()).trim()}`, false);
  else show('push', 'Notifications are on for this browser.', true);
}

interface Remembered { title?: string; body?: string; kind?: string; receivedAt?: number }

async function renderLast(): Promise<void> {
  const list = [...((await readState<Remembered[]>(base, 'last')) ?? []), ...liveSeen]
    .sort((a, b) => (b.receivedAt ?? 0) - (a.receivedAt ?? 0)).slice(0, 20);
  const ol = $('last');
  ol.replaceChildren(...(list.length === 0 ? [Object.assign(document.createElement('li'), { textContent: 'None yet.' })] : list.map((n) => {
    const li = document.createElement('li');
    li.textContent = n.title ?? '';
    const small = document.createElement('small');
    small.textContent = `${n.kind ?? ''} ${n.receivedAt !== undefined ? new Date(n.receivedAt).toLocaleString() : ''} ${n.body ?? ''}`;
    li.append(small);
    return li;
  })));
}

async function main(): Promise<void> {
  await enrolFromLink().catch(() => undefined);
  const ok = await checkServer();
  ($('test') as HTMLButtonElement).disabled = !ok;
  await pushState().catch((err: unknown) => show('push', `Service worker failed: ${(err as Error).message}`, false));
  await renderLast();
  $('enable').addEventListener('click', () => void enable().catch((err: unknown) => show('push', `Could not enable: ${(err as Error).message}`, false)));
  $('test').addEventListener('click', () => void call('test', 'POST', {}).then((r) => show('push', r.ok ? 'Test sent: it should appear in a moment.' : `Test refused (${r.status}).`, r.ok)));
  navigator.serviceWorker.addEventListener('message', () => void renderLast());
  setInterval(() => void checkServer().then((up) => { ($('test') as HTMLButtonElement).disabled = !up; }), 30_000);
}

void main();
