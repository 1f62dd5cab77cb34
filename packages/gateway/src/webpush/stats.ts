/**
 * Web Push counters, read by `/metrics` at scrape time (ops/metrics.ts,
 * docs/operations.md): plain records by reason, incremented on the paths
 * where the thing happens.
 */
export interface WebPushStats {
  /** Push attempts by result: `sent`, `gone` (404/410), `too-large` (413, a bug), `rate-limited` (429), `server-error` (5xx), `config-error` (400/403), `refused` (other 4xx), `network`, `private-address`, `no-subscription`, `device-revoked`. */
  readonly pushes: Record<string, number>;
  /** Subscription changes: `added`, `updated`, `removed`, `expired`, `evicted` (per-user bound), `refused`. */
  readonly subscriptions: Record<string, number>;
  /** Deliveries not queued, by reason: `live-browser` (policy `no-live-browser`). */
  readonly skipped: Record<string, number>;
  /** Enrolment links redeemed, by result: `ok`, `unknown` (used or never issued), `expired`, `no-contact`. */
  readonly enrolments: Record<string, number>;
  /** Device credentials refused, by reason: `unknown`, `revoked`. */
  readonly deviceAuth: Record<string, number>;
}

export function createWebPushStats(): WebPushStats {
  return { pushes: {}, subscriptions: {}, skipped: {}, enrolments: {}, deviceAuth: {} };
}

export function inc(counts: Record<string, number>, key: string, by = 1): void {
  counts[key] = (counts[key] ?? 0) + by;
}
