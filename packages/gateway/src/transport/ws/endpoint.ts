import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { envelope, ServerMessageType, Texts, type ReceiptPayload } from '@pushgate/protocol';
import type { Logger } from 'pino';
import { WebSocketServer } from 'ws';
import type { HandshakeGuard } from '../../auth/guard.js';
import type { OpenItcockpitSession } from '../../auth/openitcockpit-session.js';
import type { Bus } from '../../cluster/bus.js';
import type { Config } from '../../config.js';
import type { Directory } from '../../directory/directory.js';
import { count, type GatewayStats } from '../../ops/stats.js';
import { parseSince, type ReplayLog } from '../../pipeline/replay.js';
import { refusalStatus, refusalText, type FixedHttpRefusalCode } from '../refusals.js';
import { CloseCodes, Connection, listen, nextSequence, type ConnectionHost } from './connection.js';
import { authenticate, originAllowed, refuseUpgrade, selectProtocol } from './handshake.js';
import { LegacyEndpoint } from './legacy.js';
import type { Registry } from './registry.js';
import { sessionGate } from './session-gate.js';

/** Options of {@link WsEndpoint}. */
export interface WsEndpointOptions {
  config: Config;
  directory: Directory;
  logger: Logger;
  stats: GatewayStats;
  registry: Registry;
  /** The users' resume windows (`?since=`), kept by the browser target. */
  replay: ReplayLog;
  guard: HandshakeGuard;
  /** The per-user connection limit counts other nodes' connections too. */
  bus: Bus;
  /** Session binding (`auth.openitcockpitSession`), when enabled. */
  session: OpenItcockpitSession | undefined;
  /** A client's `TestPushNotification`: the composition root hands it to the pipeline. */
  onTest: (userId: number, title: string, icon: string) => void;
  /** A client's `Receipt` frame, with the connection's user and browser (its device); default: dropped. */
  onReceipt?: (userId: number, browserUuid: string, receipt: ReceiptPayload) => void;
  /** True once the gateway is shutting down. */
  closing: () => boolean;
}

/**
 * The openITCOCKPIT WebSocket endpoint (docs/protocol/openitcockpit.md
 * "Browser WebSocket"): per-IP limits, Origin, authentication and the
 * per-user limit before the upgrade; then the connection is indexed in the
 * registry and greeted with `ConnectionEstablished`, the last export status
 * and, on `?since=`, what it missed. It writes only greetings, answers and
 * export status itself: notifications come through the pipeline's browser target.
 */
export class WsEndpoint implements ConnectionHost {
  readonly maxBufferedBytes: number;
  readonly maxBacklogBytes: number;
  readonly stats: GatewayStats;
  readonly logger: Logger;
  readonly #o: WsEndpointOptions;
  readonly #wss: WebSocketServer;
  /** The legacy frontend generation's sockets (transport/ws/legacy.ts), on the same port. */
  readonly legacy: LegacyEndpoint;
  /** Last `exportRunning()` answer (this node's or another's); sent to new connections. */
  #exportRunning: boolean | undefined;

