import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { rootCertificates } from 'node:tls';
import type { Logger } from 'pino';
import { Agent, request } from 'undici';
import type { Config } from '../config.js';
import { GatewayError } from '../errors.js';
import { count } from '../ops/stats.js';

/**
 * Session binding (`auth.openitcockpitSession`, SECURITY.md): openITCOCKPIT
 * hands its one API key to every logged-in browser, so the key alone cannot
 * tell users apart. The WebSocket upgrade, though, arrives through
 * openITCOCKPIT's own nginx with the browser's cookies, and openITCOCKPIT
 * answers `GET /angular/push_configuration.json?angular=true` with
 * `{"user":{"id":N,…},…}` for the session those cookies carry (401 without
 * one; docs/protocol/openitcockpit-legacy.md section 1). So pushgate replays
 * the `Cookie` header in one request of its own to the configured base URL
 * (never the request's `Host`, which the browser or a proxy chose) and
 * holds the socket to that user.
 *
 * Answers are cached by the SHA-256 of the cookie (the cookie itself is
 * never kept, logged or used as a key), for `cacheTtlMs` when logged in and
 * `anonymousCacheTtlMs` when not, at most `cacheSize` entries (the oldest
 * goes first); concurrent checks of one cookie share one request. When
 * openITCOCKPIT cannot answer, `onUnavailable` decides: refuse (503), or
 * accept on the API key alone; both are logged and counted, never cached.
 */

/** What openITCOCKPIT said about one cookie. */
export type SessionLookup =
  | { kind: 'user'; userId: number }
  | { kind: 'anonymous'; reason: string }
  | { kind: 'unavailable'; reason: string };

/**
 * Outcome of a check: accepted, with the session's user (`undefined` when
 * openITCOCKPIT was unreachable and `onUnavailable: key-only` let the key
 * alone decide); or refused with the HTTP status and body of the handshake
 * and a reason for the log (never the cookie).
 */
export type SessionVerdict =
  | { ok: true; userId: number | undefined }
  | { ok: false; status: 401 | 403 | 503; body: string; reason: string };

/** Counter labels of {@link OpenItcockpitSession.stats}.checks, one per outcome of a check. */
export type SessionCheckResult = 'match' | 'exempt' | 'other-user' | 'not-logged-in' | 'unavailable-refused' | 'unavailable-key-only';

/** The path asked, with the query the frontend itself sends (`angular=true` makes it an API request). */
export const PUSH_CONFIGURATION_PATH = '/angular/push_configuration.json?angular=true';

/**
 * Distinct cookies asked at once; more are "unavailable" at once rather than
 * queued, so a flood of made-up cookies cannot pile requests onto openITCOCKPIT.
 */
export const MAX_IN_FLIGHT = 256;

/** openITCOCKPIT's answer is a few hundred bytes; more is not its answer. */
const MAX_ANSWER_BYTES = 64 * 1024;

type SessionConfig = Config['auth']['openitcockpitSession'];

interface CacheEntry {
  lookup: SessionLookup & { kind: 'user' | 'anonymous' };
  expiresAt: number;
}

/** Statuses that mean "this cookie carries no usable session" rather than "openITCOCKPIT is broken". */
const ANONYMOUS_STATUS = new Set([401, 403]);

/** The cookie's cache key: its SHA-256, so the cache never holds a credential. */
function cacheKey(cookie: string): string {
  return createHash('sha256').update(cookie).digest('base64url');
}

/** `user.id` of a push_configuration.json answer, or a reason it has none. */
export function userIdOf(json: unknown): number | string {
  const user = (json as { user?: { id?: unknown } } | null)?.user;
  const id = user?.id;
  // CakePHP serialises the integer column as a number; accept a digit string too (an older view layer).
  const n = typeof id === 'string' && /^\d{1,15}$/.test(id) ? Number(id) : id;
  if (typeof n !== 'number' || !Number.isSafeInteger(n) || n <= 0) return 'answer has no user.id > 0';
  return n;
}

/** Session binding against one openITCOCKPIT web server. */
export class OpenItcockpitSession {
  /** Checks by result, lookups by source; for metrics (`pushgate_session_*`). */
  readonly stats = {
    checks: {} as Record<string, number>,
    /** openITCOCKPIT's answers by kind: `user`, `anonymous`, `unavailable`. */
    requests: {} as Record<string, number>,
    /** Checks answered from the cache. */
    cacheHits: 0,
  };
  readonly #cfg: SessionConfig;
  readonly #url: string;
  readonly #logger: Logger;
  readonly #agent: Agent;
  readonly #now: () => number;
  readonly #cache = new Map<string, CacheEntry>();
  readonly #inFlight = new Map<string, Promise<SessionLookup>>();
  readonly #exempt: ReadonlySet<number>;
  /** Whether the last request failed: the first failure of a run is a warning, the recovery is logged once. */
  #down = false;

