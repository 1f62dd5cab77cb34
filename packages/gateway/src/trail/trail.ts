import type { Logger } from 'pino';
import type { StoredEvent, TrailStore } from './store.js';

/**
 * The trail of each notification (docs/trail.md): what happened to it,
 * event by event, on the node that accepted it (its owner): accepted, the
 * deliveries and their results, receipts from the person's devices,
 * acknowledgements, escalation steps planned, run and cancelled.
 *
 * `record` never throws and never waits: the event goes to the store's next
 * batch. A bounded index of recent notifications (`maxNotifications`,
 * oldest forgotten first) remembers which of them this node owns, whom they
 * were for, and which receipts were counted, so a receipt counts once per
 * notification, device and kind, and the time from accept to the first
 * `shown` and to the acknowledgement can be measured.
 */

/** What a person's device reports about a notification (docs/protocol/extensions.md "Receipts"). */
export type ReceiptKind = 'delivered' | 'shown' | 'suppressed' | 'clicked' | 'dismissed';

/** Every receipt kind, in the order a device reports them. */
export const RECEIPT_KINDS: readonly ReceiptKind[] = ['delivered', 'shown', 'suppressed', 'clicked', 'dismissed'];

/** Outcome of an acknowledgement (engines/engine.ts), or of the token check before it. */
export type AcknowledgeEventOutcome = 'done' | 'refused' | 'unreachable';

/** One event of a notification's trail, told apart by `type`. */
export type TrailEvent =
  /** The pipeline accepted it on this node. `recipients` as `user:<id>` / `contact:<id>`. */
  | { type: 'accepted'; objectKey: string; kind: string; severity: string; source: string; title: string; recipients: string[] }
  /** Accepted, then refused after all (the journal could not be written): the source was answered with an error. */
  | { type: 'refused'; by: string; reason: string }
  /** A live target wrote it to `count` endpoints of `to` (browsers, streams) at once. */
  | { type: 'delivered'; target: string; to: string; count: number }
  /** A durable delivery: queued in the outbox, later sent or dead, or refused at once. */
  | { type: 'delivery'; target: string; to: string; outcome: 'queued' | 'sent' | 'dead' | 'refused'; count?: number; attempts?: number; reason?: string }
  /** A device's receipt. `via`: the WebSocket or an HTTP POST (service worker, SSE page). */
  | { type: 'receipt'; kind: ReceiptKind; userId: number; device: string; via: 'ws' | 'http'; reason?: string }
  /** Someone acknowledged it from the notification (or tried to). */
  | { type: 'acknowledge'; userId: number; author: string; how: 'action-token'; engine: string; outcome: AcknowledgeEventOutcome; reason: string }
  /** A later notification for the same object (RECOVERY, ACKNOWLEDGEMENT) replaces it where the target can. */
  | { type: 'replaced'; by: number; kind: string }
  /** An escalation step was planned: `step` is its index in the policy, `due` ms since the epoch. */
  | ({ type: 'step-planned'; policy: string; step: number; due: number; targets: readonly string[] } & StepContext)
  /** An escalation step ran; `results` by target. */
  | ({ type: 'step-run'; policy: string; step: number; targets: readonly string[]; results?: Readonly<Record<string, string>>; reminderId?: number } & StepContext)
  /** An escalation step will not run, and why (`acknowledged`, `recovered`, `shown`, `clicked`, …). */
  | ({ type: 'step-cancelled'; policy: string; step: number; reason: string; by?: string } & StepContext);

/** What an escalation event may say besides its step: the object and the recipient (`user:7`) of the ladder. */
export interface StepContext {
  objectKey?: string;
  to?: string;
}

/** The event types, for metrics labels and filters. */
export type TrailEventType = TrailEvent['type'];

/** Told each measured latency (metrics.ts registers one). */
export interface TrailObserver {
  /** Seconds from accept to the first `shown` receipt of any device. */
  firstShown(seconds: number): void;
  /** Seconds from accept to the first acknowledgement whose outcome was `done`. */
  acknowledged(seconds: number): void;
}

/** Notification kinds that replace the object's PROBLEM on screen (the client's `tag`). */
const REPLACING = new Set(['RECOVERY', 'ACKNOWLEDGEMENT']);

