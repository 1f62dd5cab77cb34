import { envelope, ServerMessageType } from '@pushgate/protocol';
import type { GatewayContext } from './context.js';
import { FailureLog } from './failure-log.js';

/**
 * `ExportStatus` broadcasts (PROTOCOL.md §1): every
 * `websocket.exportStatusIntervalMs` while at least one client is connected,
 * ask `directory.exportRunning()` and send the answer to every connection.
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
      const running = await ctx.directory.exportRunning();
      this.#failures.succeeded();
      if (typeof running !== 'boolean' || ctx.closing) return;
      ctx.exportRunning = running;
      const frame = Buffer.from(envelope(ServerMessageType.ExportStatus, '', running));
      ctx.registry.broadcast(frame);
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
