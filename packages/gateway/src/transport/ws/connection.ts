import { ClientEnvelope, envelope, ReceiptPayload, RegisterPayload, ServerMessageType, TestPayload, Texts } from '@pushgate/protocol';
import type { Logger } from 'pino';
import { WebSocket, type RawData } from 'ws';
import { count, type GatewayStats } from '../../ops/stats.js';
import { closeCode, refusalText } from '../refusals.js';

/** Close codes the gateway uses (docs/errors.md "WebSocket close codes"). */
export const CloseCodes = {
  /** The gateway is shutting down. */
  goingAway: closeCode('GW_CLOSE_GOING_AWAY'),
  /** A client frame was larger than `websocket.maxPayloadBytes` (ws sends it). */
  tooBig: closeCode('GW_CLOSE_TOO_BIG'),
  /** The send buffer stayed above `websocket.maxBufferedBytes`. */
  slowConsumer: closeCode('GW_CLOSE_SLOW_CONSUMER'),
  /** A write was not flushed within `websocket.writeTimeoutMs`. */
  writeTimeout: closeCode('GW_CLOSE_WRITE_TIMEOUT'),
  /** The signed token that authenticated the connection expired: fetch a new one, then reconnect. */
  tokenExpired: closeCode('GW_CLOSE_TOKEN_EXPIRED'),
  /** Handling a client frame failed (a bug; logged). */
  internal: closeCode('GW_CLOSE_INTERNAL'),
} as const;

/** Monotonic order of opens and client activity; ties cannot happen, unlike `Date.now()`. */
let sequence = 0;
/** The next value of the one order of opens and client activity. */
export function nextSequence(): number {
  return ++sequence;
}

/**
 * What a connection needs of the endpoint that opened it (transport/ws/endpoint.ts):
 * limits, counters, the log, and the three things a client can cause.
 */
export interface ConnectionHost {
  /** `websocket.maxBufferedBytes`. */
  readonly maxBufferedBytes: number;
  /** Most bytes a resume may hold back while the socket drains (`websocket.replay.maxBytes`). */
  readonly maxBacklogBytes: number;
  readonly stats: GatewayStats;
  readonly logger: Logger;
  /** The client sent `RegisterBrowserPushNotification`. */
  register(conn: Connection): void;
  /** The client sent `TestPushNotification`. */
  test(conn: Connection, title: string, icon: string): void;
  /** The client sent pushgate's `Receipt` (docs/protocol/extensions.md "Receipts"). */
  receipt(conn: Connection, receipt: ReceiptPayload): void;
  /** The socket closed (for the registry and the per-IP count). */
  closed(conn: Connection): void;
}

