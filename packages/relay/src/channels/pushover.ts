import { type Agent, request } from 'undici';
import { type Channel, type Delivery, type SendResult, DEFAULT_TIMEOUT_MS, bodyExcerpt, httpAgent, networkResult, parseRetryAfter } from './channel.js';

/** Pushover's message endpoint. */
export const PUSHOVER_URL = 'https://api.pushover.net/1/messages.json';
/** Pushover cuts nothing itself: longer messages are refused, so we cut (in characters). */
export const PUSHOVER_MAX_MESSAGE = 1024;
export const PUSHOVER_MAX_TITLE = 250;

/** The tags Pushover takes (a delivery's `tag` of another shape is not sent). */
const TAG = /^[A-Za-z0-9_-]{1,64}$/;

/** Settings of a {@link PushoverChannel}. */
export interface PushoverOptions {
  name: string;
  /** Application API token (30 characters). Never logged. */
  token: string;
  /** User or group key (30 characters). Never logged. */
  user: string;
  /** Priority when the delivery has none, -2..2. Default 0. */
  priority?: number;
  /** For priority 2: seconds between Pushover's re-alerts, at least 30. Default 60. */
  retrySec?: number;
  /** For priority 2: seconds Pushover keeps re-alerting, at most 10800. Default 3600. */
  expireSec?: number;
  /** Notification sound name. Default: the user's. */
  sound?: string;
  /** Endpoint; only tests change it. Default {@link PUSHOVER_URL}. */
  apiUrl?: string;
  /** PEM of extra CAs trusted besides Node's roots (a private CA). Default none. */
  ca?: string;
  /** Budget per request, in ms. Default 10000. */
  timeoutMs?: number;
  /** Requests in flight; Pushover asks for at most 2. Default 2. */
  concurrency?: number;
  /** Pushover asks for no retry sooner than 5 s after a 5xx or network error, in ms. Default 5000. */
  minRetryDelayMs?: number;
}

/**
 * Pushover (`POST /1/messages.json`, form-encoded `token`, `user`,
 * `message`, `title`, `priority`, `retry`, `expire`, `url`, `sound`).
 * Message cut to 1024 and title to 250 characters. A 4xx is never retried
 * (Pushover's `errors` array becomes the reason; 429 means the monthly
 * quota is spent); 5xx and network errors are retried no sooner than 5 s.
 * Pushover has no idempotency key: a retry after a lost answer can show twice.
 *
 * Emergency priority (2) re-alerts until someone acknowledges in the
 * Pushover app or `expireSec` passes. Such a message carries the
 * delivery's `tag` as its `tags`; a later delivery that `ends` the tag's
 * problem (RECOVERY, ACKNOWLEDGEMENT) first cancels those re-alerts
 * (`POST /1/receipts/cancel_by_tag/<tag>.json`, Pushover's receipts API)
 * and is itself sent at normal priority: there is nothing left to
 * acknowledge. A network error or 5xx of the cancel retries the whole
 * delivery (cancelling twice is harmless); a 4xx of it (no such tag) does
 * not stop the message.
 */
export class PushoverChannel implements Channel {
  readonly type = 'pushover';
  readonly name: string;
  readonly concurrency: number;
  readonly minRetryDelayMs: number;
  readonly #opts: PushoverOptions;
  readonly #url: string;
  readonly #agent: Agent;

  constructor(opts: PushoverOptions) {
    this.name = opts.name;
    this.#opts = opts;
    this.#url = opts.apiUrl ?? PUSHOVER_URL;
    this.concurrency = opts.concurrency ?? 2;
    this.minRetryDelayMs = opts.minRetryDelayMs ?? 5000;
    this.#agent = httpAgent(opts.timeoutMs ?? DEFAULT_TIMEOUT_MS, opts.ca);
  }

