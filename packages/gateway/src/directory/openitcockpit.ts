import type { RelaySettings } from '@pushgate/relay';
import type { Pool, PoolConnection, RowDataPacket, ResultSetHeader } from 'mysql2/promise';
import { createPool } from 'mysql2/promise';
import type { Logger } from 'pino';
import type { Config } from '../config.js';
import { GatewayError } from '../errors.js';
import type { Directory } from './directory.js';
import { type MyCnfClient, readMyCnf } from './mycnf.js';
import { type QueryObserver, secondsSince } from './query-metrics.js';
import { digest, matchesAny } from './secrets.js';
import { TtlCache } from './ttl-cache.js';

/** The `directory` config section with `type: openitcockpit` (defaults applied). */
export type OpenItcockpitDirectoryConfig = Extract<Config['directory'], { type: 'openitcockpit' }>;

/** What the factory needs besides the config; `main.ts` passes the process environment. */
export interface OpenItcockpitDirectoryOptions {
  /** Parent logger; the directory logs under `{ directory: 'openitcockpit' }`. */
  logger: Logger;
  /**
   * Environment: `OITC_MYSQL_CNF` overrides `cfg.mysqlCnf`; `MYSQL_DEBUG=1`
   * logs every SQL statement at debug level, shown even when `log.level` is
   * higher (text only, never parameter values).
   */
  env: NodeJS.ProcessEnv;
}

// The statements, all prepared (pool connections cache them). openITCOCKPIT's
// column is literally named `key`, a reserved word, hence the backticks.
const SQL_API_KEY = 'SELECT `value` FROM systemsettings WHERE `key` = ?';
const SQL_HOST = 'SELECT name FROM hosts WHERE uuid = ?';
// As the Go service evaluates it (openITCOCKPIT-websocket internal/db/db.go,
// GetServiceByUUID): a service whose template row is missing is no service,
// and NULL or blank under the column's collation (PAD SPACE: ' ' = '') means
// "the template's name" (servicetemplates.name, not its template_name).
const SQL_SERVICE =
  "SELECT IF(services.name IS NULL OR services.name = '', servicetemplates.name, services.name) AS name FROM services " +
  'INNER JOIN servicetemplates ON servicetemplates.id = services.servicetemplate_id WHERE services.uuid = ? LIMIT 1';
const SQL_RELAY = 'SELECT address, port, auth_key FROM push_notifications_relay WHERE enabled = 1 LIMIT 1';
const SQL_DEVICES = 'SELECT device_id FROM mobile_devices WHERE user_id = ?';
const SQL_DELETE_DEVICE = 'DELETE FROM mobile_devices WHERE device_id = ?';
const SQL_EXPORT = 'SELECT finished FROM exports WHERE task = ? ORDER BY id DESC LIMIT 1';
/** The author openITCOCKPIT itself writes into acknowledgements: `<firstname> <lastname>` (Core/ValueObjects/User.php `getFullName`). */
const SQL_USER = 'SELECT firstname, lastname FROM users WHERE id = ?';
const API_KEY_SETTING = 'SUDO_SERVER.API_KEY';
/** The `query` label of each statement in the directory query metrics. */
const QUERY_KIND: ReadonlyMap<string, string> = new Map([
  [SQL_API_KEY, 'api-key'], [SQL_HOST, 'host'], [SQL_SERVICE, 'service'], [SQL_RELAY, 'relay'],
  [SQL_DEVICES, 'devices'], [SQL_DELETE_DEVICE, 'delete-device'], [SQL_EXPORT, 'export'], [SQL_USER, 'user'],
]);

type Row = RowDataPacket & Record<string, unknown>;

/**
 * Create the openITCOCKPIT directory: reads the `[client]` section of the
 * my.cnf file (`env.OITC_MYSQL_CNF`, else `cfg.mysqlCnf`), opens a mysql2
 * pool and loads the API key.
 *
 * Rejects only for configuration errors (`GW_ERR_DIRECTORY_CONFIG`, naming
 * the file and key). A database that is down at startup does not fail it:
 * the directory starts unhealthy, lookups reject with
 * `GW_ERR_DIRECTORY_UNAVAILABLE`, and it reconnects in the background with
 * backoff (`cfg.reconnectMinMs` doubling up to `cfg.reconnectMaxMs`).
 */
export async function createOpenItcockpitDirectory(
  cfg: OpenItcockpitDirectoryConfig,
  opts: OpenItcockpitDirectoryOptions,
): Promise<Directory> {
  const file = opts.env.OITC_MYSQL_CNF || cfg.mysqlCnf;
  const client = await readMyCnf(file);
  const dir = new OpenItcockpitDirectory(cfg, client, opts.logger, opts.env.MYSQL_DEBUG === '1');
  await dir.start();
  return dir;
}

