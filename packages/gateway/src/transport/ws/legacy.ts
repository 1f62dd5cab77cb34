import { createHash, randomUUID, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocket, WebSocketServer, type RawData } from 'ws';
import type { Logger } from 'pino';
import type { HandshakeGuard } from '../../auth/guard.js';
import type { OpenItcockpitSession } from '../../auth/openitcockpit-session.js';
import type { Bus } from '../../cluster/bus.js';
import type { Config } from '../../config.js';
import type { Directory } from '../../directory/directory.js';
import { parseSince, type ReplayLog } from '../../pipeline/replay.js';
import { count, type GatewayStats } from '../../ops/stats.js';
import { closeCode, refusalStatus, refusalText, type CloseRefusalCode, type DetailArgs, type FixedHttpRefusalCode } from '../refusals.js';
import { checkCredential, refuseUpgrade, tokenUserMismatch } from './handshake.js';
import { attachLifecycle, Connection, nextSequence, type ConnectionHost } from './connection.js';
import type { Registry } from './registry.js';
import { connectionFrame, KEEP_ALIVE_FRAME, testMessageFrame, toLegacy, unwire } from './legacy-frames.js';

/**
 * The legacy openITCOCKPIT frontend generation (its default branch; the PHP
 * Ratchet server it was written for): a plain WebSocket, no subprotocol,
 * greeted with `{"type":"connection",…,"data":{"uuid"}}`, that registers in
 * a message `{"task":"register","key","uuid","data":{"userId","browserUuid"}}`
 * and then gets `message` frames. The contract is
 * docs/protocol/openitcockpit-legacy.md; this module is its only speaker.
 *
 * A legacy socket joins the shared registry only when its `register` is
 * accepted: from then on routing, one-notification-per-browser, limits,
 * liveness and replay are the newer generation's, and its `sendFrame`
 * turns each frame of the newer generation into the legacy one
 * (legacy-frames.ts). Until then it is "unregistered": at most
 * `websocket.legacy.maxUnregistered` at once, only `register` is
 * processed, at most {@link MAX_FRAMES_BEFORE_REGISTER} frames, and
 * `websocket.legacy.registerTimeoutMs` to succeed (one sweep timer for all).
 */

/** Close codes of legacy sockets (transport/refusals.ts `GW_CLOSE_LEGACY_*`, docs/errors.md "WebSocket close codes"). */
export const LegacyCloseCodes = {
  /** No valid `register` within `websocket.legacy.registerTimeoutMs`. */
  registerTimeout: closeCode('GW_CLOSE_LEGACY_REGISTER_TIMEOUT'),
  /** The `key` is not accepted (or a token for another user, or of the intake scope). */
  unauthorized: closeCode('GW_CLOSE_LEGACY_UNAUTHORIZED'),
  /** A `register` without a usable userId/browserUuid, another socket's `uuid`, a second `register` as someone else, or too many frames before registering. */
  invalidRegister: closeCode('GW_CLOSE_LEGACY_INVALID_REGISTER'),
  /** `auth.openitcockpitSession`: the upgrade's Cookie carries no logged-in openITCOCKPIT session, or the session of another user than the `register` names. */
  sessionMismatch: closeCode('GW_CLOSE_LEGACY_SESSION'),
  /** The user already has `limits.maxConnectionsPerUser` open connections. */
  userConnections: closeCode('GW_CLOSE_LEGACY_USER_CONNECTIONS'),
  /** The directory could not verify the key: try again later. */
  directoryUnavailable: closeCode('GW_CLOSE_LEGACY_DIRECTORY_UNAVAILABLE'),
  /** `auth.openitcockpitSession` with `onUnavailable: refuse`: openITCOCKPIT could not be asked whose session it is. */
  sessionUnavailable: closeCode('GW_CLOSE_LEGACY_SESSION_UNAVAILABLE'),
} as const;

/** What the legacy endpoint needs (the composition root's parts; `host` is the WebSocket endpoint the sockets belong to). */
export interface LegacyDeps {
  config: Config;
  directory: Directory;
  logger: Logger;
  stats: GatewayStats;
  registry: Registry;
  replay: ReplayLog;
  guard: HandshakeGuard;
  bus: Bus;
  /** Session binding, when `auth.openitcockpitSession.enabled`. */
  session: OpenItcockpitSession | undefined;
  host: ConnectionHost;
}

