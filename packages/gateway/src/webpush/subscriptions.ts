import { createHash } from 'node:crypto';
import type { Logger } from 'pino';
import type { EndpointPolicy } from './endpoint-policy.js';
import { inc, type WebPushStats } from './stats.js';
import type { RecordStore } from './store.js';

/**
 * The browsers' push subscriptions (docs/web-push.md "Subscriptions"),
 * keyed by endpoint, one namespace per owner (`subs:user:7`,
 * `subs:contact:3`) so a notification reads only its recipient's. Bounded per
 * owner (the least recently used one goes), and a subscription that has not
 * had a successful push for `expireAfterMs` (since it was made, if never)
 * expires when its owner's list is next read.
 */

/** Who a subscription delivers to: `user:<id>` or `contact:<id>`. */
export type Owner = `user:${number}` | `contact:${number}`;

/** A stored subscription. */
export interface StoredSubscription {
  /** The push service URL (capability; not a secret, but never logged in full). */
  readonly endpoint: string;
  /** Browser's P-256 public key, base64url (65 bytes). */
  readonly p256dh: string;
  /** Browser's auth secret, base64url (16 bytes). */
  readonly auth: string;
  readonly owner: Owner;
  /** The device credential it was registered with; gone device → the subscription is dropped. */
  readonly deviceId?: string;
  readonly createdAt: number;
  /** Last push the push service accepted (201), ms. */
  lastPushAt?: number;
}

/** A browser's `PushSubscription.toJSON()` as posted; refused with a reason when malformed. */
export interface PushSubscriptionJson {
  endpoint: string;
  keys: { p256dh: string; auth: string };
}

/** Options of {@link Subscriptions}. */
export interface SubscriptionsOptions {
  store: RecordStore;
  policy: EndpointPolicy;
  stats: WebPushStats;
  logger: Logger;
  /** Most subscriptions per owner; one more evicts the least recently used. */
  maxPerOwner: number;
  /** A subscription without a successful push for this long expires, ms. */
  expireAfterMs: number;
}

/** Shape check of a posted subscription; the reason when refused. */
export function parseSubscription(body: unknown): PushSubscriptionJson | string {
  const b = body as { endpoint?: unknown; keys?: { p256dh?: unknown; auth?: unknown } } | null;
  if (b === null || typeof b !== 'object') return 'body must be a PushSubscription JSON object';
  if (typeof b.endpoint !== 'string' || b.endpoint.length > 2048) return 'endpoint must be a string of at most 2048 characters';
  const p256dh = b.keys?.p256dh;
  const auth = b.keys?.auth;
  if (typeof p256dh !== 'string' || !/^[A-Za-z0-9_-]+=*$/.test(p256dh)) return 'keys.p256dh must be base64url';
  if (typeof auth !== 'string' || !/^[A-Za-z0-9_-]+=*$/.test(auth)) return 'keys.auth must be base64url';
  const point = Buffer.from(p256dh, 'base64url');
  if (point.length !== 65 || point[0] !== 4) return 'keys.p256dh must be an uncompressed P-256 point (65 bytes)';
  if (Buffer.from(auth, 'base64url').length !== 16) return 'keys.auth must be 16 bytes';
  return { endpoint: b.endpoint, keys: { p256dh, auth } };
}

/** The record id of an endpoint. */
export function subscriptionId(endpoint: string): string {
  return createHash('sha256').update(endpoint).digest('base64url');
}

const nsOf = (owner: Owner): string => `subs:${owner}`;
/** How stale a subscription's `lastPushAt` may get before a successful push rewrites it, ms. */
export const TOUCH_EVERY_MS = 3_600_000;
/** Which owner holds an endpoint, so moving it to another user removes it from the first. */
const INDEX = 'subs-index';

export class Subscriptions {
  readonly #o: SubscriptionsOptions;

  constructor(opts: SubscriptionsOptions) {
    this.#o = opts;
  }

