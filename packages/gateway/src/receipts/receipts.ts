import type { ReceiptPayload } from '@pushgate/protocol';
import type { Logger } from 'pino';
import type { Bus, ReceiptMessage } from '../cluster/bus.js';
import type { ReceiptVerdict, Trail } from '../trail/trail.js';

/**
 * Receipts (docs/protocol/extensions.md "Receipts"): what a person's
 * device reports about a notification: `delivered`, `shown` or
 * `suppressed`, `clicked`, `dismissed`. They arrive at whichever node the
 * device talks to (its WebSocket's `Receipt` frame, or `POST /receipts`
 * from a service worker or an SSE page) and count on the node that owns the
 * notification, the one that accepted it: a receipt for a notification this
 * node owns is handled here, any other crosses the bus (`r` messages,
 * cluster/redis/wire.ts) and the owner handles it. The trail counts each
 * once per notification, device and kind; `onReceipt` is told of each one
 * counted.
 */

/** A receipt counted on this node (what {@link ReceiptsOptions.onReceipt} is told). */
export type CountedReceipt = ReceiptMessage;

/** Options of {@link Receipts}. */
export interface ReceiptsOptions {
  /** Counts and records them; absent (`trail.enabled: false`): receipts are taken and dropped, counted as `no-trail`. */
  trail: Trail | undefined;
  bus: Bus;
  logger: Logger;
  /** Told of every receipt counted here, synchronously; must not throw. */
  onReceipt?: (r: CountedReceipt) => void;
  /** Clock in ms; default `Date.now`. */
  now?: () => number;
}

/** Counters of {@link Receipts}, for metrics. */
export interface ReceiptsStats {
  /** Receipts taken from devices on this node, by channel (`ws`, `http`). */
  taken: Record<string, number>;
  /** Receipts this node handed to the bus for another node. */
  forwarded: number;
  /** What became of the receipts handled here (from devices or the bus): `counted`, `duplicate`, `not-recipient`, `unknown-notification`, `no-trail`. */
  outcomes: Record<string, number>;
}

/** Takes receipts from devices and the bus and hands each to the owner's trail. */
export class Receipts {
  readonly stats: ReceiptsStats = { taken: {}, forwarded: 0, outcomes: {} };
  readonly #o: ReceiptsOptions;
  readonly #now: () => number;

  constructor(opts: ReceiptsOptions) {
    this.#o = opts;
    this.#now = opts.now ?? Date.now;
  }

  /**
   * A receipt from a device of `userId` (its `browserUuid`, or the device id
   * a service worker names) over `via`. Handled here when this node owns
   * the notification, else sent over the bus to the owner.
   */
  take(userId: number, device: string, p: ReceiptPayload, via: 'ws' | 'http'): void {
    this.stats.taken[via] = (this.stats.taken[via] ?? 0) + 1;
    const r: ReceiptMessage = {
      notificationId: p.id, kind: p.kind, userId, device, via, at: this.#now(), ...(p.reason !== undefined ? { reason: p.reason } : {}),
    };
    const trail = this.#o.trail;
    if (trail !== undefined && !trail.owns(r.notificationId) && this.#o.bus.kind !== 'local') {
      this.stats.forwarded++;
      this.#o.bus.publishReceipt(r);
      return;
    }
    this.#handle(r);
  }

  /** A receipt another node took: kept when this node owns its notification, else not ours (another node's). */
  receive(r: ReceiptMessage): void {
    if (this.#o.trail?.owns(r.notificationId) !== true) return;
    this.#handle(r);
  }

  #handle(r: ReceiptMessage): void {
    const trail = this.#o.trail;
    const verdict: ReceiptVerdict | 'no-trail' = trail === undefined ? 'no-trail' : trail.receipt(r);
    this.stats.outcomes[verdict] = (this.stats.outcomes[verdict] ?? 0) + 1;
    if (verdict === 'unknown-notification') {
      this.#o.logger.debug({ notification: r.notificationId, kind: r.kind }, 'receipt for a notification no node here remembers: dropped');
    }
    if (verdict === 'counted') this.#o.onReceipt?.(r);
  }
}
