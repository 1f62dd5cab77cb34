import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import { z } from 'zod';
import type { ActionTokens, RedeemRefusal } from '../auth/action-token.js';
import type { AcknowledgeOutcome, Engine } from '../engines/engine.js';
import type { Trail } from '../trail/trail.js';
import { readJsonBody } from '../transport/http/body.js';
import { authenticateClient, type ClientAuth } from '../transport/http/client-auth.js';
import { answerRefusal } from '../transport/refusals.js';

/**
 * `POST /acknowledge?userId=<n>[&browserUuid=<device>]` (docs/acknowledge.md,
 * docs/protocol/extensions.md "Acknowledge"): a person pressed Acknowledge
 * on a notification. Authenticated as the person's `/events` stream is;
 * body `{"token":"a1.…"}` (the notification's `ackToken`), optionally with
 * `notificationId` and `objectKey`, which must then be the token's. The
 * token is redeemed (signature, expiry, action, user, notification, object,
 * single use), then the engine adapter acknowledges. Every answer is JSON
 * `{"outcome":"done"|"refused"|"unreachable","reason":"…"}`, with a
 * `token` field naming why a token was refused; the outcome is recorded in
 * the notification's trail.
 */

/** Path of the endpoint. */
export const ACKNOWLEDGE_PATH = '/acknowledge';

const MAX_BODY_BYTES = 16 * 1024;

const Body = z.strictObject({
  token: z.string().min(1).max(4096),
  notificationId: z.union([z.number().int().positive(), z.string().regex(/^\d{1,16}$/)]).optional(),
  objectKey: z.string().min(1).max(1024).optional(),
});

/** What the person is told when the token itself is refused (before the engine is asked). */
const TOKEN_REASONS: Record<RedeemRefusal, string> = {
  malformed: 'this is not an Acknowledge token',
  'bad-signature': 'this Acknowledge token is not one of this gateway\'s (forged, or signed with a secret no longer configured)',
  expired: 'this Acknowledge link has expired; acknowledge in the monitoring web interface',
  'wrong-action': 'this token is not for Acknowledge',
  'wrong-user': 'this Acknowledge link belongs to another user',
  'wrong-notification': 'this Acknowledge token belongs to another notification',
  'wrong-object': 'this Acknowledge token belongs to another host or service',
  used: 'this Acknowledge link was already used',
  'store-full': 'too many Acknowledge links in use at once; try again later or acknowledge in the monitoring web interface',
};

/** An acknowledgement the engine took (what {@link AcknowledgeEndpointOptions.onAcknowledged} is told). */
export interface Acknowledged {
  notificationId: number;
  objectKey: string;
  userId: number;
  author: string;
  /** ms since the epoch. */
  at: number;
}

/** Options of {@link AcknowledgeEndpoint}. */
export interface AcknowledgeEndpointOptions {
  engine: Engine;
  tokens: ActionTokens;
  auth: ClientAuth;
  /** The author the engine shows for a user: the directory's name for them, else `user <id>`. */
  authorOf(userId: number): Promise<string>;
  /** `acknowledge.comment`, `sticky`, `notify`, `persistent`. */
  settings: { comment: string; sticky: boolean; notify: boolean; persistent: boolean };
  trail: Trail | undefined;
  logger: Logger;
  /** Told of every acknowledgement the engine took (`done`), synchronously; must not throw. */
  onAcknowledged?: (a: Acknowledged) => void;
  /** Clock in ms; default `Date.now`. */
  now?: () => number;
}

/** Counters of {@link AcknowledgeEndpoint}, for metrics. */
export interface AcknowledgeStats {
  /** Requests that reached the engine, by outcome (`done`, `refused`, `unreachable`). */
  outcomes: Record<string, number>;
  /** Tokens refused before the engine was asked, by reason (`used`, `expired`, `wrong-user`, …). */
  tokenRefusals: Record<string, number>;
}