  constructor(opts: WsEndpointOptions) {
    this.#o = opts;
    this.maxBufferedBytes = opts.config.websocket.maxBufferedBytes;
    this.maxBacklogBytes = opts.config.websocket.replay.maxBytes;
    this.stats = opts.stats;
    this.logger = opts.logger;
    this.#wss = new WebSocketServer({
      noServer: true,
      perMessageDeflate: false,
      maxPayload: opts.config.websocket.maxPayloadBytes,
      clientTracking: false,
      handleProtocols: selectProtocol,
      WebSocket: Connection,
    });
    this.legacy = new LegacyEndpoint({ ...opts, host: this });
  }

  /** An upgrade for the WebSocket endpoint (the HTTP server already refused it while closing or on a plain route). */
  upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const { config, directory, guard, stats, registry, bus, logger } = this.#o;
    // Abuse limits (SECURITY.md "Limits"): refused before any directory work.
    const ip = req.socket.remoteAddress ?? '';
    const refuse = (code: FixedHttpRefusalCode, limit: string): void => {
      count(stats.handshakesRejected, String(refusalStatus(code)));
      count(stats.limitRefusals, limit);
      refuseUpgrade(socket, code);
    };
    if (guard.failuresExceeded(ip, Date.now())) return refuse('GW_REFUSE_TOO_MANY_FAILED_HANDSHAKES', 'failed-handshakes');
    if (!originAllowed(req.headers.origin, config.auth.allowedOrigins)) {
      guard.recordFailure(ip, Date.now());
      return refuse('GW_REFUSE_ORIGIN', 'origin');
    }
    // The legacy frontend: a plain WebSocket that authenticates later, in its register (legacy.ts).
    if (this.legacy.accepts(req)) return this.legacy.upgrade(req, socket, head, ip);
    authenticate(req, directory, config.auth).then(async (result) => {
      if (!result.ok) {
        if (result.refusal === 'GW_REFUSE_UNAUTHORIZED') guard.recordFailure(ip, Date.now());
        count(stats.handshakesRejected, String(result.status));
        if (logger.isLevelEnabled('debug')) logger.debug({ reason: result.reason, status: result.status }, 'websocket handshake rejected');
        refuseUpgrade(socket, result.refusal);
        return;
      }
      // auth.openitcockpitSession: an API key must come with the session of the same user (a token binds the user itself).
      if (result.tokenExpiresAt === undefined && !(await sessionGate(this.#o, req, socket, ip, result.userId))) return;
      if (this.#o.closing()) return refuseUpgrade(socket, 'GW_REFUSE_SHUTTING_DOWN');
      const perUser = config.limits.maxConnectionsPerUser;
      if (perUser !== 0) {
        let open = registry.countUser(result.userId);
        // Cluster-wide with the Redis bus: one round trip, only when this node alone is under the limit.
        if (open < perUser && bus.kind !== 'local') {
          open += await bus.connectionsElsewhere(result.userId);
          if (this.#o.closing()) return refuseUpgrade(socket, 'GW_REFUSE_SHUTTING_DOWN');
        }
        if (open >= perUser) return refuse('GW_REFUSE_USER_CONNECTIONS', 'user-connections');
      }
      if (guard.ipFull(ip)) return refuse('GW_REFUSE_IP_CONNECTIONS', 'ip-connections');
      this.#wss.handleUpgrade(req, socket, head, (ws) => {
        socket.off('error', onSocketError);
        const conn = ws as Connection;
        conn.remoteIp = ip;
        guard.opened(ip);
        conn.userId = result.userId;
        conn.browserUuid = result.browserUuid;
        conn.tokenExpiresAt = result.tokenExpiresAt ?? 0;
        this.#open(conn, req);
      });
    }, (err: unknown) => {
      logger.error({ err }, 'websocket handshake failed');
      count(stats.handshakesRejected, String(refusalStatus('GW_REFUSE_INTERNAL')));
      refuseUpgrade(socket, 'GW_REFUSE_INTERNAL');
    });
  }

  /** Index a connection ws just upgraded, greet it with `ConnectionEstablished` and the last known export status, replay what it missed. */
  #open(conn: Connection, req: IncomingMessage): void {
    const { registry, replay, logger } = this.#o;
    conn.clientUuid = randomUUID();
    conn.openedSeq = nextSequence();
    conn.lastSeenAt = Date.now();
    listen(conn, this);
    registry.add(conn);
    this.stats.connectionsOpened++;
    conn.sendFrame(Buffer.from(envelope(ServerMessageType.ConnectionEstablished, Texts.connectionEstablished, { clientUuid: conn.clientUuid })));
    if (this.#exportRunning !== undefined) {
      conn.sendFrame(Buffer.from(envelope(ServerMessageType.ExportStatus, '', this.#exportRunning)));
    }
    // pushgate: `?since=<id>` resume. Taken in the same tick as registry.add, and live frames queue
    // behind what is still held back: the client gets each id once, in order.
    const since = parseSince(req.url);
    if (since !== undefined) {
      const { gap, frames } = replay.resume(conn.userId, since);
      if (gap) conn.sendFrame(gap);
      conn.sendMissed(frames);
    }
    if (logger.isLevelEnabled('debug')) logger.debug({ conn: conn.clientUuid, user: conn.userId }, 'websocket connected');
  }

  register(conn: Connection): void {
    // openITCOCKPIT ignores the payload and takes the user from the connection.
    this.#o.registry.register(conn.userId);
  }

  test(conn: Connection, title: string, icon: string): void {
    this.#o.onTest(conn.userId, title, icon);
  }

  receipt(conn: Connection, receipt: ReceiptPayload): void {
    this.#o.onReceipt?.(conn.userId, conn.browserUuid, receipt);
  }

  closed(conn: Connection): void {
    this.#o.registry.remove(conn);
    this.#o.guard.closed(conn.remoteIp);
  }

  /** Remember an export-status answer (for new connections) and send it to every connection of this node. */
  exportStatus(running: boolean): void {
    this.#exportRunning = running;
    this.#o.registry.broadcast(Buffer.from(envelope(ServerMessageType.ExportStatus, '', running)));
  }

  /** Close every connection (legacy sockets still waiting for their register too) with 1001; resolves once all are closed. */
  closeAll(): Promise<void> {
    const sockets = [...this.#o.registry.all()];
    return Promise.all([...sockets.map((c) => new Promise<void>((resolve) => {
      if (c.readyState === Connection.CLOSED) return resolve();
      c.once('close', () => resolve());
      c.closeFor('shutdown', CloseCodes.goingAway, refusalText('GW_CLOSE_GOING_AWAY'));
    })), this.legacy.close()]).then(() => undefined);
  }

  /** Tear down every connection at once (the shutdown deadline passed). */
  terminateAll(): void {
    for (const c of this.#o.registry.all()) c.terminate();
    this.legacy.terminate();
  }

  /** Stop the ws server (no connection is left by then). */
  close(): void {
    this.#wss.close();
  }
}

/** A peer that resets during the handshake: nothing to answer. */
export function onSocketError(this: Duplex): void {
  this.destroy();
}
