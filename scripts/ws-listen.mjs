#!/usr/bin/env node
// Watch a pushgate (or openITCOCKPIT push_notification) WebSocket as one user:
// connects with the API key, registers for push notifications, and prints
// every frame the server sends, one JSON line each. PUSHGATE_URL is the
// sender's /message URL; the WebSocket endpoint is the same origin.
//
//   PUSHGATE_API_KEY=<key> [PUSHGATE_URL=http://127.0.0.1:8083/message] \
//     node scripts/ws-listen.mjs [--user-id 1] [--browser-uuid <id>] [--count N]
//
// --count N exits 0 after N ProcessPushNotification frames (handy in scripts).
import { randomUUID } from 'node:crypto';
import { createRequire } from 'node:module';

// ws is a dependency of the gateway package, not of the workspace root.
const require = createRequire(new URL('../packages/gateway/package.json', import.meta.url));
const { WebSocket } = require('ws');

function arg(name, fallback) {
  const argv = process.argv.slice(2);
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i].replace(/^--?/, '');
    if (a === name) return argv[i + 1] ?? fallback;
    if (a.startsWith(`${name}=`)) return a.slice(name.length + 1);
  }
  return fallback;
}

const key = process.env.PUSHGATE_API_KEY;
if (!key) {
  process.stderr.write('ws-listen: set PUSHGATE_API_KEY (the gateway prints the demo key at start)\n');
  process.exit(2);
}
const userId = Number(arg('user-id', '1'));
if (!Number.isInteger(userId) || userId <= 0) {
  process.stderr.write('ws-listen: --user-id must be an integer > 0\n');
  process.exit(2);
}
const browserUuid = arg('browser-uuid', randomUUID());
const wanted = Number(arg('count', '0'));
const base = (process.env.PUSHGATE_URL || 'http://127.0.0.1:8083').replace(/^http/, 'ws').replace(/\/message\/?$/, '').replace(/\/+$/, '');
const url = `${base}/?userId=${userId}&browserUuid=${encodeURIComponent(browserUuid)}`;

const ws = new WebSocket(url, ['access_token', key]);
let received = 0;
let keepAlive;

ws.on('unexpected-response', (_req, res) => {
  process.stderr.write(`ws-listen: handshake refused: ${res.statusCode} ${res.statusMessage}\n`);
  process.exit(1);
});
ws.on('error', (err) => {
  process.stderr.write(`ws-listen: ${err.message}\n`);
  process.exit(1);
});
ws.on('open', () => {
  process.stderr.write(`ws-listen: connected to ${base} as user ${userId}, browser ${browserUuid}\n`);
  keepAlive = setInterval(() => ws.send(JSON.stringify({ type: 'KeepAlive', message: '', payload: null })), 30_000);
});
ws.on('message', (data) => {
  const text = data.toString('utf8');
  process.stdout.write(`${text}\n`);
  let msg;
  try {
    msg = JSON.parse(text);
  } catch {
    return;
  }
  if (msg.type === 'ConnectionEstablished') {
    ws.send(JSON.stringify({
      type: 'RegisterBrowserPushNotification',
      message: '',
      payload: { userId, clientUuid: msg.payload?.clientUuid ?? '', browserUuid },
    }));
  }
  if (msg.type === 'ProcessPushNotification' && wanted > 0 && ++received >= wanted) ws.close(1000);
});
ws.on('close', (code, reason) => {
  clearInterval(keepAlive);
  process.stderr.write(`ws-listen: closed ${code} ${reason}\n`);
  process.exit(wanted > 0 && received >= wanted ? 0 : code === 1000 ? 0 : 1);
});
process.on('SIGINT', () => ws.close(1000));
