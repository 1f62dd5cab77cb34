import type { IncomingMessage } from 'node:http';
import type { Logger } from 'pino';
import type { Config } from '../config.js';
import { GatewayError } from '../errors.js';
import { type QueryObserver, secondsSince } from './query-metrics.js';
import type { SqlClient, SqlDialect } from './sql/client.js';
import { openSqlClient } from './sql/open.js';

/**
 * The `icinga` directory: Icinga Notifications' schema as Icinga Web and the
 * Icinga Notifications daemon write it (docs/protocol/icinga-sse.md), on MySQL/MariaDB or
 * PostgreSQL. Read-only: it authenticates browsers against `browser_session`
 * and reads notified `incident_history` rows. Two schema generations exist:
 * the v0.2.0 release's, whose rows name their event (`event_id`), and the
 * current one (upgrade 004 dropped `event_id` and the `event` table); the
 * first poll detects which one the database has.
 */

/** Where the Icinga Notifications database is. The password is never logged. */
export interface IcingaDbConnection {
  /** `mysql` (default) or `pgsql`. */
  type?: SqlDialect;
  host: string;
  /** TCP port, default 3306 (mysql) or 5432 (pgsql). */
  port?: number;
  user: string;
  password: string;
  database: string;
  /** Unix socket; used instead of host/port when set. */
  socket?: string;
}

/** The `icinga.database` config section. */
export type IcingaDatabaseConfig = NonNullable<Config['icinga']['database']>;

/** The default port of each database type. */
export const ICINGA_DEFAULT_PORT: Readonly<Record<SqlDialect, number>> = { mysql: 3306, pgsql: 5432 };

const URL_DIALECT: Readonly<Record<string, SqlDialect>> = {
  'mysql:': 'mysql', 'mariadb:': 'mysql', 'pgsql:': 'pgsql', 'postgres:': 'pgsql', 'postgresql:': 'pgsql',
};

/**
 * The connection `icinga.database` describes: its `url` (the scheme picks the
 * type, `?socket=` a Unix socket), or its keys with the defaults (type
 * `mysql`, host `localhost`, the type's port, database `notifications`).
 * The config schema has validated the combination; a malformed url still
 * throws `GW_ERR_DIRECTORY_CONFIG`.
 */
export function resolveIcingaDatabase(db: IcingaDatabaseConfig): IcingaDbConnection {
  if (db.url !== undefined) {
    let u: URL;
    try {
      u = new URL(db.url);
    } catch {
      throw new GatewayError('GW_ERR_DIRECTORY_CONFIG', 'icinga.database.url: not a valid URL');
    }
    const type = URL_DIALECT[u.protocol];
    if (!type) throw new GatewayError('GW_ERR_DIRECTORY_CONFIG', `icinga.database.url: unknown scheme ${u.protocol}`);
    const socket = u.searchParams.get('socket') ?? undefined;
    return {
      type,
      host: u.hostname === '' ? 'localhost' : decodeURIComponent(u.hostname),
      port: u.port === '' ? ICINGA_DEFAULT_PORT[type] : Number(u.port),
      user: decodeURIComponent(u.username),
      password: u.password !== '' ? decodeURIComponent(u.password) : db.password ?? '',
      database: u.pathname.length > 1 ? decodeURIComponent(u.pathname.slice(1)) : 'notifications',
      ...(socket ? { socket } : {}),
    };
  }
  const type = db.type ?? 'mysql';
  return {
    type,
    host: db.host ?? 'localhost',
    port: db.port ?? ICINGA_DEFAULT_PORT[type],
    user: db.user ?? '',
    password: db.password ?? '',
    database: db.database ?? 'notifications',
    ...(db.socket ? { socket: db.socket } : {}),
  };
}

/** Options of {@link IcingaDirectory}. */
export interface IcingaDirectoryOptions {
  connection: IcingaDbConnection;
  /** Where the detected schema generation is logged (default: not logged). */
  logger?: Logger;
  /** A `browser_session` row older than this is not trusted, ms (default 86400000 = 24 h, when Icinga purges it). */
  sessionMaxAgeMs?: number;
  /** Per-query timeout, ms (default 5000). */
  queryTimeoutMs?: number;
  /** Connection pool size (default 3). */
  poolSize?: number;
  /** Clock in ms (default `Date.now`). */
  now?: () => number;
}

