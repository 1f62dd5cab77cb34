import type { IncomingMessage } from 'node:http';
import { createPool, type Pool, type PoolOptions, type RowDataPacket } from 'mysql2/promise';
import { type QueryObserver, secondsSince } from './query-metrics.js';
import { GatewayError } from '../errors.js';

/**
 * The `icinga` directory: Icinga Notifications' MySQL schema as Icinga Web
 * and the Icinga Notifications daemon write it (docs/protocol/icinga-sse.md). Read-only: it
 * authenticates browsers against `browser_session` and reads notified
 * `incident_history` rows.
 */

/** Where the Icinga Notifications database is. The password is never logged. */
export interface IcingaDbConnection {
  host: string;
  /** TCP port, default 3306. */
  port?: number;
  user: string;
  password: string;
  database: string;
  /** Unix socket; used instead of host/port when set. */
  socket?: string;
}

/** Options of {@link IcingaDirectory}. */
export interface IcingaDirectoryOptions {
  connection: IcingaDbConnection;
  /** A `browser_session` row older than this is not trusted, ms (default 86400000 = 24 h, when Icinga purges it). */
  sessionMaxAgeMs?: number;
  /** Per-query timeout, ms (default 5000). */
  queryTimeoutMs?: number;
  /** Connection pool size (default 3). */
  poolSize?: number;
  /** Clock in ms (default `Date.now`). */
  now?: () => number;
}

/** An authenticated Icinga browser. */
export interface IcingaPrincipal {
  /** `contact.id`. */
  contactId: number;
  /** The trimmed User-Agent: identifies the browser within the contact. */
  userAgent: string;
}

/** Why a subscription was refused; for debug logs and counters only (the client always sees 204). */
export type IcingaAuthFailure =
  | 'no-cookie' | 'user-agent-count' | 'unknown-session' | 'user-agent-mismatch'
  | 'session-expired' | 'session-superseded' | 'no-contact';

/** One notified `incident_history` row joined with its incident and object. */
export interface NotifiedRow {
  id: number;
  incidentId: number;
  contactId: number;
  eventId: number | null;
  /** `incident_history.time`, ms since the epoch. */
  time: number;
  message: string | null;
  state: 'pending' | 'sent' | 'failed' | 'suppressed' | null;
  /** `incident.severity` (ok, debug, info, notice, warning, err, crit, alert, emerg). */
  severity: string;
  /** `object.name`. */
  title: string;
}

/** The value of cookie `name` in a `Cookie` header (RFC 6265 §5.4 pairs), trimmed; `undefined` if absent. */
export function readCookie(header: string | undefined, name: string): string | undefined {
  if (!header) return undefined;
  for (const pair of header.split(';')) {
    const eq = pair.indexOf('=');
    if (eq === -1) continue;
    if (pair.slice(0, eq).trim() === name) return pair.slice(eq + 1).trim();
  }
  return undefined;
}

/** Every `User-Agent` value the request carried (Node keeps only the first in `req.headers`). */
function userAgents(req: IncomingMessage): string[] {
  const out: string[] = [];
  const raw = req.rawHeaders;
  for (let i = 0; i < raw.length; i += 2) {
    if (raw[i]!.length === 10 && raw[i]!.toLowerCase() === 'user-agent') out.push(raw[i + 1]!);
  }
  return out;
}

/** Reads Icinga Notifications' tables through a small mysql2 pool. */
export class IcingaDirectory {
  private readonly pool: Pool;
  private readonly sessionMaxAgeMs: number;
  private readonly timeout: number;
  private readonly now: () => number;
  private observer: QueryObserver | undefined;

  constructor(opts: IcingaDirectoryOptions) {
    const c = opts.connection;
    const pool: PoolOptions = {
      user: c.user,
      password: c.password,
      database: c.database,
      connectionLimit: opts.poolSize ?? 3,
      connectTimeout: opts.queryTimeoutMs ?? 5000,
      // BIGINT ids and ms timestamps stay below 2^53: plain numbers.
      supportBigNumbers: true,
      bigNumberStrings: false,
      dateStrings: true,
      charset: 'utf8mb4',
    };
    if (c.socket) pool.socketPath = c.socket;
    else {
      pool.host = c.host;
      pool.port = c.port ?? 3306;
    }
    this.pool = createPool(pool);
    this.sessionMaxAgeMs = opts.sessionMaxAgeMs ?? 86_400_000;
    this.timeout = opts.queryTimeoutMs ?? 5000;
    this.now = opts.now ?? Date.now;
  }

  /** Report each query's latency and outcome to `observer` (metrics.ts). */
  observeQueries(observer: QueryObserver): void {
    this.observer = observer;
  }

