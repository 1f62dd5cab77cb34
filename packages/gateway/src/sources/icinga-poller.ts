import type { Logger } from 'pino';
import { FailureLog } from '../ops/failure-log.js';
import { icingaSeverity, type Notification } from '../pipeline/notification.js';
import type { IcingaDirectory, NotifiedRow } from '../directory/icinga.js';
import { IcingaDedupe } from './icinga-dedupe.js';

/**
 * The Icinga Notifications source (docs/protocol/icinga-sse.md "Where events
 * come from"): polls `incident_history` for notified rows and hands each
 * de-duplicated `sent` row, as a {@link Notification} for its contact, to
 * the pipeline.
 */

/** The pipeline's notification for one notified row; `id` is the notification id the id clock issued. */
export function icingaNotification(row: NotifiedRow, id: number, now: number): Notification {
  return {
    id,
    objectKey: `icinga:${row.title}`,
    kind: row.severity === 'ok' ? 'RECOVERY' : 'PROBLEM',
    severity: icingaSeverity(row.severity),
    title: row.title,
    body: row.message ?? '',
    recipients: [{ kind: 'contact', contactId: row.contactId }],
    source: 'icinga-poll',
    created: now,
    icinga: { historyId: row.id, incidentId: row.incidentId, severity: row.severity, time: row.time, message: row.message },
  };
}

/** Options of {@link IcingaPoller}. */
export interface IcingaPollerOptions {
  directory: IcingaDirectory;
  logger: Logger;
  /** Receives each de-duplicated `sent` row (the composition root hands it to the pipeline). */
  deliver: (row: NotifiedRow) => void;
  /** Time between the end of one poll and the start of the next, ms (Icinga: 3000). */
  pollIntervalMs: number;
  /** Most rows read per poll (default 1000); the rest follow next poll. */
  batchSize?: number;
  /** Pending rows behind a higher row are re-checked until they settle, at most this many (default 10000) ... */
  pendingMaxIds?: number;
  /** ... and for at most this long, ms (default 3600000 = 1 h). */
  pendingMaxAgeMs?: number;
  /** Dedupe memory (icinga-dedupe.ts) of (contact, incident[, event]) keys: most entries (default 10000) ... */
  dedupeMaxEntries?: number;
  /** ... and their longest age, ms (default 3600000 = 1 h). */
  dedupeMaxAgeMs?: number;
  /** Widest spread of `time` among the rows of one notification round, ms (default 1000). */
  dedupeRoundMs?: number;
  /** Clock in ms (default `Date.now`). */
  now?: () => number;
  /** With the Redis bus: poll only while holding the cluster lease, from the shared position. */
  coordinator?: PollerCoordinator;
}

/**
 * Several gateway nodes (the Redis bus): only the lease holder polls (the
 * pipeline carries its notifications to every node), and the read position
 * is shared so a new lease holder continues where the last one stopped.
 */
export interface PollerCoordinator {
  /** True while this node should poll (acquires or renews the lease). */
  lead(): Promise<boolean>;
  /** The shared highest row id read. */
  cursor: { get(): Promise<number | undefined>; set(id: number): void };
}

/** Counters of the poller, for metrics. */
export interface IcingaPollerStats {
  polls: number;
  pollErrors: number;
  /** Events handed to `deliver`. */
  delivered: number;
  /** Rows of a further channel of an already delivered notification (icinga-dedupe.ts). */
  duplicates: number;
  /** `failed` (or `suppressed`) rows: never pushed, counted. */
  failed: number;
  /** Pending rows given up on (too old or window full), each logged. */
  pendingDropped: number;
}

/**
 * Polls `incident_history` for notified rows and hands each `sent` one to
 * `deliver`. Unlike Icinga's daemon, a row still `pending` when a higher id
 * is read is remembered and re-checked every poll (bounded by count and
 * age), and the rows of one notification over several channels become one
 * event (icinga-dedupe.ts; docs/icinga.md).
 */
export class IcingaPoller {
  readonly stats: IcingaPollerStats = { polls: 0, pollErrors: 0, delivered: 0, duplicates: 0, failed: 0, pendingDropped: 0 };
  /** Message of the last poll's database error; undefined once a poll succeeds (for `/readyz`). */
  lastError: string | undefined;
  private readonly o: Required<Omit<IcingaPollerOptions, 'directory' | 'logger' | 'deliver' | 'coordinator'>>;
  private lastId: number | undefined;
  /** Pending row id → when first seen (ms); insertion order = age order. */
  private readonly pending = new Map<number, number>();
  private readonly dedupe: IcingaDedupe;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private stopped = false;
  /** An outage is logged when it starts, once a minute while it lasts, and when it ends (failure-log.ts). */
  private readonly failures: FailureLog;
  private readonly coordinator: PollerCoordinator | undefined;
  private leading = false;

