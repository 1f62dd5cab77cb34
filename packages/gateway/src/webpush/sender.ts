import { createSecureContext, rootCertificates } from 'node:tls';
import type { Logger } from 'pino';
import { Agent, request } from 'undici';
import webPush from 'web-push';
import { networkReason, parseRetryAfter, type Channel, type Delivery, type SendResult } from '@pushgate/relay';
import type { Devices } from './devices.js';
import type { EndpointPolicy } from './endpoint-policy.js';
import { inc, type WebPushStats } from './stats.js';
import type { Owner, StoredSubscription, Subscriptions } from './subscriptions.js';
import type { VapidKeys } from './vapid.js';

/**
 * The outbox channel `web-push` (docs/web-push.md "Replies"): one attempt
 * of one push to one subscription. The subscription is read at every
 * attempt (its keys are never journaled; a deleted or revoked one is not
 * sent to). The body is encrypted aes128gcm (RFC 8291) by `web-push`; the
 * VAPID JWT (RFC 8292) is signed once per push-service origin and reused
 * for {@link JWT_REUSE_MS} (an ES256 signature per push would double the CPU
 * per push); the request goes out through undici so that every reply is
 * ours to classify:
 *
 * - 2xx: sent; the subscription's last successful push is kept.
 * - 404, 410: the subscription is gone; deleted.
 * - 413: the payload was too large, a bug in pushgate (the plaintext is cut
 *   to 3993 bytes); counted as `too-large`, not retried.
 * - 429, 5xx: retried through the outbox, honouring `Retry-After`.
 * - 400, 403: a configuration error (VAPID subject or key refused); logged,
 *   the subscription is kept.
 */

/** How long one signed VAPID JWT is reused per origin, ms (it is valid for {@link JWT_LIFETIME_S}). */
export const JWT_REUSE_MS = 3_600_000;
/** `exp` of the JWT, seconds ahead (RFC 8292 §2: at most 24 h). */
export const JWT_LIFETIME_S = 12 * 3600;

/** The channel name (reserved among the named channels). */
export const WEB_PUSH_CHANNEL = 'web-push';

/** Options of {@link WebPushChannel}. */
export interface WebPushChannelOptions {
  keys: VapidKeys;
  /** `webPush.subject`: `mailto:` or `https:`. */
  subject: string;
  subscriptions: Subscriptions;
  devices: Devices;
  policy: EndpointPolicy;
  stats: WebPushStats;
  logger: Logger;
  /** `webPush.ttlSeconds`: the push's lifetime from acceptance. */
  ttlSeconds: number;
  timeoutMs: number;
  concurrency: number;
  /** Extra trusted CA (PEM), `webPush.caFile`: a self-hosted push service. */
  ca?: string;
}

/** The journaled part of one push (no keys, no secrets). */
export interface WebPushData extends Record<string, string | number> {
  owner: Owner;
  /** Subscription record id (subscriptions.ts `subscriptionId`). */
  sub: string;
  urgency: string;
  topic: string;
  /** The plaintext JSON (docs/protocol/web-push.md). */
  payload: string;
}

export class WebPushChannel implements Channel {
  readonly name = WEB_PUSH_CHANNEL;
  readonly type = 'web-push';
  readonly concurrency: number;
  readonly minRetryDelayMs = 0;
  readonly #o: WebPushChannelOptions;
  readonly #agent: Agent;
  readonly #log: Logger;
  /** Per push-service origin: the `Authorization` header and until when it is reused. */
  readonly #jwts = new Map<string, { header: string; until: number }>();

