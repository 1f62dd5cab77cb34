import { randomBytes } from 'node:crypto';
import { Redis, type RedisOptions } from 'ioredis';
import type { Logger } from 'pino';
import type { Config } from '../../config.js';
import type { Notification } from '../../pipeline/notification.js';
import { createBusStats, type Bus, type BusHandlers, type PresenceObserver, type ReceiptMessage } from '../bus.js';
import { IdClock } from '../ids.js';
import { BrowserClaims } from './claims.js';
import { ID_SLOTS, Leases } from './leases.js';
import { LocalPresence } from './presence.js';
import { defineBusScripts, type BusScripts } from './scripts.js';
import { decode, encodeExportStatus, encodeNotification, encodeReceipt } from './wire.js';

export { ID_SLOTS } from './leases.js';

/**
 * The Redis bus (docs/scale-out.md): N gateway processes or machines on one
 * Redis behave as one gateway. A transport: it carries notifications and
 * export-status answers between nodes (one pub/sub channel `<prefix>bus`,
 * wire.ts) and hands what it receives to its {@link BusHandlers}; it never
 * delivers to a socket itself. What it keeps:
 *
 * - Presence: one hash per user, `<prefix>u:<userId>`, fields scoped by node
 *   id: `c:<node>` (open connections there), `b:<node>:<browserUuid>` (the
 *   browser has a tab there) and `r` (registered). A node proves it is alive
 *   with `<prefix>n:<node>` (PX `nodeTtlMs`, refreshed every third of it); the
 *   Lua scripts (scripts.ts) ignore, and delete, fields of nodes whose key
 *   expired, so a node that died without cleanup drops out within `nodeTtlMs`.
 * - Once per browser across nodes: claims.ts.
 * - Leases, cursors and id slots: leases.ts.
 *
 * The publisher's own pipeline delivers locally at once; its echo is ignored.
 * Redis lost: local delivery continues, publishes are counted as
 * undelivered, `/readyz` says `bus: ...`. Back: ioredis reconnects and
 * resubscribes, and the node re-announces its state under a fresh node id
 * (its old fields may be stale: connections closed meanwhile).
 */

/** Re-announcing after a reconnect sends this many scripts, then waits for their answers. */
const ANNOUNCE_SLICE = 500;

type RedisBusConfig = Extract<Config['bus'], { type: 'redis' }>;

function newNodeId(): string {
  return randomBytes(8).toString('hex');
}

/** The Redis pub/sub bus; create with {@link RedisBus.connect}. */
export class RedisBus implements Bus, PresenceObserver {
  readonly kind = 'redis' as const;
  readonly stats = createBusStats();
  readonly ids: IdClock;
  /** This node's id slot (0..ID_SLOTS-1); leased again under every fresh node id. */
  slot: number;
  /** Whether {@link slot} is leased in Redis (not when Redis was away at start). */
  #slotLeased: boolean;
  readonly #cmd: BusScripts;
  readonly #sub: Redis;
  readonly #cfg: RedisBusConfig;
  readonly #logger: Logger;
  readonly #channel: string;
  /** Current node id; a fresh one after every reconnect. */
  #node: string;
  /** Every node id this process used, so its own echoes are ignored. */
  readonly #ownIds = new Set<string>();
  readonly #local = new LocalPresence();
  readonly #claims: BrowserClaims;
  readonly #leases: Leases;
  #handlers: BusHandlers | undefined;
  #up = false;
  #wasUp = false;
  #lastError = 'connecting';
  #closed = false;
  readonly #aliveTimer: NodeJS.Timeout;