/** ws types listeners with `this: WebSocket`; ours run on Connection, the class ws constructs. */
type Listener = (this: WebSocket, ...args: any[]) => void;
const shared = (fn: (this: Connection, ...args: any[]) => void): Listener => fn as unknown as Listener;

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
  /** The endpoint this connection belongs to. */
  host!: ConnectionHost;
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
    if (this.#backlog !== undefined) {
      this.#hold(frame);
      return;
    }
    if (this.bufferedAmount > this.host.maxBufferedBytes) {
      this.closeFor('slow-consumer', CloseCodes.slowConsumer, refusalText('GW_CLOSE_SLOW_CONSUMER'));
      return;
    }
    this.send(frame, SEND_TEXT);
    this.host.stats.framesSent++;
  }

  /** Frames held behind a resume until the socket drains ({@link sendMissed}); undefined when none. */
  #backlog: Buffer[] | undefined;
  #backlogBytes = 0;

  /**
   * Write what a resuming client missed (`?since=`) without tripping the
   * send-buffer limit: frames go out while the buffer is below half of
   * `maxBufferedBytes`, the rest as the socket drains. Frames sent meanwhile
   * queue behind them, so the client sees every id once, in order. The
   * backlog is bounded by `maxBacklogBytes`; a client that cannot take even
   * that is cut as a slow consumer (and resumes again).
   */
  sendMissed(frames: readonly Buffer[]): void {
    if (frames.length === 0) return;
    if (this.#backlog === undefined) this.#backlog = [];
    for (const f of frames) this.#hold(f);
    this.#pump();
  }

  #hold(frame: Buffer): void {
    this.#backlog!.push(frame);
    this.#backlogBytes += frame.length;
    if (this.#backlogBytes > this.host.maxBacklogBytes) {
      this.#backlog = undefined;
      this.#backlogBytes = 0;
      this.closeFor('slow-consumer', CloseCodes.slowConsumer, refusalText('GW_CLOSE_SLOW_CONSUMER'));
    }
  }

  #pump(): void {
    const backlog = this.#backlog;
    if (backlog === undefined || this.readyState !== WebSocket.OPEN) return;
    const half = this.host.maxBufferedBytes / 2;
    while (backlog.length > 0 && this.bufferedAmount <= half) {
      const frame = backlog.shift()!;
      this.#backlogBytes -= frame.length;
      this.send(frame, SEND_TEXT);
      this.host.stats.framesSent++;
    }
    if (backlog.length === 0) {
      this.#backlog = undefined;
      return;
    }
    // Only while a resume is held back: one listener for this socket, gone once it drained.
    (this as unknown as { _socket: NodeJS.EventEmitter })._socket.once('drain', () => this.#pump());
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
    if (this.bufferedAmount > this.host.maxBufferedBytes) {
      this.closeFor('slow-consumer', CloseCodes.slowConsumer, refusalText('GW_CLOSE_SLOW_CONSUMER'));
      return;
    }
    (this as unknown as { _socket: { write(b: Buffer): boolean } })._socket.write(wire);
    this.host.stats.framesSent++;
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

/** Attach the shared listeners (no closure per connection) to a connection ws just upgraded. */
export function listen(conn: Connection, host: ConnectionHost): void {
  conn.on('message', shared(onMessage));
  attachLifecycle(conn, host);
}

/**
 * The liveness and close bookkeeping every connection shares (pong, close,
 * error), for a connection whose frames another module reads (legacy.ts).
 */
export function attachLifecycle(conn: Connection, host: ConnectionHost): void {
  conn.host = host;
  conn.on('pong', shared(onPong));
  conn.on('close', shared(onClose));
  conn.on('error', shared(onError));
}

function onPong(this: Connection): void {
  this.lastSeenAt = Date.now();
}

function onClose(this: Connection, code: number): void {
  const host = this.host;
  host.closed(this);
  count(host.stats.closes, this.closeReason);
  if (this.closeReason !== 'client' && this.closeReason !== 'shutdown') {
    // Dropped by the gateway: never silent.
    host.logger.info({ conn: this.clientUuid, user: this.userId, code, reason: this.closeReason }, 'websocket dropped');
  } else if (host.logger.isLevelEnabled('debug')) {
    host.logger.debug({ conn: this.clientUuid, user: this.userId, code, reason: this.closeReason }, 'websocket closed');
  }
}

function onError(this: Connection, err: Error & { code?: string }): void {
  // ws reports protocol violations here and closes the socket itself: 1009 for an oversize frame, 1002/1007 for bad framing.
  if (this.closeReason === 'client') this.closeReason = err.code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH' ? 'too-big' : 'protocol-error';
  this.host.logger.debug({ conn: this.clientUuid, err }, 'websocket error');
}

function sendError(conn: Connection, text: string): void {
  conn.host.stats.clientErrors++;
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
      this.host.register(this);
      return;
    }
    case 'TestPushNotification': {
      const payload = TestPayload.safeParse(msg.payload);
      if (!payload.success) {
        sendError(this, `Invalid payload for TestPushNotification: ${describe(payload.error)}`);
        return;
      }
      this.host.test(this, payload.data?.title ?? 'Test notification', payload.data?.icon ?? '');
      return;
    }
    case 'Receipt': {
      // pushgate's own frame: the openITCOCKPIT frontend never sends it. No answer when valid.
      const payload = ReceiptPayload.safeParse(msg.payload);
      if (!payload.success) {
        sendError(this, `Invalid payload for Receipt: ${describe(payload.error)}`);
        return;
      }
      this.host.receipt(this, payload.data);
      return;
    }
    default:
      sendError(this, Texts.unknownType(msg.type));
  }
}

function describe(error: { issues: readonly { path: readonly PropertyKey[]; message: string }[] }): string {
  return error.issues.map((i) => (i.path.length ? `${i.path.map(String).join('.')}: ${i.message}` : i.message)).join('; ');
}
