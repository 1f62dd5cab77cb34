/**
 * What a database directory tells the metrics about each query it sends
 * (metrics.ts turns it into `pushgate_directory_query_duration_seconds` and
 * `pushgate_directory_query_errors_total`). A query refused without reaching
 * the database (the directory is marked down) is not reported: `/readyz`
 * and `pushgate_directory_up` show that state.
 */

/** How one query ended: answered, timed out, lost its connection, failed as SQL, or was refused because too many were pending. */
export type QueryOutcome = 'ok' | 'timeout' | 'connection' | 'sql' | 'busy';

/**
 * Told about every query: the directory type (`openitcockpit`, `icinga`),
 * the query kind (`api-key`, `host`, `session`, ...), its duration in
 * seconds (0 for `busy`) and how it ended. Must not throw.
 */
export type QueryObserver = (directory: string, query: string, seconds: number, outcome: QueryOutcome) => void;

/** A directory that reports its queries to one observer (the last one set). */
export interface ObservableQueries {
  observeQueries(observer: QueryObserver): void;
}

/** Seconds since `start` (a `performance.now()` reading). */
export function secondsSince(start: number): number {
  return (performance.now() - start) / 1000;
}
