import { type Agent, request } from 'undici';
import { type Channel, type Delivery, type SendResult, DEFAULT_TIMEOUT_MS, bodyExcerpt, classifyStatus, httpAgent, networkResult } from './channel.js';

/** Settings of a {@link MattermostChannel}. */
export interface MattermostOptions {
  name: string;
  /** Incoming webhook URL, `https://<host>/hooks/<token>`; the token part is a credential and never logged. */
  url: string;
  /** Channel override (`town-square`, `@user`); only if the webhook allows it. */
  channel?: string;
  /** Display name override. */
  username?: string;
  /** Avatar override. */
  iconUrl?: string;
  /** PEM of extra CAs trusted besides Node's roots (a private CA). Default none. */
  ca?: string;
  /** Budget per request, in ms. Default 10000. */
  timeoutMs?: number;
  /** Requests in flight. Default 4. */
  concurrency?: number;
  /** No retry sooner than this, in ms. Default 0. */
  minRetryDelayMs?: number;
}

/**
 * Mattermost incoming webhook: `POST <url>` with JSON
 * `{"text","channel","username","icon_url"}` (optional keys only when
 * configured); success is 200 with body `ok`. `text` is the title in bold,
 * the message, and the link on its own line. No idempotency key exists:
 * a retry after a lost answer can post twice.
 */
export class MattermostChannel implements Channel {
  readonly type = 'mattermost';
  readonly name: string;
  readonly concurrency: number;
  readonly minRetryDelayMs: number;
  readonly #opts: MattermostOptions;
  readonly #agent: Agent;

  constructor(opts: MattermostOptions) {
    this.name = opts.name;
    this.#opts = opts;
    this.concurrency = opts.concurrency ?? 4;
    this.minRetryDelayMs = opts.minRetryDelayMs ?? 0;
    this.#agent = httpAgent(opts.timeoutMs ?? DEFAULT_TIMEOUT_MS, opts.ca);
  }

  /** The JSON body for one delivery. */
  body(d: Delivery): string {
    const o = this.#opts;
    let text = d.title === '' ? d.message : `**${d.title}**\n${d.message}`;
    if (d.url !== undefined) text += `\n${d.url}`;
    return JSON.stringify({
      text,
      ...(o.channel !== undefined ? { channel: o.channel } : {}),
      ...(o.username !== undefined ? { username: o.username } : {}),
      ...(o.iconUrl !== undefined ? { icon_url: o.iconUrl } : {}),
    });
  }

  async send(d: Delivery): Promise<SendResult> {
    let res;
    try {
      res = await request(this.#opts.url, {
        method: 'POST',
        dispatcher: this.#agent,
        headers: { 'content-type': 'application/json' },
        body: this.body(d),
      });
    } catch (err) {
      return networkResult(err);
    }
    const text = await bodyExcerpt(res.body, [this.#opts.url]);
    if (res.statusCode === 200) {
      return text === 'ok' ? { kind: 'sent' } : { kind: 'failed', reason: `200 without "ok": ${text}` };
    }
    return classifyStatus(res.statusCode, res.headers['retry-after'], text);
  }

  async close(): Promise<void> {
    if (!this.#agent.closed) await this.#agent.close();
  }
}