  constructor(opts: WebPushChannelOptions) {
    this.#o = opts;
    this.concurrency = opts.concurrency;
    this.#log = opts.logger.child({ component: 'web-push' });
    this.#agent = new Agent({
      keepAliveTimeout: 30_000,
      headersTimeout: opts.timeoutMs,
      bodyTimeout: opts.timeoutMs,
      connect: {
        timeout: opts.timeoutMs,
        rejectUnauthorized: true,
        // The address actually dialled is checked (DNS rebinding), endpoint-policy.ts.
        lookup: opts.policy.lookup,
        // One secure context for every connection: parsing Node's roots plus `ca` per TLS connection cost ~7 % of a push (bench web-push).
        ...(opts.ca !== undefined ? { secureContext: createSecureContext({ ca: [...rootCertificates, opts.ca] }) } : {}),
      },
    });
  }

  /** The VAPID `Authorization` header for an origin, signed at most once per {@link JWT_REUSE_MS}. */
  authorization(origin: string, now = Date.now()): string {
    const cached = this.#jwts.get(origin);
    if (cached !== undefined && cached.until > now) return cached.header;
    const { keys, subject } = this.#o;
    const exp = Math.floor(now / 1000) + JWT_LIFETIME_S;
    const headers = webPush.getVapidHeaders(origin, subject, keys.publicKey, keys.privateKey, 'aes128gcm', exp);
    const header = headers.Authorization;
    // Bounded: one entry per push-service origin; forget all if a forged flood of origins ever appeared.
    if (this.#jwts.size >= 1000) this.#jwts.clear();
    this.#jwts.set(origin, { header, until: now + JWT_REUSE_MS });
    return header;
  }

  async send(delivery: Delivery): Promise<SendResult> {
    const d = delivery.data as WebPushData | undefined;
    const { stats } = this.#o;
    if (d === undefined || typeof d.sub !== 'string') return { kind: 'failed', reason: 'not a web push delivery' };
    let sub: StoredSubscription | undefined;
    try {
      sub = await this.#o.subscriptions.get(d.owner, d.sub);
      if (sub !== undefined && sub.deviceId !== undefined && (await this.#o.devices.get(sub.deviceId)) === undefined) {
        await this.#o.subscriptions.removeId(d.owner, d.sub, 'removed');
        inc(stats.pushes, 'device-revoked');
        return { kind: 'failed', reason: 'device revoked' };
      }
    } catch (err) {
      return { kind: 'retry', reason: `subscription store: ${(err as Error).message}` };
    }
    if (sub === undefined) {
      inc(stats.pushes, 'no-subscription');
      return { kind: 'failed', reason: 'subscription gone' };
    }
    const refusal = this.#o.policy.check(sub.endpoint);
    if (refusal !== undefined) {
      inc(stats.pushes, 'private-address');
      return { kind: 'failed', reason: refusal };
    }
    const ttl = Math.max(0, this.#o.ttlSeconds - Math.floor((Date.now() - delivery.createdAt) / 1000));
    const url = new URL(sub.endpoint);
    let body: Buffer;
    let authorization: string;
    try {
      body = webPush.encrypt(sub.p256dh, sub.auth, d.payload, 'aes128gcm').cipherText;
      authorization = this.authorization(url.origin);
    } catch (err) {
      inc(stats.pushes, 'config-error');
      return { kind: 'failed', reason: `cannot encrypt or sign: ${(err as Error).message}` };
    }
    let status: number;
    let retryAfter: string | string[] | undefined;
    try {
      const res = await request(url, {
        method: 'POST',
        dispatcher: this.#agent,
        headers: {
          TTL: String(ttl),
          Urgency: d.urgency,
          Topic: d.topic,
          'Content-Encoding': 'aes128gcm',
          'Content-Type': 'application/octet-stream',
          Authorization: authorization,
        },
        body,
      });
      status = res.statusCode;
      retryAfter = res.headers['retry-after'];
      await res.body.dump();
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? (err as { cause?: NodeJS.ErrnoException }).cause?.code;
      if (code === 'EWEBPUSHPRIVATE') {
        inc(stats.pushes, 'private-address');
        this.#log.warn({ owner: d.owner, host: url.host }, 'web push refused: the push service host resolves to a non-public address');
        return { kind: 'failed', reason: networkReason(err) };
      }
      inc(stats.pushes, 'network');
      const tls = typeof code === 'string' && /CERT|SELF_SIGNED|UNABLE_TO_VERIFY|ERR_TLS|ERR_SSL|HOSTNAME_MISMATCH/.test(code);
      return tls ? { kind: 'failed', reason: networkReason(err) } : { kind: 'retry', reason: networkReason(err) };
    }
    return this.#classify(status, retryAfter, sub, d, url.host);
  }

  async #classify(status: number, retryAfter: string | string[] | undefined, sub: StoredSubscription, d: WebPushData, host: string): Promise<SendResult> {
    const { stats, subscriptions } = this.#o;
    if (status >= 200 && status < 300) {
      inc(stats.pushes, 'sent');
      await subscriptions.touch(sub).catch((err: unknown) => this.#log.warn({ err }, 'web push: last push time not stored'));
      return { kind: 'sent' };
    }
    if (status === 404 || status === 410) {
      inc(stats.pushes, 'gone');
      await subscriptions.removeId(d.owner, d.sub, 'removed').catch(() => undefined);
      this.#log.info({ owner: d.owner, host, status }, 'web push subscription gone: deleted');
      return { kind: 'failed', reason: `${status} subscription gone (deleted)` };
    }
    if (status === 413) {
      inc(stats.pushes, 'too-large');
      this.#log.error({ owner: d.owner, host, bytes: Buffer.byteLength(d.payload) }, 'web push payload too large (413): a pushgate bug, the plaintext should be at most 3993 bytes');
      return { kind: 'failed', reason: '413 payload too large' };
    }
    if (status === 429 || status >= 500) {
      inc(stats.pushes, status === 429 ? 'rate-limited' : 'server-error');
      const retryAfterMs = parseRetryAfter(retryAfter);
      return retryAfterMs === undefined ? { kind: 'retry', reason: String(status) } : { kind: 'retry', reason: String(status), retryAfterMs };
    }
    if (status === 400 || status === 403) {
      inc(stats.pushes, 'config-error');
      this.#log.error({ owner: d.owner, host, status }, 'web push refused by the push service: check webPush.subject and the VAPID key (pushgate vapid); subscription kept');
      return { kind: 'failed', reason: `${status} refused by the push service (configuration)` };
    }
    inc(stats.pushes, 'refused');
    return { kind: 'failed', reason: String(status) };
  }

  async close(): Promise<void> {
    await this.#agent.close();
  }
}
