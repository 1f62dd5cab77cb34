// One load generator process (forked by lib/fleet.mjs): up to ~18k client
// sockets from one source address, speaking pushgate's wire protocol (kinds
// `pushgate` and `floor`) or Socket.IO (`socketio`). It records, per
// received notification, its sequence number and the latency from the
// monotonic send time carried in the message (`BENCH<seq>.<ns>.`), and per
// ExportStatus frame its arrival time; the parent collects them over IPC.
import { Agent } from 'node:http';
import { connect } from 'node:net';
import { gatewayRequire, nowNs } from './common.mjs';

const { WebSocket } = gatewayRequire('ws');
let ioClient;

/**
 * Binds every client socket to this process's own source address and the
 * next port of its own: a bind() to an address without a port makes Linux
 * search the whole port range (O(sockets), seconds of system time at
 * thousands of sockets), an explicit port is one hash lookup. The address
 * belongs to this process alone, so the ports cannot collide. The agent is
 * used for the upgrade request only (Node removes upgraded sockets from it).
 */
class BindAgent extends Agent {
  constructor(localAddress) {
    super({ keepAlive: false });
    this.localAddress = localAddress;
    this.nextPort = 20_000;
  }

  createConnection(options, callback) {
    return connect({ ...options, localAddress: this.localAddress, localPort: this.nextPort++ }, callback);
  }
}
let agent;

/** Every client socket, by index in this process. */
const clients = [];
let seqs = [];
let lats = [];
let broadcasts = [];
let closedByServer = 0;
const closeCodes = {};

const MARK = Buffer.from('BENCH');

/** Note one notification frame (a Buffer or a string). */
function onNotification(data, idx) {
  const t = nowNs();
  const i = data.indexOf(MARK);
  if (i === -1) return;
  const text = typeof data === 'string' ? data.slice(i + 5, i + 64) : data.toString('latin1', i + 5, i + 64);
  const dot = text.indexOf('.');
  const seq = Number(text.slice(0, dot));
  const t0 = Number(text.slice(dot + 1, text.indexOf('.', dot + 1)));
  seqs.push(seq);
  lats.push((t - t0) / 1e6);
  const c = clients[idx];
  if (c) c.received++;
}

function noteClose(idx, code, expected) {
  const c = clients[idx];
  if (c) c.closeCode = code;
  if (!expected) {
    closedByServer++;
    closeCodes[code] = (closeCodes[code] ?? 0) + 1;
  }
}

let closing = false;

function agentFor(localAddress) {
  agent ??= new BindAgent(localAddress);
  return agent;
}

/** Open one wire-protocol client; resolves once registered (its KeepAlive answered after the register). */
function openWs(url, key, userId, browserUuid, localAddress, idx) {
  return new Promise((resolve) => {
    const ws = new WebSocket(`${url.replace('http', 'ws')}/?userId=${userId}&browserUuid=${browserUuid}`, ['access_token', key], {
      agent: agentFor(localAddress), perMessageDeflate: false, skipUTF8Validation: true,
    });
    const c = { ws, received: 0, closeCode: 0 };
    clients[idx] = c;
    let ready = false;
    ws.on('message', (data) => {
      if (!ready) {
        if (data.indexOf('ConnectionEstablished') !== -1) {
          ws.send(`{"type":"RegisterBrowserPushNotification","message":"","payload":{"userId":${userId},"clientUuid":"","browserUuid":"${browserUuid}"}}`);
          ws.send('{"type":"KeepAlive","message":"","payload":null}');
        } else if (data.indexOf('"Pong"') !== -1) {
          ready = true;
          resolve(true);
        }
        return;
      }
      if (data.indexOf('"ExportStatus"') !== -1) broadcasts.push(nowNs());
      else onNotification(data, idx);
    });
    ws.on('error', () => {
      if (!ready) resolve(false);
    });
    ws.on('close', (code) => {
      noteClose(idx, code, closing);
      if (!ready) resolve(false);
    });
  });
}

/** Open one Socket.IO client; resolves on connect (the server joined its room before that). */
async function openIo(url, userId, browserUuid, localAddress, idx) {
  ioClient ??= (await import('socket.io-client')).io;
  return new Promise((resolve) => {
    const socket = ioClient(url, {
      transports: ['websocket'], query: { userId, browserUuid }, agent: agentFor(localAddress), reconnection: false, forceNew: true, timeout: 60_000,
    });
    const c = { socket, received: 0, closeCode: 0 };
    clients[idx] = c;
    socket.on('connect', () => resolve(true));
    socket.on('connect_error', () => resolve(false));
    socket.on('ProcessPushNotification', (msg) => onNotification(msg.message, idx));
    socket.on('ExportStatus', () => broadcasts.push(nowNs()));
    socket.on('disconnect', (reason) => noteClose(idx, reason, closing || reason === 'io client disconnect'));
  });
}

/** Connect `list` ([userId, browserUuid] pairs) with at most `concurrency` handshakes in flight. */
async function connectAll({ kind, url, key, list, localAddress, concurrency = 100 }) {
  const started = nowNs();
  let next = 0;
  let ok = 0;
  let failed = 0;
  const base = clients.length;
  const worker = async () => {
    while (next < list.length) {
      const i = next++;
      const [userId, browserUuid] = list[i];
      const good = kind === 'socketio'
        ? await openIo(url, userId, browserUuid, localAddress, base + i)
        : await openWs(url, key, userId, browserUuid, localAddress, base + i);
      if (good) ok++;
      else failed++;
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, list.length) }, worker));
  return { ok, failed, ms: (nowNs() - started) / 1e6, total: clients.length };
}

function rawSocket(c) {
  return c.ws ? c.ws._socket : c.socket.io.engine.transport.ws._socket;
}

process.on('message', async (msg) => {
  switch (msg.op) {
    case 'connect':
      process.send({ op: 'connect', ...(await connectAll(msg)) });
      break;
    case 'reset':
      seqs = [];
      lats = [];
      broadcasts = [];
      process.send({ op: 'reset' });
      break;
    case 'count':
      process.send({ op: 'count', notifications: seqs.length, broadcasts: broadcasts.length });
      break;
    case 'collect':
      process.send({ op: 'collect', seqs, lats, broadcasts, closedByServer, closeCodes });
      seqs = [];
      lats = [];
      broadcasts = [];
      break;
    case 'pause':
      rawSocket(clients[msg.index]).pause();
      process.send({ op: 'pause' });
      break;
    case 'resume':
      rawSocket(clients[msg.index]).resume();
      process.send({ op: 'resume' });
      break;
    case 'client': {
      const c = clients[msg.index];
      process.send({ op: 'client', received: c.received, closeCode: c.closeCode });
      break;
    }
    case 'close':
      closing = true;
      for (const c of clients) {
        if (c?.ws) c.ws.terminate();
        else c?.socket.disconnect();
      }
      process.send({ op: 'close' });
      setTimeout(() => process.exit(0), 100);
      break;
  }
});
process.send({ op: 'ready' });
