import type { Logger } from 'pino';

/** Options of {@link FailureLog}. */
export interface FailureLogOptions {
  logger: Logger;
  /** What fails, for the messages: `"export status query"` gives `export status query failed`. */
  what: string;
  /** While failing, at most one repeat line per this many ms (default 60000). */
  repeatMs?: number;
  /** Clock in ms (default `performance.now`). */
  now?: () => number;
}

/**
 * Logs a repeating operation's failures without flooding the log during an
 * outage: a warning when it starts failing (`<what> failed`), then at most
 * one `<what> still failing` warning per `repeatMs` carrying the number of
 * failures since the last line, and an info line `<what> works again` when
 * it next succeeds.
 */
export class FailureLog {
  readonly #o: Required<FailureLogOptions>;
  /** Failures since the last logged line; -1 while healthy. */
  #unlogged = -1;
  #total = 0;
  #loggedAt = 0;

  constructor(opts: FailureLogOptions) {
    this.#o = { repeatMs: 60_000, now: () => performance.now(), ...opts };
  }

  /** True between a failure and the next success. */
  get failing(): boolean {
    return this.#unlogged >= 0;
  }

  /** Record one failure. */
  failed(err: unknown): void {
    const o = this.#o;
    const now = o.now();
    this.#total++;
    if (this.#unlogged < 0) {
      this.#unlogged = 0;
      this.#loggedAt = now;
      o.logger.warn({ err }, `${o.what} failed`);
      return;
    }
    this.#unlogged++;
    if (now - this.#loggedAt < o.repeatMs) return;
    o.logger.warn({ err, failures: this.#unlogged, failuresTotal: this.#total }, `${o.what} still failing`);
    this.#unlogged = 0;
    this.#loggedAt = now;
  }

  /** Record one success; logs the recovery when it was failing. */
  succeeded(): void {
    if (this.#unlogged < 0) return;
    this.#o.logger.info({ failures: this.#total }, `${this.#o.what} works again`);
    this.#unlogged = -1;
    this.#total = 0;
  }
}