/**
 * Which `incident_history` the database has: `with-event-id` (the v0.2.0
 * release: each row names its event) or `without-event-id` (after upgrade
 * 004, the current schema).
 */
export type IcingaHistorySchema = 'with-event-id' | 'without-event-id';

/**
 * The statements, `?` placeholders (numbered for PostgreSQL by the client).
 * Exported for tests that EXPLAIN them.
 */
export const ICINGA_SQL = {
  /**
   * The session and how many newer sessions of its (username, user agent)
   * exist, the way Icinga's daemon picks the newest.
   */
  session: `SELECT bs.php_session_id, bs.username, bs.user_agent, bs.authenticated_at,
         (SELECT COUNT(*) FROM browser_session n
           WHERE n.username = bs.username AND n.user_agent = bs.user_agent
             AND (n.authenticated_at > bs.authenticated_at
               OR (n.authenticated_at = bs.authenticated_at AND n.php_session_id > bs.php_session_id))) AS newer
       FROM browser_session bs WHERE bs.php_session_id = ?`,
  /**
   * As Icinga Notifications Web: `username = ?`, case-insensitive by the
   * schema (MySQL: the column's utf8mb4_unicode_ci collation; PostgreSQL:
   * citext), so the unique index uk_contact_username answers it.
   */
  contact: "SELECT id FROM contact WHERE username = ? AND deleted = 'n'",
  maxId: "SELECT MAX(id) AS id FROM incident_history WHERE type = 'notified'",
  /** Which of `id` and `event_id` incident_history has, in the connection's database (schema). */
  historyColumns(dialect: SqlDialect): string {
    return dialect === 'pgsql'
      ? "SELECT column_name AS name FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = 'incident_history' AND column_name IN ('id', 'event_id')"
      : "SELECT COLUMN_NAME AS name FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'incident_history' AND COLUMN_NAME IN ('id', 'event_id')";
  },
  /** Notified rows after an id, plus re-checked ids when `recheck`. */
  notified(dialect: SqlDialect, schema: IcingaHistorySchema, recheck: boolean): string {
    const ids = dialect === 'pgsql' ? 'h.id = ANY(?)' : 'h.id IN (?)';
    return `SELECT h.id, h.incident_id, h.contact_id, h.channel_id, ${schema === 'with-event-id' ? 'h.event_id' : 'NULL AS event_id'},
              h.time, h.message, h.notification_state, i.severity, o.name
       FROM incident_history h
       JOIN incident i ON i.id = h.incident_id
       JOIN object o ON o.id = i.object_id
       WHERE ${recheck ? `(h.id > ? OR ${ids})` : 'h.id > ?'} AND h.type = 'notified' AND h.contact_id IS NOT NULL
       ORDER BY h.id LIMIT ?`;
  },
  /**
   * The row the daemon wrote, still `pending`, for the notification it is
   * handing to a pushgate channel plugin right now: its incident, the
   * contact of that username, a channel of that type (the daemon commits
   * the row before it calls the plugin and marks it `sent` after the answer).
   */
  channelRow(schema: IcingaHistorySchema): string {
    return `SELECT h.id, h.incident_id, h.contact_id, h.channel_id, ${schema === 'with-event-id' ? 'h.event_id' : 'NULL AS event_id'},
              h.time, h.message, h.notification_state, i.severity, o.name
       FROM incident_history h
       JOIN incident i ON i.id = h.incident_id
       JOIN object o ON o.id = i.object_id
       JOIN contact c ON c.id = h.contact_id
       JOIN channel ch ON ch.id = h.channel_id
       WHERE h.incident_id = ? AND h.type = 'notified' AND h.notification_state = 'pending'
         AND c.username = ? AND c.deleted = 'n' AND ch.type = ?
       ORDER BY h.id DESC LIMIT 1`;
  },
} as const;

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
  /** `incident_history.channel_id`: which of the contact's channels this row notified. */
  channelId: number | null;
  /** `incident_history.event_id` on the v0.2.0 schema; always null on the current one. */
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

