/**
 * One small interface over the two SQL drivers a directory may need:
 * mysql2 for MySQL/MariaDB and pg for PostgreSQL. Statements are written
 * with `?` placeholders; the PostgreSQL client numbers them (`$1`, `$2`).
 * A pool per client; the password is never logged.
 */

/** `mysql` (MySQL, MariaDB) or `pgsql` (PostgreSQL), as Icinga Web names its resource types. */
export type SqlDialect = 'mysql' | 'pgsql';

/** How a failed statement failed: it timed out, its connection failed, or the server refused the SQL. */
export type SqlFailure = 'timeout' | 'connection' | 'sql';

/** Where the database is. */
export interface SqlConnection {
  dialect: SqlDialect;
  host: string;
  port: number;
  user: string;
  password: string;
  database: string;
  /** Unix socket (MySQL: the socket file; PostgreSQL: its directory or the `.s.PGSQL.<port>` file); used instead of host/port. */
  socket?: string;
}

/** Pool settings. */
export interface SqlClientOptions {
  /** Most connections open at once. */
  poolSize: number;
  /** Per statement, covering the wait for a connection too, ms. */
  queryTimeoutMs: number;
}

/** A pooled connection to one database. */
export interface SqlClient {
  readonly dialect: SqlDialect;
  /** Run one statement; resolves to its rows (empty for statements without a result set). Rejects with the driver's error. */
  query(sql: string, values: readonly unknown[]): Promise<Record<string, unknown>[]>;
  /** Classify an error `query` rejected with. */
  classify(err: unknown): SqlFailure;
  /** True when the error says a column the statement names does not exist. */
  isUndefinedColumn(err: unknown): boolean;
  /** End every pooled connection. */
  close(): Promise<void>;
}

/** Network-level error codes Node sets: the connection, not the statement, failed. */
export const NETWORK_CODES: ReadonlySet<string> = new Set([
  'ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN', 'ENOENT',
]);
