import { randomBytes } from 'node:crypto';
import { Redis, type RedisOptions } from 'ioredis';
import type { Logger } from 'pino';
import type { Config } from '../../config.js';
import type { GatewayContext } from '../../context.js';
import type { PresenceObserver } from '../../transport/ws/registry.js';
import { applyExportStatus, createBusStats, type Bus, type BusTopic, type EventHandler } from '../bus.js';

/**
 * The Redis bus (docs/scale-out.md): N gateway processes or machines on one
 * Redis behave as one gateway. What is shared, and how:
 *
 * - Messages: one pub/sub channel `<prefix>bus`. A message is one ASCII
 *   header line and a body: `u <node> <userId> <id>\n<frame bytes>` (a user
 *   notification, the exact frame the publisher serialised), `x <node> <0|1>\n`
 *   (export status), `s <node> <userId>\n<browserUuid>` (a browser now has
 *   tabs on several nodes; `l`: no longer on that node), `e <node> <topic>
 *   <key> <id>\n<frame>` (an Icinga event, polled by one node for all). The
 *   publisher delivers locally at once and ignores its own echo.
 * - Presence: one hash per user, `<prefix>u:<userId>`, fields scoped by node
 *   id: `c:<node>` (open connections there), `b:<node>:<browserUuid>` (the
 *   browser has a tab there) and `r` (registered). A node proves it is alive
 *   with `<prefix>n:<node>` (PX `nodeTtlMs`, refreshed every third of it); the
 *   Lua scripts below ignore, and delete, fields of nodes whose key expired,
 *   so a node that died without cleanup drops out within `nodeTtlMs`.
 * - Once per browser across nodes: a browser whose tabs all sit on one node
 *   costs nothing extra. The node that takes a `/message` always writes to
 *   its own browsers. When a node adds a browser that other live nodes also
 *   hold, the script that records it returns those nodes and publishes `s`
 *   in the same atomic step (`l` when it drops the browser), so every
 *   node knows, in channel order, which nodes hold the browser when each
 *   notification passes: a notification from a holder is skipped (the
 *   holder wrote it), one from before our own `s` is skipped (the others
 *   covered it), and one from any other node is claimed by every holder
 *   with `SET <prefix>claim:<id>:<browserUuid> <node> NX PX 30000`: one sends.
 *   While Redis has not yet answered our announcement, that browser's
 *   channel events wait in a queue.
 * - Leases (export-status poll, Icinga poller): `SET <prefix>lease:<name> <node> NX PX ttl`,
 *   renewed by its holder; the Icinga poller's read position is `<prefix>cursor:icinga`.
 * - Notification ids: `counter * 1024 + slot`. The slot is leased like the
 *   node key (`<prefix>slot:<n>` = node id, same TTL, refreshed together), so
 *   no two live nodes share one however often nodes restart; receivers
 *   advance their counter past every id they see.
 *
 * Redis lost: local delivery continues, publishes are counted as
 * undelivered, `/readyz` says `bus: ...`. Back: ioredis reconnects and
 * resubscribes, and the node re-announces its state under a fresh node id
 * (its old fields may be stale: connections closed meanwhile).
 */

/** Ids are `counter * ID_SLOTS + slot` (replay.ts), so 1024 nodes issue ids without colliding. */
export const ID_SLOTS = 1024;
/** Re-announcing after a reconnect sends this many scripts, then waits for their answers. */
const ANNOUNCE_SLICE = 500;
/** How long a per-notification claim is kept. */
const CLAIM_TTL_MS = 30_000;