/**
 * Directory on openITCOCKPIT's MySQL/MariaDB tables. Health is a small state
 * machine: up until a query fails at the connection level or times out, then
 * down (every lookup rejects at once, without touching the database, so a slow
 * or dead server never accumulates waiting queries) until a background probe
 * succeeds. Cached names and the cached API key keep answering while down.
 */
class OpenItcockpitDirectory implements Directory {
  readonly kind = 'openitcockpit';
  /** `push_notifications_relay` may be enabled at any time. */
  readonly mobilePush = true;
  readonly #cfg: OpenItcockpitDirectoryConfig;
  readonly #log: Logger;
  /** Where `MYSQL_DEBUG` statements go (a debug-level child logger); undefined without it. */
  readonly #sqlLog: Logger | undefined;
  readonly #pool: Pool;
  readonly #where: string;
  readonly #names: TtlCache<string, string | undefined>;
  readonly #inflight = new Map<string, Promise<string | undefined>>();
  #relay: { value: RelaySettings | undefined; expires: number } | undefined;

  #up = true;
  #reason = '';
  #closed = false;
  #pending = 0;
  #attempt = 0;
  #reconnectTimer: NodeJS.Timeout | undefined;
  #keyTimer: NodeJS.Timeout | undefined;

  #keyDigest: Buffer | undefined;
  /** When the last key read started (performance.now ms); rate-limits miss refreshes. */
  #keyTriedAt = Number.NEGATIVE_INFINITY;
  #keyRefresh: Promise<void> | undefined;
  #observer: QueryObserver | undefined;

