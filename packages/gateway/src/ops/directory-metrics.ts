import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { QueryObserver } from '../directory/query-metrics.js';

/** One directory's health as the up gauge reads it at scrape time. */
export interface DirectoryHealthSource {
  /** The `directory` label: `openitcockpit`, `file`, `demo`, `icinga`. */
  readonly kind: string;
  health(): { ok: boolean };
}

/**
 * The directory series of `/metrics`: query latency (a histogram) and
 * errors by directory type and query kind, observed as each query ends (a
 * few label lookups per database query, nothing per connection), and
 * whether each directory is up, read at scrape time.
 */
export class DirectoryMetrics {
  readonly #latency: Histogram<'directory' | 'query'>;
  readonly #errors: Counter<'directory' | 'query' | 'reason'>;

  /** Pass to `directory.observeQueries`. */
  readonly observer: QueryObserver = (directory, query, seconds, outcome) => {
    if (outcome !== 'busy') this.#latency.observe({ directory, query }, seconds);
    if (outcome !== 'ok') this.#errors.inc({ directory, query, reason: outcome });
  };

  /** @param directories read at every scrape: the directories whose `pushgate_directory_up` is exported. */
  constructor(registry: Registry, directories: () => readonly DirectoryHealthSource[]) {
    const registers = [registry];
    this.#latency = new Histogram({
      name: 'pushgate_directory_query_duration_seconds',
      help: 'Database directory queries by directory (openitcockpit, icinga) and query kind, answered or failed (not those refused while down).',
      labelNames: ['directory', 'query'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    });
    this.#errors = new Counter({
      name: 'pushgate_directory_query_errors_total',
      help: 'Failed database directory queries by directory, query kind and reason (timeout, connection, sql, busy).',
      labelNames: ['directory', 'query', 'reason'],
      registers,
    });
    new Gauge({
      name: 'pushgate_directory_up', help: '1 while the directory answers (its /readyz part is ok), else 0.', labelNames: ['directory'], registers,
      collect() {
        this.reset();
        for (const d of directories()) this.set({ directory: d.kind }, d.health().ok ? 1 : 0);
      },
    });
  }
}
