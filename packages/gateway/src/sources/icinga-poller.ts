import type { Logger } from 'pino';
import { FailureLog } from '../ops/failure-log.js';
import { frameEvent } from '../transport/sse/stream.js';
import type { IcingaDirectory, NotifiedRow } from '../directory/icinga.js';
import { IcingaDedupe } from './icinga-dedupe.js';

/** The one event type Icinga's browser script listens for. */
export const ICINGA_EVENT = 'icinga2.notification';

/** `2024-05-01T12:00:00.000+00:00`: RFC 3339 with milliseconds and a numeric offset (PHP's RFC3339_EXTENDED, UTC). */
export function rfc3339Ms(ms: number): string {
  return new Date(ms).toISOString().slice(0, -1) + '+00:00';
}

/**
 * Frame one `icinga2.notification` event, byte-compatible with Icinga's
 * daemon plus an `id:` line (the `incident_history.id`).
 * @param retryMs the `retry:` value, ms (Icinga: 3000).
 */
export function icingaFrame(row: Pick<NotifiedRow, 'id' | 'time' | 'incidentId' | 'severity' | 'title' | 'message'>, retryMs: number): Buffer {
  const data = JSON.stringify({
    time: rfc3339Ms(row.time),
    payload: { incident_id: row.incidentId, severity: row.severity, title: row.title, message: row.message },
  });
  return frameEvent(ICINGA_EVENT, data, row.id, retryMs);
}

/** Options of {@link IcingaPoller}. */
export interface IcingaPollerOptions {
  directory: IcingaDirectory;
  logger: Logger;
  /** Receives each deduplicated `sent` row with its frame. */
  deliver: (contactId: number, id: number, frame: Buffer) => void;
  /** Time between the end of one poll and the start of the next, ms (Icinga: 3000). */
  pollIntervalMs: number;
  /** `retry:` of each event, ms (default 3000). */
  retryMs?: number;
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
}

/**
 * Several gateway nodes (the Redis bus): only the lease holder polls, its
 * events reach every node, and the read position is shared so a new lease
 * holder continues where the last one stopped.
 */
export interface PollerCoordinator {
  /** True while this node should poll (acquires or renews the lease). */
  lead(): Promise<boolean>;
  /** Deliver an event on every node (replaces `deliver`). */
  deliver(contactId: number, id: number, frame: Buffer): void;
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
  private readonly o: Required<Omit<IcingaPollerOptions, 'directory' | 'logger' | 'deliver'>>;
  private lastId: number | undefined;
  /** Pending row id → when first seen (ms); insertion order = age order. */
  private readonly pending = new Map<number, number>();
  private readonly dedupe: IcingaDedupe;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private stopped = false;
  /** An outage is logged when it starts, once a minute while it lasts, and when it ends (failure-log.ts). */
  private readonly failures: FailureLog;
  private coordinator: PollerCoordinator | undefined;
  private leading = false;

  constructor(private readonly opts: IcingaPollerOptions) {
    this.failures = new FailureLog({ logger: opts.logger, what: 'icinga: polling incident_history' });
    this.o = {
      pollIntervalMs: opts.pollIntervalMs,
      retryMs: opts.retryMs ?? 3000,
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

  /** Poll only while holding the cluster lease, and deliver through the bus (see {@link PollerCoordinator}). */
  coordinate(coordinator: PollerCoordinator): void {
    this.coordinator = coordinator;
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
        (this.coordinator?.deliver ?? this.opts.deliver)(row.contactId, row.id, icingaFrame(row, this.o.retryMs));
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
