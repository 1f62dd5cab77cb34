import { type Agent, request } from 'undici';
import { type Channel, type Delivery, type SendResult, DEFAULT_TIMEOUT_MS, bodyExcerpt, classifyStatus, httpAgent, networkResult } from './channel.js';

/** Settings of a {@link WebhookChannel}. */
export interface WebhookOptions {
  /** Channel name. */
  name: string;
  /** http(s) URL the JSON is POSTed to. */
  url: string;
  /** Extra request headers (`Authorization`, …); their values never appear in logs or reasons. Default none. */
  headers?: Record<string, string>;
  /** PEM of extra CAs trusted besides Node's roots (a private CA). Default none. */
  ca?: string;
  /** Budget for connect, response headers and body, in ms. Default 10000. */
  timeoutMs?: number;
  /** Requests in flight at once. Default 4. */
  concurrency?: number;
  /** No retry sooner than this, in ms. Default 0. */
  minRetryDelayMs?: number;
}

/**
 * Generic JSON webhook: `POST <url>` with
 * `{"id","title","message","url","priority","created_at"}` (`url` only when
 * set, `created_at` ISO 8601) and the header `Idempotency-Key: <delivery id>`
 * so a receiver can drop the repeat of an attempt whose answer was lost.
 * 2xx is sent; 408/429/5xx and network errors are retried; other statuses
 * are refused.
 */
export class WebhookChannel implements Channel {
  readonly type = 'webhook';
  readonly name: string;
  readonly concurrency: number;
  readonly minRetryDelayMs: number;
  readonly #url: string;
  readonly #headers: Record<string, string>;
  readonly #secrets: string[];
  readonly #agent: Agent;

  constructor(opts: WebhookOptions) {
    this.name = opts.name;
    this.#url = opts.url;
    this.concurrency = opts.concurrency ?? 4;
    this.minRetryDelayMs = opts.minRetryDelayMs ?? 0;
    this.#headers = { ...(opts.headers ?? {}) };
    this.#secrets = Object.values(this.#headers);
    this.#agent = httpAgent(opts.timeoutMs ?? DEFAULT_TIMEOUT_MS, opts.ca);
  }

  async send(d: Delivery): Promise<SendResult> {
    const body = JSON.stringify({
      id: d.id,
      title: d.title,
      message: d.message,
      ...(d.url !== undefined ? { url: d.url } : {}),
      priority: d.priority ?? 0,
      created_at: new Date(d.createdAt).toISOString(),
    });
    try {
      const res = await request(this.#url, {
        method: 'POST',
        dispatcher: this.#agent,
        headers: { ...this.#headers, 'content-type': 'application/json', 'idempotency-key': d.id },
        body,
      });
      const ok = res.statusCode >= 200 && res.statusCode < 300;
      const detail = ok ? (await res.body.dump(), '') : await bodyExcerpt(res.body, this.#secrets);
      return classifyStatus(res.statusCode, res.headers['retry-after'], detail);
    } catch (err) {
      return networkResult(err);
    }
  }

  async close(): Promise<void> {
    if (!this.#agent.closed) await this.#agent.close();
  }
}