/** Field helpers shared by the scripts: liveness of a node (cached per call), and dead-field cleanup. */
const LUA_LIVE = `
local prefix = ARGV[1]
local self = ARGV[2]
local cache = {}
local function live(node)
  local v = cache[node]
  if v == nil then
    v = redis.call('EXISTS', prefix .. 'n:' .. node) == 1
    cache[node] = v
  end
  return v
end
-- Sums c:<node> of live nodes other than self; deletes every field of dead nodes.
local function scan(key, browser)
  local others, own, holders, r = 0, 0, {}, false
  local all = redis.call('HGETALL', key)
  for i = 1, #all, 2 do
    local f, v = all[i], all[i + 1]
    if f == 'r' then
      r = v == '1'
    else
      local node = string.match(f, '^[cb]:([^:]+)')
      if node == nil or not live(node) then
        redis.call('HDEL', key, f)
      elseif string.sub(f, 1, 1) == 'c' then
        if node == self then own = tonumber(v) else others = others + tonumber(v) end
      elseif browser ~= nil and node ~= self and string.sub(f, #node + 4) == browser then
        holders[#holders + 1] = node
      end
    end
  end
  return others, own, holders, r
end
`;

/** ARGV prefix, self → {connections on other nodes, registered (0/1)}. */
const LUA_QUERY = `${LUA_LIVE}
local others, own, _, r = scan(KEYS[1], nil)
local reg = 0
if r and others + own > 0 then reg = 1 end
return {others, reg}
`;

/** ARGV prefix, self, count: this node's connection count of the user; clears `r` when the user has none left anywhere, or is new everywhere. */
const LUA_COUNT = `${LUA_LIVE}
local others, own = scan(KEYS[1], nil)
local n = tonumber(ARGV[3])
if others == 0 and (n == 0 or own == 0) then redis.call('HDEL', KEYS[1], 'r') end
if n == 0 then redis.call('HDEL', KEYS[1], 'c:' .. self) else redis.call('HSET', KEYS[1], 'c:' .. self, n) end
return 0
`;

/**
 * ARGV prefix, self, browser, userId, channel: the browser has a tab here.
 * Returns the other live nodes holding it; when there are any, publishes
 * `s` in the same atomic step, so every node orders it exactly among the
 * notifications on the channel.
 */
const LUA_BROWSER = `${LUA_LIVE}
local browser = ARGV[3]
redis.call('HSET', KEYS[1], 'b:' .. self .. ':' .. browser, '1')
local _, _, holders = scan(KEYS[1], browser)
if #holders > 0 then redis.call('PUBLISH', ARGV[5], 's ' .. self .. ' ' .. ARGV[4] .. '\\n' .. browser) end
return holders
`;

/** ARGV prefix, self, browser, userId, channel: the browser's last tab here closed; `l` published when other nodes hold it. */
const LUA_BROWSER_GONE = `${LUA_LIVE}
local browser = ARGV[3]
redis.call('HDEL', KEYS[1], 'b:' .. self .. ':' .. browser)
local _, _, holders = scan(KEYS[1], browser)
if #holders > 0 then redis.call('PUBLISH', ARGV[5], 'l ' .. self .. ' ' .. ARGV[4] .. '\\n' .. browser) end
return #holders
`;

/** ARGV prefix, node, ttl: lease a free id slot (searching from a rotating start); -1 when all are taken. */
const LUA_SLOT = `
local start = redis.call('INCR', ARGV[1] .. 'slot')
for i = 0, ${1024 - 1} do
  local s = (start + i) % 1024
  if redis.call('SET', ARGV[1] .. 'slot:' .. s, ARGV[2], 'NX', 'PX', ARGV[3]) then return s end
end
return -1
`;

/** ARGV prefix, node, slot, ttl: 1 when the node key and the slot lease were both still ours and are refreshed. */
const LUA_REFRESH = `
local slotKey = ARGV[1] .. 'slot:' .. ARGV[3]
if redis.call('GET', slotKey) ~= ARGV[2] then return 0 end
if not redis.call('SET', ARGV[1] .. 'n:' .. ARGV[2], '1', 'PX', ARGV[4], 'XX') then return 0 end
redis.call('PEXPIRE', slotKey, ARGV[4])
return 1
`;

/** KEYS lease; ARGV node, ttl: 1 when this node holds (or just took) the lease. */
const LUA_LEASE = `
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return 1 end
return 0
`;

