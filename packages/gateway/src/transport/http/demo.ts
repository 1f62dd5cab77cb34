import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import type { ServerResponse } from 'node:http';
import { fileURLToPath } from 'node:url';
import { isLoopback } from '../../auth/loopback.js';
import type { HttpHandler, HttpRoute } from './server.js';

/**
 * The demo page (`demo.enabled`): `GET /demo` shows the connection state,
 * the last notifications and a "send test notification" button, driven by
 * `@pushgate/client` served from `/demo/pushgate-client.js`.
 *
 * Demo-only key injection: when the gateway runs on the embedded demo
 * directory (started without a config), the composition root (gateway.ts) passes that directory's
 * freshly generated API key and the page carries it in an inline JSON
 * block, so a newcomer sees notifications without copying a key. Only
 * loopback peers get it (the embedded default listens on 127.0.0.1, but
 * IS_CONTAINER=1 binds every address); others, and every configured
 * deployment, get a page that asks for the key, which stays in the page's
 * memory.
 */

/** Options of {@link demoRoutes}. */
export interface DemoOptions {
  /** Embedded demo directory's API key, injected into the page; leave out for configured deployments. */
  demoApiKey?: string;
  /** File of the client bundle; default `@pushgate/client`'s `dist/pushgate-client.js`. */
  clientBundlePath?: string;
}

// Set by the release bundle (scripts/release/bundles.mjs): where the client sits in the release
// tree, relative to the bundle's folder; there is no node_modules to resolve it from.
declare const __PUSHGATE_CLIENT_BUNDLE__: string | undefined;

/** File of the client bundle: beside the release bundle, or `@pushgate/client`'s `dist/pushgate-client.js` (the Web Push app sits beside it in `app/`). */
export function defaultClientBundle(): string {
  if (typeof __PUSHGATE_CLIENT_BUNDLE__ === 'string') return fileURLToPath(new URL(__PUSHGATE_CLIENT_BUNDLE__, import.meta.url));
  return createRequire(import.meta.url).resolve('@pushgate/client/dist/pushgate-client.js');
}

/** Path of the page. */
export const DEMO_PATH = '/demo';

const HEADERS = {
  'Cache-Control': 'no-store',
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
  'Content-Security-Policy': "default-src 'self'; connect-src 'self' ws: wss:; img-src 'self' data:; style-src 'self' 'unsafe-inline'; script-src 'self'",
} as const;

function send(res: ServerResponse, status: number, type: string, body: string | Buffer, method: string | undefined): void {
  res.writeHead(status, { 'Content-Type': type, 'Content-Length': Buffer.byteLength(body), ...HEADERS });
  res.end(method === 'HEAD' ? undefined : body);
}

function onlyGet(handler: HttpHandler): HttpHandler {
  return (req, res) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { Allow: 'GET, HEAD', 'Content-Type': 'text/plain; charset=utf-8' });
      res.end('Method Not Allowed');
      return undefined;
    }
    return handler(req, res);
  };
}

/** JSON safe inside an HTML `<script>` element. */
function scriptJson(value: unknown): string {
  return JSON.stringify(value).replace(/</g, '\\u003c').replace(/>/g, '\\u003e').replace(/&/g, '\\u0026');
}

/** The routes of the demo page: `/demo`, `/demo/demo.js`, `/demo/pushgate-client.js`. */
export function demoRoutes(opts: DemoOptions = {}): HttpRoute[] {
  const bundlePath = opts.clientBundlePath ?? defaultClientBundle();
  let bundle: Promise<Buffer> | undefined;
  const withKey = opts.demoApiKey === undefined ? undefined : page({ demo: true, apiKey: opts.demoApiKey });
  const withoutKey = page({ demo: false });
  return [
    {
      path: DEMO_PATH,
      handler: onlyGet((req, res) => {
        const html = withKey !== undefined && isLoopback(req.socket.remoteAddress) ? withKey : withoutKey;
        send(res, 200, 'text/html; charset=utf-8', html, req.method);
      }),
    },
    { path: `${DEMO_PATH}/demo.js`, handler: onlyGet((req, res) => send(res, 200, 'text/javascript; charset=utf-8', DEMO_JS, req.method)) },
    {
      path: `${DEMO_PATH}/pushgate-client.js`,
      handler: onlyGet(async (req, res) => {
        bundle ??= readFile(bundlePath);
        let body: Buffer;
        try {
          body = await bundle;
        } catch {
          bundle = undefined;
          send(res, 503, 'text/plain; charset=utf-8', 'client bundle not built: run pnpm build', req.method);
          return;
        }
        send(res, 200, 'text/javascript; charset=utf-8', body, req.method);
      }),
    },
  ];
}