/** Frames an unregistered socket may send before it is closed with 4004 (the frontend sends one). */
export const MAX_FRAMES_BEFORE_REGISTER = 8;

/** A userId as the frontend sends it (`user.id`, a number) or as a string of digits. */
function parseUserId(v: unknown): number {
  if (typeof v === 'number') return Number.isSafeInteger(v) && v > 0 ? v : 0;
  if (typeof v === 'string' && /^\d{1,15}$/.test(v)) return Number(v);
  return 0;
}

/** PHP's `isset`: present and not null. */
function isset(v: unknown): boolean {
  return v !== undefined && v !== null;
}

function sha256(s: string): Buffer {
  return createHash('sha256').update(s).digest();
}

/** One legacy socket: a {@link Connection} that speaks the legacy frames. */
export class LegacyConnection extends Connection {
  /** True once its `register` was accepted (it is then in the registry). */
  registered = false;
  /** SHA-256 of the key its `register` used; later frames must carry the same key. */
  keyHash: Buffer | undefined;
  /**
   * The upgrade's `Cookie` header, kept only while unregistered and only with
   * session binding: the `register` checks it once the key is verified. Never logged.
   */
  cookie: string | undefined;
  /** `since` of the upgrade URL, replayed once registered. */
  since: number | undefined;
  /** `Date.now()` of the upgrade (register deadline). */
  openedAt = 0;
  /** Frames received while unregistered. */
  framesBeforeRegister = 0;
  /** Frames that arrived while the `register` was being checked, handled after it in order. */
  held: string[] | undefined;
  /** The endpoint that upgraded it (the shared listeners find it here). */
  endpoint!: LegacyEndpoint;

  /** A frame of the newer generation, as this socket understands it (or nothing). */
  override sendFrame(frame: Buffer): void {
    const legacy = toLegacy(frame);
    if (legacy !== undefined) super.sendFrame(legacy);
  }

  /** A broadcast frame (wireFrame) of the newer generation, translated like {@link sendFrame}. */
  override sendWire(wire: Buffer): void {
    const legacy = toLegacy(unwire(wire));
    if (legacy !== undefined) super.sendFrame(legacy);
  }

  /** What a resuming socket missed, translated like {@link sendFrame} before it is paced out. */
  override sendMissed(frames: readonly Buffer[]): void {
    const legacy: Buffer[] = [];
    for (const f of frames) {
      const l = toLegacy(f);
      if (l !== undefined) legacy.push(l);
    }
    super.sendMissed(legacy);
  }

  /** A frame already in the legacy format. */
  sendLegacy(frame: Buffer): void {
    super.sendFrame(frame);
  }
}

// Shared listeners (no closure per socket): the state is on the socket.
function onLegacyMessage(this: WebSocket, data: RawData): void {
  const conn = this as LegacyConnection;
  conn.endpoint.received(conn, data);
}

function onLegacyClose(this: WebSocket): void {
  const conn = this as LegacyConnection;
  conn.endpoint.forget(conn);
}

/** The legacy endpoint of one gateway. */
export class LegacyEndpoint {
  readonly #d: LegacyDeps;
  readonly #wss: WebSocketServer;
  /** Sockets waiting for their `register` (bounded by `maxUnregistered`). */
  readonly #pending = new Set<LegacyConnection>();
  readonly #timer: NodeJS.Timeout;
  /** Whether the current run of `maxUnregistered` refusals was logged (once per run, not per refusal). */
  #fullLogged = false;