type BusScripts = Redis & {
  pgQuery(key: string, prefix: string, self: string): Promise<[number, number]>;
  pgCount(key: string, prefix: string, self: string, count: number): Promise<number>;
  pgBrowser(key: string, prefix: string, self: string, browser: string, userId: number, channel: string): Promise<string[]>;
  pgBrowserGone(key: string, prefix: string, self: string, browser: string, userId: number, channel: string): Promise<number>;
  pgLease(key: string, node: string, ttlMs: number): Promise<number>;
  pgSlot(prefix: string, node: string, ttlMs: number): Promise<number>;
  pgRefresh(prefix: string, node: string, slot: number, ttlMs: number): Promise<number>;
};

type RedisBusConfig = Extract<Config['bus'], { type: 'redis' }>;

/** A channel event about a browser that other nodes may hold too. */
type ShareEvent =
  | { kind: 'frame'; origin: string; id: number; frame: Buffer }
  | { kind: 'join' | 'leave'; node: string }
  | { kind: 'own' };

/** What this node knows, in channel order, about a browser that other nodes may hold too. */
interface Share {
  /** Other nodes holding the browser. */
  holders: Set<string>;
  /** True from our announcement (when others held the browser) until our own `s` marker comes by. */
  awaitMarker: boolean;
  /** Set while our announcement is in flight: events wait here until Redis answered. */
  queue: ShareEvent[] | undefined;
}

function newNodeId(): string {
  return randomBytes(8).toString('hex');
}

/** The Redis pub/sub bus; create with {@link RedisBus.connect}. */
export class RedisBus implements Bus, PresenceObserver {
  readonly kind = 'redis' as const;
  readonly stats = createBusStats();
  /** This node's replay id slot (0..ID_SLOTS-1); leased again under every fresh node id. */
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
  #ctx: GatewayContext | undefined;
  /** Browsers of this node whose tabs may sit on other nodes too (absent: only here; the usual case). */
  readonly #shares = new Map<number, Map<string, Share>>();
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
    this.#node = node;
    this.#ownIds.add(node);
    this.#cmd = cmd;
    this.#sub = sub;
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
    const cmd = new Redis(cfg.url, { ...common, enableOfflineQueue: false, maxRetriesPerRequest: 0, commandTimeout: cfg.commandTimeoutMs }) as BusScripts;
    const sub = new Redis(cfg.url, { ...common, autoResubscribe: true, maxRetriesPerRequest: null });
    cmd.defineCommand('pgQuery', { numberOfKeys: 1, lua: LUA_QUERY });
    cmd.defineCommand('pgCount', { numberOfKeys: 1, lua: LUA_COUNT });
    cmd.defineCommand('pgBrowser', { numberOfKeys: 1, lua: LUA_BROWSER });
    cmd.defineCommand('pgBrowserGone', { numberOfKeys: 1, lua: LUA_BROWSER_GONE });
    cmd.defineCommand('pgLease', { numberOfKeys: 1, lua: LUA_LEASE });
    cmd.defineCommand('pgSlot', { numberOfKeys: 0, lua: LUA_SLOT });
    cmd.defineCommand('pgRefresh', { numberOfKeys: 0, lua: LUA_REFRESH });
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

  attach(ctx: GatewayContext): void {
    this.#ctx = ctx;
    ctx.registry.observer = this;
    this.#maybeUp();
  }

