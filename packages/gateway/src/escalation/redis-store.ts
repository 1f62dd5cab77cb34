import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { Config } from '../config.js';
import type { Notification, Recipient } from '../pipeline/notification.js';
import type { Ladder, LadderStep, StepState } from './ladder.js';
import type { CancelledStep, Claim, StepStore } from './store.js';

/**
 * Ladders in Redis, shared by every node of the Redis bus
 * (docs/escalation.md "Several nodes"). Every pending step is visible to
 * every node; each ladder has exactly one owner, the node that started or
 * took it over, and a node owns its ladders while its lease
 * `<prefix>esc:lease:<node>` lives (PX `leaseMs`, renewed every third of it).
 * Every node looks for ladders of nodes whose lease lapsed and takes them
 * (`adopt`), so the ladders of a killed node climb on within about
 * `leaseMs` plus a third. Each change is one Lua script (atomic):
 *
 * - `<prefix>esc:l:<ladder>`: hash, `d` (the ladder as JSON), `own` (node),
 *   `n` (steps), `st:<i>` (what became of step i: `running` while it is
 *   delivered, `run`, `cancelled:<why>`);
 * - `<prefix>esc:o:<objectKey>`, `<prefix>esc:i:<notification id>` (also
 *   reminder ids), `<prefix>esc:by:<node>`: sets of ladder keys;
 *   `<prefix>esc:owners`: nodes owning ladders.
 *
 * Ladder keys expire a day after their last step is due, so nothing is left
 * behind by a node that vanished with Redis.
 */

const CLEANUP = `
local function cleanup(prefix, key)
  local h = prefix .. 'l:' .. key
  local raw = redis.call('HGET', h, 'd')
  local own = redis.call('HGET', h, 'own')
  if raw then
    local d = cjson.decode(raw)
    redis.call('SREM', prefix .. 'o:' .. d.n.objectKey, key)
  end
  if own then redis.call('SREM', prefix .. 'by:' .. own, key) end
  redis.call('DEL', h)
end
local function pending(h, n)
  local out = {}
  for i = 0, n - 1 do
    if redis.call('HEXISTS', h, 'st:' .. i) == 0 then out[#out + 1] = i end
  end
  return out
end
`;

/** ARGV: prefix, node, ladder key, JSON, objectKey, notification id, steps, ttl ms. 1 added, 0 already climbing. */
const ADD = `
local prefix, me, key = ARGV[1], ARGV[2], ARGV[3]
local h = prefix .. 'l:' .. key
if redis.call('EXISTS', h) == 1 then return 0 end
redis.call('HSET', h, 'd', ARGV[4], 'own', me, 'n', ARGV[7])
redis.call('PEXPIRE', h, ARGV[8])
for _, k in ipairs({ prefix .. 'o:' .. ARGV[5], prefix .. 'i:' .. ARGV[6], prefix .. 'by:' .. me }) do
  redis.call('SADD', k, key)
  redis.call('PEXPIRE', k, ARGV[8])
end
redis.call('SADD', prefix .. 'owners', me)
return 1
`;

/** ARGV: prefix, node, ladder key, step. Marks the step `running` (cancellations leave it alone; a takeover runs it again). */
const CLAIM = `
local h = ARGV[1] .. 'l:' .. ARGV[3]
if redis.call('HGET', h, 'own') ~= ARGV[2] then return 'gone' end
local f = 'st:' .. ARGV[4]
local v = redis.call('HGET', h, f)
if v and v ~= 'running' then return 'skip' end
redis.call('HSET', h, f, 'running')
return 'run'
`;

/** ARGV: prefix, node, ladder key, step, reminder id, ttl ms. */
const RAN = `${CLEANUP}
local prefix, key = ARGV[1], ARGV[3]
local h = prefix .. 'l:' .. key
if redis.call('EXISTS', h) == 0 then return 0 end
redis.call('HSET', h, 'st:' .. ARGV[4], 'run')
redis.call('SADD', prefix .. 'i:' .. ARGV[5], key)
redis.call('PEXPIRE', prefix .. 'i:' .. ARGV[5], ARGV[6])
if #pending(h, tonumber(redis.call('HGET', h, 'n'))) == 0 then cleanup(prefix, key) end
return 1
`;

/** ARGV: prefix, objectKey. Returns [json, pending steps as JSON, ...]. */
const END = `${CLEANUP}
local prefix = ARGV[1]
local set = prefix .. 'o:' .. ARGV[2]
local out = {}
for _, key in ipairs(redis.call('SMEMBERS', set)) do
  local h = prefix .. 'l:' .. key
  local raw = redis.call('HGET', h, 'd')
  if raw then
    out[#out + 1] = raw
    out[#out + 1] = cjson.encode(pending(h, tonumber(redis.call('HGET', h, 'n'))))
  end
  cleanup(prefix, key)
end
redis.call('DEL', set)
return out
`;

