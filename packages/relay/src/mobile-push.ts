import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { rootCertificates } from 'node:tls';
import type { Logger } from 'pino';
import { Agent, request } from 'undici';
import { bodyExcerpt, networkReason, parseRetryAfter } from './channels/channel.js';
import type { DeviceDirectory, RelaySettings } from './directory.js';
import { sendNotificationUrl } from './endpoint.js';
import { RelayError } from './errors.js';

/** One notification for one user, fanned out to each of the user's devices. */
export interface PushJob {
  /** openITCOCKPIT user id (> 0); sent as `user_id`. */
  userId: number;
  /** Notification title; sent as `title`. */
  title: string;
  /** Notification text; sent as `body`. */
  body: string;
  /** `host` or `service`; sent as `type`. */
  type: 'host' | 'service';
  /** Naemon notification type (`PROBLEM`, `RECOVERY`, `CUSTOM`…); sent as `notification_type`. */
  notificationType: string;
  /** Host or service state id (0..3); sent as `current_state`. */
  currentState: number;
  /** Host uuid; sent as `host_uuid`. */
  hostUuid: string;
  /** Service uuid, `''` for host notifications; sent as `service_uuid`. */
  serviceUuid: string;
}

/** Options of {@link MobilePush}. */
export interface MobilePushOptions {
  /** Where relay settings and device tokens come from. */
  directory: DeviceDirectory;
  /** Logger; the relay logs under `{ component: 'relay' }`. Auth keys are never logged, device tokens only as a short hash. */
  logger: Logger;
  /** PEM file of extra trusted CAs, added to Node's defaults; read once, at construction. */
  caFile?: string;
  /** Per-request budget for connect, response headers and body, in ms. Default 10000. */
  timeoutMs?: number;
  /** Attempts per device including the first; at least 1. Default 5. */
  maxAttempts?: number;
  /** Backoff base in ms: attempt n waits retryBaseMs·2^(n-1), jittered to 50–100 %. Default 1000. */
  retryBaseMs?: number;
  /** Ceiling for one backoff or `Retry-After` wait, in ms. Default 60000. */
  maxRetryDelayMs?: number;
  /** Jobs accepted but not finished (queued, in flight, or waiting to retry); more are dropped. Default 10000. */
  maxQueue?: number;
  /** Jobs worked on at once. Default 16. */
  concurrency?: number;
  /** How long `close()` lets requests in flight finish before aborting them, in ms. Default 2000. */
  closeGraceMs?: number;
  /** Most keep-alive sockets open to the push gateway; further requests wait for a free one. Default 8. */
  connections?: number;
}

/** Counters of {@link MobilePush}, per device request unless noted. */
export interface MobilePushStats {
  /** Requests the push gateway answered 200. */
  sent: number;
  /** Requests given up (non-retryable status, attempts exhausted, TLS or endpoint error), plus failed directory lookups (per job). */
  failed: number;
  /** Repeated attempts (a request sent twice counts 1). */
  retried: number;
  /** Requests answered 410 Gone (device deleted). */
  gone: number;
  /** Jobs dropped because the queue was full or the relay closed. */
  dropped: number;
}

/** Characters of a non-200 response body kept for the log line. */
const BODY_EXCERPT_CHARS = 200;

/** Outcome of one attempt. */
type Attempt =
  | { kind: 'ok' }
  | { kind: 'gone' }
  | { kind: 'fail'; retry: boolean; retryAfterMs?: number; err: RelayError };

/**
 * Mobile push to the openITCOCKPIT push gateway (PROTOCOL.md §4): for each
 * job, looks up the relay settings and the user's devices and POSTs one
 * request per device, off the caller's path.
 *
 * Unlike openITCOCKPIT (fire once, TLS verification off), requests go over
 * one keep-alive undici `Agent` with TLS verified, and network errors, 429
 * and 5xx are retried with jittered exponential backoff (honouring
 * `Retry-After`). Delivery is at-least-once: a request whose answer was lost
 * may reach the phone twice. The queue is in memory and bounded; a restart
 * loses what is queued (the durable outbox is a separate module).
 */
export class MobilePush {
  /** Counters since construction. */
  readonly stats: MobilePushStats = { sent: 0, failed: 0, retried: 0, gone: 0, dropped: 0 };

  readonly #directory: DeviceDirectory;
  readonly #log: Logger;
  readonly #agent: Agent;
  readonly #timeoutMs: number;
  readonly #maxAttempts: number;
  readonly #retryBaseMs: number;
  readonly #maxRetryDelayMs: number;
  readonly #maxQueue: number;
  readonly #concurrency: number;
  readonly #closeGraceMs: number;

