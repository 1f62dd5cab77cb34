import { rootCertificates } from 'node:tls';
import { Agent } from 'undici';

/**
 * The one interface every notification channel implements (pushover,
 * mattermost, signal, email, webhook, …), and the HTTP-status
 * classification the HTTP channels share.
 */

/** One notification for one named channel, as the outbox journals it. */
export interface Delivery {
  /**
   * Idempotency key, unique per (notification, channel). Channels that
   * support it pass it on (webhook `Idempotency-Key`, email `Message-ID`)
   * so a retry after a crash is not shown twice.
   */
  id: string;
  /** Name of the configured channel that delivers it. */
  channel: string;
  /** Short title (subject line). */
  title: string;
  /** Notification text. */
  message: string;
  /** Optional link (to the host/service page). */
  url?: string;
  /** Urgency -2..2 (Pushover's scale; 0 normal, 2 emergency). Default 0. */
  priority?: number;
  /** Channel-specific fields journaled with the delivery (mobile push: the push body's fields). Never secrets. */
  data?: Record<string, string | number>;
  /** When the outbox accepted it, ms since the epoch. */
  createdAt: number;
  /** After this (ms since the epoch) it is dead-lettered as expired instead of tried. */
  expiresAt: number;
  /** The gateway's notification id this delivery belongs to, for its trail (journaled; not sent). */
  notificationId?: number;
  /**
   * The object the notification is about, as a tag of 1 to 64 letters,
   * digits, `-` or `_` (the same for every notification of one host or
   * service): a channel that can withdraw an earlier message finds it by
   * this (Pushover: the `tags` of an emergency message).
   */
  tag?: string;
  /**
   * This delivery ends the problem `tag` names (a RECOVERY or
   * ACKNOWLEDGEMENT): a channel that can, withdraws what earlier
   * deliveries of the tag still do (Pushover: cancels the emergency
   * re-alerts) before it sends this one.
   */
  ends?: boolean;
}

/** What one attempt of {@link Channel.send} came to. */
export type SendResult =
  | { kind: 'sent' }
  /** Worth trying again (network error, 429, 5xx); `retryAfterMs` from the remote's `Retry-After`. */
  | { kind: 'retry'; reason: string; retryAfterMs?: number }
  /** Will not succeed by repeating it (4xx, bad recipient); dead-lettered at once. */
  | { kind: 'failed'; reason: string };

/** A configured, named channel. Implementations never throw from `send`. */
export interface Channel {
  /** The configured name (`pushover_urgent`). */
  readonly name: string;
  /** The type (`pushover`, `webhook`, …). */
  readonly type: string;
  /** Attempts in flight at once for this channel; the outbox enforces it. */
  readonly concurrency: number;
  /** No retry sooner than this, in ms, whatever backoff or Retry-After say (Pushover asks for 5000). */
  readonly minRetryDelayMs: number;
  /** One attempt. Resolves, never rejects; credentials never appear in `reason`. */
  send(delivery: Delivery): Promise<SendResult>;
  /** Releases connections/processes. Idempotent. */
  close(): Promise<void>;
}

/** Request budget shared by the HTTP channels, in ms. */
export const DEFAULT_TIMEOUT_MS = 10_000;

/**
 * Classifies an HTTP answer the way every HTTP channel wants it: 2xx sent;
 * 408, 429 and 5xx retried (honouring `Retry-After`); any other status is
 * a refusal that repeating will not fix.
 */
export function classifyStatus(status: number, retryAfter: string | string[] | undefined, detail: string): SendResult {
  if (status >= 200 && status < 300) return { kind: 'sent' };
  const reason = detail === '' ? String(status) : `${status} ${detail}`;
  if (status === 408 || status === 429 || status >= 500) {
    const retryAfterMs = parseRetryAfter(retryAfter);
    return retryAfterMs === undefined ? { kind: 'retry', reason } : { kind: 'retry', reason, retryAfterMs };
  }
  return { kind: 'failed', reason };
}

/** `Retry-After` (RFC 9110 §10.2.3): delay-seconds or an HTTP-date, in ms from now; undefined when absent or unparsable. */
export function parseRetryAfter(header: string | string[] | undefined, now = Date.now()): number | undefined {
  const value = Array.isArray(header) ? header[0] : header;
  if (value === undefined) return undefined;
  const trimmed = value.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed) * 1000;
  const at = Date.parse(trimmed);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

const TLS_CODES = /CERT|SELF_SIGNED|UNABLE_TO_VERIFY|ERR_TLS|ERR_SSL|HOSTNAME_MISMATCH/;

/**
 * A request that failed without an answer: retried (refused, reset,
 * timeout may heal), except an untrusted or mismatched TLS certificate,
 * which needs an operator (`ca`/`caFile`) and is refused at once.
 */
export function networkResult(err: unknown): SendResult {
  const code = (err as { code?: unknown } | null)?.code;
  const reason = networkReason(err);
  return typeof code === 'string' && TLS_CODES.test(code) ? { kind: 'failed', reason } : { kind: 'retry', reason };
}

/** A network failure as a retry reason: `ECONNREFUSED connect ECONNREFUSED 127.0.0.1:9`. */
export function networkReason(err: unknown): string {
  const e = err as { code?: unknown; message?: unknown } | null;
  const code = typeof e?.code === 'string' ? `${e.code} ` : '';
  const message = typeof e?.message === 'string' ? e.message : String(err);
  return `${code}${message}`;
}

/** At most `max` bytes of a response body as one line, for a reason string; secrets in `redact` replaced. */
export async function bodyExcerpt(body: AsyncIterable<Buffer>, redact: readonly string[] = [], max = 200): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of body) {
      chunks.push(chunk);
      size += chunk.length;
      if (size >= max * 4) break; // leaving the loop destroys the rest of the body
    }
  } catch {
    // A body that breaks off still leaves the status; the excerpt is best effort.
  }
  let text = Buffer.concat(chunks).toString('utf8');
  for (const secret of redact) if (secret !== '') text = text.split(secret).join('[redacted]');
  text = text.replace(/\s+/g, ' ').trim();
  return text.length > max ? `${text.slice(0, max)}…` : text;
}

/**
 * The keep-alive connection pool of one HTTP channel: TLS verified against
 * Node's roots plus `ca` (PEM) when given; `timeoutMs` bounds connect,
 * response headers and body each; at most `connections` sockets per origin
 * when given (default unbounded).
 */
export function httpAgent(timeoutMs: number, ca?: string, connections?: number): Agent {
  return new Agent({
    // Without `connections` undici opens a new socket whenever every open one
    // is busy, and one is still busy in the tick its response completed: even
    // back-to-back requests can end up on several sockets.
    ...(connections !== undefined ? { connections } : {}),
    keepAliveTimeout: 30_000,
    headersTimeout: timeoutMs,
    bodyTimeout: timeoutMs,
    // Setting `ca` replaces Node's bundled roots; keep them and add ours.
    connect: { timeout: timeoutMs, rejectUnauthorized: true, ...(ca !== undefined ? { ca: [...rootCertificates, ca] } : {}) },
  });
}