  /** Stores (or refreshes) a subscription for `owner`; the refusal reason when the endpoint is not allowed. */
  async add(owner: Owner, sub: PushSubscriptionJson, deviceId: string | undefined, now = Date.now()): Promise<{ ok: true; id: string } | { ok: false; reason: string }> {
    const { store, stats } = this.#o;
    const refusal = await this.#o.policy.checkResolved(sub.endpoint);
    if (refusal !== undefined) {
      inc(stats.subscriptions, 'refused');
      return { ok: false, reason: refusal };
    }
    const id = subscriptionId(sub.endpoint);
    const previousOwner = await store.get(INDEX, id);
    if (previousOwner !== undefined && previousOwner !== owner) await store.delete(`subs:${previousOwner}`, id);
    const existing = await this.get(owner, id);
    const list = existing === undefined ? await this.forOwner(owner, now) : [];
    if (list.length >= this.#o.maxPerOwner) {
      const lru = [...list].sort((a, b) => (a.lastPushAt ?? a.createdAt) - (b.lastPushAt ?? b.createdAt));
      for (const old of lru.slice(0, list.length - this.#o.maxPerOwner + 1)) {
        await this.remove(owner, old.endpoint);
        inc(stats.subscriptions, 'evicted');
        this.#o.logger.info({ owner, subscription: subscriptionId(old.endpoint).slice(0, 12) }, 'web push subscription evicted: per-user bound (webPush.maxSubscriptionsPerUser)');
      }
    }
    const record: StoredSubscription = {
      endpoint: sub.endpoint, p256dh: sub.keys.p256dh, auth: sub.keys.auth, owner,
      ...(deviceId !== undefined ? { deviceId } : {}),
      createdAt: existing?.createdAt ?? now,
      ...(existing?.lastPushAt !== undefined ? { lastPushAt: existing.lastPushAt } : {}),
    };
    await store.put(nsOf(owner), id, JSON.stringify(record));
    await store.put(INDEX, id, owner);
    inc(stats.subscriptions, existing === undefined ? 'added' : 'updated');
    return { ok: true, id };
  }

  /** Removes the subscription of this endpoint from `owner`; true when it was there. */
  async remove(owner: Owner, endpoint: string): Promise<boolean> {
    return this.removeId(owner, subscriptionId(endpoint), 'removed');
  }

  /** Removes by record id (the push service said 404/410, the device was revoked, it expired). */
  async removeId(owner: Owner, id: string, why: string): Promise<boolean> {
    const gone = await this.#o.store.delete(nsOf(owner), id);
    if (gone) {
      await this.#o.store.delete(INDEX, id);
      inc(this.#o.stats.subscriptions, why);
    }
    return gone;
  }

  async get(owner: Owner, id: string): Promise<StoredSubscription | undefined> {
    const text = await this.#o.store.get(nsOf(owner), id);
    return text === undefined ? undefined : (JSON.parse(text) as StoredSubscription);
  }

  /** The owner's live subscriptions; expired ones are removed on the way (logged, counted). */
  async forOwner(owner: Owner, now = Date.now()): Promise<StoredSubscription[]> {
    const out: StoredSubscription[] = [];
    for (const [id, text] of await this.#o.store.list(nsOf(owner))) {
      const s = JSON.parse(text) as StoredSubscription;
      if (now - (s.lastPushAt ?? s.createdAt) > this.#o.expireAfterMs) {
        if (await this.removeId(owner, id, 'expired')) {
          this.#o.logger.info({ owner, subscription: id.slice(0, 12) }, 'web push subscription expired: no successful push for webPush.expireAfterMs');
        }
        continue;
      }
      out.push(s);
    }
    return out;
  }

  /**
   * Records a successful push (not fsynced: losing it in a crash only makes
   * the subscription look older). Written at most once per
   * {@link TOUCH_EVERY_MS} per subscription: the time only decides expiry
   * (days), and a write per push was a third of the store's cost.
   */
  async touch(sub: StoredSubscription, now = Date.now()): Promise<void> {
    if (sub.lastPushAt !== undefined && now - sub.lastPushAt < TOUCH_EVERY_MS) return;
    sub.lastPushAt = now;
    await this.#o.store.put(nsOf(sub.owner), subscriptionId(sub.endpoint), JSON.stringify(sub), false);
  }

  /** Removes every subscription `deviceId` registered for `owner` (revocation); how many. */
  async removeDevice(owner: Owner, deviceId: string): Promise<number> {
    let n = 0;
    for (const [id, text] of await this.#o.store.list(nsOf(owner))) {
      if ((JSON.parse(text) as StoredSubscription).deviceId === deviceId && (await this.removeId(owner, id, 'removed'))) n++;
    }
    return n;
  }
}
