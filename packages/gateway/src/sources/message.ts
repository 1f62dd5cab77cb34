import { timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { formatNotification, IntakeReplies, parseMessageBody } from '@pushgate/protocol';
import { isLoopback } from '../auth/loopback.js';
import type { Logger } from 'pino';
import type { AuthPolicy } from '../transport/ws/handshake.js';
import type { HandshakeGuard } from '../auth/guard.js';
import type { IdClock } from '../cluster/ids.js';
import type { Config } from '../config.js';
import type { Directory } from '../directory/directory.js';
import { GatewayError } from '../errors.js';
import { count, type GatewayStats } from '../ops/stats.js';
import { answerRefusal, refusalStatus, refusalText, type DetailArgs, type HttpRefusalCode } from '../transport/refusals.js';
import { naemonObjectKey, naemonSeverity, type Notification } from '../pipeline/notification.js';
import type { Pipeline } from '../pipeline/pipeline.js';
import { checkCredential } from '../transport/ws/handshake.js';
import { formToBody, isFormEncoded } from './form-body.js';
import { INTAKE_SCOPE_USER } from '../auth/token.js';
import { BodyTooLarge, readBody } from '../transport/http/body.js';



/** The API key from `X-Api-Key` or `Authorization: Bearer <key>`, or undefined. */
export function requestApiKey(req: IncomingMessage): string | undefined {
  const header = req.headers['x-api-key'];
  if (typeof header === 'string' && header !== '') return header;
  const auth = req.headers.authorization;
  if (auth && /^bearer\s+/i.test(auth)) {
    const key = auth.replace(/^bearer\s+/i, '').trim();
    if (key !== '') return key;
  }
  return undefined;
}

/**
 * The API key each keep-alive connection last authenticated with. A sender
 * posts many notifications over one connection; repeating the directory's
 * check (a sha256 and an async call) for the same key cost ~6 % of
 * `/message` CPU in the `pnpm bench` saturate profile. Compared in constant
 * time (only the length can show), so a reverse proxy's shared upstream
 * connection cannot be used to probe another client's key. The directory is
 * asked again after `KEPT_KEY_MS`, so a key revoked there stops working on
 * an open connection within a minute.
 */
const keptKeys = new WeakMap<Socket, { key: Buffer; until: number }>();
const KEPT_KEY_MS = 60_000;

function keptKeyMatches(socket: Socket, key: string, now: number): boolean {
  const kept = keptKeys.get(socket);
  if (kept === undefined || now >= kept.until) return false;
  const candidate = Buffer.from(key);
  return candidate.length === kept.key.length && timingSafeEqual(candidate, kept.key);
}

/** What the `/message` source needs. */
export interface MessageSourceOptions {
  config: Config;
  directory: Directory;
  logger: Logger;
  stats: GatewayStats;
  /** Per-IP failed-authentication budget, shared with the WebSocket handshake. */
  guard: HandshakeGuard;
  pipeline: Pipeline;
  /** Notification ids (the bus's clock). */
  ids: IdClock;
  /** True once the gateway is shutting down: new notifications get 503. */
  closing: () => boolean;
}

/**
 * `POST /message` (docs/protocol/openitcockpit.md "Notification input"), the
 * source the sender feeds: validate, authenticate, resolve host and service
 * names, format, and hand the {@link Notification} to the pipeline; answer
 * `200 ok` once it is accepted. Every other outcome has its exact status and
 * text (transport/refusals.ts).
 */
export class MessageSource {
  readonly #o: MessageSourceOptions;
  readonly #policy: AuthPolicy;

  constructor(opts: MessageSourceOptions) {
    this.#o = opts;
    this.#policy = opts.config.auth;
  }

  /** The route handler. */
  readonly handler = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    try {
      await this.#intake(req, res);
    } catch (err) {
      if (err instanceof GatewayError && err.code === 'GW_ERR_DIRECTORY_UNAVAILABLE') {
        this.#o.logger.warn({ err }, '/message: directory unavailable');
        this.#refuse(res, 'GW_REFUSE_DIRECTORY_UNAVAILABLE');
        return;
      }
      this.#o.logger.error({ err }, '/message failed');
      this.#refuse(res, 'GW_REFUSE_INTERNAL');
    }
  };

  /** Answer `res` with the refusal `code` (transport/refusals.ts), counted by status; a 202 (a dropped notification) is logged with its reason. */
  #refuse<C extends HttpRefusalCode>(res: ServerResponse, code: C, ...detail: DetailArgs<C>): void {
    const { stats, logger } = this.#o;
    const status = refusalStatus(code);
    count(stats.messages, String(status));
    // 202 means a notification was dropped: log it with the reason. Rejections are the caller's to report.
    if (status === 202) logger.info({ status, reason: refusalText(code, ...detail) }, '/message dropped');
    else if (logger.isLevelEnabled('debug')) logger.debug({ status, code, reason: refusalText(code, ...detail) }, '/message rejected');
    if (!res.headersSent) answerRefusal(res, code, ...detail);
  }

  #ok(res: ServerResponse): void {
    const [status, text] = IntakeReplies.ok;
    count(this.#o.stats.messages, String(status));
    res.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': Buffer.byteLength(text) });
    res.end(text);
  }

  async #intake(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const o = this.#o;
    if (req.method !== 'POST') return this.#refuse(res, 'GW_REFUSE_MESSAGE_METHOD');
    if (o.closing()) return this.#refuse(res, 'GW_REFUSE_SHUTTING_DOWN');

    const cfg = o.config.message;
    if (!(cfg.allowUnauthenticatedLoopback && isLoopback(req.socket.remoteAddress))) {
      // The API key, or (auth.mode token/both) a token of the intake scope, userId 0: a user's own token cannot post.
      // Key guessing here spends the same per-IP budget as failed WebSocket handshakes (limits.maxFailedHandshakesPerIp).
      const ip = req.socket.remoteAddress ?? '';
      if (o.guard.failuresExceeded(ip, Date.now())) {
        count(o.stats.limitRefusals, 'failed-handshakes');
        return this.#refuse(res, 'GW_REFUSE_TOO_MANY_FAILED_AUTH');
      }
      const unauthorized = (): void => {
        o.guard.recordFailure(ip, Date.now());
        this.#refuse(res, 'GW_REFUSE_UNAUTHORIZED');
      };
      const key = requestApiKey(req);
      if (key === undefined) return unauthorized();
      if (!keptKeyMatches(req.socket, key, Date.now())) {
        const cred = await checkCredential(key, this.#policy, o.directory, Math.floor(Date.now() / 1000));
        if (!cred.ok) {
          if (cred.status === 503) throw new GatewayError('GW_ERR_DIRECTORY_UNAVAILABLE', cred.reason);
          return unauthorized();
        }
        if (cred.token !== undefined && cred.token.userId !== INTAKE_SCOPE_USER) return unauthorized();
        // Tokens expire, so only an API key is kept for the connection's next requests.
        if (cred.token === undefined) keptKeys.set(req.socket, { key: Buffer.from(key), until: Date.now() + KEPT_KEY_MS });
      }
    }

    let raw: Buffer;
    try {
      raw = await readBody(req, cfg.maxBodyBytes);
    } catch (err) {
      if (err instanceof BodyTooLarge) return this.#refuse(res, 'GW_REFUSE_PAYLOAD_TOO_LARGE');
      throw err;
    }
    let json: unknown;
    if (isFormEncoded(req.headers['content-type'])) {
      // pushgate: the same fields form-encoded (docs/protocol/extensions.md), for `curl --data-urlencode`.
      const form = formToBody(raw.toString('utf8'));
      if (!form.ok) return this.#refuse(res, 'GW_REFUSE_INVALID_FIELD', `Invalid ${form.field}: given more than once`);
      json = form.body;
    } else {
      try {
        json = JSON.parse(raw.toString('utf8'));
      } catch {
        return this.#refuse(res, 'GW_REFUSE_INVALID_JSON');
      }
    }
    if (json === null || typeof json !== 'object' || Array.isArray(json)) return this.#refuse(res, 'GW_REFUSE_INVALID_JSON');

    // Go decoded a missing userId as 0 and answered "Invalid userId"; so do we for anything not a positive integer.
    const userId = (json as { userId?: unknown }).userId;
    if (typeof userId !== 'number' || !Number.isSafeInteger(userId) || userId <= 0) return this.#refuse(res, 'GW_REFUSE_INVALID_USER_ID');

    const parsed = parseMessageBody(json);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      const where = issue && issue.path.length ? issue.path.map(String).join('.') : 'body';
      const text = issue?.message.startsWith(where) ? issue.message : `Invalid ${where}: ${issue?.message ?? 'invalid'}`;
      return this.#refuse(res, 'GW_REFUSE_INVALID_FIELD', text);
    }
    const body = parsed.data;

    if (Math.floor(Date.now() / 1000) - body.timestamp > cfg.maxAgeSeconds) return this.#refuse(res, 'GW_REFUSE_TOO_OLD');

    // pushgate: configured channels are a delivery path too. Routing needs the host name, so with
    // channels the "not registered" answer waits until host and service are known (docs/channels.md).
    const to = { kind: 'user', userId: body.userId } as const;
    const reachable = await o.pipeline.reaches(to);
    if (!reachable && !o.pipeline.hasChannels && !o.pipeline.hasEscalation) return this.#refuse(res, 'GW_REFUSE_NOT_REGISTERED');

    const hostName = await o.directory.hostName(body.hostUuid);
    if (hostName === undefined) return this.#refuse(res, 'GW_REFUSE_NO_HOST');
    let serviceName: string | undefined;
    if (body.type === 'service') {
      serviceName = await o.directory.serviceName(body.serviceUuid);
      if (serviceName === undefined) return this.#refuse(res, 'GW_REFUSE_NO_SERVICE');
    }

    const formatted = formatNotification({
      type: body.type, hostName, serviceName, state: body.state, notificationtype: body.notificationtype,
      output: body.output, ackauthor: body.ackauthor, ackcomment: body.ackcomment,
    });
    let n: Notification = {
      id: o.ids.next(),
      objectKey: naemonObjectKey(body.hostUuid, body.type === 'service' ? body.serviceUuid : ''),
      kind: body.notificationtype.toUpperCase(),
      severity: naemonSeverity(body.type, body.state),
      title: formatted.title,
      body: formatted.message,
      recipients: [to],
      source: 'message',
      created: Date.now(),
      host: hostName,
      oitc: {
        timestamp: body.timestamp,
        type: body.type,
        hostUuid: body.hostUuid,
        serviceUuid: body.serviceUuid,
        icon: formatted.icon || body.icon,
        envelopeMessage: formatted.message,
        state: body.state,
        notificationType: body.notificationtype,
      },
    };
    const plan = o.pipeline.plan(n);
    // pushgate: a PROBLEM that starts an escalation ladder is accepted too (a later step reaches the person),
    // and an ACKNOWLEDGEMENT or RECOVERY that may end one.
    if (!reachable && plan.channels === 0 && !o.pipeline.escalates(n)) return this.#refuse(res, 'GW_REFUSE_NOT_REGISTERED');
    // Same body, same delivery ids: a resend finds the first one's outbox deliveries still pending. Only
    // durable deliveries have ids, so a browser-only notification skips serialising the body again.
    if (plan.durable > 0) n = { ...n, dedupe: JSON.stringify(body) };

    // Accepted means journaled: every durable delivery (channels, phones) is fsynced in the outbox and the
    // notification itself is written to the pipeline journal (fsynced within state.journal.syncIntervalMs)
    // before the sender sees 200. A refusal (outbox full or closed) answers 503 and delivers
    // nothing here; deliveries already journaled for other targets still go out, and a resend of the
    // same body has the same delivery ids, so those pending are not doubled.
    const accepted = await o.pipeline.accept(n, plan);
    if (!accepted.ok) return this.#refuse(res, 'GW_REFUSE_NOT_ACCEPTED', `${accepted.refusedBy}: ${accepted.reason}`);
    this.#ok(res);
  }
}
