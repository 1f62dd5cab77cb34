import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import { WebSocketServer } from 'ws';
import { LocalBus, type Bus } from '../../cluster/bus.js';
import type { Config } from '../../config.js';
import { CloseCodes, Connection, openConnection } from '../ws/connection.js';
import type { ChannelDispatcher, GatewayContext, PushRelay } from '../../context.js';
import type { Directory } from '../../directory/directory.js';
import { GatewayError } from '../../errors.js';
import { ExportStatus } from '../../sources/export-status.js';
import { HandshakeGuard } from '../../auth/guard.js';
import { authenticate, originAllowed, rejectUpgrade, selectProtocol } from '../ws/handshake.js';
import { Heartbeat } from '../ws/heartbeat.js';
import { LegacyEndpoint } from '../ws/legacy.js';
import { sessionGate } from '../ws/session-gate.js';
import { GatewayMetrics } from '../../ops/metrics.js';
import { StatusEndpoint } from '../../ops/status.js';
import { handleMessage } from '../../sources/message.js';
import { Registry } from '../ws/registry.js';
import { ReplayLog } from '../../pipeline/replay.js';
import { count, createStats, type GatewayStats } from '../../ops/stats.js';

/** Handles one plain HTTP request; answers it completely (status, body). */
export type HttpHandler = (req: IncomingMessage, res: ServerResponse, ctx: GatewayContext) => unknown;

/**
 * A plain HTTP route. `path` is an exact pathname (`/metrics`) or a predicate
 * on the pathname (SSE's `.../notifications/v<N>/subscribe`). The handler
 * answers every method itself (405 where it only takes one).
 */
export interface HttpRoute {
  path: string | ((pathname: string) => boolean);
  handler: HttpHandler;
}

/** Options of {@link startGateway}. */
export interface GatewayOptions {
  /** Validated config; `listen.host` defaults to 127.0.0.1 here (main.ts applies IS_CONTAINER). */
  config: Config;
  directory: Directory;
  logger: Logger;
  /** Mobile push relay (`MobilePush` from `@pushgate/relay`); none disables mobile push. */
  relay?: PushRelay;
  /** Named notification channels (`openChannels` in channels.ts); none: `/message` routes to no channel. */
  channels?: ChannelDispatcher;
  /** Extra HTTP routes, checked after the built-in ones. */
  httpRoutes?: HttpRoute[];
  /** Parts `/readyz` checks besides the directory (outbox, Icinga database). */
  readiness?: ReadinessCheck[];
}

/** One part `/readyz` checks: not ok carries a one-line reason. */
export interface ReadinessCheck {
  /** Shown before the reason (`outbox`, `icinga`). */
  name: string;
  health(): { ok: true } | { ok: false; reason: string };
}

/** A running gateway. */
export interface Gateway {
  /** The bound TCP port. */
  readonly port: number;
  /** Base URL, `http://<host>:<port>` (127.0.0.1 when bound to all addresses). */
  readonly url: string;
  readonly registry: Registry;
  readonly stats: GatewayStats;
  /** Shared state handlers receive. */
  readonly context: GatewayContext;
  /** The Prometheus metrics (`metrics.enabled`); attach outside parts with `metrics.observe`. */
  readonly metrics: GatewayMetrics | undefined;
  /** `GET /status` (loopback only, status.ts); attach the outbox and relay with `status.observe`. */
  readonly status: StatusEndpoint;
  /** Add an HTTP route after start (exact paths win over predicates). */
  addRoute(route: HttpRoute): void;
  /**
   * Stop accepting, close every WebSocket with 1001, let in-flight requests
   * finish, and resolve within 3/4 of `shutdownTimeoutMs` (sockets still
   * open then are destroyed). Does not close the directory or the relay: their owner does.
   */
  close(): Promise<void>;
}

function plain(res: ServerResponse, status: number, text: string): void {
  res.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': Buffer.byteLength(text) });
  res.end(text);
}

const healthz: HttpHandler = (_req, res) => plain(res, 200, 'ok');

/** `/readyz`: 200 `ok`, or 503 with one `<part>: <reason>` line per failing part. */
function readyz(checks: readonly ReadinessCheck[]): HttpHandler {
  return (_req, res, ctx) => {
    if (ctx.closing) return plain(res, 503, 'shutting down');
    const failing: string[] = [];
    for (const c of [{ name: 'directory', health: () => ctx.directory.health() }, ...checks]) {
      const h = c.health();
      if (!h.ok) failing.push(`${c.name}: ${h.reason}`);
    }
    if (failing.length === 0) plain(res, 200, 'ok');
    else plain(res, 503, failing.join('\n'));
  };
}

/**
 * Start the gateway: one node:http server for `/message`, `/healthz`,
 * `/readyz` and added routes; every other path is the openITCOCKPIT
 * WebSocket endpoint (PROTOCOL.md §1). Rejects with `GW_ERR_LISTEN` when the
 * address cannot be bound.
 */
