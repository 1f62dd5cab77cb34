import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { collectDefaultMetrics, Counter, Gauge, Registry } from 'prom-client';
import type { GatewayContext } from '../context.js';
import { DirectoryMetrics, type DirectoryHealthSource } from './directory-metrics.js';
import type { QueryObserver } from '../directory/query-metrics.js';
import { GatewayError } from '../errors.js';

/**
 * `GET /metrics` in the Prometheus text format (docs/operations.md lists
 * every metric). Nothing is counted here: each metric reads the gateway's
 * existing plain counters (`ctx.stats`, the registry's O(1) sizes, the
 * outbox, relay and Icinga counters) in a `collect` callback at scrape
 * time, so the hot path pays nothing and a scrape costs the same at 15k
 * clients as at one. Labels are status codes, reasons and channel names
 * only: never a user, key or token.
 */

/** What the Prometheus counters of the durable outbox read (`Outbox` from `@pushgate/relay` fits). */
export interface OutboxSource {
  readonly stats: { readonly accepted: number; readonly rejected: number };
  readonly byChannel: ReadonlyMap<string, { readonly sent: number; readonly retried: number; readonly dead: number }>;
  readonly pending: number;
  readonly journalBytes: number;
  /** `createdAt` (ms since the epoch) of the oldest pending delivery, undefined when none. */
  readonly oldestPendingAt?: number | undefined;
}

/** What the in-memory mobile push relay exposes (`MobilePush.stats`). */
export interface MobilePushSource {
  readonly stats: { readonly sent: number; readonly failed: number; readonly retried: number; readonly gone: number; readonly dropped: number };
}

/** An SSE endpoint's open-stream count (`SseHub.size()`). */
export interface SseHubSource {
  size(): number;
  /** Events written to browsers' streams since start. */
  readonly delivered?: number;
}

/** The Icinga endpoint's counters (`IcingaService`). */
export interface IcingaSource {
  readonly hub: SseHubSource;
  readonly stats: { readonly answers: Readonly<Record<string, number>>; readonly refused: Readonly<Record<string, number>>; readonly dropped: Readonly<Record<string, number>> };
  readonly poller: { readonly stats: { readonly polls: number; readonly pollErrors: number; readonly delivered: number } };
  /** The Icinga database, for the directory query metrics. */
  readonly directory?: { observeQueries?(observer: QueryObserver): void };
  /** The Icinga part of `/readyz`, for `pushgate_directory_up{directory="icinga"}`. */
  health?(): { ok: boolean };
}

/** Parts built outside the gateway that metrics also read; each optional (absent: its series are not exported). */
export interface MetricsSources {
  /** The durable outbox of the notification channels. */
  outbox?: OutboxSource | undefined;
  /** The in-memory mobile push relay, when mobile push does not go through the outbox. */
  mobilePush?: MobilePushSource | undefined;
  /** pushgate's own `/events` SSE endpoint (`dropped`: streams closed by the server, by reason). */
  events?: { readonly hub: SseHubSource; readonly dropped?: Readonly<Record<string, number>> } | undefined;
  /** The Icinga desktop-notification endpoint. */
  icinga?: IcingaSource | undefined;
}

/**
 * prom-client default metrics left out: each scrape they list every libuv
 * handle or resource, or every entry of /proc/self/fd (one per socket), so
 * their cost grows with the connections (at 15k clients process_open_fds
 * alone took 14 ms; bench/metrics-scrape.mjs). `pushgate_connections`
 * counts the sockets instead, next to `process_max_fds`.
 */
const PER_SOCKET_DEFAULT_METRICS = [
  'nodejs_active_handles', 'nodejs_active_handles_total', 'nodejs_active_resources', 'nodejs_active_resources_total', 'process_open_fds',
];

/** The `outcome` of a `/message` answer status. */
function messageOutcome(status: string): string {
  if (status === '200') return 'delivered';
  if (status === '202') return 'dropped';
  return status.startsWith('5') ? 'failed' : 'rejected';
}

/** Sets a labelled counter to the values of `counts` (one series per key). */
function fromRecord(c: Counter<string>, label: string, counts: Readonly<Record<string, number>>, extra: Record<string, string> = {}): void {
  for (const key of Object.keys(counts)) c.inc({ ...extra, [label]: key }, counts[key]!);
}

/**
 * The gateway's Prometheus registry: pushgate_* metrics collected at scrape
 * time plus prom-client's default process metrics (RSS, event-loop lag, GC).
 */
