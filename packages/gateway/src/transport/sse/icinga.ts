import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import type { Config } from '../../config.js';
import { readMyCnf } from '../../directory/mycnf.js';
import { GatewayError } from '../../errors.js';
import { answerRefusal, Refusals, type DetailArgs, type HttpRefusalCode } from '../refusals.js';
import { originAllowed } from '../ws/handshake.js';
import { parseLastEventId, SseHub } from './stream.js';
import { IcingaDirectory, resolveIcingaDatabase, type IcingaDbConnection, type NotifiedRow } from '../../directory/icinga.js';
import { IcingaPoller, type PollerCoordinator } from '../../sources/icinga-poller.js';

/** The `icinga` section of the validated config. */
export type IcingaConfig = Config['icinga'];

/** The protocol version pushgate serves. */
export const ICINGA_PROTOCOL_VERSION = 1;

/** Header the web server sets on the proxied request; wins over the version in the path. */
export const VERSION_HEADER = 'x-icinga-notifications-protocol-version';

const SUBSCRIBE = /\/notifications\/v(\d+)\/subscribe$/;

/** True for exactly the paths Icinga Web proxies: ending in `/notifications/v<N>/subscribe`. */
export function isIcingaSubscribePath(pathname: string): boolean {
  return SUBSCRIBE.test(pathname);
}

/**
 * The database connection of the `icinga` section: `database` (its `url` or
 * its keys, with the defaults of its type), or the `[client]` section of
 * `mysqlCnf` (MySQL). Throws `GW_ERR_DIRECTORY_CONFIG`.
 */
export async function icingaConnection(cfg: IcingaConfig): Promise<IcingaDbConnection> {
  if (cfg.database) return resolveIcingaDatabase(cfg.database);
  if (cfg.mysqlCnf) return readMyCnf(cfg.mysqlCnf);
  throw new GatewayError('GW_ERR_DIRECTORY_CONFIG', 'icinga: neither icinga.database nor icinga.mysqlCnf is set');
}

/** Options of {@link IcingaService}. */
export interface IcingaServiceOptions {
  config: IcingaConfig;
  connection: IcingaDbConnection;
  logger: Logger;
  /** Clock in ms (default `Date.now`); tests may pass their own. */
  now?: () => number;
  /** `auth.allowedOrigins`: a subscription whose Origin is not listed gets 403 (default empty: any). */
  allowedOrigins?: readonly string[];
  /** Each de-duplicated sent row the poller reads: the composition root hands it to the pipeline, whose Icinga target writes this hub. */
  deliver: (row: NotifiedRow) => void;
  /** With the Redis bus: poll only on the lease holder (sources/icinga-poller.ts). */
  coordinator?: PollerCoordinator;
}

/** Counters of the Icinga endpoint, for metrics. */
export interface IcingaStats {
  /** Subscribe answers by status (`"200"`, `"204"`, `"400"`, `"403"`, `"405"`, `"503"`). */
  answers: Record<string, number>;
  /** 204s by reason (`no-cookie`, `user-agent-mismatch`, ..., `stream-limit`). */
  refused: Record<string, number>;
  /** Streams closed by the server: `slow-consumer`, `write-error`. */
  dropped: Record<string, number>;
}

function inc(counts: Record<string, number>, key: string): void {
  counts[key] = (counts[key] ?? 0) + 1;
}

/**
 * The Icinga Notifications Web desktop-notification endpoint (docs/protocol/icinga-sse.md):
 * authenticates SSE subscriptions against `browser_session`, polls
 * `incident_history` and routes each sent notification to the contact's
 * browsers. Mount {@link IcingaService.route} on the gateway's server, or
 * {@link IcingaService.listen} on a listener of its own (Icinga: 127.0.0.1:5664).
 */
export class IcingaService {
  readonly directory: IcingaDirectory;
  readonly hub: SseHub;
  readonly poller: IcingaPoller;
  /** `icinga.retryMs`: the `retry:` field of each event. */
  readonly retryMs: number;
  readonly stats: IcingaStats = { answers: {}, refused: {}, dropped: {} };
  /** Route for `startGateway({ httpRoutes })` / `gateway.addRoute`. */
  readonly route: { path: (pathname: string) => boolean; handler: (req: IncomingMessage, res: ServerResponse) => Promise<void> };
  private readonly log: Logger;
  private server: Server | undefined;
  private closing = false;
  private readonly allowedOrigins: readonly string[];

