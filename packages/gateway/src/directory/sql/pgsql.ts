import { basename, dirname } from 'node:path';
import type { Pool, PoolConfig } from 'pg';
import { NETWORK_CODES, type SqlClient, type SqlClientOptions, type SqlConnection, type SqlFailure } from './client.js';

/**
 * `?` placeholders numbered as PostgreSQL wants them (`$1`, `$2`, ...); a
 * `?` inside a quoted literal or identifier is left alone.
 */
export function numberPlaceholders(sql: string): string {
  let out = '';
  let n = 0;
  let quote: string | undefined;
  for (const ch of sql) {
    if (quote) {
      if (ch === quote) quote = undefined;
      out += ch;
    } else if (ch === "'" || ch === '"') {
      quote = ch;
      out += ch;
    } else out += ch === '?' ? `$${++n}` : ch;
  }
  return out;
}

/** SQLSTATE classes and codes that mean the connection (or login), not the statement, failed. */
function isConnectionState(code: string): boolean {
  return code.startsWith('08') || code.startsWith('28') || code === '3D000' || code === '57P01' || code === '57P02' || code === '57P03';
}

/**
 * {@link SqlClient} on a pg pool (PostgreSQL). pg is loaded with the first
 * statement, so a gateway that never talks to PostgreSQL never pays for the
 * import at startup.
 */
export class PgClient implements SqlClient {
  readonly dialect = 'pgsql';
  private readonly config: PoolConfig;
  private pool: Promise<Pool> | undefined;

  constructor(c: SqlConnection, o: SqlClientOptions) {
    let host = c.host;
    let port = c.port;
    if (c.socket) {
      // pg wants the socket's directory; a path to the socket file names the port too.
      const m = /^\.s\.PGSQL\.(\d+)$/.exec(basename(c.socket));
      host = m ? dirname(c.socket) : c.socket;
      if (m) port = Number(m[1]);
    }
    this.config = {
      host,
      port,
      user: c.user,
      password: c.password,
      database: c.database,
      max: o.poolSize,
      // Waiting for a pooled or a new connection, and then the statement, each within the timeout.
      connectionTimeoutMillis: o.queryTimeoutMs,
      query_timeout: o.queryTimeoutMs,
      statement_timeout: o.queryTimeoutMs,
      application_name: 'pushgate',
    };
  }

  private open(): Promise<Pool> {
    this.pool ??= import('pg').then(({ default: pg }) => {
      const pool = new pg.Pool(this.config);
      // A connection that dies emits 'error': the pool's while idle, the client's own while checked out or
      // being removed. The statement in flight is rejected anyway (query() then destroys the client);
      // without these listeners the event would be an uncaught exception.
      pool.on('error', () => undefined);
      pool.on('connect', (client) => {
        client.on('error', () => undefined);
      });
      return pool;
    });
    return this.pool;
  }

  async query(sql: string, values: readonly unknown[]): Promise<Record<string, unknown>[]> {
    const client = await (await this.open()).connect();
    let broken: Error | undefined;
    try {
      const res = await client.query({ text: numberPlaceholders(sql), values: values as unknown[] });
      return res.rows as Record<string, unknown>[];
    } catch (err) {
      // A timed-out or failed connection is not given back to the pool: the server may still be busy on it.
      if (this.classify(err) !== 'sql') broken = err as Error;
      throw err;
    } finally {
      client.release(broken);
    }
  }

  classify(err: unknown): SqlFailure {
    const e = err as { code?: string; message?: string } | null;
    const code = e?.code;
    const message = e?.message ?? '';
    // 57014: statement_timeout cancelled it; the others are pg's client-side timeouts.
    if (code === '57014' || /Query read timeout|timeout exceeded when trying to connect|connection timeout/i.test(message)) return 'timeout';
    if (code !== undefined && (NETWORK_CODES.has(code) || isConnectionState(code))) return 'connection';
    if (code === undefined && /Connection terminated|connection error|not queryable|Client was closed/i.test(message)) return 'connection';
    return 'sql';
  }

  isUndefinedColumn(err: unknown): boolean {
    return (err as { code?: string }).code === '42703';
  }

  async close(): Promise<void> {
    if (this.pool) await (await this.pool).end();
  }
}
