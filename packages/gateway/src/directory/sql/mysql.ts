import type { Pool, PoolOptions, RowDataPacket } from 'mysql2/promise';
import type { SqlClient, SqlClientOptions, SqlConnection, SqlFailure } from './client.js';

/**
 * {@link SqlClient} on a mysql2 pool (MySQL, MariaDB). mysql2 is loaded on
 * the first statement, like pg in pgsql.ts: a gateway that only links the
 * Icinga endpoint's code (disabled) does not pay its ~6 MiB at start.
 */
export class MysqlClient implements SqlClient {
  readonly dialect = 'mysql';
  private readonly options: PoolOptions;
  private pool: Promise<Pool> | undefined;
  private readonly timeout: number;

  constructor(c: SqlConnection, o: SqlClientOptions) {
    const pool: PoolOptions = {
      user: c.user,
      password: c.password,
      database: c.database,
      connectionLimit: o.poolSize,
      connectTimeout: o.queryTimeoutMs,
      // BIGINT ids and ms timestamps stay below 2^53: plain numbers.
      supportBigNumbers: true,
      bigNumberStrings: false,
      dateStrings: true,
      charset: 'utf8mb4',
    };
    if (c.socket) pool.socketPath = c.socket;
    else {
      pool.host = c.host;
      pool.port = c.port;
    }
    this.options = pool;
    this.timeout = o.queryTimeoutMs;
  }

  private open(): Promise<Pool> {
    this.pool ??= import('mysql2/promise').then(({ createPool }) => {
      const pool = createPool(this.options);
      // A pooled connection that dies while idle emits 'error' once for the pool (which drops it);
      // a second emission would have no listener and crash the process.
      pool.pool.on('connection', (conn) => {
        conn.on('error', () => undefined);
      });
      return pool;
    });
    return this.pool;
  }

  async query(sql: string, values: readonly unknown[]): Promise<Record<string, unknown>[]> {
    const pool = await this.open();
    // `query`, not `execute`: `IN (?)` expands an array parameter.
    const [rows] = await pool.query<RowDataPacket[]>({ sql, values: values as unknown[], timeout: this.timeout });
    return Array.isArray(rows) ? rows : [];
  }

  classify(err: unknown): SqlFailure {
    const e = err as { code?: string; fatal?: boolean };
    if (e.code === 'PROTOCOL_SEQUENCE_TIMEOUT') return 'timeout';
    // Fatal errors and system error codes (ECONNREFUSED, ...) are the connection's; ER_* codes the statement's.
    return e.fatal || (e.code !== undefined && !e.code.startsWith('ER_')) ? 'connection' : 'sql';
  }

  isUndefinedColumn(err: unknown): boolean {
    return (err as { code?: string }).code === 'ER_BAD_FIELD_ERROR';
  }

  async close(): Promise<void> {
    if (this.pool) await (await this.pool).end();
  }
}