/** ARGV: prefix, notification id, kind, user id or ''. Returns [json, cancelled steps as JSON, ...]. */
const UNLESS = `${CLEANUP}
local prefix, kind, user = ARGV[1], ARGV[3], ARGV[4]
local out = {}
for _, key in ipairs(redis.call('SMEMBERS', prefix .. 'i:' .. ARGV[2])) do
  local h = prefix .. 'l:' .. key
  local raw = redis.call('HGET', h, 'd')
  if raw then
    local d = cjson.decode(raw)
    if user == '' or (d.to.kind == 'user' and tostring(d.to.userId) == user) then
      local hit = {}
      for i, step in ipairs(d.s) do
        local f = 'st:' .. (i - 1)
        if redis.call('HEXISTS', h, f) == 0 then
          for _, u in ipairs(step.unless) do
            if u == kind then
              redis.call('HSET', h, f, 'cancelled:' .. kind)
              hit[#hit + 1] = i - 1
              break
            end
          end
        end
      end
      if #hit > 0 then
        out[#out + 1] = raw
        out[#out + 1] = cjson.encode(hit)
      end
      if #pending(h, #d.s) == 0 then cleanup(prefix, key) end
    end
  end
end
return out
`;

/** ARGV: prefix, node, most ladders. Returns [json, states as JSON, ...] of the ladders taken. */
const ADOPT = `
local prefix, me, max = ARGV[1], ARGV[2], tonumber(ARGV[3])
local out, taken = {}, 0
for _, node in ipairs(redis.call('SMEMBERS', prefix .. 'owners')) do
  if node ~= me and redis.call('EXISTS', prefix .. 'lease:' .. node) == 0 then
    local by = prefix .. 'by:' .. node
    while taken < max do
      local key = redis.call('SPOP', by)
      if not key then break end
      local h = prefix .. 'l:' .. key
      local raw = redis.call('HGET', h, 'd')
      if raw then
        redis.call('HSET', h, 'own', me)
        redis.call('SADD', prefix .. 'by:' .. me, key)
        local n = tonumber(redis.call('HGET', h, 'n'))
        local st = {}
        for i = 0, n - 1 do
          -- A step its dead owner was delivering runs again here (at least once).
          local v = redis.call('HGET', h, 'st:' .. i)
          if not v or v == 'running' then v = '' end
          st[#st + 1] = v
        end
        out[#out + 1] = raw
        out[#out + 1] = cjson.encode(st)
        taken = taken + 1
      end
    end
    if redis.call('SCARD', by) == 0 then redis.call('SREM', prefix .. 'owners', node) end
  end
end
if taken > 0 then redis.call('SADD', prefix .. 'owners', me) end
return out
`;

interface Scripts {
  escAdd(...args: string[]): Promise<number>;
  escClaim(...args: string[]): Promise<Claim>;
  escRan(...args: string[]): Promise<number>;
  escEnd(...args: string[]): Promise<string[]>;
  escUnless(...args: string[]): Promise<string[]>;
  escAdopt(...args: string[]): Promise<string[]>;
}

/** A ladder as stored in `d`. */
interface Stored {
  k: string;
  n: Notification;
  to: Recipient;
  p: string;
  s: LadderStep[];
}

/** Options of {@link RedisStepStore.connect}. */
export interface RedisStepStoreOptions {
  bus: Extract<Config['bus'], { type: 'redis' }>;
  /** Ownership lease of this node's ladders, ms. */
  leaseMs: number;
  logger: Logger;
  /** Most ladders taken over per look. Default 1000. */
  adoptBatch?: number;
}

const DAY_MS = 86_400_000;

/** The Redis {@link StepStore}; connect with {@link RedisStepStore.connect}. */
export class RedisStepStore implements StepStore {
  /** This store's node id (fresh per process). */
  readonly node = randomBytes(8).toString('hex');
  readonly #redis: Redis & Scripts;
  readonly #prefix: string;
  readonly #leaseMs: number;
  readonly #batch: number;
  readonly #log: Logger;
  readonly #timer: NodeJS.Timeout;
  #closed = false;

  private constructor(redis: Redis & Scripts, opts: RedisStepStoreOptions) {
    this.#redis = redis;
    this.#prefix = `${opts.bus.prefix}esc:`;
    this.#leaseMs = opts.leaseMs;
    this.#batch = opts.adoptBatch ?? 1000;
    this.#log = opts.logger.child({ component: 'escalation-redis' });
    this.#timer = setInterval(() => this.#renew(), Math.max(100, Math.floor(opts.leaseMs / 3)));
    this.#timer.unref();
  }