  /** FIFO from #queueHead on; consumed slots are cleared. */
  readonly #queue: Array<PushJob | undefined> = [];
  #queueHead = 0;
  /** Jobs accepted and not finished: queued + running. */
  #pending = 0;
  #running = 0;
  #closed = false;
  #closing: Promise<void> | undefined;
  #idleWaiters: Array<() => void> = [];
  /** Backoff waits in progress, so close() can cut them short. */
  readonly #sleeps = new Set<{ timer: NodeJS.Timeout; resolve: () => void }>();

  /**
   * @throws RelayError `RELAY_ERR_CA_FILE` when `caFile` is given but cannot
   * be read or holds no certificate.
   */
  constructor(opts: MobilePushOptions) {
    this.#directory = opts.directory;
    this.#log = opts.logger.child({ component: 'relay' });
    this.#timeoutMs = positive(opts.timeoutMs, 10_000);
    this.#maxAttempts = Math.max(1, Math.floor(positive(opts.maxAttempts, 5)));
    this.#retryBaseMs = nonNegative(opts.retryBaseMs, 1000);
    this.#maxRetryDelayMs = nonNegative(opts.maxRetryDelayMs, 60_000);
    this.#maxQueue = Math.max(1, Math.floor(positive(opts.maxQueue, 10_000)));
    this.#concurrency = Math.max(1, Math.floor(positive(opts.concurrency, 16)));
    this.#closeGraceMs = nonNegative(opts.closeGraceMs, 2000);
    const connections = Math.max(1, Math.floor(positive(opts.connections, 8)));

    let ca: string[] | undefined;
    if (opts.caFile !== undefined) {
      let pem: string;
      try {
        pem = readFileSync(opts.caFile, 'utf8');
      } catch (cause) {
        throw new RelayError('RELAY_ERR_CA_FILE', `cannot read CA file ${opts.caFile}`, { cause });
      }
      if (!pem.includes('-----BEGIN CERTIFICATE-----')) {
        throw new RelayError('RELAY_ERR_CA_FILE', `CA file ${opts.caFile} holds no PEM certificate`);
      }
      // Setting `ca` replaces Node's bundled roots; keep them and add ours.
      ca = [...rootCertificates, pem];
    }
    this.#agent = new Agent({
      // Bounded: without `connections` undici opens a new socket whenever
      // every open one is busy, so a burst would open one per device.
      connections,
      keepAliveTimeout: 30_000,
      headersTimeout: this.#timeoutMs,
      bodyTimeout: this.#timeoutMs,
      connect: { timeout: this.#timeoutMs, rejectUnauthorized: true, ...(ca ? { ca } : {}) },
    });
  }

  /**
   * Queues a job; never throws and never waits. The lookup and the requests
   * run in the background. When `maxQueue` jobs are pending, or after
   * `close()`, the job is dropped, logged and counted in `stats.dropped`.
   */
  enqueue(job: PushJob): void {
    if (this.#closed || this.#pending >= this.#maxQueue) {
      this.stats.dropped++;
      const err = new RelayError(
        'RELAY_ERR_QUEUE_FULL',
        this.#closed ? 'mobile push dropped: relay closed' : `mobile push dropped: ${this.#pending} jobs pending (maxQueue ${this.#maxQueue})`,
      );
      this.#log.warn({ err, user: job.userId, notificationType: job.notificationType, hostUuid: job.hostUuid, serviceUuid: job.serviceUuid }, 'mobile push dropped');
      return;
    }
    this.#pending++;
    this.#queue.push(job);
    this.#pump();
  }

  /** Resolves once nothing is queued, in flight, or waiting to retry. */
  idle(): Promise<void> {
    if (this.#pending === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idleWaiters.push(resolve));
  }

  /**
   * Stops accepting jobs, drops the queued ones that have not started
   * (counted in `dropped`), cuts backoff waits short (those deliveries count
   * as `failed`), gives requests in flight up to `closeGraceMs` to finish,
   * then tears the connection pool down, aborting what is still running
   * (counted as `failed`). Resolves within about `closeGraceMs`, so it fits
   * a shutdown budget. Idempotent: later calls return the same promise.
   */
  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  async #close(): Promise<void> {
    this.#closed = true;
    const unstarted = this.#queue.length - this.#queueHead;
    if (unstarted > 0) {
      this.stats.dropped += unstarted;
      this.#pending -= unstarted;
      this.#queue.length = 0;
      this.#queueHead = 0;
      this.#log.warn({ err: new RelayError('RELAY_ERR_QUEUE_FULL', 'relay closed with jobs queued'), jobs: unstarted }, 'mobile push dropped');
    }
    for (const sleep of this.#sleeps) {
      clearTimeout(sleep.timer);
      sleep.resolve();
    }
    this.#sleeps.clear();
    this.#settle();

    if (await this.#idleWithin(this.#closeGraceMs)) {
      await this.#agent.close();
      return;
    }
    this.#log.warn({ jobs: this.#pending, graceMs: this.#closeGraceMs }, 'mobile push close: aborting requests still in flight');
    // Requests in flight reject with UND_ERR_DESTROYED and, the relay being
    // closed, count as failed instead of being retried. A job still waiting
    // on the directory fails fast on the destroyed pool when it gets there;
    // close() does not wait for a directory that never answers.
    await this.#agent.destroy();
    await this.#idleWithin(this.#closeGraceMs);
  }

  /** Whether the relay went idle within `ms`. */
  async #idleWithin(ms: number): Promise<boolean> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<boolean>((resolve) => {
      timer = setTimeout(resolve, ms, false);
    });
    try {
      return await Promise.race([this.idle().then(() => true), timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  #pump(): void {
    while (this.#running < this.#concurrency && this.#queueHead < this.#queue.length) {
      const job = this.#queue[this.#queueHead] as PushJob;
      this.#queue[this.#queueHead] = undefined;
      this.#queueHead++;
      // A queue under steady load may never run empty: drop the consumed
      // prefix once it is half the array, so the array stays O(maxQueue).
      if (this.#queueHead === this.#queue.length) {
        this.#queue.length = 0;
        this.#queueHead = 0;
      } else if (this.#queueHead >= 1024 && this.#queueHead * 2 >= this.#queue.length) {
        this.#queue.splice(0, this.#queueHead);
        this.#queueHead = 0;
      }
      this.#running++;
      // #run catches, logs and counts every expected failure itself; the
      // catch is the last guard so nothing can become an unhandled rejection.
      void this.#run(job)
        /* c8 ignore next 4 -- only a bug (or a throwing logger) gets here; tests cannot provoke it without mocking our own modules */
        .catch((err: unknown) => {
          this.stats.failed++;
          this.#log.error({ err, user: job.userId }, 'mobile push crashed');
        })
        .finally(() => {
          this.#running--;
          this.#pending--;
          this.#pump();
          this.#settle();
        });
    }
  }

  #settle(): void {
    if (this.#pending !== 0) return;
    const waiters = this.#idleWaiters;
    this.#idleWaiters = [];
    for (const resolve of waiters) resolve();
  }

  async #run(job: PushJob): Promise<void> {
    let settings: RelaySettings | undefined;
    let tokens: string[];
    try {
      settings = await this.#directory.relaySettings();
      if (settings === undefined) return; // relay disabled
      tokens = await this.#directory.devices(job.userId);
    } catch (cause) {
      this.stats.failed++;
      const err = new RelayError('RELAY_ERR_DIRECTORY', 'device directory lookup failed', { cause });
      this.#log.error({ err, user: job.userId }, 'mobile push lookup failed');
      return;
    }
    if (tokens.length === 0) return;

    let url: string;
    try {
      url = sendNotificationUrl(settings.address, settings.port);
    } catch (err) {
      this.stats.failed += tokens.length;
      this.#log.error({ err, user: job.userId, devices: tokens.length }, 'mobile push endpoint invalid');
      return;
    }
    const { authKey } = settings;
    await Promise.all(tokens.map((token) => this.#deliver(job, token, url, authKey)));
  }

  async #deliver(job: PushJob, token: string, url: string, authKey: string): Promise<void> {
    const body = pushBody(job, token, authKey);
    const device = tokenHash(token);
    for (let attempt = 1; ; attempt++) {
      const result = await this.#attempt(url, authKey, body);
      if (result.kind === 'ok') {
        this.stats.sent++;
        this.#log.debug({ user: job.userId, device, attempt }, 'mobile push sent');
        return;
      }
      if (result.kind === 'gone') {
        this.stats.gone++;
        this.#log.info({ user: job.userId, device }, 'mobile push device gone (410), deleting it');
        try {
          await this.#directory.deleteDevice(token);
        } catch (cause) {
          const err = new RelayError('RELAY_ERR_DIRECTORY', 'deleting a gone device failed', { cause });
          this.#log.error({ err, user: job.userId, device }, 'mobile push device delete failed');
        }
        return;
      }
      if (!result.retry || attempt >= this.#maxAttempts || this.#closed) {
        this.stats.failed++;
        this.#log.error({ err: result.err, user: job.userId, device, attempt }, 'mobile push failed');
        return;
      }
      const delay = result.retryAfterMs ?? this.#backoff(attempt);
      this.#log.warn({ err: result.err, user: job.userId, device, attempt, retryInMs: delay }, 'mobile push attempt failed, retrying');
      await this.#sleep(delay);
      if (this.#closed) {
        this.stats.failed++;
        this.#log.error({ err: result.err, user: job.userId, device, attempt }, 'mobile push failed: relay closed before retry');
        return;
      }
      this.stats.retried++;
    }
  }

  async #attempt(url: string, authKey: string, body: string): Promise<Attempt> {
    let res;
    try {
      res = await request(url, {
        method: 'POST',
        dispatcher: this.#agent,
        // Spelled as Go's net/http canonicalises them, as the original sent them.
        headers: { 'Content-Type': 'application/json', 'X-Api-Key': authKey },
        body,
      });
    } catch (cause) {
      // A certificate the pool does not trust will not become trusted by
      // retrying; everything else (refused, reset, timeout) may heal.
      const tls = isTlsError(cause);
      const err = new RelayError('RELAY_ERR_NETWORK', `push gateway request failed: ${networkReason(cause)}`, { cause });
      return { kind: 'fail', retry: !tls, err };
    }
    const status = res.statusCode;
    if (status === 200) {
      await res.body.dump().catch(() => {});
      return { kind: 'ok' };
    }
    if (status === 410) {
      await res.body.dump().catch(() => {});
      return { kind: 'gone' };
    }
    const excerpt = await bodyExcerpt(res.body, [authKey], BODY_EXCERPT_CHARS);
    const err = new RelayError('RELAY_ERR_HTTP_STATUS', `push gateway answered ${status}: ${JSON.stringify(excerpt)}`);
    Object.assign(err, { status });
    const retry = status === 429 || status >= 500;
    const retryAfterMs = retry ? this.#retryAfter(res.headers['retry-after']) : undefined;
    return retryAfterMs === undefined ? { kind: 'fail', retry, err } : { kind: 'fail', retry, retryAfterMs, err };
  }

  /** Retry-After (RFC 9110 §10.2.3), capped at maxRetryDelayMs. */
  #retryAfter(header: string | string[] | undefined): number | undefined {
    const ms = parseRetryAfter(header);
    return ms === undefined ? undefined : Math.min(ms, this.#maxRetryDelayMs);
  }

  #backoff(attempt: number): number {
    const full = Math.min(this.#retryBaseMs * 2 ** (attempt - 1), this.#maxRetryDelayMs);
    // "Equal jitter": half fixed, half random, so retries of many devices spread out.
    return Math.round(full / 2 + Math.random() * (full / 2));
  }

  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const entry = {
        timer: setTimeout(() => {
          this.#sleeps.delete(entry);
          resolve();
        }, ms),
        resolve,
      };
      this.#sleeps.add(entry);
    });
  }
}