function notifiedRow(r: Record<string, unknown>): NotifiedRow {
  return {
    id: Number(r.id),
    incidentId: Number(r.incident_id),
    contactId: Number(r.contact_id),
    channelId: r.channel_id === null ? null : Number(r.channel_id),
    eventId: r.event_id === null ? null : Number(r.event_id),
    time: Number(r.time),
    message: r.message === null ? null : String(r.message),
    state: r.notification_state as NotifiedRow['state'],
    severity: String(r.severity),
    title: String(r.name),
  };
}

/** Reads Icinga Notifications' tables through a small pool (mysql2 or pg). */
export class IcingaDirectory {
  private readonly db: SqlClient;
  private readonly sessionMaxAgeMs: number;
  private readonly now: () => number;
  private readonly logger: Logger | undefined;
  private readonly where: string;
  private observer: QueryObserver | undefined;
  /** Detected on the first poll; forgotten when a statement names a column the database lacks. */
  private schema: IcingaHistorySchema | undefined;

  constructor(opts: IcingaDirectoryOptions) {
    const c = opts.connection;
    const dialect = c.type ?? 'mysql';
    const port = c.port ?? ICINGA_DEFAULT_PORT[dialect];
    this.db = openSqlClient(
      { dialect, host: c.host, port, user: c.user, password: c.password, database: c.database, ...(c.socket ? { socket: c.socket } : {}) },
      { poolSize: opts.poolSize ?? 3, queryTimeoutMs: opts.queryTimeoutMs ?? 5000 },
    );
    this.where = `${dialect} ${c.socket ?? `${c.host}:${port}`}/${c.database}`;
    this.sessionMaxAgeMs = opts.sessionMaxAgeMs ?? 86_400_000;
    this.now = opts.now ?? Date.now;
    this.logger = opts.logger;
  }

  /** `mysql` or `pgsql`. */
  get dialect(): SqlDialect {
    return this.db.dialect;
  }

  /** The `incident_history` generation found by the last detection; undefined before the first successful poll. */
  get historySchema(): IcingaHistorySchema | undefined {
    return this.schema;
  }

  /** Report each query's latency and outcome to `observer` (metrics.ts). */
  observeQueries(observer: QueryObserver): void {
    this.observer = observer;
  }

  /** @param kind the `query` label of the directory query metrics. */
  private async query(kind: string, sql: string, values: unknown[]): Promise<Record<string, unknown>[]> {
    const started = performance.now();
    try {
      const rows = await this.db.query(sql, values);
      this.observer?.('icinga', kind, secondsSince(started), 'ok');
      return rows;
    } catch (err) {
      this.observer?.('icinga', kind, secondsSince(started), this.db.classify(err));
      if (this.schema !== undefined && this.db.isUndefinedColumn(err)) {
        // The schema was upgraded (or downgraded) under us: detect it again on the next poll.
        this.logger?.warn({ err: (err as Error).message }, 'icinga: incident_history changed, detecting its columns again');
        this.schema = undefined;
      }
      throw new GatewayError('GW_ERR_DIRECTORY_UNAVAILABLE', `Icinga database query failed: ${(err as Error).message}`, { cause: err });
    }
  }

  /**
   * Authenticate an SSE request the way Icinga's daemon does: cookie
   * `Icingaweb2` names a `browser_session` row whose `user_agent` equals the
   * request's one `User-Agent` (both trimmed), which is the newest row for
   * its (username, user_agent), at most `sessionMaxAgeMs` old, and whose
   * username is a non-deleted contact (compared as the schema compares
   * usernames: case-insensitively).
   * Rejects with `GW_ERR_DIRECTORY_UNAVAILABLE` when the database fails.
   */
  async authenticate(req: IncomingMessage): Promise<{ ok: true; principal: IcingaPrincipal } | { ok: false; reason: IcingaAuthFailure }> {
    const sessionId = readCookie(req.headers.cookie, 'Icingaweb2');
    if (!sessionId) return { ok: false, reason: 'no-cookie' };
    const agents = userAgents(req);
    if (agents.length !== 1) return { ok: false, reason: 'user-agent-count' };
    const userAgent = agents[0]!.trim();

    const rows = await this.query('session', ICINGA_SQL.session, [sessionId]);
    // The session id is compared exactly even where a case-insensitive collation was configured.
    const row = rows.find((r) => r.php_session_id === sessionId);
    if (!row) return { ok: false, reason: 'unknown-session' };
    if (String(row.user_agent).trim() !== userAgent) return { ok: false, reason: 'user-agent-mismatch' };
    if (Number(row.authenticated_at) < this.now() - this.sessionMaxAgeMs) return { ok: false, reason: 'session-expired' };
    if (Number(row.newer) > 0) return { ok: false, reason: 'session-superseded' };

    const contacts = await this.query('contact', ICINGA_SQL.contact, [row.username]);
    // Two live contacts for one username would be ambiguous: refuse rather than guess.
    if (contacts.length !== 1) return { ok: false, reason: 'no-contact' };
    return { ok: true, principal: { contactId: Number(contacts[0]!.id), userAgent } };
  }

