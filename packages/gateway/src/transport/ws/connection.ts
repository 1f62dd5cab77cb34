import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { ClientEnvelope, envelope, RegisterPayload, ServerMessageType, TestPayload, Texts, type PushNotificationPayload } from '@pushgate/protocol';
import * as wsModule from 'ws';
import { WebSocket, type RawData } from 'ws';
import type { GatewayContext } from '../../context.js';
import type { Identity } from './handshake.js';
import { parseSince } from '../../pipeline/replay.js';
import { count } from '../../ops/stats.js';

/** Close codes the gateway uses (docs/errors.md "WebSocket close codes"). */
export const CloseCodes = {
  /** The gateway is shutting down. */
  goingAway: 1001,
  /** A client frame was larger than `websocket.maxPayloadBytes` (ws sends it). */
  tooBig: 1009,
  /** The send buffer stayed above `websocket.maxBufferedBytes`. */
  slowConsumer: 4000,
  /** A write was not flushed within `websocket.writeTimeoutMs`. */
  writeTimeout: 4001,
  /** The signed token that authenticated the connection expired: fetch a new one, then reconnect. */
  tokenExpired: 4401,
} as const;

/** Monotonic order of opens and client activity; ties cannot happen, unlike `Date.now()`. */
let sequence = 0;
export function nextSequence(): number {
  return ++sequence;
}

/** ws types listeners with `this: WebSocket`; ours run on Connection, the class ws constructs. */
type Listener = (this: WebSocket, ...args: any[]) => void;
const shared = (fn: (this: Connection, ...args: any[]) => void): Listener => fn as unknown as Listener;

/** ws's frame builder (exported by ws, not declared in @types/ws). */
const Sender = (wsModule as unknown as {
  Sender: { frame(data: Buffer, options: { fin: boolean; opcode: number; mask: boolean; readOnly: boolean; rsv1: boolean }): Buffer[] };
}).Sender;

/**
 * A complete unmasked WebSocket text frame (header + payload in one Buffer),
 * built once and written as is to any number of sockets by
 * {@link Connection.sendWire}: a broadcast then costs one socket write per
 * connection instead of a ws `send` (options, header allocation, cork and a
 * two-buffer writev) per connection.
 */
export function wireFrame(payload: Buffer): Buffer {
  return Buffer.concat(Sender.frame(payload, { fin: true, opcode: 1, mask: false, readOnly: true, rsv1: false }));
}

/** The frame answering a client `KeepAlive`; the same bytes every time. */
const PONG = Buffer.from(envelope(ServerMessageType.KeepAlive, Texts.pong, null));
const SEND_TEXT = { binary: false } as const;

/**
 * One browser tab's WebSocket, with the routing and liveness state the
 * gateway keeps for it. ws constructs it (`WebSocketServer` option
 * `WebSocket`), so the shared listeners below find the state through `this`
 * instead of a closure per connection.
 */
export class Connection extends WebSocket {
  /** The gateway this connection belongs to. */
  ctx!: GatewayContext;
  /** openITCOCKPIT user id from the handshake (> 0). */
  userId = 0;
  /** Browser instance id from the handshake, shared by all tabs of a browser. */
  browserUuid = '';
  /** Server-generated id announced in `ConnectionEstablished`. */
  clientUuid = '';
  /** Order in which the connection opened (higher is newer). */
  openedSeq = 0;
  /** Order of the last frame the client sent; 0 when it sent nothing yet. */
  activitySeq = 0;
  /** `Date.now()` of the last frame or pong received, in ms (liveness). */
  lastSeenAt = 0;
  /** `Date.now()` since which `bufferedAmount` has been non-zero, 0 when flushed. */
  bufferedSince = 0;
  /** Why the gateway closed it, for the close counter; `client` when the peer did. */
  closeReason = 'client';
  /** Expiry of the token it authenticated with, unix seconds; 0 for an API key (never expires). */
  tokenExpiresAt = 0;
  /** Peer address, for the per-IP connection limit (`limits.maxConnectionsPerIp`). */
  remoteIp = '';

