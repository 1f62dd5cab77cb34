import type { Notification } from '../pipeline/notification.js';
import type { IdClock } from './ids.js';

/**
 * The bus between gateway nodes (docs/scale-out.md): a transport, never a
 * deliverer. It carries notifications and export-status answers to the other
 * nodes, keeps presence (which users and browsers each node holds), leases
 * for singleton jobs, shared cursors and the id slots. What arrives is handed
 * to the {@link BusHandlers} given to {@link Bus.start}; the pipeline then
 * delivers it to this node's targets.
 *
 * Two implementations: `LocalBus` (cluster/local-bus.ts; the default, one
 * node: nothing crosses, every query answers for this node alone) and
 * `RedisBus` (cluster/redis/bus.ts). No home-made clustering protocol.
 */
export interface Bus {
  /** `local` or `redis`; the config's `bus.type`. */
  readonly kind: 'local' | 'redis';
  /** Counters for metrics (zero on the local bus). */
  readonly stats: BusStats;
  /** Notification ids: unique across the nodes on this bus. */
  readonly ids: IdClock;
  /** Told of every change of this node's presence (pass it to the registry); undefined on one node. */
  readonly presence: PresenceObserver | undefined;
  /** Begin receiving; called once, after every handler's owner exists. Before it, nothing is received. */
  start(handlers: BusHandlers): void;
  /** A notification accepted on this node, for every other node's live targets. */
  publish(n: Notification): void;
  /** An export-status answer, for every other node. */
  publishExportStatus(running: boolean): void;
  /** A device's receipt, for the node that owns its notification (every other node gets it; the owner keeps it). */
  publishReceipt(r: ReceiptMessage): void;
  /**
   * Exactly once per browser across nodes: `send` is called (now or after
   * a pending announcement settles) when this node is the one to write
   * notification `id`, received from `origin`, to its tab of `browserUuid`.
   */
  onceAcrossNodes(userId: number, browserUuid: string, origin: string, id: number, send: () => void): void;
  /** A small shared number (a singleton job's read position), undefined when none was saved or Redis is away. */
  getCursor(name: string): Promise<number | undefined>;
  /** Save a shared number; best effort. */
  setCursor(name: string, value: number): void;
  /** True when another node holds a connection of `userId` that registered (the local bus: never). */
  registeredElsewhere(userId: number): Promise<boolean>;
  /** Open WebSockets of `userId` on other nodes (the local bus: 0; unknown while Redis is down: 0). */
  connectionsElsewhere(userId: number): Promise<number>;
  /**
   * Acquire or keep the cluster-wide lease `name` for `ttlMs`: true when
   * this node should do the singleton job. The local bus, and a Redis bus
   * while Redis is down, always answer true.
   */
  lead(name: string, ttlMs: number): Promise<boolean>;
  /** For `/readyz`: not ok with a one-line reason while the bus cannot cross nodes. */
  health(): { ok: true } | { ok: false; reason: string };
  /** Whether messages cross nodes right now (always true for the local bus). */
  readonly up: boolean;
  /** Stop timers, leave the cluster, close connections. */
  close(): Promise<void>;
}

/** What a bus hands over as it receives from other nodes. Must not throw. */
export interface BusHandlers {
  /** A notification accepted on node `origin`. */
  notification(n: Notification, origin: string): void;
  /** An export-status answer from another node. */
  exportStatus(running: boolean): void;
  /** A receipt a device gave another node. */
  receipt(r: ReceiptMessage, origin: string): void;
}

/**
 * A device's receipt as it crosses nodes (receipts/receipts.ts): plain data,
 * validated by the node that took it from the device.
 */
export interface ReceiptMessage {
  notificationId: number;
  kind: 'delivered' | 'shown' | 'suppressed' | 'clicked' | 'dismissed';
  userId: number;
  device: string;
  via: 'ws' | 'http';
  reason?: string;
  /** When the node took it from the device, ms. */
  at: number;
}

/**
 * Told of every change of this node's per-user state, so a cluster bus can
 * share it. Called synchronously by the registry; must not throw.
 */
export interface PresenceObserver {
  /** The first tab of `browserUuid` opened on this node. */
  browserAdded(userId: number, browserUuid: string): void;
  /** The last tab of `browserUuid` on this node closed. */
  browserRemoved(userId: number, browserUuid: string): void;
  /** The user's open connections on this node are now `count`. */
  countChanged(userId: number, count: number): void;
  /** The user became registered on this node (`RegisterBrowserPushNotification`). */
  registered(userId: number): void;
}

/** Bus counters (`pushgate_bus_*` metrics). */
export interface BusStats {
  /** Messages published to other nodes. */
  published: number;
  /** Messages received from other nodes. */
  received: number;
  /** Messages that could not be published (Redis down or failing): the other nodes never saw them. */
  undelivered: number;
  /** Per-notification claims for browsers with tabs on several nodes, by outcome: `won`, `lost`, `failed` (Redis down: delivered anyway). */
  claims: Record<string, number>;
}

/** Fresh zeroed bus counters. */
export function createBusStats(): BusStats {
  return { published: 0, received: 0, undelivered: 0, claims: {} };
}