  /** Connect (waiting up to the bus's `connectTimeoutMs`) and take this node's lease; a Redis that is away is retried, and each call fails until it is back. */
  static async connect(opts: RedisStepStoreOptions): Promise<RedisStepStore> {
    const redis = new Redis(opts.bus.url, {
      lazyConnect: true, connectTimeout: opts.bus.connectTimeoutMs, commandTimeout: opts.bus.commandTimeoutMs, maxRetriesPerRequest: 1,
      retryStrategy: (attempt: number) => Math.min(50 * 2 ** Math.min(attempt, 10), opts.bus.reconnectMaxMs),
    }) as Redis & Scripts;
    redis.on('error', () => undefined);
    for (const [name, lua] of Object.entries({ escAdd: ADD, escClaim: CLAIM, escRan: RAN, escEnd: END, escUnless: UNLESS, escAdopt: ADOPT })) {
      redis.defineCommand(name, { numberOfKeys: 0, lua });
    }
    const store = new RedisStepStore(redis, opts);
    try {
      await redis.connect();
      store.#renew();
    } catch (err) {
      store.#log.warn({ err }, 'escalation: Redis not reachable at start; ladders wait for it');
    }
    return store;
  }

  #renew(): void {
    if (this.#closed) return;
    this.#redis.set(`${this.#prefix}lease:${this.node}`, '1', 'PX', this.#leaseMs).catch((err: unknown) => {
      this.#log.warn({ err }, 'escalation: cannot renew the ownership lease');
    });
  }

  start(): Promise<Ladder[]> {
    return this.adopt();
  }

  async add(ladders: readonly Ladder[]): Promise<Ladder[]> {
    const answers = await Promise.all(ladders.map((l) => {
      const stored: Stored = { k: l.key, n: l.n, to: l.to, p: l.policy, s: [...l.steps] };
      const ttl = Math.max(...l.steps.map((s) => s.due)) - Date.now() + DAY_MS;
      return this.#redis.escAdd(this.#prefix, this.node, l.key, JSON.stringify(stored), l.n.objectKey, String(l.n.id), String(l.steps.length), String(Math.max(ttl, DAY_MS)));
    }));
    return ladders.filter((_, i) => answers[i] === 1);
  }

  claim(key: string, step: number): Promise<Claim> {
    return this.#redis.escClaim(this.#prefix, this.node, key, String(step));
  }

  async ran(ladder: Ladder, step: number, reminderId: number): Promise<void> {
    await this.#redis.escRan(this.#prefix, this.node, ladder.key, String(step), String(reminderId), String(DAY_MS));
  }

  async endObject(objectKey: string): Promise<CancelledStep[]> {
    return this.#cancelled(await this.#redis.escEnd(this.#prefix, objectKey));
  }

  async cancelUnless(id: number, kind: 'shown' | 'clicked', userId?: number): Promise<CancelledStep[]> {
    return this.#cancelled(await this.#redis.escUnless(this.#prefix, String(id), kind, userId === undefined ? '' : String(userId)));
  }

  async objectOf(id: number): Promise<string | undefined> {
    const key = await this.#redis.srandmember(`${this.#prefix}i:${id}`);
    if (key === null) return undefined;
    const raw = await this.#redis.hget(`${this.#prefix}l:${key}`, 'd');
    return raw === null ? undefined : (JSON.parse(raw) as Stored).n.objectKey;
  }

  async adopt(): Promise<Ladder[]> {
    const flat = await this.#redis.escAdopt(this.#prefix, this.node, String(this.#batch));
    const out: Ladder[] = [];
    for (let i = 0; i < flat.length; i += 2) {
      const states = (JSON.parse(flat[i + 1]!) as string[]).map((s) => (s === '' ? undefined : s) as StepState);
      const l = ladderOf(flat[i]!, states);
      out.push(l);
    }
    return out;
  }

  #cancelled(flat: string[]): CancelledStep[] {
    const out: CancelledStep[] = [];
    for (let i = 0; i < flat.length; i += 2) {
      const l = ladderOf(flat[i]!, undefined);
      // cjson encodes an empty table as {}: no steps.
      const steps = JSON.parse(flat[i + 1]!) as number[] | Record<string, never>;
      for (const step of Array.isArray(steps) ? steps : []) out.push({ ladder: l, step });
    }
    return out;
  }

  /** Stop renewing, give the lease up (another node takes the ladders over) and disconnect. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#timer);
    // A node that stops cleanly gives its ladders up at once (the others need not wait for the lease to lapse).
    await this.#redis.del(`${this.#prefix}lease:${this.node}`).catch(() => undefined);
    await this.#redis.quit().catch(() => this.#redis.disconnect());
  }
}

function ladderOf(raw: string, states: StepState[] | undefined): Ladder {
  const d = JSON.parse(raw) as Stored;
  return { key: d.k, n: d.n, to: d.to, policy: d.p, steps: d.s, state: states ?? d.s.map(() => undefined) };
}
