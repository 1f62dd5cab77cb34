// The floor: the least a Node server can do to speak pushgate's wire
// protocol (docs/protocol/openitcockpit.md) with `ws` and `node:http`. An indexed user map
// (user → browser → newest tab) and nothing else: no key check, no
// validation, no formatting, no logging, no limits, no liveness. What Node
// and ws manage at best on this machine; pushgate is measured against it.
// Forked with IPC by lib/targets.mjs (same hooks as servers/pushgate.mjs).
import { randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import { gatewayRequire } from '../lib/common.mjs';
import { answerControl } from '../lib/control.mjs';

const { WebSocketServer } = gatewayRequire('ws');

/** userId → browserUuid → the newest tab's socket. */
const users = new Map();
const registered = new Set();
const all = new Set();
const PONG = Buffer.from('{"type":"KeepAlive","message":"Pong","payload":null}');

const server = createServer((req, res) => {
  if (req.method !== 'POST' || req.url !== '/message') {
    res.writeHead(404).end();
    return;
  }
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    const b = JSON.parse(Buffer.concat(chunks).toString());
    const browsers = users.get(b.userId);
    if (!browsers || !registered.has(b.userId)) {
      res.writeHead(202, { 'Content-Type': 'text/plain' }).end('User is not registered for push notifications');
      return;
    }
    const frame = Buffer.from(JSON.stringify({
      type: 'ProcessPushNotification',
      message: b.output,
      payload: { timestamp: b.timestamp, userId: b.userId, title: b.notificationtype, message: b.output, type: b.type, hostUuid: b.hostUuid },
    }));
    for (const ws of browsers.values()) ws.send(frame);
    res.writeHead(200, { 'Content-Type': 'text/plain' }).end('ok');
  });
});

const wss = new WebSocketServer({ server, perMessageDeflate: false, clientTracking: false, handleProtocols: () => 'access_token' });
wss.on('connection', (ws, req) => {
  const q = new URLSearchParams(req.url.slice(req.url.indexOf('?') + 1));
  const userId = Number(q.get('userId'));
  const browserUuid = q.get('browserUuid');
  let browsers = users.get(userId);
  if (!browsers) users.set(userId, (browsers = new Map()));
  browsers.set(browserUuid, ws);
  all.add(ws);
  ws.on('message', (data) => {
    const msg = JSON.parse(data.toString());
    if (msg.type === 'KeepAlive') ws.send(PONG);
    else if (msg.type === 'RegisterBrowserPushNotification') registered.add(userId);
  });
  ws.on('close', () => {
    all.delete(ws);
    if (browsers.get(browserUuid) === ws) browsers.delete(browserUuid);
    if (browsers.size === 0 && users.get(userId) === browsers) {
      users.delete(userId);
      registered.delete(userId);
    }
  });
  ws.send(JSON.stringify({ type: 'ConnectionEstablished', message: 'Connection established successfully', payload: { clientUuid: randomUUID() } }));
});

let exportRunning = false;
answerControl({
  connections: () => all.size,
  broadcast: () => {
    exportRunning = !exportRunning;
    const frame = Buffer.from(JSON.stringify({ type: 'ExportStatus', message: '', payload: exportRunning }));
    for (const ws of all) ws.send(frame);
  },
  stop: () => new Promise((resolve) => {
    for (const ws of all) ws.terminate();
    server.close(resolve);
  }),
});
server.listen(0, '127.0.0.1', () => process.send({ op: 'ready', port: server.address().port }));