  constructor(deps: LegacyDeps) {
    this.#d = deps;
    const ctx = deps;
    this.#wss = new WebSocketServer({
      noServer: true,
      perMessageDeflate: false,
      maxPayload: ctx.config.websocket.maxPayloadBytes,
      clientTracking: false,
      WebSocket: LegacyConnection,
    });
    const { registerTimeoutMs } = ctx.config.websocket.legacy;
    this.#timer = setInterval(() => this.sweep(), Math.max(5, Math.floor(registerTimeoutMs / 4)));
    this.#timer.unref();
  }

  /** Legacy sockets waiting for their `register`. */
  get unregistered(): number {
    return this.#pending.size;
  }

  /** True when this upgrade is the legacy generation's: no `Sec-WebSocket-Protocol` at all, and the generation is served. */
  accepts(req: IncomingMessage): boolean {
    return this.#d.config.websocket.legacy.enabled && req.headers['sec-websocket-protocol'] === undefined;
  }

  /**
   * Upgrade a legacy request that passed the shared checks (shutdown,
   * route, failed-handshake budget, Origin): the unregistered cap and the
   * per-address cap; then greet it. The session, when bound, is checked at
   * `register`, after the key: a peer without the key never makes pushgate
   * ask openITCOCKPIT.
   */
  upgrade(req: IncomingMessage, socket: Duplex, head: Buffer, ip: string): void {
    const ctx = this.#d;
    const refuse = (code: FixedHttpRefusalCode, limit: string): void => {
      count(ctx.stats.handshakesRejected, String(refusalStatus(code)));
      count(ctx.stats.limitRefusals, limit);
      refuseUpgrade(socket, code);
    };
    const max = ctx.config.websocket.legacy.maxUnregistered;
    if (this.#pending.size >= max) {
      if (!this.#fullLogged) ctx.logger.warn({ max }, 'legacy websockets refused: websocket.legacy.maxUnregistered sockets are waiting for their register');
      this.#fullLogged = true;
      return refuse('GW_REFUSE_LEGACY_UNREGISTERED', 'legacy-unregistered');
    }
    this.#fullLogged = false;
    if (ctx.guard.ipFull(ip)) return refuse('GW_REFUSE_IP_CONNECTIONS', 'ip-connections');
    this.#wss.handleUpgrade(req, socket, head, (ws) => {
      const conn = ws as LegacyConnection;
      conn.remoteIp = ip;
      ctx.guard.opened(ip);
      this.#open(conn, req);
    });
  }

  #open(conn: LegacyConnection, req: IncomingMessage): void {
    const ctx = this.#d;
    conn.clientUuid = randomUUID();
    conn.openedSeq = nextSequence();
    conn.openedAt = conn.lastSeenAt = Date.now();
    if (ctx.session !== undefined) conn.cookie = req.headers.cookie;
    conn.since = parseSince(req.url);
    this.#pending.add(conn);
    ctx.stats.connectionsOpened++;
    conn.endpoint = this;
    conn.on('message', onLegacyMessage);
    conn.on('close', onLegacyClose);
    attachLifecycle(conn, ctx.host);
    conn.sendLegacy(connectionFrame(conn.clientUuid));
    if (ctx.logger.isLevelEnabled('debug')) ctx.logger.debug({ conn: conn.clientUuid }, 'legacy websocket connected');
  }

  /** A client frame (the shared `message` listener). */
  received(conn: LegacyConnection, data: RawData): void {
    conn.lastSeenAt = Date.now();
    conn.activitySeq = nextSequence();
    const text = Buffer.isBuffer(data) ? data.toString('utf8')
      : Array.isArray(data) ? Buffer.concat(data).toString('utf8') : Buffer.from(data).toString('utf8');
    if (!conn.registered && ++conn.framesBeforeRegister > MAX_FRAMES_BEFORE_REGISTER) {
      this.#fail(conn, 'register-invalid', 'GW_CLOSE_LEGACY_INVALID_REGISTER', 'register first');
      return;
    }
    if (conn.held !== undefined) {
      conn.held.push(text);
      return;
    }
    this.#handle(conn, text);
  }

  /** One client frame, by the PHP server's rules (docs/protocol/openitcockpit-legacy.md section 2). */
  #handle(conn: LegacyConnection, text: string): void {
    let msg: { key?: unknown; task?: unknown; uuid?: unknown; data?: unknown };
    try {
      msg = JSON.parse(text) as typeof msg;
    } catch {
      return this.#ignored(conn, 'not JSON');
    }
    if (msg === null || typeof msg !== 'object' || !isset(msg.key) || !isset(msg.task) || !isset(msg.uuid)) {
      return this.#ignored(conn, 'a frame without key, task and uuid');
    }
    if (!conn.registered) {
      if (msg.task !== 'register') return this.#ignored(conn, `task ${String(msg.task).slice(0, 32)} before register`);
      conn.held = [];
      this.#register(conn, msg).catch((err: unknown) => {
        this.#d.logger.error({ err, conn: conn.clientUuid }, 'legacy register failed');
        conn.closeFor('internal-error', closeCode('GW_CLOSE_INTERNAL'), refusalText('GW_CLOSE_INTERNAL'));
      }).finally(() => {
        const held = conn.held ?? [];
        conn.held = undefined;
        for (const t of held) {
          if (conn.readyState !== WebSocket.OPEN) break;
          this.#handle(conn, t);
        }
      });
      return;
    }
    // Registered: every frame carries the key its register used (the PHP server checks every frame's key).
    if (typeof msg.key !== 'string' || conn.keyHash === undefined || !timingSafeEqual(sha256(msg.key), conn.keyHash)) {
      this.#fail(conn, 'register-unauthorized', 'GW_CLOSE_LEGACY_UNAUTHORIZED');
      return;
    }
    switch (msg.task) {
      case 'keepAlive':
        conn.sendLegacy(KEEP_ALIVE_FRAME);
        return;
      case 'testMessage':
        conn.sendLegacy(testMessageFrame(msg.data ?? null));
        return;
      case 'register': {
        // The same registration again is harmless; a socket never switches user or browser.
        const d = (msg.data ?? {}) as { userId?: unknown; browserUuid?: unknown };
        if (parseUserId(d.userId) !== conn.userId || d.browserUuid !== conn.browserUuid || msg.uuid !== conn.clientUuid) {
          this.#fail(conn, 'register-invalid', 'GW_CLOSE_LEGACY_INVALID_REGISTER', 'already registered as another user or browser');
        }
        return;
      }
      default:
        this.#ignored(conn, `unknown task ${String(msg.task).slice(0, 32)}`);
    }
  }

  async #register(conn: LegacyConnection, msg: { key?: unknown; uuid?: unknown; data?: unknown }): Promise<void> {
    const ctx = this.#d;
    const d = (msg.data !== null && typeof msg.data === 'object' ? msg.data : {}) as { userId?: unknown; browserUuid?: unknown };
    const userId = parseUserId(d.userId);
    const browserUuid = d.browserUuid;
    if (userId === 0 || typeof browserUuid !== 'string' || browserUuid === '') {
      return this.#fail(conn, 'register-invalid', 'GW_CLOSE_LEGACY_INVALID_REGISTER', 'register needs data.userId (integer > 0) and data.browserUuid');
    }
    if (msg.uuid !== conn.clientUuid) return this.#fail(conn, 'register-invalid', 'GW_CLOSE_LEGACY_INVALID_REGISTER', 'uuid is not this connection\'s');
    if (typeof msg.key !== 'string' || msg.key === '') return this.#unauthorized(conn, 'key is not a non-empty string');

    const cred = await checkCredential(msg.key, ctx.config.auth, ctx.directory, Math.floor(Date.now() / 1000));
    if (conn.readyState !== WebSocket.OPEN) return;
    if (!cred.ok) {
      if (cred.status === 503) return this.#fail(conn, 'directory-unavailable', 'GW_CLOSE_LEGACY_DIRECTORY_UNAVAILABLE');
      return this.#unauthorized(conn, cred.reason);
    }
    const mismatch = tokenUserMismatch(cred, userId);
    if (mismatch !== undefined) return this.#unauthorized(conn, mismatch);
    // auth.openitcockpitSession: an API key must come with that user's session (a token binds the user itself).
    const session = ctx.session;
    const cookie = conn.cookie;
    conn.cookie = undefined;
    if (session !== undefined && cred.token === undefined) {
      const verdict = await session.check(cookie, userId);
      if (conn.readyState !== WebSocket.OPEN) return;
      if (!verdict.ok) {
        if (verdict.status === 503) {
          return this.#fail(conn, 'session-unavailable', 'GW_CLOSE_LEGACY_SESSION_UNAVAILABLE');
        }
        ctx.guard.recordFailure(conn.remoteIp, Date.now());
        if (verdict.status === 403) {
          ctx.logger.warn({ conn: conn.clientUuid, user: userId, reason: verdict.reason }, 'legacy register refused: openITCOCKPIT session of another user');
          return this.#fail(conn, 'session-mismatch', 'GW_CLOSE_LEGACY_SESSION', 'session belongs to another user');
        }
        if (ctx.logger.isLevelEnabled('debug')) ctx.logger.debug({ conn: conn.clientUuid, reason: verdict.reason }, 'legacy register refused by session binding');
        return this.#fail(conn, 'session-mismatch', 'GW_CLOSE_LEGACY_SESSION', 'no logged-in openITCOCKPIT session');
      }
    }

    const perUser = ctx.config.limits.maxConnectionsPerUser;
    if (perUser !== 0) {
      let open = ctx.registry.countUser(userId);
      if (open < perUser && ctx.bus.kind !== 'local') {
        open += await ctx.bus.connectionsElsewhere(userId);
        if (conn.readyState !== WebSocket.OPEN) return;
      }
      if (open >= perUser) {
        count(ctx.stats.limitRefusals, 'user-connections');
        return this.#fail(conn, 'user-connections', 'GW_CLOSE_LEGACY_USER_CONNECTIONS');
      }
    }

    conn.userId = userId;
    conn.browserUuid = browserUuid;
    conn.tokenExpiresAt = cred.token?.expiresAt ?? 0;
    conn.keyHash = sha256(msg.key);
    conn.registered = true;
    conn.lastSeenAt = Date.now();
    this.#pending.delete(conn);
    ctx.registry.add(conn);
    ctx.registry.register(userId);
    ctx.stats.legacyRegistered++;
    // Replayed in the same tick as registry.add, as for the newer generation: each id once, in order.
    if (conn.since !== undefined) {
      const { gap, frames } = ctx.replay.resume(userId, conn.since);
      if (gap) conn.sendFrame(gap);
      conn.sendMissed(frames);
    }
    if (ctx.logger.isLevelEnabled('debug')) ctx.logger.debug({ conn: conn.clientUuid, user: userId }, 'legacy websocket registered');
  }

  #unauthorized(conn: LegacyConnection, reason: string): void {
    this.#d.guard.recordFailure(conn.remoteIp, Date.now());
    if (this.#d.logger.isLevelEnabled('debug')) this.#d.logger.debug({ conn: conn.clientUuid, reason }, 'legacy register refused');
    this.#fail(conn, 'register-unauthorized', 'GW_CLOSE_LEGACY_UNAUTHORIZED');
  }

  /** Close with a legacy close code; the close listener counts and logs it under `reason`. */
  #fail<C extends CloseRefusalCode>(conn: LegacyConnection, reason: string, code: C, ...detail: DetailArgs<C>): void {
    conn.closeFor(reason, closeCode(code), refusalText(code, ...detail));
  }

  /** A frame the PHP server would ignore: ignored, counted with the client errors. */
  #ignored(conn: LegacyConnection, what: string): void {
    this.#d.stats.clientErrors++;
    if (this.#d.logger.isLevelEnabled('debug')) this.#d.logger.debug({ conn: conn.clientUuid, what }, 'legacy frame ignored');
  }

  /** A socket closed (the shared `close` listener). */
  forget(conn: LegacyConnection): void {
    this.#pending.delete(conn);
  }

  /** Close the unregistered sockets whose register time is up; the endpoint's timer calls it, tests may too. */
  sweep(now = Date.now()): void {
    const timeout = this.#d.config.websocket.legacy.registerTimeoutMs;
    for (const conn of this.#pending) {
      if (now - conn.openedAt < timeout) continue;
      this.#pending.delete(conn);
      if (conn.readyState === WebSocket.OPEN) conn.closeFor('register-timeout', LegacyCloseCodes.registerTimeout, refusalText('GW_CLOSE_LEGACY_REGISTER_TIMEOUT'));
      else conn.terminate();
    }
  }

  /** Close every unregistered socket with 1001 (registered ones are the registry's); resolves once they are closed. */
  close(): Promise<void> {
    clearInterval(this.#timer);
    const sockets = [...this.#pending];
    return Promise.all(sockets.map((c) => new Promise<void>((resolve) => {
      if (c.readyState === WebSocket.CLOSED) return resolve();
      c.once('close', () => resolve());
      c.closeFor('shutdown', closeCode('GW_CLOSE_GOING_AWAY'), refusalText('GW_CLOSE_GOING_AWAY'));
    }))).then(() => {
      this.#wss.close();
    });
  }

  /** Cut what is still open (shutdown deadline). */
  terminate(): void {
    for (const c of this.#pending) c.terminate();
  }
}