  health(): { ok: true } | { ok: false; reason: string } {
    if (this.#up) return { ok: true };
    return { ok: false, reason: `Redis unreachable at ${redactUrl(this.#cfg.url)} (${this.#lastError}): notifications do not cross nodes` };
  }

  // --- delivery --------------------------------------------------------------

  publishUser(userId: number, id: number, frame: Buffer): void {
    this.#deliver(userId, id, frame);
    this.#publish(Buffer.concat([Buffer.from(`u ${this.#node} ${userId} ${id}\n`, 'latin1'), frame]));
  }

  publishExportStatus(running: boolean): void {
    if (this.#ctx) applyExportStatus(this.#ctx, running);
    this.#publish(Buffer.from(`x ${this.#node} ${running ? 1 : 0}\n`, 'latin1'));
  }

  readonly #handlers = new Map<BusTopic, EventHandler>();

  publishEvent(topic: BusTopic, key: number, id: number, frame: Buffer): void {
    this.#handlers.get(topic)?.(key, id, frame);
    this.#publish(Buffer.concat([Buffer.from(`e ${this.#node} ${topic} ${key} ${id}\n`, 'latin1'), frame]));
  }

  onEvent(topic: BusTopic, handler: EventHandler): void {
    this.#handlers.set(topic, handler);
  }

  async getCursor(name: string): Promise<number | undefined> {
    if (!this.#up) return undefined;
    try {
      const v = await this.#cmd.get(`${this.#cfg.prefix}cursor:${name}`);
      return v === null ? undefined : Number(v);
    } catch {
      return undefined;
    }
  }

  setCursor(name: string, value: number): void {
    if (this.#up) this.#cmd.set(`${this.#cfg.prefix}cursor:${name}`, String(value)).catch(() => undefined);
  }

  /**
   * Deliver on this node. The posting node (`origin` undefined) writes to
   * every local browser: it always does, so other holders of a browser skip
   * notifications whose origin holds it. Frames from other nodes go to a
   * shared browser by {@link #decide}.
   */
  #deliver(userId: number, id: number, frame: Buffer, origin?: string): void {
    const ctx = this.#ctx;
    if (!ctx) return;
    ctx.replay.record(userId, id, frame);
    const shares = origin === undefined ? undefined : this.#shares.get(userId);
    for (const conn of ctx.registry.toUserOnePerBrowser(userId)) {
      const share = shares?.get(conn.browserUuid);
      if (share === undefined) conn.sendFrame(frame);
      else if (share.queue) share.queue.push({ kind: 'frame', origin: origin!, id, frame });
      else this.#decide(userId, conn.browserUuid, share, origin!, id, frame);
    }
    ctx.sse?.publish(userId, frame);
  }

  /**
   * A notification from `origin` for a browser that other nodes may hold
   * too, in channel order: before our own \`s\` it predates our joining (the
   * others covered it); when its origin holds the browser, the origin
   * delivered it; else every holder claims it and one sends.
   */
  #decide(userId: number, browserUuid: string, share: Share, origin: string, id: number, frame: Buffer): void {
    if (this.#logger.isLevelEnabled('debug')) {
      const decision = share.awaitMarker ? 'skip: before our join' : share.holders.has(origin) ? 'skip: origin holds it' : share.holders.size === 0 ? 'send' : 'claim';
      this.#logger.debug({ user: userId, browser: browserUuid, id, origin, holders: [...share.holders], decision }, 'bus: shared browser');
    }
    if (share.awaitMarker || share.holders.has(origin)) return;
    if (share.holders.size === 0) this.#ctx?.registry.bestTab(userId, browserUuid)?.sendFrame(frame);
    else void this.#claimAndSend(userId, browserUuid, id, frame);
  }

  /** Apply one channel event about a shared browser (in channel order). */
  #apply(userId: number, browserUuid: string, share: Share, ev: ShareEvent): void {
    switch (ev.kind) {
      case 'frame': this.#decide(userId, browserUuid, share, ev.origin, ev.id, ev.frame); break;
      case 'join': share.holders.add(ev.node); break;
      case 'leave': share.holders.delete(ev.node); break;
      case 'own': share.awaitMarker = false; break;
    }
  }

  /** Forget a share once nothing about it is left to know (only this node holds the browser). */
  #settle(userId: number, browserUuid: string, share: Share): void {
    if (share.queue || share.awaitMarker || share.holders.size > 0) return;
    const m = this.#shares.get(userId);
    if (m?.get(browserUuid) !== share) return;
    m.delete(browserUuid);
    if (m.size === 0) this.#shares.delete(userId);
  }