  /** The form body for one delivery, fields in the order of Pushover's documentation. */
  body(d: Delivery): string {
    const o = this.#opts;
    const wanted = Math.max(-2, Math.min(2, Math.trunc(d.priority ?? o.priority ?? 0)));
    // The end of a problem is news, not another emergency to acknowledge.
    const priority = d.ends === true && wanted === 2 ? 0 : wanted;
    const form = new URLSearchParams({ token: o.token, user: o.user, message: cut(d.message, PUSHOVER_MAX_MESSAGE) });
    if (d.title !== '') form.set('title', cut(d.title, PUSHOVER_MAX_TITLE));
    form.set('priority', String(priority));
    if (priority === 2) {
      // Emergency priority is refused without retry >= 30 and expire <= 10800.
      form.set('retry', String(Math.max(30, o.retrySec ?? 60)));
      form.set('expire', String(Math.min(10_800, o.expireSec ?? 3600)));
      if (d.tag !== undefined && TAG.test(d.tag)) form.set('tags', d.tag);
    }
    if (d.url !== undefined) form.set('url', d.url);
    if (o.sound !== undefined) form.set('sound', o.sound);
    return form.toString();
  }

  async send(d: Delivery): Promise<SendResult> {
    if (d.ends === true && d.tag !== undefined && TAG.test(d.tag) && this.#emergency(d)) {
      const cancelled = await this.#cancel(d.tag);
      if (cancelled !== undefined) return cancelled;
    }
    let res;
    try {
      res = await request(this.#url, {
        method: 'POST',
        dispatcher: this.#agent,
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: this.body(d),
      });
    } catch (err) {
      return networkResult(err);
    }
    const status = res.statusCode;
    if (status === 200) {
      await res.body.dump();
      return { kind: 'sent' };
    }
    const text = await bodyExcerpt(res.body, [this.#opts.token, this.#opts.user], 1000);
    if (status >= 400 && status < 500) {
      let errors: unknown;
      try {
        errors = (JSON.parse(text) as { errors?: unknown }).errors;
      } catch {
        errors = undefined;
      }
      const detail = Array.isArray(errors) ? errors.map(String).join('; ') : text.slice(0, 200);
      return { kind: 'failed', reason: `${status} ${detail}`.trim() };
    }
    const retryAfterMs = parseRetryAfter(res.headers['retry-after']);
    const reason = `${status} ${text.slice(0, 200)}`.trim();
    return retryAfterMs === undefined ? { kind: 'retry', reason } : { kind: 'retry', reason, retryAfterMs };
  }

  /** Whether this channel sends the tag's earlier messages at emergency priority (the gateway sets no per-delivery priority). */
  #emergency(d: Delivery): boolean {
    return this.#opts.priority === 2 || d.priority === 2;
  }

  /** Cancel the emergency re-alerts of `tag`; a retry result when that must be tried again, else undefined. */
  async #cancel(tag: string): Promise<SendResult | undefined> {
    let res;
    try {
      res = await request(new URL(`receipts/cancel_by_tag/${tag}.json`, this.#url), {
        method: 'POST',
        dispatcher: this.#agent,
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ token: this.#opts.token }).toString(),
      });
    } catch (err) {
      const r = networkResult(err);
      return r.kind === 'retry' ? { ...r, reason: `cancelling the emergency re-alerts: ${r.reason}` } : undefined;
    }
    const status = res.statusCode;
    if (status < 500) {
      await res.body.dump();
      return undefined;
    }
    const text = await bodyExcerpt(res.body, [this.#opts.token, this.#opts.user], 200);
    return { kind: 'retry', reason: `cancelling the emergency re-alerts: ${status} ${text}`.trim() };
  }

  async close(): Promise<void> {
    if (!this.#agent.closed) await this.#agent.close();
  }
}

/** The first `max` characters (code points, so a surrogate pair is never split). */
function cut(text: string, max: number): string {
  if (text.length <= max) return text;
  return Array.from(text).slice(0, max).join('');
}
