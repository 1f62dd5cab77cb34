import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import type { SessionVerdict } from '../../auth/openitcockpit-session.js';
import { GatewayError } from '../../errors.js';
import { originAllowed, queryOf, tokenUserMismatch, type CredentialResult } from '../ws/handshake.js';
import { frameEvent, parseLastEventId, SseHub } from './stream.js';

/**
 * pushgate's own notifications over Server-Sent Events, for clients that
 * cannot use the WebSocket endpoint: `GET /events?userId=<n>&browserUuid=<s>`
 * with the API key in a header (`Authorization: Bearer <key>` or
 * `X-Api-Key: <key>`), never in the URL. Each event's `data` is the same
 * JSON envelope a WebSocket client receives (`ProcessPushNotification`), as
 * a plain `message` event with an `id:`; a reconnect with `Last-Event-ID`
 * replays what was missed within the replay window.
 */

/** Path of the endpoint. */
export const EVENTS_PATH = '/events';

/** Query parameters that would put a credential into URLs and access logs: refused. */
const CREDENTIAL_PARAMS = ['apiKey', 'api_key', 'key', 'token', 'access_token'];

/** Options of {@link PushSse}. */
export interface PushSseOptions {
  /** Checks an API key (the directory's `verifyApiKey`); rejects with `GW_ERR_DIRECTORY_UNAVAILABLE` when it cannot answer. */
  verifyApiKey: (key: string) => Promise<boolean>;
  /**
   * Checks a credential under the `auth` policy (handshake.ts `checkCredential`):
   * when given it replaces `verifyApiKey`, and a token must name the query's `userId`.
   */
  authenticate?: (credential: string) => Promise<CredentialResult>;
  /** `auth.allowedOrigins`: a request whose Origin is not listed gets 403 (default empty: any). */
  allowedOrigins?: readonly string[];
  logger: Logger;
  /** First keep-alive comment after opening, ms (default 1000). */
  keepAliveFirstMs?: number;
  /** Later keep-alive comments, ms (default 30000). */
  keepAliveMs?: number;
  /** `retry:` of each event, ms (default 3000). */
  retryMs?: number;
  /** Concurrent streams per (user, browserUuid); one more gets 204 (default 2). */
  maxStreamsPerBrowser?: number;
  /** A stream whose unsent bytes exceed this is closed as a slow consumer, bytes (default 1 MiB). */
  maxBufferedBytes?: number;
  /** Replay window: most events kept (all users), longest age ms (default 1000, 300000). */
  replay?: { maxEvents: number; maxAgeMs: number };
  /** Clock in ms (default `Date.now`). */
  now?: () => number;
}

function plain(res: ServerResponse, status: number, text: string, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': Buffer.byteLength(text), ...headers });
  res.end(text);
}

/** The API key of a request: `Authorization: Bearer <key>`, else `X-Api-Key`; `undefined` when absent. */
function apiKeyOf(req: IncomingMessage): string | undefined {
  const auth = req.headers.authorization;
  if (auth !== undefined) {
    const m = /^Bearer\s+(\S+)\s*$/i.exec(auth);
    return m ? m[1] : undefined;
  }
  const x = req.headers['x-api-key'];
  const v = (Array.isArray(x) ? x[0] : x)?.trim();
  return v ? v : undefined;
}

/** The SSE endpoint for pushgate's own notifications and its hub. */
export class PushSse {
  readonly hub: SseHub;
  /** Streams closed by the server, by reason (`slow-consumer`, `write-error`), for metrics. */
  readonly dropped: Record<string, number> = {};
  /** Route for `startGateway({ httpRoutes })` / `gateway.addRoute`. */
  readonly route: { path: string; handler: (req: IncomingMessage, res: ServerResponse) => Promise<void> };
  /**
   * Session binding (`auth.openitcockpitSession`; mount.ts sets it from the
   * gateway): a stream opened with the API key must carry the Cookie of that
   * user's openITCOCKPIT session. Tokens bind the user themselves.
   */
  session: { check(cookie: string | undefined, userId: number): Promise<SessionVerdict> } | undefined;
  private readonly o: PushSseOptions;
  private readonly retryMs: number;
  private seq: number;