  constructor(opts: IcingaServiceOptions) {
    const { config, logger } = opts;
    this.log = logger.child({ mod: 'icinga' });
    const now = opts.now ?? Date.now;
    this.allowedOrigins = opts.allowedOrigins ?? [];
    this.retryMs = config.retryMs;
    this.directory = new IcingaDirectory({
      connection: opts.connection,
      logger: this.log,
      sessionMaxAgeMs: config.sessionMaxAgeMs,
      queryTimeoutMs: config.queryTimeoutMs,
      now,
    });
    this.hub = new SseHub({
      keepAliveFirstMs: config.keepAliveFirstMs,
      keepAliveMs: config.keepAliveMs,
      maxStreamsPerBrowser: config.maxStreamsPerBrowser,
      maxBufferedBytes: config.maxBufferedBytes,
      replay: config.replay,
      now,
      onDrop: (reason) => {
        inc(this.stats.dropped, reason);
        this.log.warn({ reason }, 'icinga: event stream closed by the server');
      },
    });
    this.poller = new IcingaPoller({
      directory: this.directory,
      logger: this.log,
      pollIntervalMs: config.pollIntervalMs,
      pendingMaxIds: config.pending.maxIds,
      pendingMaxAgeMs: config.pending.maxAgeMs,
      now,
      deliver: opts.deliver,
      ...(opts.coordinator ? { coordinator: opts.coordinator } : {}),
    });
    this.route = { path: isIcingaSubscribePath, handler: (req, res) => this.handle(req, res) };
  }

  /** Start polling. */
  start(): void {
    this.poller.start();
  }

  /**
   * Serve the endpoint on a listener of its own (every other path: 404).
   * Rejects with `GW_ERR_LISTEN`.
   * @returns the bound port (useful with port 0).
   */
  async listen(host: string, port: number): Promise<number> {
    const server = createServer((req, res) => {
      const url = req.url ?? '/';
      const q = url.indexOf('?');
      if (!isIcingaSubscribePath(q === -1 ? url : url.slice(0, q))) return answerRefusal(res, 'GW_REFUSE_NOT_FOUND');
      this.handle(req, res).catch((err: unknown) => {
        this.log.error({ err }, 'icinga: subscribe handler failed');
        if (!res.headersSent) answerRefusal(res, 'GW_REFUSE_INTERNAL');
        else res.destroy();
      });
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', (err) => reject(new GatewayError('GW_ERR_LISTEN', `cannot listen on ${host}:${port}: ${err.message}`, { cause: err })));
      server.listen(port, host, () => resolve());
    });
    server.on('error', (err) => this.log.error({ err }, 'icinga: HTTP server error'));
    this.server = server;
    return (server.address() as AddressInfo).port;
  }

