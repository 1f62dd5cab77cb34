import type { SqlClient, SqlClientOptions, SqlConnection } from './client.js';
import { MysqlClient } from './mysql.js';
import { PgClient } from './pgsql.js';

/** A pooled client for `c.dialect`; connects lazily, on the first statement. */
export function openSqlClient(c: SqlConnection, o: SqlClientOptions): SqlClient {
  return c.dialect === 'pgsql' ? new PgClient(c, o) : new MysqlClient(c, o);
}
