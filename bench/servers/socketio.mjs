// The Socket.IO baseline: what a Node team would build instead of pushgate.
// One room per user (`u<userId>`), joined on connect from the handshake
// query; `POST /message` on the same node:http server emits the notification
// to the user's room (every tab of the user gets it: Socket.IO has no "one
// per browser"). WebSocket transport only, no per-message deflate (its
// default), everything else Socket.IO's defaults (its own 25 s ping).
// Forked with IPC by lib/targets.mjs (same hooks as servers/pushgate.mjs).
import { createServer } from 'node:http';
import { Server } from 'socket.io';
import { answerControl } from '../lib/control.mjs';

const server = createServer((req, res) => {
  if (req.method !== 'POST' || req.url !== '/message') {
    // Socket.IO answers its own path (/socket.io/) before this handler runs.
    if (!req.url.startsWith('/socket.io/')) res.writeHead(404).end();
    return;
  }
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    const b = JSON.parse(Buffer.concat(chunks).toString());
    io.to(`u${b.userId}`).emit('ProcessPushNotification', {
      type: 'ProcessPushNotification',
      message: b.output,
      payload: { timestamp: b.timestamp, userId: b.userId, title: b.notificationtype, message: b.output, type: b.type, hostUuid: b.hostUuid },
    });
    res.writeHead(200, { 'Content-Type': 'text/plain' }).end('ok');
  });
});

const io = new Server(server, { transports: ['websocket'], serveClient: false });
io.on('connection', (socket) => {
  socket.join(`u${socket.handshake.query.userId}`);
});

let exportRunning = false;
answerControl({
  connections: () => io.engine.clientsCount,
  broadcast: () => {
    exportRunning = !exportRunning;
    io.emit('ExportStatus', { type: 'ExportStatus', message: '', payload: exportRunning });
  },
  stop: () => {
    io.close();
  },
});
server.listen(0, '127.0.0.1', () => process.send({ op: 'ready', port: server.address().port }));