  /**
   * Answer one subscribe request: 405 for other methods, 400 for a
   * protocol version other than 1, 204 for any authentication failure and
   * for a browser already at `maxStreamsPerBrowser`, 503 while closing or
   * when the database fails, else 200 and the event stream.
   */
  async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (req.method !== 'GET') return this.answer(res, 'GW_REFUSE_ICINGA_METHOD');
    const version = requestedVersion(req);
    if (version !== ICINGA_PROTOCOL_VERSION) {
      return this.answer(res, 'GW_REFUSE_ICINGA_VERSION', version === undefined ? 'invalid protocol version' : `unsupported protocol version ${version}`);
    }
    // Cross-site hijacking: a page elsewhere must not open a stream with the user's cookie.
    if (!originAllowed(req.headers.origin, this.allowedOrigins)) return this.answer(res, 'GW_REFUSE_SSE_ORIGIN');
    if (this.closing) return this.answer(res, 'GW_REFUSE_ICINGA_SHUTTING_DOWN');
    let auth: Awaited<ReturnType<IcingaDirectory['authenticate']>>;
    try {
      auth = await this.directory.authenticate(req);
    } catch (err) {
      this.log.warn({ err }, 'icinga: cannot authenticate subscription, database unavailable');
      return this.answer(res, 'GW_REFUSE_SSE_DIRECTORY_UNAVAILABLE');
    }
    if (!auth.ok) return this.refuse(res, auth.reason);
    // The client may have left while the database answered.
    if (req.socket.destroyed || res.destroyed) return;
    if (this.closing) return this.answer(res, 'GW_REFUSE_ICINGA_SHUTTING_DOWN');
    const { contactId, userAgent } = auth.principal;
    const stream = this.hub.open(res, String(contactId), userAgent, parseLastEventId(req.headers['last-event-id']));
    if (!stream) return this.refuse(res, 'stream-limit');
    inc(this.stats.answers, '200');
    if (this.log.isLevelEnabled('debug')) this.log.debug({ contact: contactId }, 'icinga: stream opened');
  }

  /** Answers a refusal and counts it by status. */
  private answer<C extends HttpRefusalCode>(res: ServerResponse, code: C, ...detail: DetailArgs<C>): void {
    inc(this.stats.answers, String(Refusals[code].status));
    answerRefusal(res, code, ...detail);
  }

  /** The 204 that stops EventSource, counted by why (`no-cookie`, …, `stream-limit`). */
  private refuse(res: ServerResponse, reason: string): void {
    inc(this.stats.refused, reason);
    // Session ids and cookies are never logged: the reason is enough.
    if (this.log.isLevelEnabled('debug')) this.log.debug({ reason }, 'icinga: subscription refused (204)');
    this.answer(res, 'GW_REFUSE_ICINGA_REFUSED');
  }

  /** Stop polling, end every stream, close the own listener and the pool. */
  /** For `/readyz`: not ok while the last poll of the Icinga database failed (one-line reason). */
  health(): { ok: true } | { ok: false; reason: string } {
    const err = this.poller.lastError;
    return err === undefined ? { ok: true } : { ok: false, reason: err.split('\n', 1)[0]! };
  }

  async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    await this.poller.stop();
    this.hub.close();
    if (this.server) {
      const server = this.server;
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
      });
    }
    await this.directory.close();
  }
}

/** The version the request asks for: the header when present, else the path; `undefined` if garbled. */
function requestedVersion(req: IncomingMessage): number | undefined {
  const header = req.headers[VERSION_HEADER];
  if (header !== undefined) {
    const v = (Array.isArray(header) ? header[0]! : header).trim();
    return /^\d{1,6}$/.test(v) ? Number(v) : undefined;
  }
  const url = req.url ?? '/';
  const q = url.indexOf('?');
  const m = SUBSCRIBE.exec(q === -1 ? url : url.slice(0, q));
  return m ? Number(m[1]) : undefined;
}

/**
 * Start the Icinga endpoint when `cfg.enabled`: resolve the database
 * connection, start polling (rows go to `opts.deliver`), and bind `cfg.listen` when set. Returns
 * `undefined` when disabled. Mount `service.route` on the gateway (e.g.
 * `startGateway({ httpRoutes: [service.route] })`) and call
 * `service.close()` before `gateway.close()` so open streams end at once.
 * Rejects with `GW_ERR_DIRECTORY_CONFIG` or `GW_ERR_LISTEN`.
 */
export async function startIcinga(
  cfg: IcingaConfig, logger: Logger, opts: Pick<IcingaServiceOptions, 'deliver' | 'coordinator' | 'allowedOrigins'>,
): Promise<IcingaService | undefined> {
  if (!cfg.enabled) return undefined;
  const service = new IcingaService({ config: cfg, connection: await icingaConnection(cfg), logger, ...opts });
  try {
    if (cfg.listen) {
      const port = await service.listen(cfg.listen.host, cfg.listen.port);
      logger.info({ host: cfg.listen.host, port }, 'icinga: SSE endpoint listening');
    }
  } catch (err) {
    await service.close();
    throw err;
  }
  service.start();
  return service;
}