/** Counters of a {@link Trail}, for metrics. */
export interface TrailStats {
  /** Events recorded, by type. */
  recorded: Record<string, number>;
  /** Receipts counted, by kind. */
  receipts: Record<string, number>;
  /** Receipts not counted, by reason: `duplicate`, `not-recipient`, `unknown-notification`. */
  receiptsIgnored: Record<string, number>;
}

/** What the index keeps of a recent notification this node owns. */
interface Known {
  at: number;
  users: readonly number[];
  /** `<kind> <device>` of the receipts counted. */
  seen: Set<string>;
  shown: boolean;
  acknowledged: boolean;
}

/** A receipt as a device (or the bus) hands it over. */
export interface ReceiptInput {
  notificationId: number;
  kind: ReceiptKind;
  userId: number;
  device: string;
  via: 'ws' | 'http';
  reason?: string;
  /** When the device sent it, ms; default now. */
  at?: number;
}

/** What became of a receipt. */
export type ReceiptVerdict = 'counted' | 'duplicate' | 'not-recipient' | 'unknown-notification';

/** One notification in a listing (newest first). */
export interface TrailSummary {
  id: number;
  /** When it was accepted, ms. */
  at: number;
  objectKey: string;
  kind: string;
  severity: string;
  title: string;
  recipients: string[];
  /** Events recorded for it. */
  events: number;
  /** First `shown` receipt, ms. */
  shownAt?: number;
  /** First acknowledgement with outcome `done`, ms. */
  acknowledgedAt?: number;
}

/** Filter of {@link Trail.list}: every given field must match. */
export interface TrailFilter {
  /** A recipient user id. */
  userId?: number;
  /** The notification's object key, exactly. */
  objectKey?: string;
  /** Accepted at or after, ms. */
  since?: number;
  /** Accepted before, ms. */
  until?: number;
  /** Most summaries returned (newest first); default 100. */
  limit?: number;
}

/** Options of {@link Trail.open}. */
export interface TrailOptions {
  store: TrailStore;
  logger: Logger;
  /** Notifications the index remembers (receipt de-duplication, ownership, latencies); default 50000. */
  maxNotifications?: number;
  now?: () => number;
}

/** The trail; open with {@link Trail.open} (it reads back the index from the store). */
export class Trail {
  readonly stats: TrailStats = { recorded: {}, receipts: {}, receiptsIgnored: {} };
  readonly store: TrailStore;
  readonly #log: Logger;
  readonly #max: number;
  readonly #now: () => number;
  readonly #known = new Map<number, Known>();
  /** Object key → the latest PROBLEM accepted here for it (bounded like the index). */
  readonly #problems = new Map<string, number>();
  readonly #observers: TrailObserver[] = [];

  private constructor(opts: TrailOptions) {
    this.store = opts.store;
    this.#log = opts.logger.child({ component: 'trail' });
    this.#max = opts.maxNotifications ?? 50_000;
    this.#now = opts.now ?? Date.now;
  }

  /** A trail over `opts.store`, its index rebuilt from what the store holds (newest `maxNotifications`). */
  static async open(opts: TrailOptions): Promise<Trail> {
    const trail = new Trail(opts);
    for await (const e of opts.store.events()) trail.#index(e.nid, e as unknown as TrailEvent, e.at);
    return trail;
  }

  /** Report latencies to `observer` from now on (metrics). */
  observe(observer: TrailObserver): void {
    this.#observers.push(observer);
  }

  /**
   * Record one event of notification `notificationId`. Never throws, never
   * waits; `at` ms, default now.
   */
  record(notificationId: number, event: TrailEvent, at: number = this.#now()): void {
    this.stats.recorded[event.type] = (this.stats.recorded[event.type] ?? 0) + 1;
    const replaces = event.type === 'accepted' && REPLACING.has(event.kind) ? this.#problems.get(event.objectKey) : undefined;
    this.#index(notificationId, event, at, true);
    this.store.append({ ...event, at, nid: notificationId });
    if (replaces !== undefined && event.type === 'accepted') this.record(replaces, { type: 'replaced', by: notificationId, kind: event.kind }, at);
  }

  /** True when this node accepted notification `id` and still remembers it. */
  owns(id: number): boolean {
    return this.#known.has(id);
  }

