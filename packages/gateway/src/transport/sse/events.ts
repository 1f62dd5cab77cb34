import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import type { SessionVerdict } from '../../auth/openitcockpit-session.js';
import { GatewayError } from '../../errors.js';
import { answerRefusal } from '../refusals.js';
import { originAllowed, queryOf, tokenUserMismatch, type CredentialResult } from '../ws/handshake.js';
import { frameEvent, parseLastEventId, SseHub } from './stream.js';
import { credentialOf } from '../http/client-auth.js';

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
  /**
   * Session binding (`auth.openitcockpitSession`): a stream opened with the
   * API key must carry the Cookie of that user's openITCOCKPIT session.
   * Tokens bind the user themselves.
   */
  session?: { check(cookie: string | undefined, userId: number): Promise<SessionVerdict> } | undefined;
}

/** The SSE endpoint for pushgate's own notifications and its hub. */
export class PushSse {
  readonly hub: SseHub;
  /** Streams closed by the server, by reason (`slow-consumer`, `write-error`), for metrics. */
  readonly dropped: Record<string, number> = {};
  /** Route for `startGateway({ httpRoutes })` / `gateway.addRoute`. */
  readonly route: { path: string; handler: (req: IncomingMessage, res: ServerResponse) => Promise<void> };
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
   * `id` is the event's `id:` (the notification's id; default the next of
   * this endpoint's own clock-started sequence).
   * @returns the number of browsers written to.
   */
  publish(userId: number, envelope: Buffer | string, id = this.seq + 1): number {
    if (id > this.seq) this.seq = id;
    return this.hub.publish(String(userId), id, this.#frame(envelope, id));
  }

  /** Take one event back into the replay window without writing it (the pipeline restoring its journal). */
  restore(userId: number, envelope: Buffer | string, id: number, at: number): void {
    if (id > this.seq) this.seq = id;
    this.hub.restore(String(userId), id, this.#frame(envelope, id), at);
  }

  #frame(envelope: Buffer | string, id: number): Buffer {
    return frameEvent(undefined, typeof envelope === 'string' ? envelope : envelope.toString('utf8'), id, this.retryMs);
  }

  /**
   * 405 for other methods; 400 for a bad `userId`/`browserUuid` or a
   * credential in the query string; 401 without a valid key; 503 when the
   * directory cannot answer; 204 when the browser already has its streams;
   * else 200 and the stream.
   */
  async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (req.method !== 'GET') return answerRefusal(res, 'GW_REFUSE_EVENTS_METHOD');
    if (!originAllowed(req.headers.origin, this.o.allowedOrigins ?? [])) return answerRefusal(res, 'GW_REFUSE_SSE_ORIGIN');
    const query = queryOf(req.url);
    if (CREDENTIAL_PARAMS.some((p) => query.has(p))) return answerRefusal(res, 'GW_REFUSE_EVENTS_KEY_IN_URL');
    const rawUser = query.get('userId') ?? '';
    const userId = /^\d{1,15}$/.test(rawUser) ? Number(rawUser) : 0;
    if (userId <= 0) return answerRefusal(res, 'GW_REFUSE_EVENTS_USER_ID');
    const browserUuid = query.get('browserUuid') ?? '';
    if (browserUuid === '') return answerRefusal(res, 'GW_REFUSE_EVENTS_BROWSER_UUID');
    const key = credentialOf(req);
    if (key === undefined) return answerRefusal(res, 'GW_REFUSE_EVENTS_UNAUTHORIZED');
    let byToken = false;
    if (this.o.authenticate) {
      const cred = await this.o.authenticate(key);
      if (!cred.ok && cred.refusal === 'GW_REFUSE_DIRECTORY_UNAVAILABLE') return answerRefusal(res, 'GW_REFUSE_SSE_DIRECTORY_UNAVAILABLE');
      if (!cred.ok || tokenUserMismatch(cred, userId) !== undefined) return answerRefusal(res, 'GW_REFUSE_EVENTS_UNAUTHORIZED');
      byToken = cred.token !== undefined;
    } else try {
      if (!(await this.o.verifyApiKey(key))) return answerRefusal(res, 'GW_REFUSE_EVENTS_UNAUTHORIZED');
    } catch (err) {
      if (!(err instanceof GatewayError && err.code === 'GW_ERR_DIRECTORY_UNAVAILABLE')) throw err;
      this.o.logger.warn({ err }, 'sse: cannot verify API key, directory unavailable');
      return answerRefusal(res, 'GW_REFUSE_SSE_DIRECTORY_UNAVAILABLE');
    }
    const session = this.o.session;
    if (session !== undefined && !byToken) {
      const v = await session.check(req.headers.cookie, userId);
      if (!v.ok) {
        return answerRefusal(res, v.status === 403 ? 'GW_REFUSE_EVENTS_SESSION_OTHER_USER' : v.status === 401 ? 'GW_REFUSE_EVENTS_SESSION_NOT_LOGGED_IN' : 'GW_REFUSE_EVENTS_SESSION_UNAVAILABLE');
      }
    }
    if (req.socket.destroyed || res.destroyed) return;
    const stream = this.hub.open(res, String(userId), browserUuid, parseLastEventId(req.headers['last-event-id']));
    if (!stream) answerRefusal(res, 'GW_REFUSE_EVENTS_STREAM_LIMIT');
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
