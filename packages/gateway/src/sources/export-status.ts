import type { GatewayContext } from '../context.js';
import { FailureLog } from '../ops/failure-log.js';

/**
 * `ExportStatus` broadcasts (PROTOCOL.md §1): every
 * `websocket.exportStatusIntervalMs` while at least one client is connected,
 * ask `directory.exportRunning()` and send the answer to every connection
 * (of every node, with the Redis bus: one node asks, holding a lease).
 * No broadcast when the directory has no such method or no export record.
 * One query at a time: a slow directory skips ticks instead of piling up.
 * Failures are logged when they start, then at most once a minute with a
 * count, and once when the query works again (failure-log.ts).
 */
export class ExportStatus {
  readonly #ctx: GatewayContext;
  readonly #timer: NodeJS.Timeout | undefined;
  readonly #failures: FailureLog;
  #running = false;

  constructor(ctx: GatewayContext) {
    this.#ctx = ctx;
    this.#failures = new FailureLog({ logger: ctx.logger, what: 'export status query' });
    if (typeof ctx.directory.exportRunning === 'function') {
      this.#timer = setInterval(() => void this.poll(), ctx.config.websocket.exportStatusIntervalMs);
      this.#timer.unref();
    }
  }

  /** Query and broadcast once (skipped without clients or while a query is in flight). */
  async poll(): Promise<void> {
    const ctx = this.#ctx;
    if (this.#running || ctx.registry.size === 0 || ctx.closing || !ctx.directory.exportRunning) return;
    this.#running = true;
    try {
      // With the Redis bus one node (the lease holder) asks and every node hears the answer.
      // A node without clients never takes the lease, so the holder is always one with clients.
      if (!(await ctx.bus.lead('export-status', ctx.config.websocket.exportStatusIntervalMs * 3))) return;
      const running = await ctx.directory.exportRunning();
      this.#failures.succeeded();
      if (typeof running !== 'boolean' || ctx.closing) return;
      ctx.bus.publishExportStatus(running);
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
