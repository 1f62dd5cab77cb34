import type { Logger } from 'pino';
import type { Bus } from '../cluster/bus.js';
import type { Directory } from '../directory/directory.js';
import { FailureLog } from '../ops/failure-log.js';

/** What {@link ExportStatus} needs. */
export interface ExportStatusOptions {
  directory: Directory;
  logger: Logger;
  /** `websocket.exportStatusIntervalMs`. */
  intervalMs: number;
  /** Leases the query to one node, and carries the answer to the others. */
  bus: Bus;
  /** True while this node has WebSocket clients (nobody to tell otherwise). */
  hasClients: () => boolean;
  /** True once the gateway is shutting down. */
  closing: () => boolean;
  /** Send the answer to this node's connections (and remember it for new ones). */
  apply: (running: boolean) => void;
}

/**
 * `ExportStatus` broadcasts (docs/protocol/openitcockpit.md "Server → client
 * messages"): every `websocket.exportStatusIntervalMs` while at least one
 * client is connected, ask `directory.exportRunning()` and send the answer to
 * every connection (of every node, with the Redis bus: one node asks,
 * holding a lease). It is state, not a notification to a person, so it goes
 * straight to the WebSocket endpoint rather than through the pipeline.
 * No broadcast when the directory has no such method or no export record.
 * One query at a time: a slow directory skips ticks instead of piling up.
 * Failures are logged when they start, then at most once a minute with a
 * count, and once when the query works again (failure-log.ts).
 */
export class ExportStatus {
  readonly #o: ExportStatusOptions;
  readonly #timer: NodeJS.Timeout | undefined;
  readonly #failures: FailureLog;
  #running = false;

  constructor(opts: ExportStatusOptions) {
    this.#o = opts;
    this.#failures = new FailureLog({ logger: opts.logger, what: 'export status query' });
    if (typeof opts.directory.exportRunning === 'function') {
      this.#timer = setInterval(() => void this.poll(), opts.intervalMs);
      this.#timer.unref();
    }
  }

  /** Query and broadcast once (skipped without clients or while a query is in flight). */
  async poll(): Promise<void> {
    const o = this.#o;
    if (this.#running || !o.hasClients() || o.closing() || !o.directory.exportRunning) return;
    this.#running = true;
    try {
      // With the Redis bus one node (the lease holder) asks and every node hears the answer.
      // A node without clients never takes the lease, so the holder is always one with clients.
      if (!(await o.bus.lead('export-status', o.intervalMs * 3))) return;
      const running = await o.directory.exportRunning();
      this.#failures.succeeded();
      if (typeof running !== 'boolean' || o.closing()) return;
      o.apply(running);
      o.bus.publishExportStatus(running);
    } catch (err) {
      this.#failures.failed(err);
    } finally {
      this.#running = false;
    }
  }

  /** Stop the timer. */
  stop(): void {
    if (this.#timer) clearInterval(this.#timer);
  }
}