  /**
   * The id of the non-deleted contact with this username (compared as the
   * schema compares usernames), or undefined when there is none or two
   * (ambiguous). Used by Web Push enrolment (`pushgate enroll --contact`).
   * Rejects with `GW_ERR_DIRECTORY_UNAVAILABLE` when the database fails.
   */
  async contactId(username: string): Promise<number | undefined> {
    const contacts = await this.query('contact', ICINGA_SQL.contact, [username]);
    return contacts.length === 1 ? Number(contacts[0]!.id) : undefined;
  }

  /**
   * Which `incident_history` generation the database has (information_schema),
   * detected once and logged. Rejects with `GW_ERR_DIRECTORY_UNAVAILABLE`
   * when the database fails or has no incident_history table.
   */
  async detectHistorySchema(): Promise<IcingaHistorySchema> {
    if (this.schema) return this.schema;
    const rows = await this.query('schema', ICINGA_SQL.historyColumns(this.db.dialect), []);
    const names = new Set(rows.map((r) => String(r.name).toLowerCase()));
    if (!names.has('id')) {
      throw new GatewayError('GW_ERR_DIRECTORY_UNAVAILABLE',
        `Icinga database ${this.where} has no incident_history table: is it the Icinga Notifications database?`);
    }
    const schema: IcingaHistorySchema = names.has('event_id') ? 'with-event-id' : 'without-event-id';
    this.logger?.info({ database: this.where, schema },
      schema === 'with-event-id'
        ? 'icinga: incident_history has event_id (Icinga Notifications v0.2 schema): one desktop notification per contact and event'
        : 'icinga: incident_history has no event_id (current Icinga Notifications schema): one desktop notification per contact and notification round');
    this.schema = schema;
    return schema;
  }

  /** Highest `incident_history.id` of type `notified`, 0 when there is none. */
  async maxNotifiedId(): Promise<number> {
    await this.detectHistorySchema();
    const rows = await this.query('max-id', ICINGA_SQL.maxId, []);
    return Number(rows[0]?.id ?? 0);
  }

  /**
   * Notified rows with `id > afterId`, plus the rows `recheck` names, in id
   * order, joined with incident severity and object name. Rows without a
   * contact (group or schedule recipients) are left out.
   * @param limit most rows returned (the rest come next poll).
   */
  async notifiedRows(afterId: number, recheck: readonly number[], limit: number): Promise<NotifiedRow[]> {
    const schema = await this.detectHistorySchema();
    const sql = ICINGA_SQL.notified(this.db.dialect, schema, recheck.length > 0);
    const values: unknown[] = recheck.length > 0 ? [afterId, [...recheck], limit] : [afterId, limit];
    const rows = await this.query('notified', sql, values);
    return rows.map(notifiedRow);
  }

  /**
   * The pending notified row of `incidentId` for the contact named
   * `username` on a channel of type `channelType` (ICINGA_SQL.channelRow),
   * or undefined when there is none. Rejects with `GW_ERR_DIRECTORY_UNAVAILABLE`.
   */
  async pendingChannelRow(incidentId: number, username: string, channelType: string): Promise<NotifiedRow | undefined> {
    const schema = await this.detectHistorySchema();
    const rows = await this.query('channel-row', ICINGA_SQL.channelRow(schema), [incidentId, username, channelType]);
    // The username is compared as the schema compares it (case-insensitively); the row is the newest.
    return rows.length === 0 ? undefined : notifiedRow(rows[0]!);
  }

  /** Release the pool. */
  async close(): Promise<void> {
    await this.db.close();
  }
}