export async function startGateway(opts: GatewayOptions): Promise<Gateway> {
  const { config, directory, logger } = opts;
  const registry = new Registry();
  const stats = createStats();
  // Session binding reads its CA file here: a bad one stops the start before anything listens.
  // Loaded only when enabled: undici is among the slowest imports (main.ts keeps it off the start path too).
  const session = config.auth.openitcockpitSession.enabled
    ? new (await import('../../auth/openitcockpit-session.js')).OpenItcockpitSession(config.auth.openitcockpitSession, logger)
    : undefined;
  // The Redis bus is loaded only when configured (ioredis stays out of one-process startups).
  let bus: Bus;
  let ids: { slots: number; slot: number } | undefined;
  if (config.bus.type === 'redis') {
    const { RedisBus, ID_SLOTS } = await import('../../cluster/redis/bus.js');
    const redis = await RedisBus.connect(config.bus, logger);
    bus = redis;
    ids = { slots: ID_SLOTS, slot: redis.slot };
  } else bus = new LocalBus();
  const ctx: GatewayContext = {
    config, directory, logger, relay: opts.relay, channels: opts.channels, registry, stats, bus,
    replay: new ReplayLog({ ...config.websocket.replay, ...(ids ? { ids } : {}) }), exportRunning: undefined, closing: false,
  };
  bus.attach(ctx);

  const guard = new HandshakeGuard(config.limits);
  ctx.guard = guard;
  if (session) ctx.session = session;
  const legacy = new LegacyEndpoint(ctx);
  ctx.legacy = legacy;

  const exact = new Map<string, HttpHandler>([
    ['/message', (req, res, c) => handleMessage(c, req, res)],
    ['/healthz', healthz],
    ['/readyz', readyz(bus.kind === 'local' ? opts.readiness ?? [] : [...opts.readiness ?? [], { name: 'bus', health: () => bus.health() }])],
  ]);
  const metrics = config.metrics.enabled ? new GatewayMetrics(ctx) : undefined;
  // With metrics.listen, /metrics is served only there (a management address), not on the client port.
  if (metrics && !config.metrics.listen) exact.set('/metrics', metrics.handler);
  const status = new StatusEndpoint();
  exact.set('/status', status.handler);
  const predicates: HttpRoute[] = [];
  const addRoute = (route: HttpRoute): void => {
    if (typeof route.path === 'string') exact.set(route.path, route.handler);
    else predicates.push(route);
  };
  for (const r of opts.httpRoutes ?? []) addRoute(r);
  const findRoute = (pathname: string): HttpHandler | undefined => {
    const h = exact.get(pathname);
    if (h) return h;
    for (const r of predicates) if ((r.path as (p: string) => boolean)(pathname)) return r.handler;
    return undefined;
  };

  const wss = new WebSocketServer({
    noServer: true,
    perMessageDeflate: false,
    maxPayload: config.websocket.maxPayloadBytes,
    clientTracking: false,
    handleProtocols: selectProtocol,
    WebSocket: Connection,
  });

  const { limits } = config;
  // Node refuses a headersTimeout above requestTimeout; its checks run every connectionsCheckingInterval (default 30 s).
  const headersTimeout = Math.min(limits.headersTimeoutMs, limits.requestTimeoutMs);
  const server: Server = createServer({
    maxHeaderSize: limits.maxHeaderBytes,
    headersTimeout,
    requestTimeout: limits.requestTimeoutMs,
    connectionsCheckingInterval: Math.max(10, Math.min(30_000, Math.floor(headersTimeout / 4))),
  }, (req, res) => {
    const pathname = pathOf(req);
    const handler = findRoute(pathname);
    if (!handler) {
      plain(res, 426, 'Upgrade Required: this path is a WebSocket endpoint');
      return;
    }
    const failed = (err: unknown): void => {
      logger.error({ err, path: pathname }, 'HTTP handler failed');
      if (!res.headersSent) plain(res, 500, 'Internal server error');
      else res.destroy();
    };
    try {
      Promise.resolve(handler(req, res, ctx)).catch(failed);
    } catch (err) {
      failed(err);
    }
  });

  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on('error', onSocketError);
    if (ctx.closing) {
      count(stats.handshakesRejected, '503');
      rejectUpgrade(socket, 503, 'Shutting down');
      return;
    }
    if (findRoute(pathOf(req))) {
      count(stats.handshakesRejected, '400');
      rejectUpgrade(socket, 400, 'This path does not accept WebSocket upgrades');
      return;
    }
    // Abuse limits (SECURITY.md "Limits"): refused before any directory work.
    const ip = req.socket.remoteAddress ?? '';
    const refuse = (status: number, limit: string, body: string): void => {
      count(stats.handshakesRejected, String(status));
      count(stats.limitRefusals, limit);
      rejectUpgrade(socket, status, body);
    };
    if (guard.failuresExceeded(ip, Date.now())) return refuse(429, 'failed-handshakes', 'Too many failed handshakes');
    if (!originAllowed(req.headers.origin, config.auth.allowedOrigins)) {
      guard.recordFailure(ip, Date.now());
      return refuse(403, 'origin', 'Origin not allowed');
    }
    // The legacy frontend: a plain WebSocket that authenticates later, in its register (legacy.ts).
    if (legacy.accepts(req)) return void legacy.upgrade(req, socket, head, ip);
    authenticate(req, directory, config.auth).then(async (result) => {
      if (!result.ok) {
        if (result.status === 401) guard.recordFailure(ip, Date.now());
        count(stats.handshakesRejected, String(result.status));
        if (logger.isLevelEnabled('debug')) logger.debug({ reason: result.reason, status: result.status }, 'websocket handshake rejected');
        rejectUpgrade(socket, result.status, result.status === 401 ? 'Unauthorized' : 'Directory unavailable');
        return;
      }
      // auth.openitcockpitSession: an API key must come with the session of the same user (a token binds the user itself).
      if (result.tokenExpiresAt === undefined && !(await sessionGate(ctx, req, socket, ip, result.userId))) return;
      if (ctx.closing) {
        rejectUpgrade(socket, 503, 'Shutting down');
        return;
      }
      const perUser = config.limits.maxConnectionsPerUser;
      if (perUser !== 0) {
        let open = registry.countUser(result.userId);
        // Cluster-wide with the Redis bus: one round trip, only when this node alone is under the limit.
        if (open < perUser && bus.kind !== 'local') {
          open += await bus.connectionsElsewhere(result.userId);
          if (ctx.closing) return rejectUpgrade(socket, 503, 'Shutting down');
        }
        if (open >= perUser) return refuse(429, 'user-connections', 'Too many connections for this user');
      }
      if (guard.ipFull(ip)) return refuse(429, 'ip-connections', 'Too many connections from this address');
      wss.handleUpgrade(req, socket, head, (ws) => {
        socket.off('error', onSocketError);
        (ws as Connection).remoteIp = ip;
        guard.opened(ip);
        openConnection(ctx, ws as Connection, result, req);
      });
    }, (err: unknown) => {
      logger.error({ err }, 'websocket handshake failed');
      count(stats.handshakesRejected, '500');
      rejectUpgrade(socket, 500, 'Internal server error');
    });
  });

  try {
    await listenOn(server, config);
  } catch (err) {
    await legacy.close();
    await session?.close();
    await bus.close();
    throw err;
  }
  server.on('error', (err) => logger.error({ err }, 'HTTP server error'));
  if (metrics && config.metrics.listen) {
    try {
      await metrics.listen(config.metrics.listen.host, config.metrics.listen.port);
    } catch (err) {
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await legacy.close();
      await session?.close();
      await bus.close();
      throw err;
    }
  }

  const heartbeat = new Heartbeat(ctx);
  const exportStatus = new ExportStatus(ctx);
  const address = server.address() as AddressInfo;
  const urlHost = address.address === '0.0.0.0' || address.address === '::' ? '127.0.0.1'
    : address.family === 'IPv6' ? `[${address.address}]` : address.address;

  let closed: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closed ??= shutdown();
    return closed;
  };
  const shutdown = async (): Promise<void> => {
    ctx.closing = true;
    heartbeat.stop();
    exportStatus.stop();
    const serverClosed = new Promise<void>((resolve) => server.close(() => resolve()));
    server.closeIdleConnections();
    const sockets = [...registry.all()];
    const socketsClosed = Promise.all(sockets.map((c) => new Promise<void>((resolve) => {
      if (c.readyState === Connection.CLOSED) return resolve();
      c.once('close', () => resolve());
      c.closeFor('shutdown', CloseCodes.goingAway, 'Server shutting down');
    })));
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<'timeout'>((resolve) => {
      // Three quarters of the budget: main.ts still has to close the relay and the directory.
      timer = setTimeout(() => resolve('timeout'), Math.floor(config.shutdownTimeoutMs * 0.75));
    });
    const outcome = await Promise.race([Promise.all([serverClosed, socketsClosed, legacy.close()]), deadline]);
    clearTimeout(timer);
    if (outcome === 'timeout') {
      logger.warn('shutdown timeout: destroying remaining connections');
      for (const c of registry.all()) c.terminate();
      legacy.terminate();
      server.closeAllConnections();
    }
    wss.close();
    await bus.close();
    await session?.close();
    await metrics?.close();
  };

  return {
    port: address.port,
    url: `http://${urlHost}:${address.port}`,
    registry,
    stats,
    context: ctx,
    metrics,
    status,
    addRoute,
    close,
  };
}

function onSocketError(this: Duplex): void {
  // A peer that resets during the handshake: nothing to answer.
  this.destroy();
}

function pathOf(req: IncomingMessage): string {
  const url = req.url ?? '/';
  const q = url.indexOf('?');
  return q === -1 ? url : url.slice(0, q);
}

/** Bind the server to `listen`; rejects with `GW_ERR_LISTEN`. */
function listenOn(server: Server, config: Config): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const host = config.listen.host ?? '127.0.0.1';
    const onError = (err: Error): void => {
      reject(new GatewayError('GW_ERR_LISTEN', `cannot listen on ${host}:${config.listen.port}: ${err.message}`, { cause: err }));
    };
    server.once('error', onError);
    server.listen(config.listen.port, host, () => {
      server.off('error', onError);
      resolve();
    });
  });
}