  constructor(cfg: OpenItcockpitDirectoryConfig, client: MyCnfClient, logger: Logger, debug: boolean) {
    this.#cfg = cfg;
    this.#log = logger.child({ directory: 'openitcockpit' });
    // MYSQL_DEBUG asks for the statements: log them at debug level, and let
    // this one child logger through even when log.level is info.
    this.#sqlLog = !debug ? undefined : this.#log.isLevelEnabled('debug') ? this.#log : this.#log.child({}, { level: 'debug' });
    this.#where = client.socket ? `${client.socket}/${client.database}` : `${client.host}:${client.port}/${client.database}`;
    this.#names = new TtlCache(cfg.nameCacheTtlMs, cfg.nameCacheSize);
    this.#pool = createPool({
      host: client.host,
      port: client.port,
      ...(client.socket ? { socketPath: client.socket } : {}),
      user: client.user,
      password: client.password,
      database: client.database,
      connectionLimit: cfg.poolSize,
      connectTimeout: cfg.queryTimeoutMs,
      enableKeepAlive: true,
      charset: 'utf8mb4',
    });
    // A pooled connection that dies while idle emits 'error' once for the pool
    // (which drops it); a second emission would have no listener and crash.
    this.#pool.pool.on('connection', (conn) => {
      conn.on('error', () => undefined);
    });
  }

  /** Load the key once; a failure marks the directory down and starts reconnecting. */
  async start(): Promise<void> {
    try {
      await this.#loadKey();
      this.#log.info({ database: this.#where }, 'connected to the openITCOCKPIT database');
    } catch {
      // #exec already marked the directory down with the reason and logged it.
    }
    this.#keyTimer = setInterval(() => {
      if (this.#up) this.#refreshKey().catch(() => undefined);
    }, this.#cfg.apiKeyRefreshMs);
    this.#keyTimer.unref();
  }

  async verifyApiKey(key: string): Promise<boolean> {
    if (this.#keyDigest && matchesAny(key, [this.#keyDigest])) return true;
    // A miss may mean the key was rotated: re-read it, at most once per
    // apiKeyMissRefreshMs, so a flood of bad keys costs one query per window.
    if (performance.now() - this.#keyTriedAt < this.#cfg.apiKeyMissRefreshMs) {
      if (!this.#keyDigest && !this.#up) throw this.#unavailable();
      return false;
    }
    await this.#refreshKey();
    return this.#keyDigest !== undefined && matchesAny(key, [this.#keyDigest]);
  }

  hostName(uuid: string): Promise<string | undefined> {
    return this.#cachedName(`h:${uuid}`, SQL_HOST, uuid, (row) => String(row.name ?? ''));
  }

  serviceName(uuid: string): Promise<string | undefined> {
    // The SQL decides between the service's own name and its template's (SQL_SERVICE).
    return this.#cachedName(`s:${uuid}`, SQL_SERVICE, uuid, (row) => String(row.name ?? ''));
  }

  userName(userId: number): Promise<string | undefined> {
    return this.#cachedName(`u:${userId}`, SQL_USER, String(userId), (row) => `${String(row.firstname ?? '')} ${String(row.lastname ?? '')}`.trim());
  }

  async relaySettings(): Promise<RelaySettings | undefined> {
    const now = performance.now();
    if (this.#relay && this.#relay.expires > now) return this.#relay.value;
    const rows = await this.#query<Row[]>(SQL_RELAY, []);
    const r = rows[0];
    const value = r
      ? { address: String(r.address ?? ''), port: Number(r.port), authKey: String(r.auth_key ?? '') }
      : undefined;
    this.#relay = { value, expires: now + this.#cfg.nameCacheTtlMs };
    return value;
  }

  async devices(userId: number): Promise<string[]> {
    const rows = await this.#query<Row[]>(SQL_DEVICES, [userId]);
    return rows.map((r) => String(r.device_id));
  }

  async deleteDevice(deviceToken: string): Promise<void> {
    const res = await this.#query<ResultSetHeader>(SQL_DELETE_DEVICE, [deviceToken]);
    this.#log.info({ deleted: res.affectedRows }, 'deleted a mobile device the push gateway reported gone');
  }

  async exportRunning(): Promise<boolean | undefined> {
    const rows = await this.#query<Row[]>(SQL_EXPORT, ['export_started']);
    const r = rows[0];
    return r ? Number(r.finished) === 0 : undefined;
  }

  observeQueries(observer: QueryObserver): void {
    this.#observer = observer;
  }

  health(): { ok: true } | { ok: false; reason: string } {
    if (this.#closed) return { ok: false, reason: 'openitcockpit directory closed' };
    return this.#up ? { ok: true } : { ok: false, reason: this.#reason };
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#keyTimer);
    clearTimeout(this.#reconnectTimer);
    this.#names.clear();
    await this.#pool.end().catch(() => undefined);
  }

  async #cachedName(cacheKey: string, sql: string, uuid: string, pick: (row: Row) => string): Promise<string | undefined> {
    const hit = this.#names.get(cacheKey);
    if (hit) return hit.value;
    // Coalesce: a storm of notifications for one object waits on one query.
    let p = this.#inflight.get(cacheKey);
    if (!p) {
      p = this.#query<Row[]>(sql, [uuid])
        .then((rows) => {
          // Unknown uuids are cached too, so a storm of bad ones stays cheap.
          const value = rows[0] ? pick(rows[0]) : undefined;
          this.#names.set(cacheKey, value);
          return value;
        })
        .finally(() => this.#inflight.delete(cacheKey));
      this.#inflight.set(cacheKey, p);
    }
    return p;
  }

  #refreshKey(): Promise<void> {
    this.#keyRefresh ??= this.#loadKey().finally(() => {
      this.#keyRefresh = undefined;
    });
    return this.#keyRefresh;
  }

  async #loadKey(gate = true): Promise<void> {
    this.#keyTriedAt = performance.now();
    const rows = gate ? await this.#query<Row[]>(SQL_API_KEY, [API_KEY_SETTING]) : await this.#exec<Row[]>(SQL_API_KEY, [API_KEY_SETTING]);
    const value = rows[0]?.value;
    const key = value === null || value === undefined ? '' : String(value);
    const next = key === '' ? undefined : digest(key);
    if (!next) this.#log.warn(`systemsettings has no ${API_KEY_SETTING}: no browser or sender can authenticate`);
    else if (this.#keyDigest && !this.#keyDigest.equals(next)) this.#log.info('API key changed in systemsettings; the new key is in effect');
    this.#keyDigest = next;
  }

  /** A query through the health gate: while down it rejects at once. */
  #query<T>(sql: string, values: (string | number)[]): Promise<T> {
    if (this.#closed) return Promise.reject(new GatewayError('GW_ERR_DIRECTORY_UNAVAILABLE', 'openitcockpit directory closed'));
    if (!this.#up) return Promise.reject(this.#unavailable());
    return this.#exec<T>(sql, values);
  }

  #unavailable(): GatewayError {
    return new GatewayError('GW_ERR_DIRECTORY_UNAVAILABLE', this.#reason);
  }

  /**
   * Run one prepared statement on a pooled connection within
   * `queryTimeoutMs`, covering both the wait for a connection and the
   * statement. On timeout the connection is destroyed (the server side query
   * dies with it) so the pool slot is free again rather than stuck.
   */
  async #exec<T>(sql: string, values: (string | number)[]): Promise<T> {
    const kind = QUERY_KIND.get(sql) ?? 'other';
    if (this.#pending >= this.#cfg.maxPendingQueries) {
      this.#observer?.('openitcockpit', kind, 0, 'busy');
      throw new GatewayError('GW_ERR_DIRECTORY_UNAVAILABLE', `openitcockpit database busy: ${this.#pending} queries pending`);
    }
    this.#sqlLog?.debug({ sql }, 'MYSQL_DEBUG');
    this.#pending++;
    const started = performance.now();
    let timedOut = false;
    let conn: PoolConnection | undefined;
    let timer: NodeJS.Timeout | undefined;
    const work = (async () => {
      const c = await this.#pool.getConnection();
      if (timedOut) {
        c.destroy();
        throw new Error('connection arrived after the timeout');
      }
      conn = c;
      try {
        const [result] = await c.execute(sql, values);
        c.release();
        return result as T;
      } catch (err) {
        if ((err as { fatal?: boolean }).fatal) c.destroy();
        else c.release();
        throw err;
      }
    })();
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        timedOut = true;
        conn?.destroy();
        reject(new Error(`query timed out after ${this.#cfg.queryTimeoutMs} ms`));
      }, this.#cfg.queryTimeoutMs);
    });
    try {
      const result = await Promise.race([work, timeout]);
      this.#observer?.('openitcockpit', kind, secondsSince(started), 'ok');
      return result;
    } catch (err) {
      this.#observer?.('openitcockpit', kind, secondsSince(started), timedOut ? 'timeout' : isConnectionFailure(err) ? 'connection' : 'sql');
      throw this.#failed(err, timedOut);
    } finally {
      clearTimeout(timer);
      work.catch(() => undefined);
      this.#pending--;
    }
  }

  /** Classify a failure: connection-level errors and timeouts take the directory down. */
  #failed(err: unknown, timedOut: boolean): GatewayError {
    const e = err as { message?: string; code?: string; fatal?: boolean };
    const message = e.message || e.code || String(err);
    if (timedOut || isConnectionFailure(err)) {
      this.#markDown(`openitcockpit database ${this.#where} unavailable: ${message}`);
      return new GatewayError('GW_ERR_DIRECTORY_UNAVAILABLE', this.#reason, { cause: err });
    }
    // An SQL error (schema mismatch, permissions) is not a connectivity
    // problem: the lookup fails, the directory stays up.
    this.#log.error({ err }, 'openitcockpit query failed');
    return new GatewayError('GW_ERR_DIRECTORY_UNAVAILABLE', `openitcockpit query failed: ${message}`, { cause: err });
  }

  #markDown(reason: string): void {
    this.#reason = reason;
    if (!this.#up || this.#closed) return;
    this.#up = false;
    this.#attempt = 0;
    this.#log.warn({ reason }, 'openITCOCKPIT database unavailable; reconnecting in the background');
    this.#scheduleReconnect();
  }

  #scheduleReconnect(): void {
    if (this.#closed || this.#reconnectTimer) return;
    const base = Math.min(this.#cfg.reconnectMaxMs, this.#cfg.reconnectMinMs * 2 ** this.#attempt);
    // ±20 % jitter so several gateways do not reconnect in lockstep.
    const delay = Math.round(base * (0.8 + Math.random() * 0.4));
    this.#attempt++;
    this.#reconnectTimer = setTimeout(() => {
      this.#reconnectTimer = undefined;
      this.#loadKey(false).then(
        () => {
          if (this.#closed) return;
          this.#up = true;
          this.#reason = '';
          this.#attempt = 0;
          this.#log.info({ database: this.#where }, 'openITCOCKPIT database reachable again');
        },
        () => this.#scheduleReconnect(),
      );
    }, delay);
    this.#reconnectTimer.unref();
  }
}

const CONNECTION_CODES = new Set([
  'ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN',
  'PROTOCOL_CONNECTION_LOST', 'PROTOCOL_SEQUENCE_TIMEOUT', 'ER_CON_COUNT_ERROR', 'ER_ACCESS_DENIED_ERROR', 'ER_BAD_DB_ERROR',
]);

/** A fatal mysql2 error or a connection-level code: the database, not the statement, failed. */
function isConnectionFailure(err: unknown): boolean {
  const e = err as { code?: string; fatal?: boolean } | null;
  return Boolean(e?.fatal) || (e?.code !== undefined && CONNECTION_CODES.has(e.code));
}