  constructor(opts: PushSseOptions) {
    this.o = opts;
    this.retryMs = opts.retryMs ?? 3000;
    const now = opts.now ?? Date.now;
    // Ids start at the clock so a client's Last-Event-ID from before a restart stays lower than new ids.
    this.seq = now();
    this.hub = new SseHub({
      keepAliveFirstMs: opts.keepAliveFirstMs ?? 1000,
      keepAliveMs: opts.keepAliveMs ?? 30_000,
      maxStreamsPerBrowser: opts.maxStreamsPerBrowser ?? 2,
      ...(opts.maxBufferedBytes !== undefined ? { maxBufferedBytes: opts.maxBufferedBytes } : {}),
      replay: opts.replay ?? { maxEvents: 1000, maxAgeMs: 300_000 },
      now,
      onDrop: (reason) => {
        this.dropped[reason] = (this.dropped[reason] ?? 0) + 1;
        this.o.logger.warn({ reason }, 'sse: event stream closed by the server');
      },
    });
    this.route = { path: EVENTS_PATH, handler: (req, res) => this.handle(req, res) };
  }

  /**
   * Publish one serialised notification envelope (the WebSocket frame's
   * JSON text) to the user's SSE browsers: one stream per browserUuid.
   * @returns the number of browsers written to.
   */
  publish(userId: number, envelope: Buffer | string): number {
    const id = ++this.seq;
    const data = typeof envelope === 'string' ? envelope : envelope.toString('utf8');
    return this.hub.publish(String(userId), id, frameEvent(undefined, data, id, this.retryMs));
  }

  /**
   * 405 for other methods; 400 for a bad `userId`/`browserUuid` or a
   * credential in the query string; 401 without a valid key; 503 when the
   * directory cannot answer; 204 when the browser already has its streams;
   * else 200 and the stream.
   */
  async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (req.method !== 'GET') return plain(res, 405, 'Method Not Allowed: use GET\n', { Allow: 'GET' });
    if (!originAllowed(req.headers.origin, this.o.allowedOrigins ?? [])) return plain(res, 403, 'Forbidden: origin not allowed\n');
    const query = queryOf(req.url);
    if (CREDENTIAL_PARAMS.some((p) => query.has(p))) {
      return plain(res, 400, 'Bad Request: send the API key in the Authorization or X-Api-Key header, never in the URL\n');
    }
    const rawUser = query.get('userId') ?? '';
    const userId = /^\d{1,15}$/.test(rawUser) ? Number(rawUser) : 0;
    if (userId <= 0) return plain(res, 400, 'Bad Request: userId must be an integer > 0\n');
    const browserUuid = query.get('browserUuid') ?? '';
    if (browserUuid === '') return plain(res, 400, 'Bad Request: browserUuid is missing or empty\n');
    const key = apiKeyOf(req);
    if (key === undefined) return plain(res, 401, 'Unauthorized\n', { 'WWW-Authenticate': 'Bearer' });
    let byToken = false;
    if (this.o.authenticate) {
      const cred = await this.o.authenticate(key);
      if (!cred.ok && cred.status === 503) return plain(res, 503, 'Service Unavailable: directory unavailable\n', { 'Retry-After': '3' });
      if (!cred.ok || tokenUserMismatch(cred, userId) !== undefined) return plain(res, 401, 'Unauthorized\n', { 'WWW-Authenticate': 'Bearer' });
      byToken = cred.token !== undefined;
    } else try {
      if (!(await this.o.verifyApiKey(key))) return plain(res, 401, 'Unauthorized\n', { 'WWW-Authenticate': 'Bearer' });
    } catch (err) {
      if (!(err instanceof GatewayError && err.code === 'GW_ERR_DIRECTORY_UNAVAILABLE')) throw err;
      this.o.logger.warn({ err }, 'sse: cannot verify API key, directory unavailable');
      return plain(res, 503, 'Service Unavailable: directory unavailable\n', { 'Retry-After': '3' });
    }
    if (this.session !== undefined && !byToken) {
      const v = await this.session.check(req.headers.cookie, userId);
      if (!v.ok) return plain(res, v.status, `${v.body}\n`, v.status === 503 ? { 'Retry-After': '3' } : {});
    }
    if (req.socket.destroyed || res.destroyed) return;
    const stream = this.hub.open(res, String(userId), browserUuid, parseLastEventId(req.headers['last-event-id']));
    if (!stream) {
      res.writeHead(204);
      res.end();
    }
  }

  /** True while the user has an open stream (counts as registered at `/message`). */
  has(userId: number): boolean {
    return this.hub.size(String(userId)) > 0;
  }

  /** End every stream. */
  close(): void {
    this.hub.close();
  }
}