function page(config: { demo: boolean; apiKey?: string }): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>pushgate demo</title>
<style>
  [hidden] { display: none !important; }
  body { font: 15px/1.45 system-ui, sans-serif; margin: 2rem auto; max-width: 46rem; padding: 0 1rem; color: #1d2330; }
  h1 { font-size: 1.4rem; margin-bottom: .2rem; }
  .muted { color: #687085; }
  #status { display: inline-block; padding: .25rem .7rem; border-radius: 1rem; background: #e4e7ee; font-weight: 600; }
  #status[data-state="connected"] { background: #d5f5df; color: #13622f; }
  #status[data-state="reconnecting"], #status[data-state="connecting"] { background: #fff1cc; color: #7a5400; }
  #status[data-state="rejected"] { background: #fde0e0; color: #8c1d1d; }
  button { font: inherit; padding: .45rem .9rem; border-radius: .4rem; border: 1px solid #9aa3b5; background: #fff; cursor: pointer; }
  button.primary { background: #2456d6; border-color: #2456d6; color: #fff; }
  form, .row { display: flex; gap: .5rem; align-items: center; flex-wrap: wrap; margin: 1rem 0; }
  input { font: inherit; padding: .4rem; }
  ul { list-style: none; padding: 0; }
  li { border: 1px solid #dde1ea; border-radius: .4rem; padding: .6rem .8rem; margin: .5rem 0; display: flex; gap: .7rem; align-items: flex-start; }
  li img { width: 32px; height: 32px; }
  li .title { font-weight: 600; }
  li time { font-size: .85em; }
</style>
</head>
<body>
<h1>pushgate demo</h1>
<p class="muted">Desktop notifications through pushgate, as an openITCOCKPIT browser receives them.</p>
<script type="application/json" id="pushgate-demo-config">${scriptJson(config)}</script>
<form id="login" hidden>
  <label>User id <input id="userId" type="number" min="1" value="1" required></label>
  <label>API key <input id="apiKey" type="password" autocomplete="off" required></label>
  <button class="primary">Connect</button>
</form>
<div class="row">
  <span id="status" data-state="stopped">not connected</span>
  <span id="detail" class="muted"></span>
</div>
<div class="row">
  <button id="test" class="primary" disabled>Send test notification</button>
  <button id="permission">Enable desktop notifications</button>
  <span id="role" class="muted"></span>
</div>
<h2>Last notifications</h2>
<ul id="list"><li class="muted" id="empty">None yet. Press "Send test notification", or POST /message for this user.</li></ul>
<script type="module" src="/demo/demo.js"></script>
</body>
</html>
`;
}

/** The page's script (served as `/demo/demo.js`, so the CSP needs no inline script). */
const DEMO_JS = `import { PushgateClient } from '/demo/pushgate-client.js';

const config = JSON.parse(document.getElementById('pushgate-demo-config').textContent);
const $ = (id) => document.getElementById(id);
const wsUrl = (location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + '/';
const userIdFromQuery = Number(new URLSearchParams(location.search).get('userId')) || 1;

function permissionLabel() {
  if (typeof Notification !== 'function') { $('permission').hidden = true; return; }
  $('permission').textContent = Notification.permission === 'granted' ? 'Desktop notifications enabled' : 'Enable desktop notifications';
  $('permission').disabled = Notification.permission !== 'default';
}
$('permission').addEventListener('click', () => Notification.requestPermission().then(permissionLabel));
permissionLabel();

function run(userId, apiKey) {
  const client = new PushgateClient({ url: wsUrl, userId, apiKey });
  window.pushgateClient = client;
  client.addEventListener('state', (e) => {
    const s = e.detail;
    $('status').dataset.state = s.state;
    $('status').textContent = s.state;
    $('detail').textContent = s.state === 'connected' ? 'user ' + userId + ', browser ' + client.browserUuid.slice(0, 8)
      : s.state === 'reconnecting' ? s.reason + ', retry in ' + Math.round(s.retryInMs / 100) / 10 + ' s'
      : s.state === 'rejected' ? s.reason : '';
    $('test').disabled = s.state !== 'connected';
    $('role').textContent = client.leader ? 'this tab shows the desktop notifications' : 'another tab shows the desktop notifications';
  });
  client.addEventListener('notification', (e) => {
    const n = e.detail;
    $('empty')?.remove();
    const li = document.createElement('li');
    if (n.icon) {
      // openITCOCKPIT's icon paths exist only behind its web server: drop the image when it does not load.
      const img = document.createElement('img'); img.alt = ''; img.onerror = () => img.remove(); img.src = n.icon; li.append(img);
    }
    const text = document.createElement('div');
    const title = document.createElement('div'); title.className = 'title'; title.textContent = n.title;
    const body = document.createElement('div'); body.textContent = n.message;
    const when = document.createElement('time'); when.className = 'muted';
    when.textContent = new Date(n.timestamp * 1000).toLocaleTimeString() + (n.id ? ' · id ' + n.id : '');
    text.append(title, body, when);
    li.append(text);
    $('list').prepend(li);
    while ($('list').children.length > 20) $('list').lastElementChild.remove();
  });
  client.addEventListener('gap', () => { $('detail').textContent = 'some notifications may have been missed while disconnected'; });
  $('test').addEventListener('click', () => client.sendTest('Test notification from the demo page'));
  client.start();
}

if (config.demo) run(userIdFromQuery, config.apiKey);
else {
  $('login').hidden = false;
  $('login').addEventListener('submit', (e) => {
    e.preventDefault();
    $('login').hidden = true;
    run(Number($('userId').value), $('apiKey').value);
  });
}
`;
