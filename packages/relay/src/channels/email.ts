import { createHash } from 'node:crypto';
import type { Channel, Delivery, SendResult } from './channel.js';
import { DEFAULT_TIMEOUT_MS } from './channel.js';

type Transport = ReturnType<(typeof import('nodemailer'))['createTransport']>;
type TransportOptions = Parameters<(typeof import('nodemailer'))['createTransport']>[0];

/** Settings of an {@link EmailChannel}. */
export interface EmailOptions {
  name: string;
  /** SMTP server host name. */
  host: string;
  /** SMTP port. Default 587. */
  port?: number;
  /**
   * `starttls`: plain connect, then STARTTLS, which must succeed (port 587).
   * `implicit`: TLS from the first byte (port 465). `none`: no TLS at all,
   * only for a relay on the same host. Default `implicit` on port 465,
   * `starttls` otherwise.
   */
  tls?: 'starttls' | 'implicit' | 'none';
  /** PEM of CAs to trust instead of Node's bundled roots (a private mail relay). Default Node's roots. */
  ca?: string;
  /** SMTP AUTH credentials; the password is never logged. Default: no AUTH. */
  auth?: { user: string; pass: string };
  /** Envelope and header sender (`pushgate@example.com` or `"Monitoring" <m@example.com>`). */
  from: string;
  /** Recipients; at least one. */
  to: string[];
  /** Budget for connect, greeting and each socket wait, in ms. Default 10000. */
  timeoutMs?: number;
  /** Parallel SMTP connections (and deliveries in flight). Default 2. */
  concurrency?: number;
  /** No retry sooner than this, in ms. Default 0. */
  minRetryDelayMs?: number;
}

/**
 * Email over SMTP (nodemailer, pooled connections). Subject is the title,
 * the text body the message and link. `Message-ID` is derived from the
 * delivery id, so a mail repeated after a crash is recognisable as the same
 * message (clients that de-duplicate by Message-ID show it once).
 * SMTP 5xx, authentication and TLS failures are not retried; 4xx and
 * network errors are. nodemailer is loaded with the first mail, so a
 * process that opens the relay for mobile push only does not carry it.
 */
export class EmailChannel implements Channel {
  readonly type = 'email';
  readonly name: string;
  readonly concurrency: number;
  readonly minRetryDelayMs: number;
  readonly #opts: EmailOptions;
  readonly #transportOptions: TransportOptions;
  #transport: Promise<Transport> | undefined;
  #closed = false;

  constructor(opts: EmailOptions) {
    this.name = opts.name;
    this.#opts = opts;
    this.concurrency = opts.concurrency ?? 2;
    this.minRetryDelayMs = opts.minRetryDelayMs ?? 0;
    const port = opts.port ?? 587;
    const mode = opts.tls ?? (port === 465 ? 'implicit' : 'starttls');
    const timeout = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.#transportOptions = {
      pool: true,
      maxConnections: this.concurrency,
      host: opts.host,
      port,
      secure: mode === 'implicit',
      requireTLS: mode === 'starttls',
      ignoreTLS: mode === 'none',
      ...(opts.auth !== undefined ? { auth: { user: opts.auth.user, pass: opts.auth.pass } } : {}),
      tls: { rejectUnauthorized: true, ...(opts.ca !== undefined ? { ca: opts.ca } : {}) },
      connectionTimeout: timeout,
      greetingTimeout: timeout,
      socketTimeout: timeout,
    };
  }

  async send(d: Delivery): Promise<SendResult> {
    const text = d.url === undefined ? d.message : `${d.message}\n\n${d.url}`;
    try {
      this.#transport ??= import('nodemailer').then(({ createTransport }) => createTransport(this.#transportOptions));
      await (await this.#transport).sendMail({
        from: this.#opts.from,
        to: this.#opts.to,
        subject: d.title,
        text,
        messageId: messageId(d.id),
        headers: { 'X-Pushgate-Delivery': d.id },
      });
      return { kind: 'sent' };
    } catch (err) {
      return classifySmtp(err);
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#transport !== undefined) (await this.#transport).close();
  }
}

/** `<sha256(id)[0..32]@pushgate>`: stable per delivery, safe whatever characters the id has. */
export function messageId(id: string): string {
  return `<${createHash('sha256').update(id).digest('hex').slice(0, 32)}@pushgate>`;
}

function classifySmtp(err: unknown): SendResult {
  const e = err as { code?: unknown; responseCode?: unknown; response?: unknown; message?: unknown } | null;
  const code = typeof e?.code === 'string' ? e.code : '';
  const smtp = typeof e?.responseCode === 'number' ? e.responseCode : 0;
  // nodemailer's messages carry the server's reply, never the AUTH password.
  const message = typeof e?.message === 'string' ? e.message.replace(/\s+/g, ' ').slice(0, 200) : String(err);
  const reason = `${code ? `${code} ` : ''}${message}`;
  if (smtp >= 400 && smtp < 500) return { kind: 'retry', reason };
  if (smtp >= 500 || code === 'EAUTH' || code === 'ETLS' || code === 'EENVELOPE' || code === 'EMESSAGE') return { kind: 'failed', reason };
  if (/certificate|self.signed|unable to verify/i.test(message)) return { kind: 'failed', reason };
  return { kind: 'retry', reason };
}
