import type { DeviceDirectory } from '@pushgate/relay';
import type { QueryObserver } from './query-metrics.js';

/**
 * Where the gateway looks up keys, hosts, services and devices. Implementations:
 * `file` (YAML, also the embedded demo) and `openitcockpit` (MySQL).
 *
 * Lookups that cannot reach their backing store reject with a
 * `GatewayError` of code `GW_ERR_DIRECTORY_UNAVAILABLE`; the intake answers
 * those with 503 `Directory unavailable`.
 */
export interface Directory extends DeviceDirectory {
  /** Short name for logs and `/readyz` (`file`, `openitcockpit`). */
  readonly kind: string;
  /**
   * True when this directory can ever hold enabled relay settings (the
   * gateway then opens the durable outbox for mobile push at start).
   */
  readonly mobilePush: boolean;
  /**
   * True when `key` is a currently valid shared API key. Compares in
   * constant time; may refresh a cached key (rate-limited) after a miss.
   */
  verifyApiKey(key: string): Promise<boolean>;
  /** Host name for a host uuid, `undefined` when unknown. */
  hostName(uuid: string): Promise<string | undefined>;
  /** Service name for a service uuid, `undefined` when unknown. */
  serviceName(uuid: string): Promise<string | undefined>;
  /**
   * The person's name for a user id, `undefined` when unknown: the author of
   * their acknowledgements in the engine. Optional: without it (or when it
   * does not know the user) the author is `user <id>`.
   */
  userName?(userId: number): Promise<string | undefined>;
  /**
   * Export status for `ExportStatus` broadcasts: `true` while the newest
   * `export_started` export is unfinished, `false` when finished,
   * `undefined` when there is no export record (nothing is broadcast).
   * Optional: directories without exports leave it out.
   */
  exportRunning?(): Promise<boolean | undefined>;
  /** Database directories: report each query's latency and outcome to `observer` (metrics.ts). Optional. */
  observeQueries?(observer: QueryObserver): void;
  /** Current health for `/readyz`: `ok: false` carries a one-line reason. */
  health(): { ok: true } | { ok: false; reason: string };
  /** Release pools and timers. */
  close(): Promise<void>;
}
