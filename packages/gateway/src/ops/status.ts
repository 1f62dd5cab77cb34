/**
 * `GET /status`: a small JSON summary for an operator on the box
 * (`pushgate status`), answered to loopback peers only and never through a
 * reverse proxy. Read from the gateway's counters at request time; nothing
 * is kept per request.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { isLoopback } from '../auth/loopback.js';
import type { Bus } from '../cluster/bus.js';
import type { Registry } from '../transport/ws/registry.js';
import type { OutboxSource } from './metrics.js';
import type { GatewayStats } from './stats.js';

/** What `/status` reports from. */
export interface StatusSources {
  registry: Registry;
  stats: GatewayStats;
  bus: Bus;
  /** The durable outbox (mobile push and the named channels), when anything durable is configured. */
  outbox?: OutboxSource | undefined;
}

/** The `/status` JSON body. */
export interface GatewayStatus {
  /** Seconds since the process started. */
  uptimeSeconds: number;
  /** Open WebSocket connections. */
  connections: number;
  /** Users with at least one open WebSocket connection. */
  users: number;
  /** Users that sent `RegisterBrowserPushNotification` on an open connection. */
  registeredUsers: number;
  /** WebSocket connections accepted since start. */
  connectionsOpened: number;
  /** Handshakes refused, by HTTP status. */
  handshakesRejected: Record<string, number>;
  /** Closed connections by reason. */
  closes: Record<string, number>;
  /** `/message` answers by HTTP status. */
  messages: Record<string, number>;
  /** Frames written to sockets. */
  framesSent: number;
  /** The outbox (its `mobile-push` channel is mobile push), or null when nothing durable is configured. */
  outbox: { pending: number; journalBytes: number; accepted: number; rejected: number; channels: Record<string, { sent: number; retried: number; dead: number }> } | null;
  /** Retired (the in-memory mobile push relay is gone): always null; mobile push counts are `outbox.channels["mobile-push"]`. */
  mobilePush: null;
  /** The cluster bus (docs/scale-out.md): whether notifications cross nodes now, and its counters. */
  bus?: { type: 'local' | 'redis'; up: boolean; reason?: string; published: number; received: number; undelivered: number };
}

/** Snapshot of the counters. */
export function collectStatus(sources: StatusSources): GatewayStatus {
  const { registry, stats } = sources;
  const o = sources.outbox;
  return {
    uptimeSeconds: Math.round(process.uptime()),
    connections: registry.size,
    users: registry.userCount,
    registeredUsers: registry.registeredCount,
    connectionsOpened: stats.connectionsOpened,
    handshakesRejected: { ...stats.handshakesRejected },
    closes: { ...stats.closes },
    messages: { ...stats.messages },
    framesSent: stats.framesSent,
    outbox: o ? {
      pending: o.pending, journalBytes: o.journalBytes, accepted: o.stats.accepted, rejected: o.stats.rejected,
      channels: Object.fromEntries([...o.byChannel].map(([name, c]) => [name, { sent: c.sent, retried: c.retried, dead: c.dead }])),
    } : null,
    mobilePush: null,
    bus: busStatus(sources.bus),
  };
}

function busStatus(bus: Bus): NonNullable<GatewayStatus['bus']> {
  const health = bus.health();
  const { published, received, undelivered } = bus.stats;
  return { type: bus.kind, up: bus.up, ...(health.ok ? {} : { reason: health.reason }), published, received, undelivered };
}

/** The `/status` route. */
export class StatusEndpoint {
  readonly #sources: StatusSources;

  constructor(sources: StatusSources) {
    this.#sources = sources;
  }

  /** Answers `GET /status`: 403 unless from loopback and unproxied, 405 for other methods; an HttpHandler. */
  readonly handler = (req: IncomingMessage, res: ServerResponse): void => {
    // A local reverse proxy connects from loopback too: its forwarding headers mark a remote client.
    if (!isLoopback(req.socket.remoteAddress) || req.headers['x-forwarded-for'] !== undefined || req.headers.forwarded !== undefined) {
      res.writeHead(403, { 'Content-Type': 'text/plain; charset=utf-8' });
      res.end('Forbidden: /status answers loopback clients only\n');
      return;
    }
    if (req.method !== 'GET') {
      res.writeHead(405, { Allow: 'GET', 'Content-Type': 'text/plain; charset=utf-8' });
      res.end('Method Not Allowed\n');
      return;
    }
    const body = JSON.stringify(collectStatus(this.#sources));
    res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body), 'Cache-Control': 'no-store' });
    res.end(body);
  };
}

function counts(r: Record<string, number>): string {
  const keys = Object.keys(r).sort();
  return keys.length ? keys.map((k) => `${k}: ${r[k]}`).join(', ') : 'none';
}

function duration(s: number): string {
  const d = Math.floor(s / 86400);
  const h = Math.floor((s % 86400) / 3600);
  const m = Math.floor((s % 3600) / 60);
  return d ? `${d}d ${h}h` : h ? `${h}h ${m}m` : m ? `${m}m ${s % 60}s` : `${s}s`;
}

/** The terminal summary `pushgate status` prints for a `/status` body. */
export function formatStatus(url: string, s: GatewayStatus): string {
  const lines = [
    `pushgate at ${url}, up ${duration(s.uptimeSeconds)}`,
    `  connections        ${s.connections} open (${s.users} users, ${s.registeredUsers} registered), ${s.connectionsOpened} since start`,
    `  messages           ${counts(s.messages)}`,
    `  frames sent        ${s.framesSent}`,
    `  handshakes refused ${counts(s.handshakesRejected)}`,
    `  closes             ${counts(s.closes)}`,
  ];
  if (s.outbox) {
    const o = s.outbox;
    lines.push(`  outbox             ${o.pending} pending, ${o.journalBytes} journal bytes, ${o.accepted} accepted, ${o.rejected} rejected`);
    for (const name of Object.keys(o.channels).sort()) {
      const c = o.channels[name]!;
      lines.push(`    ${name.padEnd(16)} ${c.sent} sent, ${c.retried} retried, ${c.dead} dead`);
    }
  } else lines.push('  outbox             none (no notification channels)');
  const b = s.bus;
  if (b === undefined) lines.push('  bus                unknown (an older gateway)');
  else if (b.type === 'local') lines.push('  bus                local (one process)');
  else {
    lines.push(`  bus                redis, ${b.up ? 'up' : 'DOWN'}: ${b.published} published, ${b.received} received, ${b.undelivered} undelivered`);
    if (b.reason !== undefined) lines.push(`    ${b.reason}`);
  }
  return `${lines.join('\n')}\n`;
}

/** Fetch `GET <url>/status`, bounded by `timeoutMs`; throws an Error with a one-line message on failure. */
export async function fetchStatus(url: string, timeoutMs = 5000): Promise<GatewayStatus> {
  let res: Response;
  try {
    res = await fetch(new URL('/status', url), { signal: AbortSignal.timeout(timeoutMs) });
  } catch (err) {
    const cause = (err as Error).cause as NodeJS.ErrnoException | undefined;
    throw new Error(`cannot reach ${url}: ${cause?.code ?? (err as Error).message}`);
  }
  const text = await res.text();
  if (res.status !== 200) throw new Error(`${url}/status answered HTTP ${res.status}: ${text.trim().slice(0, 200)}`);
  return JSON.parse(text) as GatewayStatus;
}