  /**
   * Write one already serialised text frame. A socket already over
   * `websocket.maxBufferedBytes` gets nothing more and is closed with 4000:
   * the buffer never grows without bound.
   */
  sendFrame(frame: Buffer): void {
    if (this.readyState !== WebSocket.OPEN) return;
    if (this.bufferedAmount > this.ctx.config.websocket.maxBufferedBytes) {
      this.closeFor('slow-consumer', CloseCodes.slowConsumer, 'send buffer over limit');
      return;
    }
    this.send(frame, SEND_TEXT);
    this.ctx.stats.framesSent++;
  }

  /**
   * Write a frame made by {@link wireFrame} straight to the socket, with the
   * same limit as {@link sendFrame}. Safe beside ws's own sends because
   * permessage-deflate is off: ws's sender then never queues, so every
   * write is a whole frame, in order; `bufferedAmount` counts these bytes
   * too (it reads the socket's write buffer).
   */
  sendWire(wire: Buffer): void {
    if (this.readyState !== WebSocket.OPEN) return;
    if (this.bufferedAmount > this.ctx.config.websocket.maxBufferedBytes) {
      this.closeFor('slow-consumer', CloseCodes.slowConsumer, 'send buffer over limit');
      return;
    }
    (this as unknown as { _socket: { write(b: Buffer): boolean } })._socket.write(wire);
    this.ctx.stats.framesSent++;
  }

  /**
   * Close with a code and remember why, for the close counter. A peer that
   * does not read cannot receive the close frame either, so slow consumers
   * are cut with terminate() once the close frame cannot go out.
   */
  closeFor(reason: string, code: number, text: string): void {
    if (this.readyState === WebSocket.CLOSED) return;
    if (this.closeReason === 'client') this.closeReason = reason;
    if (this.readyState === WebSocket.OPEN && this.bufferedAmount === 0) this.close(code, text);
    else this.terminate();
  }
}

/**
 * Set up a connection ws just upgraded: index it, attach the shared
 * listeners, greet it with `ConnectionEstablished` and the last known
 * export status.
 */
export function openConnection(ctx: GatewayContext, conn: Connection, id: Identity, req: IncomingMessage): void {
  conn.ctx = ctx;
  conn.userId = id.userId;
  conn.browserUuid = id.browserUuid;
  conn.tokenExpiresAt = id.tokenExpiresAt ?? 0;
  conn.clientUuid = randomUUID();
  conn.openedSeq = nextSequence();
  conn.lastSeenAt = Date.now();
  ctx.registry.add(conn);
  ctx.stats.connectionsOpened++;
  conn.on('message', shared(onMessage));
  conn.on('pong', shared(onPong));
  conn.on('close', shared(onClose));
  conn.on('error', shared(onError));
  conn.sendFrame(Buffer.from(envelope(ServerMessageType.ConnectionEstablished, Texts.connectionEstablished, { clientUuid: conn.clientUuid })));
  if (ctx.exportRunning !== undefined) {
    conn.sendFrame(Buffer.from(envelope(ServerMessageType.ExportStatus, '', ctx.exportRunning)));
  }
  // pushgate: `?since=<id>` resume. Written in the same tick as registry.add, so no live frame can
  // come in between: the client gets each id once, in order.
  const since = parseSince(req.url);
  if (since !== undefined) {
    const { gap, frames } = ctx.replay.resume(conn.userId, since);
    if (gap) conn.sendFrame(gap);
    for (const frame of frames) conn.sendFrame(frame);
  }
  if (ctx.logger.isLevelEnabled('debug')) {
    ctx.logger.debug({ conn: conn.clientUuid, user: conn.userId }, 'websocket connected');
  }
}

/**
 * Attach the liveness and close bookkeeping every connection shares (pong,
 * close, error), for a connection set up elsewhere (legacy.ts).
 */
export function attachLifecycle(conn: Connection): void {
  conn.on('pong', shared(onPong));
  conn.on('close', shared(onClose));
  conn.on('error', shared(onError));
}

function onPong(this: Connection): void {
  this.lastSeenAt = Date.now();
}