/**
 * The request body of PROTOCOL.md §4, keys in the order the push gateway
 * receives them from openITCOCKPIT.
 *
 * Reading of the original: the Go service's source was not in the code we
 * could search; what we found of openITCOCKPIT's Go data layer are its table
 * models (`push_notifications_relay`: address string, port int, auth_key
 * string, enabled bool; `mobile_devices`: user_id int, device_id string, the
 * device token). So the value types follow PROTOCOL.md §4 and the `/message`
 * input they are copied from (§2): `type` is the lower-case `host`/`service`
 * string, `notification_type` Naemon's `$NOTIFICATIONTYPE$` verbatim
 * (`PROBLEM`, `RECOVERY`, `ACKNOWLEDGEMENT`…, `CUSTOM` for the browser's
 * test push), `current_state` and `user_id` JSON integers, `service_uuid`
 * `""` for host notifications. Plain `JSON.stringify`, as Go's
 * `encoding/json` of a struct: fixed key order, no whitespace (Go would also
 * escape `<`, `>`, `&` as `\u003c`…, which decodes to the same string).
 */
export function pushBody(job: PushJob, token: string, authKey: string): string {
  return JSON.stringify({
    title: job.title,
    body: job.body,
    token,
    type: job.type,
    notification_type: job.notificationType,
    current_state: job.currentState,
    host_uuid: job.hostUuid,
    service_uuid: job.serviceUuid,
    user_id: job.userId,
    auth_key: authKey,
  });
}

/** Device tokens identify a phone; logs carry a short hash instead. */
function tokenHash(token: string): string {
  return createHash('sha256').update(token).digest('hex').slice(0, 12);
}

function positive(value: number | undefined, fallback: number): number {
  return value !== undefined && Number.isFinite(value) && value > 0 ? value : fallback;
}

function nonNegative(value: number | undefined, fallback: number): number {
  return value !== undefined && Number.isFinite(value) && value >= 0 ? value : fallback;
}

const TLS_CODES = /CERT|SELF_SIGNED|UNABLE_TO_VERIFY|ERR_TLS|ERR_SSL|HOSTNAME_MISMATCH/;

function isTlsError(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && TLS_CODES.test(code);
}