  /** @param kind the `query` label of the directory query metrics. */
  private async query(kind: string, sql: string, values: unknown[]): Promise<RowDataPacket[]> {
    const started = performance.now();
    try {
      const [rows] = await this.pool.query<RowDataPacket[]>({ sql, values, timeout: this.timeout });
      this.observer?.('icinga', kind, secondsSince(started), 'ok');
      return rows;
    } catch (err) {
      const e = err as { code?: string; fatal?: boolean };
      this.observer?.('icinga', kind, secondsSince(started), e.code === 'PROTOCOL_SEQUENCE_TIMEOUT' ? 'timeout'
        // Fatal errors and system error codes (ECONNREFUSED, ...) are the connection's; ER_* codes the statement's.
        : e.fatal || (e.code !== undefined && !e.code.startsWith('ER_')) ? 'connection' : 'sql');
      throw new GatewayError('GW_ERR_DIRECTORY_UNAVAILABLE', `Icinga database query failed: ${(err as Error).message}`, { cause: err });
    }
  }

  /**
   * Authenticate an SSE request the way Icinga's daemon does: cookie
   * `Icingaweb2` names a `browser_session` row whose `user_agent` equals the
   * request's one `User-Agent` (both trimmed), which is the newest row for
   * its (username, user_agent), at most `sessionMaxAgeMs` old, and whose
   * username is a non-deleted contact (case-insensitive).
   * Rejects with `GW_ERR_DIRECTORY_UNAVAILABLE` when the database fails.
   */
  async authenticate(req: IncomingMessage): Promise<{ ok: true; principal: IcingaPrincipal } | { ok: false; reason: IcingaAuthFailure }> {
    const sessionId = readCookie(req.headers.cookie, 'Icingaweb2');
    if (!sessionId) return { ok: false, reason: 'no-cookie' };
    const agents = userAgents(req);
    if (agents.length !== 1) return { ok: false, reason: 'user-agent-count' };
    const userAgent = agents[0]!.trim();

    const rows = await this.query(
      'session',
      `SELECT bs.php_session_id, bs.username, bs.user_agent, bs.authenticated_at,
         (SELECT COUNT(*) FROM browser_session n
           WHERE n.username = bs.username AND n.user_agent = bs.user_agent
             AND (n.authenticated_at > bs.authenticated_at
               OR (n.authenticated_at = bs.authenticated_at AND n.php_session_id > bs.php_session_id))) AS newer
       FROM browser_session bs WHERE bs.php_session_id = ?`,
      [sessionId],
    );
    // MySQL's default collations compare case- and trailing-space-insensitively: re-check exactly.
    const row = rows.find((r) => r.php_session_id === sessionId);
    if (!row) return { ok: false, reason: 'unknown-session' };
    if (String(row.user_agent).trim() !== userAgent) return { ok: false, reason: 'user-agent-mismatch' };
    if (Number(row.authenticated_at) < this.now() - this.sessionMaxAgeMs) return { ok: false, reason: 'session-expired' };
    if (Number(row.newer) > 0) return { ok: false, reason: 'session-superseded' };

    const contacts = await this.query(
      'contact',
      "SELECT id FROM contact WHERE LOWER(username) = LOWER(?) AND deleted = 'n'",
      [row.username],
    );
    // Two live contacts for one username would be ambiguous: refuse rather than guess.
    if (contacts.length !== 1) return { ok: false, reason: 'no-contact' };
    return { ok: true, principal: { contactId: Number(contacts[0]!.id), userAgent } };
  }

  /** Highest `incident_history.id` of type `notified`, 0 when there is none. */
  async maxNotifiedId(): Promise<number> {
    const rows = await this.query('max-id', "SELECT MAX(id) AS id FROM incident_history WHERE type = 'notified'", []);
    return Number(rows[0]?.id ?? 0);
  }

  /**
   * Notified rows with `id > afterId`, plus the rows `recheck` names, in id
   * order, joined with incident severity and object name. Rows without a
   * contact (group or schedule recipients) are left out.
   * @param limit most rows returned (the rest come next poll).
   */
  async notifiedRows(afterId: number, recheck: readonly number[], limit: number): Promise<NotifiedRow[]> {
    const where = recheck.length > 0 ? '(h.id > ? OR h.id IN (?))' : 'h.id > ?';
    const values: unknown[] = recheck.length > 0 ? [afterId, recheck, limit] : [afterId, limit];
    const rows = await this.query(
      'notified',
      `SELECT h.id, h.incident_id, h.contact_id, h.event_id, h.time, h.message, h.notification_state,
              i.severity, o.name
       FROM incident_history h
       JOIN incident i ON i.id = h.incident_id
       JOIN object o ON o.id = i.object_id
       WHERE ${where} AND h.type = 'notified' AND h.contact_id IS NOT NULL
       ORDER BY h.id LIMIT ?`,
      values,
    );
    return rows.map((r) => ({
      id: Number(r.id),
      incidentId: Number(r.incident_id),
      contactId: Number(r.contact_id),
      eventId: r.event_id === null ? null : Number(r.event_id),
      time: Number(r.time),
      message: r.message === null ? null : String(r.message),
      state: r.notification_state as NotifiedRow['state'],
      severity: String(r.severity),
      title: String(r.name),
    }));
  }

  /** Release the pool. */
  async close(): Promise<void> {
    await this.pool.end();
  }
}