function onClose(this: Connection, code: number): void {
  const ctx = this.ctx;
  ctx.registry.remove(this);
  ctx.guard?.closed(this.remoteIp);
  count(ctx.stats.closes, this.closeReason);
  if (this.closeReason !== 'client' && this.closeReason !== 'shutdown') {
    // Dropped by the gateway: never silent.
    ctx.logger.info({ conn: this.clientUuid, user: this.userId, code, reason: this.closeReason }, 'websocket dropped');
  } else if (ctx.logger.isLevelEnabled('debug')) {
    ctx.logger.debug({ conn: this.clientUuid, user: this.userId, code, reason: this.closeReason }, 'websocket closed');
  }
}

function onError(this: Connection, err: Error & { code?: string }): void {
  // ws reports protocol violations here and closes the socket itself: 1009 for an oversize frame, 1002/1007 for bad framing.
  if (this.closeReason === 'client') this.closeReason = err.code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH' ? 'too-big' : 'protocol-error';
  this.ctx.logger.debug({ conn: this.clientUuid, err }, 'websocket error');
}

function sendError(conn: Connection, text: string): void {
  conn.ctx.stats.clientErrors++;
  conn.sendFrame(Buffer.from(envelope(ServerMessageType.Error, text, null)));
}

function onMessage(this: Connection, data: RawData): void {
  this.lastSeenAt = Date.now();
  this.activitySeq = nextSequence();
  const text = Buffer.isBuffer(data) ? data.toString('utf8')
    : Array.isArray(data) ? Buffer.concat(data).toString('utf8') : Buffer.from(data).toString('utf8');
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    sendError(this, `Invalid JSON: ${(err as Error).message}`);
    return;
  }
  const parsed = ClientEnvelope.safeParse(json);
  if (!parsed.success) {
    sendError(this, 'Invalid message: expected an object {"type": string, "message": string, "payload": any}');
    return;
  }
  const msg = parsed.data;
  switch (msg.type) {
    case 'KeepAlive':
      this.sendFrame(PONG);
      return;
    case 'RegisterBrowserPushNotification': {
      const payload = RegisterPayload.safeParse(msg.payload);
      if (!payload.success) {
        sendError(this, `Invalid payload for RegisterBrowserPushNotification: ${describe(payload.error)}`);
        return;
      }
      // openITCOCKPIT ignores the payload and takes the user from the connection.
      this.ctx.registry.register(this.userId);
      return;
    }
    case 'TestPushNotification': {
      const payload = TestPayload.safeParse(msg.payload);
      if (!payload.success) {
        sendError(this, `Invalid payload for TestPushNotification: ${describe(payload.error)}`);
        return;
      }
      sendTestNotification(this, payload.data?.title ?? 'Test notification', payload.data?.icon ?? '');
      return;
    }
    default:
      sendError(this, Texts.unknownType(msg.type));
  }
}

function describe(error: { issues: readonly { path: readonly PropertyKey[]; message: string }[] }): string {
  return error.issues.map((i) => (i.path.length ? `${i.path.map(String).join('.')}: ${i.message}` : i.message)).join('; ');
}

function sendTestNotification(conn: Connection, title: string, icon: string): void {
  const ctx = conn.ctx;
  const payload: PushNotificationPayload = {
    timestamp: Math.floor(Date.now() / 1000),
    userId: conn.userId,
    title,
    message: title,
    type: 'host',
  };
  if (icon !== '') payload.icon = icon;
  payload.id = ctx.replay.nextId();
  const frame = Buffer.from(envelope(ServerMessageType.ProcessPushNotification, Texts.testNotification, payload));
  ctx.replay.record(conn.userId, payload.id, frame);
  for (const c of ctx.registry.toUserOnePerBrowser(conn.userId)) c.sendFrame(frame);
  ctx.relay?.enqueue({
    userId: conn.userId,
    title,
    body: title,
    type: 'host',
    notificationType: 'CUSTOM',
    currentState: 0,
    hostUuid: '',
    serviceUuid: '',
  });
}