  /**
   * Reads `caFile` now; throws `GW_ERR_CONFIG` naming it when it is missing
   * or holds no certificate.
   * @param now clock in ms (tests); default `Date.now`.
   */
  constructor(cfg: SessionConfig, logger: Logger, now: () => number = Date.now) {
    if (cfg.baseUrl === undefined) throw new GatewayError('GW_ERR_CONFIG', 'auth.openitcockpitSession.baseUrl is required');
    this.#cfg = cfg;
    this.#url = cfg.baseUrl.replace(/\/+$/, '') + PUSH_CONFIGURATION_PATH;
    this.#logger = logger;
    this.#now = now;
    this.#exempt = new Set(cfg.exemptUserIds);
    let ca: string[] | undefined;
    if (cfg.caFile !== undefined) {
      let pem: string;
      try {
        pem = readFileSync(cfg.caFile, 'utf8');
      } catch (err) {
        throw new GatewayError('GW_ERR_CONFIG', `auth.openitcockpitSession.caFile ${cfg.caFile}: ${(err as Error).message}`, { cause: err });
      }
      if (!pem.includes('-----BEGIN CERTIFICATE-----')) {
        throw new GatewayError('GW_ERR_CONFIG', `auth.openitcockpitSession.caFile ${cfg.caFile} holds no PEM certificate`);
      }
      // `ca` replaces Node's list; keep the public roots for a publicly signed openITCOCKPIT.
      ca = [...rootCertificates, pem];
    }
    this.#agent = new Agent({
      connect: {
        rejectUnauthorized: true,
        ...(ca ? { ca } : {}),
        ...(cfg.serverName !== undefined ? { servername: cfg.serverName } : {}),
        timeout: cfg.timeoutMs,
      },
      headersTimeout: cfg.timeoutMs,
      bodyTimeout: cfg.timeoutMs,
      connections: 16,
    });
  }

  /** Cached cookies (bounded by `cacheSize`). */
  get cacheSize(): number {
    return this.#cache.size;
  }

  /**
   * Check a handshake that claims `userId` (newer generation: the query's
   * `userId`; legacy: the `register`'s). `cookie` is the request's `Cookie`
   * header, undefined when it had none.
   */
  async check(cookie: string | undefined, userId: number): Promise<SessionVerdict> {
    // `pushgate check`'s synthetic user has no openITCOCKPIT session; it only ever gets the check's own notifications.
    if (this.#exempt.has(userId)) return this.#accept('exempt', userId);
    const found = await this.lookup(cookie);
    if (found.kind === 'user') {
      if (found.userId === userId) return this.#accept('match', userId);
      return this.#refuse('other-user', 403, 'Forbidden', `session belongs to user ${found.userId}, not ${userId}`);
    }
    return this.#notUser(found);
  }

  #notUser(found: SessionLookup & { kind: 'anonymous' | 'unavailable' }): SessionVerdict {
    if (found.kind === 'anonymous') return this.#refuse('not-logged-in', 401, 'Unauthorized', `no logged-in openITCOCKPIT session: ${found.reason}`);
    if (this.#cfg.onUnavailable === 'key-only') {
      count(this.stats.checks, 'unavailable-key-only');
      this.#logger.warn({ reason: found.reason }, 'openITCOCKPIT session check unavailable: accepted on the API key alone (auth.openitcockpitSession.onUnavailable: key-only)');
      return { ok: true, userId: undefined };
    }
    return this.#refuse('unavailable-refused', 503, 'Session check unavailable', `openITCOCKPIT session check unavailable: ${found.reason}`);
  }

  #accept(result: SessionCheckResult, userId: number): SessionVerdict {
    count(this.stats.checks, result);
    return { ok: true, userId };
  }

  #refuse(result: SessionCheckResult, status: 401 | 403 | 503, body: string, reason: string): SessionVerdict {
    count(this.stats.checks, result);
    return { ok: false, status, body, reason };
  }

  /** What openITCOCKPIT says about `cookie`: from the cache, a request under way, or a new request. */
  lookup(cookie: string | undefined): Promise<SessionLookup> {
    if (cookie === undefined || cookie.trim() === '') return Promise.resolve({ kind: 'anonymous', reason: 'the request carried no Cookie header' });
    const key = cacheKey(cookie);
    const now = this.#now();
    const hit = this.#cache.get(key);
    if (hit !== undefined) {
      if (hit.expiresAt > now) {
        this.stats.cacheHits++;
        return Promise.resolve(hit.lookup);
      }
      this.#cache.delete(key);
    }
    const pending = this.#inFlight.get(key);
    if (pending !== undefined) return pending;
    if (this.#inFlight.size >= MAX_IN_FLIGHT) {
      return Promise.resolve({ kind: 'unavailable', reason: `${MAX_IN_FLIGHT} session checks already in flight` });
    }
    const p = this.#ask(cookie).then((found) => {
      this.#inFlight.delete(key);
      count(this.stats.requests, found.kind);
      if (found.kind !== 'unavailable') this.#remember(key, found);
      return found;
    });
    this.#inFlight.set(key, p);
    return p;
  }

  #remember(key: string, lookup: SessionLookup & { kind: 'user' | 'anonymous' }): void {
    const now = this.#now();
    const ttl = lookup.kind === 'user' ? this.#cfg.cacheTtlMs : this.#cfg.anonymousCacheTtlMs;
    this.#cache.delete(key);
    while (this.#cache.size >= this.#cfg.cacheSize) {
      // Map order is insertion order: the first key is the oldest entry.
      const oldest = this.#cache.keys().next().value;
      if (oldest === undefined) break;
      this.#cache.delete(oldest);
    }
    this.#cache.set(key, { lookup, expiresAt: now + ttl });
  }

  /** One request to openITCOCKPIT; never rejects. */
  async #ask(cookie: string): Promise<SessionLookup> {
    const found = await this.#request(cookie);
    if (found.kind === 'unavailable') {
      if (!this.#down) this.#logger.warn({ reason: found.reason, url: this.#url }, 'openITCOCKPIT session check failed');
      this.#down = true;
    } else if (this.#down) {
      this.#down = false;
      this.#logger.info({ url: this.#url }, 'openITCOCKPIT session check answers again');
    }
    return found;
  }

  async #request(cookie: string): Promise<SessionLookup> {
    let res: Awaited<ReturnType<typeof request>>;
    try {
      res = await request(this.#url, {
        method: 'GET',
        dispatcher: this.#agent,
        headers: { cookie, accept: 'application/json', 'user-agent': 'pushgate session check' },
        signal: AbortSignal.timeout(this.#cfg.timeoutMs),
      });
    } catch (err) {
      return { kind: 'unavailable', reason: describe(err) };
    }
    try {
      if (ANONYMOUS_STATUS.has(res.statusCode)) {
        await res.body.dump();
        return { kind: 'anonymous', reason: `openITCOCKPIT answered ${res.statusCode}` };
      }
      if (res.statusCode !== 200) {
        await res.body.dump();
        return { kind: 'unavailable', reason: `openITCOCKPIT answered ${res.statusCode}` };
      }
      const chunks: Buffer[] = [];
      let size = 0;
      for await (const chunk of res.body) {
        size += (chunk as Buffer).length;
        if (size > MAX_ANSWER_BYTES) {
          res.body.destroy();
          return { kind: 'unavailable', reason: `answer larger than ${MAX_ANSWER_BYTES} bytes` };
        }
        chunks.push(chunk as Buffer);
      }
      let json: unknown;
      try {
        json = JSON.parse(Buffer.concat(chunks).toString('utf8'));
      } catch {
        return { kind: 'unavailable', reason: 'answer is not JSON' };
      }
      const id = userIdOf(json);
      return typeof id === 'number' ? { kind: 'user', userId: id } : { kind: 'unavailable', reason: id };
    } catch (err) {
      return { kind: 'unavailable', reason: describe(err) };
    }
  }

  /** Close the connections to openITCOCKPIT. */
  async close(): Promise<void> {
    await this.#agent.close();
  }
}

/** A one-line reason for a failed request: undici's or Node's code and message (never a header). */
function describe(err: unknown): string {
  const e = err as { code?: string; message?: string; name?: string; cause?: { code?: string; message?: string } };
  if (e.name === 'TimeoutError' || e.name === 'AbortError') return 'no answer within timeoutMs';
  const cause = e.cause?.code ? ` (${e.cause.code}: ${e.cause.message ?? ''})` : '';
  return `${e.code ?? e.name ?? 'error'}: ${e.message ?? String(err)}${cause}`;
}