  async #claimAndSend(userId: number, browserUuid: string, id: number, frame: Buffer): Promise<void> {
    let outcome: 'won' | 'lost' | 'failed';
    if (!this.#up) outcome = 'failed';
    else {
      try {
        const ok = await this.#cmd.set(`${this.#cfg.prefix}claim:${id}:${browserUuid}`, this.#node, 'PX', CLAIM_TTL_MS, 'NX');
        outcome = ok === 'OK' ? 'won' : 'lost';
      } catch {
        outcome = 'failed';
      }
    }
    this.stats.claims[outcome] = (this.stats.claims[outcome] ?? 0) + 1;
    // Without Redis no other node can see this notification either: deliver (twice beats never).
    if (outcome === 'lost') return;
    this.#ctx?.registry.bestTab(userId, browserUuid)?.sendFrame(frame);
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
    const ctx = this.#ctx;
    const nl = message.indexOf(10);
    if (!ctx || nl === -1) return;
    const header = message.toString('latin1', 0, nl).split(' ');
    const from = header[1] ?? '';
    if (header[0] === 's' && from === this.#node) {
      // Our own join marker: frames after it are the ones the other holders know we hold a browser for.
      this.#onShareEvent(Number(header[2]), message.toString('utf8', nl + 1), { kind: 'own' });
      return;
    }
    if (this.#ownIds.has(from)) return;
    this.stats.received++;
    switch (header[0]) {
      case 'u': {
        const userId = Number(header[2]);
        const id = Number(header[3]);
        ctx.replay.observe(id);
        this.#deliver(userId, id, message.subarray(nl + 1), from);
        return;
      }
      case 'x':
        applyExportStatus(ctx, header[2] === '1');
        return;
      case 'e':
        this.#handlers.get(header[2] as BusTopic)?.(Number(header[3]), Number(header[4]), message.subarray(nl + 1));
        return;
      case 's':
        this.#onShareEvent(Number(header[2]), message.toString('utf8', nl + 1), { kind: 'join', node: from });
        return;
      case 'l':
        this.#onShareEvent(Number(header[2]), message.toString('utf8', nl + 1), { kind: 'leave', node: from });
        return;
      default:
        // A newer node's message kind: ignored, not fatal.
    }
  }

  /** A join, leave or our own marker for a browser: applied now, or queued behind our announcement in flight. */
  #onShareEvent(userId: number, browserUuid: string, ev: ShareEvent): void {
    if (this.#logger.isLevelEnabled('debug')) this.#logger.debug({ user: userId, browser: browserUuid, node: this.#node, ev }, 'bus: share event');
    let share = this.#shares.get(userId)?.get(browserUuid);
    if (!share) {
      // Only a join about a browser we hold matters; leaves and stale markers of unknown shares do not.
      if (ev.kind !== 'join' || !this.#ctx?.registry.bestTab(userId, browserUuid)) return;
      share = this.#share(userId, browserUuid, undefined);
    }
    if (share.queue) share.queue.push(ev);
    else {
      this.#apply(userId, browserUuid, share, ev);
      this.#settle(userId, browserUuid, share);
    }
  }

  /** A fresh share state for a browser (replacing any), pending with a queue or settled without. */
  #share(userId: number, browserUuid: string, queue: ShareEvent[] | undefined): Share {
    let m = this.#shares.get(userId);
    if (!m) this.#shares.set(userId, (m = new Map()));
    const share: Share = { holders: new Set(), awaitMarker: false, queue };
    m.set(browserUuid, share);
    return share;
  }

  // --- shared state ----------------------------------------------------------

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

  async lead(name: string, ttlMs: number): Promise<boolean> {
    if (!this.#up) return true;
    try {
      return (await this.#cmd.pgLease(`${this.#cfg.prefix}lease:${name}`, this.#node, ttlMs)) === 1;
    } catch {
      return true;
    }
  }

  // PresenceObserver: fire and forget; a write lost while Redis is away is redone by the re-announce.

  browserAdded(userId: number, browserUuid: string): void {
    if (this.#up) void this.#announceBrowser(userId, browserUuid);
  }

  browserRemoved(userId: number, browserUuid: string): void {
    const m = this.#shares.get(userId);
    if (m?.delete(browserUuid) && m.size === 0) this.#shares.delete(userId);
    if (this.#up) this.#cmd.pgBrowserGone(this.#userKey(userId), this.#cfg.prefix, this.#node, browserUuid, userId, this.#channel).catch(() => undefined);
  }

  countChanged(userId: number, count: number): void {
    if (this.#up) this.#cmd.pgCount(this.#userKey(userId), this.#cfg.prefix, this.#node, count).catch(() => undefined);
  }

  registered(userId: number): void {
    if (this.#up) this.#cmd.hset(this.#userKey(userId), 'r', '1').catch(() => undefined);
  }

  /**
   * Tell the cluster this node holds the browser. Until Redis answers with
   * the other holders, channel events for the browser wait in a queue; then
   * they are applied in order, starting from the answer (and, when there
   * are other holders, waiting for our own marker).
   */
  #announceBrowser(userId: number, browserUuid: string): Promise<void> {
    const share = this.#share(userId, browserUuid, []);
    const settle = (holders: string[]): void => {
      if (this.#logger.isLevelEnabled('debug')) this.#logger.debug({ user: userId, browser: browserUuid, node: this.#node, holders, queued: share.queue?.length }, 'bus: browser announced');
      if (this.#shares.get(userId)?.get(browserUuid) !== share) return;
      const queue = share.queue ?? [];
      share.queue = undefined;
      share.holders = new Set(holders);
      share.awaitMarker = holders.length > 0;
      for (const ev of queue) this.#apply(userId, browserUuid, share, ev);
      this.#settle(userId, browserUuid, share);
    };
    // A failed announcement (Redis lost): alone until the re-announcement after reconnecting.
    return this.#cmd.pgBrowser(this.#userKey(userId), this.#cfg.prefix, this.#node, browserUuid, userId, this.#channel).then(settle, () => settle([]));
  }

  // --- liveness --------------------------------------------------------------

  #maybeUp(): void {
    if (this.#up || this.#closed || !this.#ctx) return;
    if (this.#cmd.status !== 'ready' || this.#sub.status !== 'ready') return;
    void this.#announce();
  }

  #announcing = false;

  /** Join (again) under a fresh node id and write this node's whole state. */
  async #announce(): Promise<void> {
    if (this.#announcing) return;
    this.#announcing = true;
    const ctx = this.#ctx!;
    const old = this.#node;
    const node = this.#wasUp ? newNodeId() : old;
    try {
      if (node !== old || !this.#slotLeased) {
        const slot = await this.#cmd.pgSlot(this.#cfg.prefix, node, this.#cfg.nodeTtlMs);
        if (slot >= 0) {
          this.slot = slot;
          this.#slotLeased = true;
          ctx.replay.setSlot(slot);
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
      for (const userId of [...ctx.registry.users()]) {
        if (!this.#up || this.#node !== node) return;
        slice.push(this.#cmd.pgCount(this.#userKey(userId), this.#cfg.prefix, node, ctx.registry.countUser(userId)));
        if (ctx.registry.isRegistered(userId)) this.registered(userId);
        for (const b of ctx.registry.browsersOf(userId)) slice.push(this.#announceBrowser(userId, b));
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
    this.#cmd.pgRefresh(this.#cfg.prefix, this.#node, this.slot, this.#cfg.nodeTtlMs).then((ok) => {
      if (ok !== 1 && this.#up) {
        this.#up = false;
        void this.#announce();
      }
    }, () => undefined);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    clearInterval(this.#aliveTimer);
    const ctx = this.#ctx;
    if (this.#up && ctx) {
      // Leave cleanly: other nodes stop counting our connections at once instead of after nodeTtlMs.
      await this.#cmd.del(`${this.#cfg.prefix}n:${this.#node}`, `${this.#cfg.prefix}slot:${this.slot}`).catch(() => undefined);
    }
    this.#closed = true;
    this.#up = false;
    if (ctx) ctx.registry.observer = undefined;
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