/** The endpoint; its `route` goes into the HTTP server's routes. */
export class AcknowledgeEndpoint {
  readonly stats: AcknowledgeStats = { outcomes: {}, tokenRefusals: {} };
  readonly route: { path: string; handler: (req: IncomingMessage, res: ServerResponse) => Promise<void> };
  readonly #o: AcknowledgeEndpointOptions;
  readonly #log: Logger;
  readonly #now: () => number;

  constructor(opts: AcknowledgeEndpointOptions) {
    this.#o = opts;
    this.#log = opts.logger.child({ component: 'acknowledge' });
    this.#now = opts.now ?? Date.now;
    this.route = { path: ACKNOWLEDGE_PATH, handler: (req, res) => this.#handle(req, res) };
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (req.method !== 'POST') return answerRefusal(res, 'GW_REFUSE_CLIENT_POST_METHOD');
    const who = await authenticateClient(req, this.#o.auth, false);
    if (!who.ok) {
      req.resume();
      return answerRefusal(res, who.refusal);
    }
    const body = await readJsonBody(req, MAX_BODY_BYTES);
    if (!body.ok) return answerRefusal(res, body.reason === 'too-large' ? 'GW_REFUSE_CLIENT_BODY_TOO_LARGE' : 'GW_REFUSE_CLIENT_BODY', body.detail);
    const parsed = Body.safeParse(body.value);
    if (!parsed.success) {
      const detail = parsed.error.issues.map((i) => `${i.path.length ? i.path.join('.') : '(body)'}: ${i.message}`).join('; ');
      return answerRefusal(res, 'GW_REFUSE_CLIENT_BODY', detail);
    }
    const b = parsed.data;
    const nowMs = this.#now();
    const redeemed = await this.#o.tokens.redeem(b.token, {
      action: 'acknowledge',
      userId: who.userId,
      ...(b.notificationId !== undefined ? { notificationId: String(b.notificationId) } : {}),
      ...(b.objectKey !== undefined ? { objectKey: b.objectKey } : {}),
    }, Math.floor(nowMs / 1000));
    if (!redeemed.ok) {
      const reason = TOKEN_REASONS[redeemed.reason];
      this.stats.tokenRefusals[redeemed.reason] = (this.stats.tokenRefusals[redeemed.reason] ?? 0) + 1;
      this.#log.warn({ user: who.userId, token: redeemed.reason }, 'acknowledge: token refused; nothing sent to the engine');
      return json(res, redeemed.reason === 'store-full' ? 503 : 403, { outcome: 'refused', reason, token: redeemed.reason });
    }
    const c = redeemed.claims;
    const author = await this.#o.authorOf(who.userId);
    const s = this.#o.settings;
    const result = await this.#o.engine.acknowledge({
      objectKey: c.objectKey, author, comment: s.comment, sticky: s.sticky, notify: s.notify, persistent: s.persistent,
    });
    // Nothing changed in the engine: the person may try again with the same token.
    if (result.outcome === 'unreachable') await this.#o.tokens.release(c);
    this.stats.outcomes[result.outcome] = (this.stats.outcomes[result.outcome] ?? 0) + 1;
    const nid = Number(c.notificationId);
    const at = this.#now();
    this.#o.trail?.record(nid, {
      type: 'acknowledge', userId: who.userId, author, how: 'action-token', engine: this.#o.engine.type, outcome: result.outcome, reason: result.reason,
    }, at);
    const fields = { notification: nid, user: who.userId, engine: this.#o.engine.type, outcome: result.outcome, reason: result.reason };
    if (result.outcome === 'done') {
      this.#log.info(fields, 'acknowledged in the engine');
      this.#o.onAcknowledged?.({ notificationId: nid, objectKey: c.objectKey, userId: who.userId, author, at });
    } else this.#log.warn(fields, 'acknowledge: the engine did not take it');
    return json(res, STATUS[result.outcome], { outcome: result.outcome, reason: result.reason });
  }
}

/** HTTP status per outcome: the engine took it, said no, or could not be asked. */
const STATUS: Record<AcknowledgeOutcome, number> = { done: 200, refused: 409, unreachable: 503 };

function json(res: ServerResponse, status: number, body: Record<string, unknown>): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text), 'Cache-Control': 'no-store' });
  res.end(text);
}
