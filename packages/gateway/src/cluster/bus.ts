import { envelope, ServerMessageType } from '@pushgate/protocol';
import type { GatewayContext } from '../context.js';

/**
 * The bus between `/message` (and the export-status poll) and delivery to
 * sockets (ARCHITECTURE.md "Scale-out"). Two implementations: {@link LocalBus}
 * (default, one node: a direct call, nothing more) and `RedisBus`
 * (bus/redis.ts: several gateway processes or machines behind one load
 * balancer share users, registrations, limits and export status through
 * Redis pub/sub and a few keys). No home-made clustering protocol.
 */
export interface Bus {
  /** `local` or `redis`; the config's `bus.type`. */
  readonly kind: 'local' | 'redis';
  /** Counters for metrics (zero on the local bus). */
  readonly stats: BusStats;
  /** Connect the bus to its gateway; called once by startGateway before it listens. */
  attach(ctx: GatewayContext): void;
  /**
   * Deliver a serialised `ProcessPushNotification` of `userId` with id `id`:
   * to this node's browsers at once (one tab each), its SSE streams and
   * replay log, and to every other node's.
   */
  publishUser(userId: number, id: number, frame: Buffer): void;
  /** An export-status answer: every node remembers it (for new connections) and sends it to its connections. */
  publishExportStatus(running: boolean): void;
  /**
   * An event of a singleton job for every node, this one included (the
   * Icinga poller's `icinga2.notification` frames): `key` routes it (the
   * contact id), `id` is its event id, `frame` the exact bytes to write.
   */
  publishEvent(topic: BusTopic, key: number, id: number, frame: Buffer): void;
  /** Receive the events of `topic` (one handler per topic; replaces an earlier one). */
  onEvent(topic: BusTopic, handler: EventHandler): void;
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
   * this node should do the singleton job (export-status poll). The local
   * bus, and a Redis bus while Redis is down, always answer true.
   */
  lead(name: string, ttlMs: number): Promise<boolean>;
  /** For `/readyz`: not ok with a one-line reason while the bus cannot cross nodes. */
  health(): { ok: true } | { ok: false; reason: string };
  /** Whether frames cross nodes right now (always true for the local bus). */
  readonly up: boolean;
  /** Stop timers, leave the cluster, close connections. */
  close(): Promise<void>;
}

/** Topics of {@link Bus.publishEvent}. */
export type BusTopic = 'icinga';

/** Receives the events of one topic. */
export type EventHandler = (key: number, id: number, frame: Buffer) => void;

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

/**
 * The one-node delivery of a user notification: keep it for `?since=`
 * resumes, write it to one tab per browser, publish it to the user's SSE
 * streams. The same Buffer everywhere: serialised once, never re-parsed.
 */
export function deliverLocal(ctx: GatewayContext, userId: number, id: number, frame: Buffer): void {
  ctx.replay.record(userId, id, frame);
  for (const conn of ctx.registry.toUserOnePerBrowser(userId)) conn.sendFrame(frame);
  ctx.sse?.publish(userId, frame);
}

/** Remember an export-status answer and send it to every connection of this node. */
export function applyExportStatus(ctx: GatewayContext, running: boolean): void {
  ctx.exportRunning = running;
  ctx.registry.broadcast(Buffer.from(envelope(ServerMessageType.ExportStatus, '', running)));
}

const ALWAYS = Promise.resolve(true);
const NEVER = Promise.resolve(false);
const NONE = Promise.resolve(0);

/** The in-process bus: one node, every call is the direct local delivery. */
export class LocalBus implements Bus {
  readonly kind = 'local' as const;
  readonly stats = createBusStats();
  readonly up = true;
  #ctx!: GatewayContext;

  attach(ctx: GatewayContext): void {
    this.#ctx = ctx;
  }

  publishUser(userId: number, id: number, frame: Buffer): void {
    deliverLocal(this.#ctx, userId, id, frame);
  }

  publishExportStatus(running: boolean): void {
    applyExportStatus(this.#ctx, running);
  }

  readonly #handlers = new Map<BusTopic, EventHandler>();
  readonly #cursors = new Map<string, number>();

  publishEvent(topic: BusTopic, key: number, id: number, frame: Buffer): void {
    this.#handlers.get(topic)?.(key, id, frame);
  }

  onEvent(topic: BusTopic, handler: EventHandler): void {
    this.#handlers.set(topic, handler);
  }

  async getCursor(name: string): Promise<number | undefined> {
    return this.#cursors.get(name);
  }

  setCursor(name: string, value: number): void {
    this.#cursors.set(name, value);
  }

  registeredElsewhere(): Promise<boolean> {
    return NEVER;
  }

  connectionsElsewhere(): Promise<number> {
    return NONE;
  }

  lead(): Promise<boolean> {
    return ALWAYS;
  }

  health(): { ok: true } {
    return { ok: true };
  }

  async close(): Promise<void> {}
}