export class GatewayMetrics {
  /** The prom-client registry (one per gateway, never the global one). */
  readonly registry = new Registry();
  /** Sources attached after start with {@link GatewayMetrics.observe}. */
  #sources: MetricsSources = {};
  #server: Server | undefined;
  /** Directory query latency, errors and up gauge (directory-metrics.ts). */
  readonly #directories: DirectoryMetrics;

  constructor(ctx: GatewayContext) {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry });
    for (const name of PER_SOCKET_DEFAULT_METRICS) this.registry.removeSingleMetric(name);
    const src = (): MetricsSources => this.#sources;
    this.#directories = new DirectoryMetrics(this.registry, () => {
      const list: DirectoryHealthSource[] = [ctx.directory];
      const icinga = src().icinga;
      if (icinga?.health) list.push({ kind: 'icinga', health: () => icinga.health!() });
      return list;
    });
    ctx.directory.observeQueries?.(this.#directories.observer);

    new Gauge({
      name: 'pushgate_connections', help: 'Open client connections by transport (ws: openITCOCKPIT WebSocket, sse: /events and Icinga streams).', labelNames: ['transport'], registers,
      collect() {
        const s = src();
        this.set({ transport: 'ws' }, ctx.registry.size);
        this.set({ transport: 'sse' }, (s.events?.hub.size() ?? 0) + (s.icinga?.hub.size() ?? 0));
      },
    });
    new Gauge({
      name: 'pushgate_registered_users', help: 'Users with at least one open WebSocket connection.', registers,
      collect() { this.set(ctx.registry.userCount); },
    });
    new Counter({
      name: 'pushgate_handshakes_total', help: 'WebSocket handshakes by outcome (accepted, rejected) and HTTP status.', labelNames: ['outcome', 'status'], registers,
      collect() {
        this.reset();
        this.inc({ outcome: 'accepted', status: '101' }, ctx.stats.connectionsOpened);
        fromRecord(this, 'status', ctx.stats.handshakesRejected, { outcome: 'rejected' });
      },
    });
    new Counter({
      name: 'pushgate_limit_refusals_total', help: 'Requests refused by an abuse limit, by limit.', labelNames: ['limit'], registers,
      collect() { this.reset(); fromRecord(this, 'limit', ctx.stats.limitRefusals); },
    });
    new Counter({
      name: 'pushgate_messages_total', help: 'POST /message answers by outcome (delivered 200, dropped 202, rejected 4xx, failed 5xx) and HTTP status.', labelNames: ['outcome', 'status'], registers,
      collect() {
        this.reset();
        for (const [status, n] of Object.entries(ctx.stats.messages)) this.inc({ outcome: messageOutcome(status), status }, n);
      },
    });
    new Counter({
      name: 'pushgate_legacy_registers_total', help: 'Legacy openITCOCKPIT frontend sockets whose register was accepted (refusals: pushgate_closes_total reasons register-*, session-mismatch).', registers,
      collect() { this.reset(); this.inc(ctx.stats.legacyRegistered); },
    });
    new Gauge({
      name: 'pushgate_legacy_unregistered', help: 'Legacy sockets open and still waiting for their register (bounded by websocket.legacy.maxUnregistered).', registers,
      collect() { this.set(ctx.legacy?.unregistered ?? 0); },
    });
    new Counter({
      name: 'pushgate_session_checks_total', help: 'openITCOCKPIT session checks (auth.openitcockpitSession) by result (match, exempt, other-user, not-logged-in, unavailable-refused, unavailable-key-only).', labelNames: ['result'], registers,
      collect() { this.reset(); const s = ctx.session; if (s) fromRecord(this, 'result', s.stats.checks); },
    });
    new Counter({
      name: 'pushgate_session_requests_total', help: 'Requests to openITCOCKPIT for a session, by answer (user, anonymous, unavailable); cache hits are not requests.', labelNames: ['answer'], registers,
      collect() { this.reset(); const s = ctx.session; if (s) fromRecord(this, 'answer', s.stats.requests); },
    });
    new Counter({
      name: 'pushgate_session_cache_hits_total', help: 'Session checks answered from the cache.', registers,
      collect() { this.reset(); const s = ctx.session; if (s) this.inc(s.stats.cacheHits); },
    });
    new Gauge({
      name: 'pushgate_session_cache_entries', help: 'Cookies cached by session binding (bounded by auth.openitcockpitSession.cacheSize).', registers,
      collect() { this.set(ctx.session?.cacheSize ?? 0); },
    });
    new Counter({
      name: 'pushgate_frames_sent_total', help: 'Server frames written to WebSockets (one per routed socket).', registers,
      collect() { this.reset(); this.inc(ctx.stats.framesSent); },
    });
    new Counter({
      name: 'pushgate_client_errors_total', help: 'Client frames answered with an Error message.', registers,
      collect() { this.reset(); this.inc(ctx.stats.clientErrors); },
    });
    new Counter({
      name: 'pushgate_closes_total', help: 'Closed connections by transport and reason (server drops: pong-timeout, slow-consumer, write-timeout, ...).', labelNames: ['transport', 'reason'], registers,
      collect() {
        this.reset();
        fromRecord(this, 'reason', ctx.stats.closes, { transport: 'ws' });
        // Both SSE endpoints' server-side drops; pushgate_sse_drops_total tells them apart.
        const sse: Record<string, number> = { ...src().events?.dropped };
        for (const [reason, n] of Object.entries(src().icinga?.stats.dropped ?? {})) sse[reason] = (sse[reason] ?? 0) + n;
        fromRecord(this, 'reason', sse, { transport: 'sse' });
      },
    });
    new Counter({
      name: 'pushgate_sse_drops_total', help: 'SSE streams closed by the server, by endpoint (events, icinga) and reason (slow-consumer, write-error).', labelNames: ['endpoint', 'reason'], registers,
      collect() {
        this.reset();
        const s = src();
        if (s.events?.dropped) fromRecord(this, 'reason', s.events.dropped, { endpoint: 'events' });
        if (s.icinga) fromRecord(this, 'reason', s.icinga.stats.dropped, { endpoint: 'icinga' });
      },
    });
    new Counter({
      name: 'pushgate_sse_events_delivered_total', help: 'Events written to SSE streams, by endpoint (one per browser per event; replays not counted).', labelNames: ['endpoint'], registers,
      collect() {
        this.reset();
        const s = src();
        if (s.events?.hub.delivered !== undefined) this.inc({ endpoint: 'events' }, s.events.hub.delivered);
        if (s.icinga?.hub.delivered !== undefined) this.inc({ endpoint: 'icinga' }, s.icinga.hub.delivered);
      },
    });
    new Gauge({
      name: 'pushgate_bus_up', help: 'Whether notifications cross gateway nodes right now (1), by bus type; the in-process bus is always 1.', labelNames: ['type'], registers,
      collect() { this.reset(); this.set({ type: ctx.bus.kind }, ctx.bus.up ? 1 : 0); },
    });
    new Counter({
      name: 'pushgate_bus_messages_total', help: 'Bus messages to and from other gateway nodes, by direction (published, received).', labelNames: ['direction'], registers,
      collect() {
        this.reset();
        this.inc({ direction: 'published' }, ctx.bus.stats.published);
        this.inc({ direction: 'received' }, ctx.bus.stats.received);
      },
    });
    new Counter({
      name: 'pushgate_bus_undelivered_total', help: 'Bus messages that could not be published (Redis down or failing): other nodes never saw them; local clients got them.', registers,
      collect() { this.reset(); this.inc(ctx.bus.stats.undelivered); },
    });
    new Counter({
      name: 'pushgate_bus_claims_total', help: 'Per-notification claims for browsers with tabs on several nodes, by outcome (won, lost, failed).', labelNames: ['outcome'], registers,
      collect() { this.reset(); fromRecord(this, 'outcome', ctx.bus.stats.claims); },
    });
    new Counter({
      name: 'pushgate_icinga_subscriptions_total', help: 'Icinga SSE subscription answers by HTTP status.', labelNames: ['status'], registers,
      collect() { this.reset(); const i = src().icinga; if (i) fromRecord(this, 'status', i.stats.answers); },
    });
    new Counter({
      name: 'pushgate_icinga_polls_total', help: 'Polls of the Icinga database by outcome (ok, error).', labelNames: ['outcome'], registers,
      collect() {
        this.reset();
        const p = src().icinga?.poller.stats;
        if (!p) return;
        this.inc({ outcome: 'ok' }, p.polls - p.pollErrors);
        this.inc({ outcome: 'error' }, p.pollErrors);
      },
    });
    new Counter({
      name: 'pushgate_relay_deliveries_total', help: 'Outbox deliveries settled, by channel and outcome (sent, dead).', labelNames: ['channel', 'outcome'], registers,
      collect() {
        this.reset();
        for (const [channel, c] of src().outbox?.byChannel ?? []) {
          this.inc({ channel, outcome: 'sent' }, c.sent);
          this.inc({ channel, outcome: 'dead' }, c.dead);
        }
      },
    });
    new Counter({
      name: 'pushgate_relay_retries_total', help: 'Outbox delivery attempts that were followed by another one, by channel.', labelNames: ['channel'], registers,
      collect() { this.reset(); for (const [channel, c] of src().outbox?.byChannel ?? []) this.inc({ channel }, c.retried); },
    });
    new Counter({
      name: 'pushgate_relay_dead_letters_total', help: 'Outbox deliveries written to the dead-letter file, by channel.', labelNames: ['channel'], registers,
      collect() { this.reset(); for (const [channel, c] of src().outbox?.byChannel ?? []) this.inc({ channel }, c.dead); },
    });
    new Counter({
      name: 'pushgate_outbox_rejected_total', help: 'Deliveries the outbox refused (full, closed or journal error).', registers,
      collect() { this.reset(); const o = src().outbox; if (o) this.inc(o.stats.rejected); },
    });
    new Gauge({
      name: 'pushgate_outbox_pending', help: 'Deliveries accepted by the outbox and not yet sent or dead-lettered.', registers,
      collect() { this.reset(); const o = src().outbox; if (o) this.set(o.pending); },
    });
    new Gauge({
      name: 'pushgate_outbox_oldest_pending_age_seconds', help: 'Age of the oldest delivery the outbox still holds (0 when none is pending).', registers,
      collect() {
        this.reset();
        const o = src().outbox;
        if (!o) return;
        const at = o.oldestPendingAt;
        this.set(at === undefined ? 0 : Math.max(0, (Date.now() - at) / 1000));
      },
    });
    new Gauge({
      name: 'pushgate_outbox_journal_bytes', help: 'Size of the outbox journal in bytes.', registers,
      collect() { this.reset(); const o = src().outbox; if (o) this.set(o.journalBytes); },
    });
    new Counter({
      name: 'pushgate_mobile_push_requests_total', help: 'In-memory mobile push relay requests by outcome (sent, failed, retried, gone, dropped).', labelNames: ['outcome'], registers,
      collect() {
        this.reset();
        const m = src().mobilePush?.stats;
        if (m) fromRecord(this, 'outcome', { sent: m.sent, failed: m.failed, retried: m.retried, gone: m.gone, dropped: m.dropped });
      },
    });
  }

  /** Attach parts started outside the gateway (outbox, relay, SSE endpoints); replaces earlier ones. */
  observe(sources: MetricsSources): void {
    this.#sources = sources;
    sources.icinga?.directory?.observeQueries?.(this.#directories.observer);
  }

  /** Answers `GET /metrics` (405 for other methods); an HttpHandler. */
  readonly handler = (req: IncomingMessage, res: ServerResponse): Promise<void> => this.#serve(req, res);

  async #serve(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { Allow: 'GET, HEAD', 'Content-Type': 'text/plain; charset=utf-8' });
      res.end('Method Not Allowed\n');
      return;
    }
    const body = await this.registry.metrics();
    res.writeHead(200, { 'Content-Type': this.registry.contentType, 'Content-Length': Buffer.byteLength(body) });
    res.end(req.method === 'HEAD' ? undefined : body);
  }

  /**
   * Serve /metrics alone on its own listener (config `metrics.listen`);
   * every other path is 404. Rejects with `GW_ERR_LISTEN`. Returns the bound port.
   */
  async listen(host: string, port: number): Promise<number> {
    const server = createServer((req, res) => {
      const path = (req.url ?? '/').split('?', 1)[0];
      if (path !== '/metrics') {
        res.writeHead(404, { 'Content-Type': 'text/plain; charset=utf-8' });
        res.end('Not Found\n');
        return;
      }
      this.#serve(req, res).catch(() => {
        if (!res.headersSent) res.writeHead(500);
        res.end();
      });
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', (err) => reject(new GatewayError('GW_ERR_LISTEN', `cannot listen on ${host}:${port} for metrics: ${err.message}`, { cause: err })));
      server.listen(port, host, () => resolve());
    });
    this.#server = server;
    const addr = server.address();
    return typeof addr === 'object' && addr !== null ? addr.port : port;
  }

  /** Bound port of the own listener (`metrics.listen`); undefined when /metrics is on the gateway's port. */
  get port(): number | undefined {
    const addr = this.#server?.address();
    return typeof addr === 'object' && addr !== null ? addr.port : undefined;
  }

  /** Close the metrics listener, if any. */
  async close(): Promise<void> {
    const server = this.#server;
    this.#server = undefined;
    if (!server) return;
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeIdleConnections();
    });
  }
}