  constructor(private readonly opts: IcingaPollerOptions) {
    this.failures = new FailureLog({ logger: opts.logger, what: 'icinga: polling incident_history' });
    this.coordinator = opts.coordinator;
    this.o = {
      pollIntervalMs: opts.pollIntervalMs,
      batchSize: opts.batchSize ?? 1000,
      pendingMaxIds: opts.pendingMaxIds ?? 10_000,
      pendingMaxAgeMs: opts.pendingMaxAgeMs ?? 3_600_000,
      dedupeMaxEntries: opts.dedupeMaxEntries ?? 10_000,
      dedupeMaxAgeMs: opts.dedupeMaxAgeMs ?? 3_600_000,
      dedupeRoundMs: opts.dedupeRoundMs ?? 1000,
      now: opts.now ?? Date.now,
    };
    this.dedupe = new IcingaDedupe({ maxEntries: this.o.dedupeMaxEntries, maxAgeMs: this.o.dedupeMaxAgeMs, roundMs: this.o.dedupeRoundMs });
  }

  /**
   * True when `row` repeats a notification already shown (icinga-dedupe.ts);
   * otherwise it is remembered as shown. The channel intake asks this for
   * the row of the notification it received, so the poll does not show it
   * (or its rows on other channels) again, and the intake does not show
   * what the poll already did.
   */
  repeats(row: NotifiedRow): boolean {
    return this.dedupe.repeats(row, this.o.now());
  }

  /** Ids of pending rows being re-checked (for tests and metrics). */
  pendingIds(): number[] {
    return [...this.pending.keys()];
  }

  /** Start polling; the first poll runs at once and only records the current highest id. */
  start(): void {
    this.schedule(0);
  }

  /** Stop polling; resolves once a poll in flight has finished. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.running;
  }

  private schedule(ms: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.running = this.pollOnce().finally(() => {
        this.running = undefined;
        this.schedule(this.o.pollIntervalMs);
      });
    }, ms);
  }

  /**
   * One poll. Never throws: a database failure is logged and counted and the
   * next poll retries from the same place.
   */
  async pollOnce(): Promise<void> {
    const { directory } = this.opts;
    const c = this.coordinator;
    if (c) {
      if (!(await c.lead())) {
        this.leading = false;
        return;
      }
      if (!this.leading) {
        // Newly elected: continue from the shared position (pending rows of the last holder are its loss).
        this.leading = true;
        const saved = await c.cursor.get();
        if (saved !== undefined) this.lastId = saved;
      }
    }
    this.stats.polls++;
    try {
      if (this.lastId === undefined) {
        // As Icinga's daemon: start after what exists; notifications sent before start are not replayed.
        this.lastId = await directory.maxNotifiedId();
        this.lastError = undefined;
        this.failures.succeeded();
        c?.cursor.set(this.lastId);
        return;
      }
      this.expirePending();
      const rows = await directory.notifiedRows(this.lastId, [...this.pending.keys()], this.o.batchSize);
      for (const row of rows) this.handle(row);
      if (c && rows.length > 0) c.cursor.set(this.lastId);
      this.lastError = undefined;
      this.failures.succeeded();
    } catch (err) {
      this.stats.pollErrors++;
      this.lastError = (err as Error).message;
      this.failures.failed(err);
    }
  }

  private handle(row: NotifiedRow): void {
    if (row.id > this.lastId!) this.lastId = row.id;
    const now = this.o.now();
    switch (row.state) {
      case 'sent': {
        this.pending.delete(row.id);
        if (this.dedupe.repeats(row, now)) {
          this.stats.duplicates++;
          if (this.opts.logger.isLevelEnabled('debug')) {
            this.opts.logger.debug({ historyId: row.id, channel: row.channelId }, 'icinga: same notification on another channel, not pushed again');
          }
          return;
        }
        this.stats.delivered++;
        this.opts.deliver(row);
        return;
      }
      case 'pending':
        if (!this.pending.has(row.id)) {
          this.pending.set(row.id, now);
          if (this.pending.size > this.o.pendingMaxIds) {
            const oldest = this.pending.keys().next().value!;
            this.pending.delete(oldest);
            this.dropPending(oldest, 'pending window full');
          }
        }
        return;
      default:
        // failed / suppressed / NULL: Icinga never pushes these either; counted so it is not silent.
        this.pending.delete(row.id);
        this.stats.failed++;
        if (this.opts.logger.isLevelEnabled('debug')) {
          this.opts.logger.debug({ historyId: row.id, state: row.state }, 'icinga: notification not sent, not pushed');
        }
    }
  }

  private expirePending(): void {
    const limit = this.o.now() - this.o.pendingMaxAgeMs;
    for (const [id, at] of this.pending) {
      if (at >= limit) break;
      this.pending.delete(id);
      this.dropPending(id, 'still pending after pendingMaxAgeMs');
    }
  }

  private dropPending(id: number, reason: string): void {
    this.stats.pendingDropped++;
    this.opts.logger.warn({ historyId: id, reason }, 'icinga: gave up waiting for a pending notification');
  }
}
