import type { Notification, Recipient } from '../pipeline/notification.js';

/**
 * The one interface every way of reaching a person implements: deliver a
 * notification to a recipient, report a result. Only the pipeline
 * (pipeline/pipeline.ts) calls a target.
 *
 * Live targets (browser tabs, SSE streams) write at once and keep what they
 * wrote for resumes; durable targets (mobile push, named channels) journal
 * one delivery per address in the outbox, which attempts, retries and
 * reports each outcome later (`TargetResult` `queued`, then the pipeline's
 * journal records `sent` or `dead`).
 */
export interface Target {
  /** Unique among the targets: `ws`, `events`, `icinga-sse`, `mobile-push`, `channel:<name>`. */
  readonly name: string;
  /** How answers and logs name it (`mobile push`, `channel po`); default the name. */
  readonly label?: string;
  /** True when deliveries go through the durable outbox (the pipeline awaits them before answering). */
  readonly durable: boolean;
  /** Whether this target can reach the recipient at all (a kind of recipient it serves). */
  serves(to: Recipient): boolean;
  /**
   * Deliver `n` to `to`. `origin` is `local` for notifications accepted on
   * this node, else the node id the bus received it from (a live target on
   * several nodes must not write one browser twice). Never throws; a
   * durable target may reject with `GW_ERR_DIRECTORY_UNAVAILABLE` when the
   * directory it needs (devices, relay settings) cannot answer.
   */
  deliver(n: Notification, to: Recipient, origin: Origin): TargetResult | Promise<TargetResult>;
  /**
   * Live targets: take `n` back into the resume window without writing it
   * anywhere (the pipeline replays the journal at start, so a client that
   * reconnects after a restart gets what it missed). `at`: when it was
   * accepted, ms.
   */
  restore?(n: Notification, to: Recipient, at: number): void;
  /**
   * Whether the recipient counts as reachable now through this target for
   * `/message`'s "not registered" answer (a registered browser on any node,
   * an open stream, an enabled mobile push relay). Absent: never.
   */
  reaches?(to: Recipient): boolean | Promise<boolean>;
}

/** Where a notification was accepted: here, or on the node with this bus id. */
export type Origin = 'local' | { readonly node: string };

/** What one {@link Target.deliver} came to. */
export type TargetResult =
  /** Live: written to `count` endpoints (browsers, streams); 0 when none is open. */
  | { readonly outcome: 'delivered'; readonly count: number }
  /** Durable: `count` deliveries journaled (0: no address, e.g. no device). */
  | { readonly outcome: 'queued'; readonly count: number }
  /** Durable: not accepted (outbox full or closed); the reason is for the caller's answer. */
  | { readonly outcome: 'refused'; readonly reason: string };

/** A live result for `count` endpoints. */
export function delivered(count: number): TargetResult {
  return count === 0 ? NONE_DELIVERED : { outcome: 'delivered', count };
}

const NONE_DELIVERED: TargetResult = Object.freeze({ outcome: 'delivered', count: 0 });