  /**
   * Count a receipt once per notification, device and kind, and record it.
   * Only for a notification this node owns ({@link owns}), and only from
   * one of its recipients.
   */
  receipt(r: ReceiptInput): ReceiptVerdict {
    const k = this.#known.get(r.notificationId);
    let verdict: ReceiptVerdict;
    if (k === undefined) verdict = 'unknown-notification';
    else if (!k.users.includes(r.userId)) verdict = 'not-recipient';
    else if (k.seen.has(`${r.kind} ${r.device}`)) verdict = 'duplicate';
    else verdict = 'counted';
    if (verdict !== 'counted') {
      this.stats.receiptsIgnored[verdict] = (this.stats.receiptsIgnored[verdict] ?? 0) + 1;
      if (verdict === 'not-recipient') this.#log.warn({ notification: r.notificationId, user: r.userId }, 'receipt from a user the notification was not for: ignored');
      return verdict;
    }
    this.stats.receipts[r.kind] = (this.stats.receipts[r.kind] ?? 0) + 1;
    this.record(r.notificationId, {
      type: 'receipt', kind: r.kind, userId: r.userId, device: r.device, via: r.via, ...(r.reason !== undefined ? { reason: r.reason } : {}),
    }, r.at ?? this.#now());
    return 'counted';
  }

  /** Keep the index current: ownership, recipients, counted receipts, first shown and acknowledgement. */
  #index(id: number, e: TrailEvent, at: number, live = false): void {
    if (e.type === 'accepted') {
      const users = e.recipients.filter((r) => r.startsWith('user:')).map((r) => Number(r.slice(5)));
      this.#known.set(id, { at, users, seen: new Set(), shown: false, acknowledged: false });
      if (this.#known.size > this.#max) this.#known.delete(this.#known.keys().next().value as number);
      if (e.kind === 'PROBLEM') {
        this.#problems.delete(e.objectKey);
        this.#problems.set(e.objectKey, id);
        if (this.#problems.size > this.#max) this.#problems.delete(this.#problems.keys().next().value as string);
      } else if (e.kind === 'RECOVERY') this.#problems.delete(e.objectKey);
      return;
    }
    const k = this.#known.get(id);
    if (k === undefined) return;
    if (e.type === 'receipt') {
      k.seen.add(`${e.kind} ${e.device}`);
      if (e.kind === 'shown' && !k.shown) {
        k.shown = true;
        if (live) for (const o of this.#observers) o.firstShown(Math.max(0, at - k.at) / 1000);
      }
    } else if (e.type === 'acknowledge' && e.outcome === 'done' && !k.acknowledged) {
      k.acknowledged = true;
      if (live) for (const o of this.#observers) o.acknowledged(Math.max(0, at - k.at) / 1000);
    }
  }

  /** Every event of notification `id`, in the order recorded; undefined when the trail holds none. */
  async read(id: number): Promise<StoredEvent[] | undefined> {
    await this.store.flush();
    const found: StoredEvent[] = [];
    for await (const e of this.store.events()) if (e.nid === id) found.push(e);
    return found.length === 0 ? undefined : found;
  }

  /** Notifications matching `filter`, newest first, with a summary of their events. */
  async list(filter: TrailFilter = {}): Promise<TrailSummary[]> {
    await this.store.flush();
    const byId = new Map<number, TrailSummary>();
    const user = filter.userId === undefined ? undefined : `user:${filter.userId}`;
    for await (const e of this.store.events()) {
      if (e.type === 'accepted') {
        const a = e as unknown as StoredEvent & Extract<TrailEvent, { type: 'accepted' }>;
        if (filter.objectKey !== undefined && a.objectKey !== filter.objectKey) continue;
        if (user !== undefined && !a.recipients.includes(user)) continue;
        if (filter.since !== undefined && a.at < filter.since) continue;
        if (filter.until !== undefined && a.at >= filter.until) continue;
        byId.set(a.nid, {
          id: a.nid, at: a.at, objectKey: a.objectKey, kind: a.kind, severity: a.severity, title: a.title, recipients: a.recipients, events: 1,
        });
        continue;
      }
      const s = byId.get(e.nid);
      if (s === undefined) continue;
      s.events++;
      if (e.type === 'receipt' && e.kind === 'shown' && s.shownAt === undefined) s.shownAt = e.at;
      if (e.type === 'acknowledge' && e.outcome === 'done' && s.acknowledgedAt === undefined) s.acknowledgedAt = e.at;
    }
    const limit = filter.limit ?? 100;
    return [...byId.values()].sort((a, b) => b.at - a.at || b.id - a.id).slice(0, limit);
  }

  /** Notifications the index remembers now. */
  get indexed(): number {
    return this.#known.size;
  }
}
