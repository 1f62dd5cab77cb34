import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { collectDefaultMetrics, Counter, Gauge, Registry } from 'prom-client';
import type { Bus } from '../cluster/bus.js';
import type { Directory } from '../directory/directory.js';
import type { Journal } from '../pipeline/journal.js';
import type { Pipeline } from '../pipeline/pipeline.js';
import type { ReplayLog } from '../pipeline/replay.js';
import type { Registry as ConnectionRegistry } from '../transport/ws/registry.js';
import type { GatewayStats } from './stats.js';
import { DirectoryMetrics, type DirectoryHealthSource } from './directory-metrics.js';
import type { QueryObserver } from '../directory/query-metrics.js';
import { GatewayError } from '../errors.js';

/**
 * `GET /metrics` in the Prometheus text format (docs/operations.md lists
 * every metric). Nothing is counted here: each metric reads the gateway's
 * existing plain counters (`stats`, the registry's O(1) sizes, the
 * pipeline, journal, outbox and Icinga counters) in a `collect` callback at scrape
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

/** Everything metrics read; the optional parts are absent when not configured (their series are not exported). */
export interface MetricsSources {
  directory: Directory;
  registry: ConnectionRegistry;
  stats: GatewayStats;
  bus: Bus;
  pipeline: Pipeline;
  journal: Journal;
  /** The users' WebSocket resume windows. */
  replay: ReplayLog;
  /** The durable outbox (mobile push and the named channels), when anything durable is configured. */
  outbox?: OutboxSource | undefined;
  /** The legacy frontend's endpoint (its unregistered sockets). */
  legacy?: { readonly unregistered: number } | undefined;
  /** Session binding, when enabled. */
  session?: { readonly stats: { readonly checks: Readonly<Record<string, number>>; readonly requests: Readonly<Record<string, number>>; readonly cacheHits: number }; readonly cacheSize: number } | undefined;
  /** pushgate's own `/events` SSE endpoint (`dropped`: streams closed by the server, by reason). */
  events?: { readonly hub: SseHubSource; readonly dropped?: Readonly<Record<string, number>> } | undefined;
  /** The Icinga desktop-notification endpoint. */
  icinga?: IcingaSource | undefined;
  /** The channel plugin's intake `/icinga/notifications` (sources/icinga-channel.ts), when enabled. */
  icingaChannel?: { readonly stats: { readonly answers: Readonly<Record<string, number>>; readonly duplicates: number } } | undefined;
  /** Escalation, when policies are configured. */
  escalation?: EscalationSource | undefined;
  /** Web Push counters (webpush/stats.ts), when `webPush.enabled`. */
  webPush?: WebPushStatsSource | undefined;
}

/** Escalation's counters (escalation/escalation.ts). */
export interface EscalationSource {
  readonly stats: {
    readonly started: Readonly<Record<string, number>>;
    readonly run: Readonly<Record<string, number>>;
    readonly cancelled: Readonly<Record<string, Readonly<Record<string, number>>>>;
    readonly failed: number;
    readonly adopted: number;
    readonly dropped: Readonly<Record<string, number>>;
  };
  /** Pending steps with a timer on this node. */
  readonly pending: number;
}

/** What the Web Push metrics read (`WebPushStats`). */
export interface WebPushStatsSource {
  readonly pushes: Readonly<Record<string, number>>;
  readonly subscriptions: Readonly<Record<string, number>>;
  readonly skipped: Readonly<Record<string, number>>;
  readonly enrolments: Readonly<Record<string, number>>;
  readonly deviceAuth: Readonly<Record<string, number>>;
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
  #server: Server | undefined;
  /** Directory query latency, errors and up gauge (directory-metrics.ts). */
  readonly #directories: DirectoryMetrics;

