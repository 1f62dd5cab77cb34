import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import type { Config } from '../../config.js';
import { GatewayError } from '../../errors.js';
import { count, type GatewayStats } from '../../ops/stats.js';
import { onSocketError } from '../ws/endpoint.js';
import { refuseUpgrade } from '../ws/handshake.js';
import { answerRefusal, refusalStatus } from '../refusals.js';

/** Handles one plain HTTP request; answers it completely (status, body). */
export type HttpHandler = (req: IncomingMessage, res: ServerResponse) => unknown;

/**
 * A plain HTTP route. `path` is an exact pathname (`/metrics`) or a predicate
 * on the pathname (SSE's `.../notifications/v<N>/subscribe`). The handler
 * answers every method itself (405 where it only takes one).
 */
export interface HttpRoute {
  path: string | ((pathname: string) => boolean);
  handler: HttpHandler;
}

/** One part `/readyz` checks: not ok carries a one-line reason. */
export interface ReadinessCheck {
  /** Shown before the reason (`directory`, `outbox`, `icinga`, `bus`). */
  name: string;
  health(): { ok: true } | { ok: false; reason: string };
}

/** Options of {@link HttpServer}. */
export interface HttpServerOptions {
  config: Config;
  logger: Logger;
  stats: GatewayStats;
  /** Every plain route (exact paths win over predicates). */
  routes: readonly HttpRoute[];
  /** What `/readyz` checks. */
  readiness: readonly ReadinessCheck[];
  /** Every other path is the WebSocket endpoint: its upgrades go here. */
  upgrade: (req: IncomingMessage, socket: Duplex, head: Buffer) => void;
}

function plain(res: ServerResponse, status: number, text: string): void {
  res.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': Buffer.byteLength(text) });
  res.end(text);
}

/**
 * The one `node:http` server of a gateway: exact and predicate routes,
 * `/healthz` and `/readyz`; every other path is the WebSocket endpoint
 * (docs/protocol/openitcockpit.md "Handshake"), whose upgrades it hands on.
 * Node's header and request timeouts come from `limits`.
 */
export class HttpServer {
  readonly server: Server;
  readonly #exact = new Map<string, HttpHandler>();
  readonly #predicates: HttpRoute[] = [];
  readonly #o: HttpServerOptions;
  #closing = false;

  constructor(opts: HttpServerOptions) {
    this.#o = opts;
    this.#exact.set('/healthz', (_req, res) => plain(res, 200, 'ok'));
    this.#exact.set('/readyz', (_req, res) => this.#readyz(res));
    for (const r of opts.routes) {
      if (typeof r.path === 'string') this.#exact.set(r.path, r.handler);
      else this.#predicates.push(r);
    }
    const { limits } = opts.config;
    // Node refuses a headersTimeout above requestTimeout; its checks run every connectionsCheckingInterval (default 30 s).
    const headersTimeout = Math.min(limits.headersTimeoutMs, limits.requestTimeoutMs);
    this.server = createServer({
      maxHeaderSize: limits.maxHeaderBytes,
      headersTimeout,
      requestTimeout: limits.requestTimeoutMs,
      connectionsCheckingInterval: Math.max(10, Math.min(30_000, Math.floor(headersTimeout / 4))),
    }, (req, res) => this.#request(req, res));
    this.server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => this.#upgrade(req, socket, head));
  }

  /** True once {@link beginClose} ran: upgrades and `/readyz` answer 503. */
  get closing(): boolean {
    return this.#closing;
  }

  #route(pathname: string): HttpHandler | undefined {
    const h = this.#exact.get(pathname);
    if (h) return h;
    for (const r of this.#predicates) if ((r.path as (p: string) => boolean)(pathname)) return r.handler;
    return undefined;
  }

  #request(req: IncomingMessage, res: ServerResponse): void {
    const pathname = pathOf(req);
    const handler = this.#route(pathname);
    if (!handler) {
      answerRefusal(res, 'GW_REFUSE_UPGRADE_REQUIRED');
      return;
    }
    const failed = (err: unknown): void => {
      this.#o.logger.error({ err, path: pathname }, 'HTTP handler failed');
      if (!res.headersSent) answerRefusal(res, 'GW_REFUSE_INTERNAL');
      else res.destroy();
    };
    try {
      Promise.resolve(handler(req, res)).catch(failed);
    } catch (err) {
      failed(err);
    }
  }

  #upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    socket.on('error', onSocketError);
    const { stats } = this.#o;
    if (this.#closing) {
      count(stats.handshakesRejected, String(refusalStatus('GW_REFUSE_SHUTTING_DOWN')));
      refuseUpgrade(socket, 'GW_REFUSE_SHUTTING_DOWN');
      return;
    }
    if (this.#route(pathOf(req))) {
      count(stats.handshakesRejected, String(refusalStatus('GW_REFUSE_UPGRADE_ON_HTTP_ROUTE')));
      refuseUpgrade(socket, 'GW_REFUSE_UPGRADE_ON_HTTP_ROUTE');
      return;
    }
    this.#o.upgrade(req, socket, head);
  }

  /** `/readyz`: 200 `ok`, or 503 with one `<part>: <reason>` line per failing part. */
  #readyz(res: ServerResponse): void {
    if (this.#closing) return plain(res, 503, 'shutting down');
    const failing: string[] = [];
    for (const c of this.#o.readiness) {
      const h = c.health();
      if (!h.ok) failing.push(`${c.name}: ${h.reason}`);
    }
    if (failing.length === 0) plain(res, 200, 'ok');
    else plain(res, 503, failing.join('\n'));
  }

  /** Bind `listen`; rejects with `GW_ERR_LISTEN`. */
  listen(): Promise<AddressInfo> {
    const { config, logger } = this.#o;
    return new Promise((resolve, reject) => {
      const host = config.listen.host ?? '127.0.0.1';
      const onError = (err: Error): void => {
        reject(new GatewayError('GW_ERR_LISTEN', `cannot listen on ${host}:${config.listen.port}: ${err.message}`, { cause: err }));
      };
      this.server.once('error', onError);
      this.server.listen(config.listen.port, host, () => {
        this.server.off('error', onError);
        this.server.on('error', (err) => logger.error({ err }, 'HTTP server error'));
        resolve(this.server.address() as AddressInfo);
      });
    });
  }

  /** Stop accepting: upgrades get 503, idle keep-alive connections close; resolves once the server closed. */
  beginClose(): Promise<void> {
    this.#closing = true;
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.server.closeIdleConnections();
    return closed;
  }

  /** Destroy every remaining connection (the shutdown deadline passed). */
  destroyAll(): void {
    this.server.closeAllConnections();
  }
}

function pathOf(req: IncomingMessage): string {
  const url = req.url ?? '/';
  const q = url.indexOf('?');
  return q === -1 ? url : url.slice(0, q);
}