  private constructor(cfg: RedisBusConfig, logger: Logger, node: string, slot: number, cmd: BusScripts, sub: Redis) {
    this.#cfg = cfg;
    this.#logger = logger;
    this.#channel = `${cfg.prefix}bus`;
    this.slot = slot < 0 ? randomBytes(2).readUInt16BE() % ID_SLOTS : slot;
    this.#slotLeased = slot >= 0;
    this.ids = new IdClock({ slots: ID_SLOTS, slot: this.slot });
    this.#node = node;
    this.#ownIds.add(node);
    this.#cmd = cmd;
    this.#sub = sub;
    const nodeId = (): string => this.#node;
    const up = (): boolean => this.#up;
    this.#claims = new BrowserClaims({ cmd, prefix: cfg.prefix, channel: this.#channel, logger, stats: this.stats, presence: this.#local, node: nodeId, up });
    this.#leases = new Leases(cmd, cfg.prefix, nodeId, up);
    for (const c of [cmd, sub]) {
      // ioredis emits an error per failed retry: remember it for /readyz, log the transitions only.
      c.on('error', (err: Error) => { this.#lastError = err.message || String(err); });
      c.on('close', () => this.#down());
      c.on('ready', () => this.#maybeUp());
    }
    sub.on('messageBuffer', (_channel: Buffer, message: Buffer) => this.#onMessage(message));
    this.#aliveTimer = setInterval(() => this.#refresh(), Math.max(100, Math.floor(cfg.nodeTtlMs / 3)));
    this.#aliveTimer.unref();
  }

  /**
   * Open both Redis connections and subscribe. Waits up to
   * `connectTimeoutMs` for Redis; when it is not there the node starts
   * anyway (local delivery works, `/readyz` says why) and keeps retrying.
   */
  static async connect(cfg: RedisBusConfig, logger: Logger): Promise<RedisBus> {
    const retryStrategy = (attempt: number): number => Math.min(50 * 2 ** Math.min(attempt, 10), cfg.reconnectMaxMs);
    const common: RedisOptions = { connectTimeout: cfg.connectTimeoutMs, retryStrategy, lazyConnect: true };
    // Commands fail fast while Redis is away (no offline queue, no retries): delivery never waits on Redis.
    const cmd = defineBusScripts(new Redis(cfg.url, { ...common, enableOfflineQueue: false, maxRetriesPerRequest: 0, commandTimeout: cfg.commandTimeoutMs }));
    const sub = new Redis(cfg.url, { ...common, autoResubscribe: true, maxRetriesPerRequest: null });
    for (const c of [cmd, sub]) c.on('error', () => undefined);
    const started = await Promise.allSettled([cmd.connect(), sub.connect()]);
    const node = newNodeId();
    let slot = -1;
    if (started.every((s) => s.status === 'fulfilled')) {
      try {
        await sub.subscribe(`${cfg.prefix}bus`);
        slot = await cmd.pgSlot(cfg.prefix, node, cfg.nodeTtlMs);
      } catch {
        slot = -1;
      }
    }
    if (slot < 0) {
      // A random slot until Redis answers; the first announcement then leases a real one.
      logger.warn({ url: redactUrl(cfg.url) }, 'bus: Redis not reachable at start; serving local clients, retrying in the background');
      if (sub.status !== 'ready') void sub.subscribe(`${cfg.prefix}bus`).catch(() => undefined);
    }
    return new RedisBus(cfg, logger, node, slot, cmd, sub);
  }

  get up(): boolean {
    return this.#up;
  }

  get presence(): PresenceObserver {
    return this;
  }

  start(handlers: BusHandlers): void {
    this.#handlers = handlers;
    this.#maybeUp();
  }

  health(): { ok: true } | { ok: false; reason: string } {
    if (this.#up) return { ok: true };
    return { ok: false, reason: `Redis unreachable at ${redactUrl(this.#cfg.url)} (${this.#lastError}): notifications do not cross nodes` };
  }

  // --- transport -------------------------------------------------------------

  publish(n: Notification): void {
    this.#publish(encodeNotification(this.#node, n));
  }

  publishExportStatus(running: boolean): void {
    this.#publish(encodeExportStatus(this.#node, running));
  }

  publishReceipt(r: ReceiptMessage): void {
    this.#publish(encodeReceipt(this.#node, r));
  }

  onceAcrossNodes(userId: number, browserUuid: string, origin: string, id: number, send: () => void): void {
    this.#claims.route(userId, browserUuid, origin, id, send);
  }

  getCursor(name: string): Promise<number | undefined> {
    return this.#leases.getCursor(name);
  }

  setCursor(name: string, value: number): void {
    this.#leases.setCursor(name, value);
  }

  lead(name: string, ttlMs: number): Promise<boolean> {
    return this.#leases.lead(name, ttlMs);
  }

  #publish(message: Buffer): void {
    if (!this.#up) {
      this.stats.undelivered++;
      return;
    }
    this.#cmd.publish(this.#channel, message).then(
      () => { this.stats.published++; },
      () => { this.stats.undelivered++; },
    );
  }

  #onMessage(message: Buffer): void {
    const handlers = this.#handlers;
    const m = decode(message);
    if (!handlers || m === undefined) return;
    if (m.kind === 'join' && m.node === this.#node) {
      // Our own join marker: notifications after it are the ones the other holders know we hold a browser for.
      this.#claims.onMarker(m.userId, m.browserUuid, { kind: 'own' });
      return;
    }
    if (this.#ownIds.has(m.node)) return;
    this.stats.received++;
    switch (m.kind) {
      case 'notification':
        this.ids.observe(m.n.id);
        handlers.notification(m.n, m.node);
        return;
      case 'export-status':
        handlers.exportStatus(m.running);
        return;
      case 'receipt':
        handlers.receipt(m.r, m.node);
        return;
      case 'join':
      case 'leave':
        this.#claims.onMarker(m.userId, m.browserUuid, { kind: m.kind, node: m.node });
        return;
      default:
        // A newer node's message kind: ignored, not fatal.
    }
  }

  // --- presence --------------------------------------------------------------

  #userKey(userId: number): string {
    return `${this.#cfg.prefix}u:${userId}`;
  }

  async registeredElsewhere(userId: number): Promise<boolean> {
    if (!this.#up) return false;
    try {
      const [, reg] = await this.#cmd.pgQuery(this.#userKey(userId), this.#cfg.prefix, this.#node);
      return reg === 1;
    } catch {
      return false;
    }
  }

  async connectionsElsewhere(userId: number): Promise<number> {
    if (!this.#up) return 0;
    try {
      const [others] = await this.#cmd.pgQuery(this.#userKey(userId), this.#cfg.prefix, this.#node);
      return others;
    } catch {
      return 0;
    }
  }

  // PresenceObserver: mirrored locally, written to Redis fire and forget; a write lost while Redis is away is redone by the re-announce.

  browserAdded(userId: number, browserUuid: string): void {
    this.#local.browserAdded(userId, browserUuid);
    if (this.#up) void this.#claims.announce(userId, browserUuid, this.#userKey(userId));
  }

  browserRemoved(userId: number, browserUuid: string): void {
    this.#local.browserRemoved(userId, browserUuid);
    this.#claims.forget(userId, browserUuid);
    if (this.#up) this.#cmd.pgBrowserGone(this.#userKey(userId), this.#cfg.prefix, this.#node, browserUuid, userId, this.#channel).catch(() => undefined);
  }

  countChanged(userId: number, count: number): void {
    this.#local.countChanged(userId, count);
    if (this.#up) this.#cmd.pgCount(this.#userKey(userId), this.#cfg.prefix, this.#node, count).catch(() => undefined);
  }

  registered(userId: number): void {
    this.#local.registered(userId);
    this.#writeRegistered(userId);
  }

  #writeRegistered(userId: number): void {
    if (this.#up) this.#cmd.hset(this.#userKey(userId), 'r', '1').catch(() => undefined);
  }

  // --- liveness --------------------------------------------------------------

  #maybeUp(): void {
    if (this.#up || this.#closed || !this.#handlers) return;
    if (this.#cmd.status !== 'ready' || this.#sub.status !== 'ready') return;
    void this.#announce();
  }

  #announcing = false;

  /** Join (again) under a fresh node id and write this node's whole state. */
  async #announce(): Promise<void> {
    if (this.#announcing) return;
    this.#announcing = true;
    const old = this.#node;
    const node = this.#wasUp ? newNodeId() : old;
    try {
      if (node !== old || !this.#slotLeased) {
        const slot = await this.#leases.slot(node, this.#cfg.nodeTtlMs);
        if (slot >= 0) {
          this.slot = slot;
          this.#slotLeased = true;
          this.ids.setSlot(slot);
        } else this.#logger.error({ slots: ID_SLOTS }, 'bus: every notification id slot is leased; ids of this node may collide with another node\'s');
      }
      await this.#cmd.set(`${this.#cfg.prefix}n:${node}`, '1', 'PX', this.#cfg.nodeTtlMs);
      // The old slot lease is left to expire (nodeTtlMs): deleting it could race with our new lease of the same slot.
      if (node !== old) await this.#cmd.del(`${this.#cfg.prefix}n:${old}`);
      this.#node = node;
      this.#ownIds.add(node);
      this.#up = true;
      // In slices, each answered before the next goes out: 20k users must not queue 40k scripts behind commandTimeoutMs.
      let slice: Promise<unknown>[] = [];
      for (const u of this.#local.snapshot()) {
        if (!this.#up || this.#node !== node) return;
        slice.push(this.#cmd.pgCount(this.#userKey(u.userId), this.#cfg.prefix, node, u.count));
        if (u.registered) this.#writeRegistered(u.userId);
        for (const b of u.browsers) slice.push(this.#claims.announce(u.userId, b, this.#userKey(u.userId)));
        if (slice.length >= ANNOUNCE_SLICE) {
          await Promise.allSettled(slice);
          slice = [];
        }
      }
      await Promise.allSettled(slice);
      if (this.#wasUp) this.#logger.info({ node }, 'bus: Redis is back; cross-node delivery resumed');
      this.#wasUp = true;
    } catch (err) {
      this.#lastError = (err as Error).message;
    } finally {
      this.#announcing = false;
      // Failed or cut short (Redis lost again, a command timed out): try again once both connections are ready.
      if (!this.#up && !this.#closed) setTimeout(() => this.#maybeUp(), 500).unref();
    }
  }

  #down(): void {
    if (!this.#up || this.#closed) return;
    this.#up = false;
    this.#logger.warn({ url: redactUrl(this.#cfg.url), err: this.#lastError }, 'bus: Redis lost; delivering to local clients only until it is back');
  }

  /** Keep the node key and slot lease alive; when either had expired (a long pause), our fields are gone: announce again. */
  #refresh(): void {
    if (!this.#up) return;
    this.#leases.refresh(this.slot, this.#cfg.nodeTtlMs).then((ok) => {
      if (!ok && this.#up) {
        this.#up = false;
        void this.#announce();
      }
    }, () => undefined);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    clearInterval(this.#aliveTimer);
    if (this.#up) {
      // Leave cleanly: other nodes stop counting our connections at once instead of after nodeTtlMs.
      await this.#cmd.del(`${this.#cfg.prefix}n:${this.#node}`, `${this.#cfg.prefix}slot:${this.slot}`).catch(() => undefined);
    }
    this.#closed = true;
    this.#up = false;
    this.#handlers = undefined;
    this.#sub.disconnect();
    await this.#cmd.quit().catch(() => this.#cmd.disconnect());
  }
}

/** The Redis URL without its password, for logs and `/readyz`. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString().replace(/\/$/, '');
  } catch {
    return 'the configured Redis URL';
  }
}