  constructor(sources: MetricsSources) {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry });
    for (const name of PER_SOCKET_DEFAULT_METRICS) this.registry.removeSingleMetric(name);
    this.#directories = new DirectoryMetrics(this.registry, () => {
      const list: DirectoryHealthSource[] = [sources.directory];
      const icinga = sources.icinga;
      if (icinga?.health) list.push({ kind: 'icinga', health: () => icinga.health!() });
      return list;
    });
    sources.directory.observeQueries?.(this.#directories.observer);
    sources.icinga?.directory?.observeQueries?.(this.#directories.observer);

    new Gauge({
      name: 'pushgate_connections', help: 'Open client connections by transport (ws: openITCOCKPIT WebSocket, sse: /events and Icinga streams).', labelNames: ['transport'], registers,
      collect() {
        const s = sources;
        this.set({ transport: 'ws' }, sources.registry.size);
        this.set({ transport: 'sse' }, (s.events?.hub.size() ?? 0) + (s.icinga?.hub.size() ?? 0));
      },
    });
    new Gauge({
      name: 'pushgate_registered_users', help: 'Users with at least one open WebSocket connection.', registers,
      collect() { this.set(sources.registry.userCount); },
    });
    new Counter({
      name: 'pushgate_handshakes_total', help: 'WebSocket handshakes by outcome (accepted, rejected) and HTTP status.', labelNames: ['outcome', 'status'], registers,
      collect() {
        this.reset();
        this.inc({ outcome: 'accepted', status: '101' }, sources.stats.connectionsOpened);
        fromRecord(this, 'status', sources.stats.handshakesRejected, { outcome: 'rejected' });
      },
    });
    new Counter({
      name: 'pushgate_limit_refusals_total', help: 'Requests refused by an abuse limit, by limit.', labelNames: ['limit'], registers,
      collect() { this.reset(); fromRecord(this, 'limit', sources.stats.limitRefusals); },
    });
    new Counter({
      name: 'pushgate_messages_total', help: 'POST /message answers by outcome (delivered 200, dropped 202, rejected 4xx, failed 5xx) and HTTP status.', labelNames: ['outcome', 'status'], registers,
      collect() {
        this.reset();
        for (const [status, n] of Object.entries(sources.stats.messages)) this.inc({ outcome: messageOutcome(status), status }, n);
      },
    });
    new Counter({
      name: 'pushgate_legacy_registers_total', help: 'Legacy openITCOCKPIT frontend sockets whose register was accepted (refusals: pushgate_closes_total reasons register-*, session-mismatch).', registers,
      collect() { this.reset(); this.inc(sources.stats.legacyRegistered); },
    });
    new Gauge({
      name: 'pushgate_legacy_unregistered', help: 'Legacy sockets open and still waiting for their register (bounded by websocket.legacy.maxUnregistered).', registers,
      collect() { this.set(sources.legacy?.unregistered ?? 0); },
    });
    new Counter({
      name: 'pushgate_session_checks_total', help: 'openITCOCKPIT session checks (auth.openitcockpitSession) by result (match, exempt, other-user, not-logged-in, unavailable-refused, unavailable-key-only).', labelNames: ['result'], registers,
      collect() { this.reset(); const s = sources.session; if (s) fromRecord(this, 'result', s.stats.checks); },
    });
    new Counter({
      name: 'pushgate_session_requests_total', help: 'Requests to openITCOCKPIT for a session, by answer (user, anonymous, unavailable); cache hits are not requests.', labelNames: ['answer'], registers,
      collect() { this.reset(); const s = sources.session; if (s) fromRecord(this, 'answer', s.stats.requests); },
    });
    new Counter({
      name: 'pushgate_session_cache_hits_total', help: 'Session checks answered from the cache.', registers,
      collect() { this.reset(); const s = sources.session; if (s) this.inc(s.stats.cacheHits); },
    });
    new Gauge({
      name: 'pushgate_session_cache_entries', help: 'Cookies cached by session binding (bounded by auth.openitcockpitSession.cacheSize).', registers,
      collect() { this.set(sources.session?.cacheSize ?? 0); },
    });
    new Counter({
      name: 'pushgate_frames_sent_total', help: 'Server frames written to WebSockets (one per routed socket).', registers,
      collect() { this.reset(); this.inc(sources.stats.framesSent); },
    });
    new Counter({
      name: 'pushgate_client_errors_total', help: 'Client frames answered with an Error message.', registers,
      collect() { this.reset(); this.inc(sources.stats.clientErrors); },
    });
    new Counter({
      name: 'pushgate_closes_total', help: 'Closed connections by transport and reason (server drops: pong-timeout, slow-consumer, write-timeout, ...).', labelNames: ['transport', 'reason'], registers,
      collect() {
        this.reset();
        fromRecord(this, 'reason', sources.stats.closes, { transport: 'ws' });
        // Both SSE endpoints' server-side drops; pushgate_sse_drops_total tells them apart.
        const sse: Record<string, number> = { ...sources.events?.dropped };
        for (const [reason, n] of Object.entries(sources.icinga?.stats.dropped ?? {})) sse[reason] = (sse[reason] ?? 0) + n;
        fromRecord(this, 'reason', sse, { transport: 'sse' });
      },
    });
    new Counter({
      name: 'pushgate_sse_drops_total', help: 'SSE streams closed by the server, by endpoint (events, icinga) and reason (slow-consumer, write-error).', labelNames: ['endpoint', 'reason'], registers,
      collect() {
        this.reset();
        const s = sources;
        if (s.events?.dropped) fromRecord(this, 'reason', s.events.dropped, { endpoint: 'events' });
        if (s.icinga) fromRecord(this, 'reason', s.icinga.stats.dropped, { endpoint: 'icinga' });
      },
    });
    new Counter({
      name: 'pushgate_sse_events_delivered_total', help: 'Events written to SSE streams, by endpoint (one per browser per event; replays not counted).', labelNames: ['endpoint'], registers,
      collect() {
        this.reset();
        const s = sources;
        if (s.events?.hub.delivered !== undefined) this.inc({ endpoint: 'events' }, s.events.hub.delivered);
        if (s.icinga?.hub.delivered !== undefined) this.inc({ endpoint: 'icinga' }, s.icinga.hub.delivered);
      },
    });
    new Gauge({
      name: 'pushgate_bus_up', help: 'Whether notifications cross gateway nodes right now (1), by bus type; the in-process bus is always 1.', labelNames: ['type'], registers,
      collect() { this.reset(); this.set({ type: sources.bus.kind }, sources.bus.up ? 1 : 0); },
    });
    new Counter({
      name: 'pushgate_bus_messages_total', help: 'Bus messages to and from other gateway nodes, by direction (published, received).', labelNames: ['direction'], registers,
      collect() {
        this.reset();
        this.inc({ direction: 'published' }, sources.bus.stats.published);
        this.inc({ direction: 'received' }, sources.bus.stats.received);
      },
    });
    new Counter({
      name: 'pushgate_bus_undelivered_total', help: 'Bus messages that could not be published (Redis down or failing): other nodes never saw them; local clients got them.', registers,
      collect() { this.reset(); this.inc(sources.bus.stats.undelivered); },
    });
    new Counter({
      name: 'pushgate_bus_claims_total', help: 'Per-notification claims for browsers with tabs on several nodes, by outcome (won, lost, failed).', labelNames: ['outcome'], registers,
      collect() { this.reset(); fromRecord(this, 'outcome', sources.bus.stats.claims); },
    });
    new Counter({
      name: 'pushgate_icinga_subscriptions_total', help: 'Icinga SSE subscription answers by HTTP status.', labelNames: ['status'], registers,
      collect() { this.reset(); const i = sources.icinga; if (i) fromRecord(this, 'status', i.stats.answers); },
    });
    new Counter({
      name: 'pushgate_icinga_polls_total', help: 'Polls of the Icinga database by outcome (ok, error).', labelNames: ['outcome'], registers,
      collect() {
        this.reset();
        const p = sources.icinga?.poller.stats;
        if (!p) return;
        this.inc({ outcome: 'ok' }, p.polls - p.pollErrors);
        this.inc({ outcome: 'error' }, p.pollErrors);
      },
    });
    new Counter({
      name: 'pushgate_icinga_channel_requests_total',
      help: 'Requests of the Icinga channel plugin at /icinga/notifications by outcome (accepted 200, duplicate 200 already shown by the poll, rejected 4xx, failed 5xx) and HTTP status.',
      labelNames: ['outcome', 'status'], registers,
      collect() {
        this.reset();
        const c = sources.icingaChannel?.stats;
        if (!c) return;
        for (const [status, n] of Object.entries(c.answers)) {
          if (status === '200') {
            if (n - c.duplicates > 0) this.inc({ outcome: 'accepted', status }, n - c.duplicates);
            if (c.duplicates > 0) this.inc({ outcome: 'duplicate', status }, c.duplicates);
          } else this.inc({ outcome: status.startsWith('5') ? 'failed' : 'rejected', status }, n);
        }
      },
    });
    new Counter({
      name: 'pushgate_relay_deliveries_total', help: 'Outbox deliveries settled, by channel and outcome (sent, dead).', labelNames: ['channel', 'outcome'], registers,
      collect() {
        this.reset();
        for (const [channel, c] of sources.outbox?.byChannel ?? []) {
          this.inc({ channel, outcome: 'sent' }, c.sent);
          this.inc({ channel, outcome: 'dead' }, c.dead);
        }
      },
    });
    new Counter({
      name: 'pushgate_relay_retries_total', help: 'Outbox delivery attempts that were followed by another one, by channel.', labelNames: ['channel'], registers,
      collect() { this.reset(); for (const [channel, c] of sources.outbox?.byChannel ?? []) this.inc({ channel }, c.retried); },
    });
    new Counter({
      name: 'pushgate_relay_dead_letters_total', help: 'Outbox deliveries written to the dead-letter file, by channel.', labelNames: ['channel'], registers,
      collect() { this.reset(); for (const [channel, c] of sources.outbox?.byChannel ?? []) this.inc({ channel }, c.dead); },
    });
    new Counter({
      name: 'pushgate_outbox_rejected_total', help: 'Deliveries the outbox refused (full, closed or journal error).', registers,
      collect() { this.reset(); const o = sources.outbox; if (o) this.inc(o.stats.rejected); },
    });
    new Gauge({
      name: 'pushgate_outbox_pending', help: 'Deliveries accepted by the outbox and not yet sent or dead-lettered.', registers,
      collect() { this.reset(); const o = sources.outbox; if (o) this.set(o.pending); },
    });
    new Gauge({
      name: 'pushgate_outbox_oldest_pending_age_seconds', help: 'Age of the oldest delivery the outbox still holds (0 when none is pending).', registers,
      collect() {
        this.reset();
        const o = sources.outbox;
        if (!o) return;
        const at = o.oldestPendingAt;
        this.set(at === undefined ? 0 : Math.max(0, (Date.now() - at) / 1000));
      },
    });
    new Gauge({
      name: 'pushgate_outbox_journal_bytes', help: 'Size of the outbox journal in bytes.', registers,
      collect() { this.reset(); const o = sources.outbox; if (o) this.set(o.journalBytes); },
    });
    new Counter({
      name: 'pushgate_notifications_total', help: 'Notifications by outcome: accepted here (by source), refused (by the refusing part), received from other nodes.', labelNames: ['outcome', 'source'], registers,
      collect() {
        this.reset();
        const st = sources.pipeline.stats;
        fromRecord(this, 'source', st.accepted, { outcome: 'accepted' });
        fromRecord(this, 'source', st.refused, { outcome: 'refused' });
        this.inc({ outcome: 'received', source: 'bus' }, st.received);
      },
    });
    new Counter({
      name: 'pushgate_deliveries_total', help: 'Deliveries by target and outcome: live targets count endpoints written (delivered); durable targets count deliveries queued, sent and dead.', labelNames: ['target', 'outcome'], registers,
      collect() {
        this.reset();
        const st = sources.pipeline.stats;
        fromRecord(this, 'target', st.live, { outcome: 'delivered' });
        for (const [target, byOutcome] of Object.entries(st.durable)) for (const [outcome, n] of Object.entries(byOutcome)) this.inc({ target, outcome }, n);
      },
    });
    if (sources.escalation !== undefined) this.#escalation(sources.escalation, registers);
    new Gauge({
      name: 'pushgate_journal_bytes', help: 'Bytes of the pipeline journal (all segments).', registers,
      collect() { this.set(sources.journal.bytes); },
    });
    new Gauge({
      name: 'pushgate_journal_segments', help: 'Segment files of the pipeline journal.', registers,
      collect() { this.set(sources.journal.segments); },
    });
    new Counter({
      name: 'pushgate_journal_fsyncs_total', help: 'fsyncs of the pipeline journal (each commits a batch of records).', registers,
      collect() { this.reset(); this.inc(sources.journal.stats.fsyncs); },
    });
    new Counter({
      name: 'pushgate_journal_write_errors_total', help: 'Failed writes of the pipeline journal (their notifications were refused).', registers,
      collect() { this.reset(); this.inc(sources.journal.stats.writeErrors); },
    });
    new Counter({
      name: 'pushgate_journal_compactions_total', help: 'Journal segments deleted by age or size.', registers,
      collect() { this.reset(); this.inc(sources.journal.stats.compactions); },
    });
    new Gauge({
      name: 'pushgate_replay_frames', help: 'Notifications kept in the WebSocket resume windows (?since=).', registers,
      collect() { this.set(sources.replay.frames); },
    });
    const wp = sources.webPush;
    if (wp) {
      new Counter({
        name: 'pushgate_webpush_pushes_total', help: 'Web Push attempts by result: sent, gone (404/410, deleted), too-large (413, a bug), rate-limited (429), server-error (5xx), config-error (400/403), refused, network, private-address, no-subscription, device-revoked.', labelNames: ['result'], registers,
        collect() { this.reset(); fromRecord(this, 'result', wp.pushes); },
      });
      new Counter({
        name: 'pushgate_webpush_subscriptions_total', help: 'Web Push subscription changes: added, updated, removed, expired, evicted (per-user bound), refused (endpoint not allowed).', labelNames: ['event'], registers,
        collect() { this.reset(); fromRecord(this, 'event', wp.subscriptions); },
      });
      new Counter({
        name: 'pushgate_webpush_skipped_total', help: 'Web Push deliveries not queued, by reason (live-browser: webPush.when no-live-browser and a tab is open).', labelNames: ['reason'], registers,
        collect() { this.reset(); fromRecord(this, 'reason', wp.skipped); },
      });
      new Counter({
        name: 'pushgate_webpush_enrolments_total', help: 'Enrolment links redeemed, by result: ok, unknown (used or never issued), expired, no-contact.', labelNames: ['result'], registers,
        collect() { this.reset(); fromRecord(this, 'result', wp.enrolments); },
      });
      new Counter({
        name: 'pushgate_webpush_device_auth_refused_total', help: 'Web Push API calls with a device credential that is unknown or revoked.', labelNames: ['reason'], registers,
        collect() { this.reset(); fromRecord(this, 'reason', wp.deviceAuth); },
      });
    }
    new Gauge({
      name: 'pushgate_replay_bytes', help: 'Bytes of the notifications kept in the WebSocket resume windows.', registers,
      collect() { this.set(sources.replay.bytes); },
    });
    new Counter({
      name: 'pushgate_replay_evicted_total', help: 'Notifications that left a WebSocket resume window before their age (per-user count or byte bound); a client resuming behind them gets ReplayGap.', registers,
      collect() { this.reset(); this.inc(sources.replay.evicted); },
    });
  }
  /** `pushgate_escalation_*` (docs/operations.md "Metrics"). */
  #escalation(e: EscalationSource, registers: Registry[]): void {
    new Counter({
      name: 'pushgate_escalation_ladders_total', help: 'Escalation ladders started, by policy.', labelNames: ['policy'], registers,
      collect() { this.reset(); fromRecord(this, 'policy', e.stats.started); },
    });
    new Counter({
      name: 'pushgate_escalation_steps_total', help: 'Escalation steps run or cancelled, by policy, outcome (run, cancelled) and reason (acknowledged, recovered, shown, clicked).', labelNames: ['policy', 'outcome', 'reason'], registers,
      collect() {
        this.reset();
        for (const [policy, n] of Object.entries(e.stats.run)) this.inc({ policy, outcome: 'run', reason: '' }, n);
        for (const [policy, byReason] of Object.entries(e.stats.cancelled)) fromRecord(this, 'reason', byReason, { policy, outcome: 'cancelled' });
      },
    });
    new Counter({
      name: 'pushgate_escalation_failures_total', help: 'Escalation steps or records that failed (a store or delivery error, logged).', registers,
      collect() { this.reset(); this.inc(e.stats.failed); },
    });
    new Counter({
      name: 'pushgate_escalation_adopted_total', help: 'Escalation ladders taken over from a node whose lease lapsed.', registers,
      collect() { this.reset(); this.inc(e.stats.adopted); },
    });
    new Counter({
      name: 'pushgate_escalation_dropped_total', help: 'Escalation ladders not started because the node ran escalation.maxLadders already, by policy.', labelNames: ['policy'], registers,
      collect() { this.reset(); fromRecord(this, 'policy', e.stats.dropped); },
    });
    new Gauge({
      name: 'pushgate_escalation_pending_steps', help: 'Escalation steps waiting on this node.', registers,
      collect() { this.set(e.pending); },
    });
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
