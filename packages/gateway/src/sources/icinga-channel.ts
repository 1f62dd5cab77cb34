import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import { z } from 'zod';
import type { HandshakeGuard } from '../auth/guard.js';
import type { IdClock } from '../cluster/ids.js';
import type { Config } from '../config.js';
import type { NotifiedRow } from '../directory/icinga.js';
import { digest, matchesAny } from '../directory/secrets.js';
import { GatewayError } from '../errors.js';
import { count } from '../ops/stats.js';
import { icingaSeverity, type IcingaFacts, type Notification, type OitcFacts, type Recipient, type Severity } from '../pipeline/notification.js';
import type { Pipeline } from '../pipeline/pipeline.js';
import { BodyTooLarge, readBody } from '../transport/http/body.js';
import { answerRefusal, refusalStatus, refusalText, type DetailArgs, type HttpRefusalCode } from '../transport/refusals.js';

/**
 * `POST /icinga/notifications`: the intake of pushgate's Icinga Notifications
 * channel plugin (packages/icinga-channel; docs/protocol/icinga-channel.md
 * "Intake"). The body is the daemon's SendNotification request plus the
 * channel type; it becomes one {@link Notification} for the contact's
 * address of that type, and is answered `200 ok` only once the pipeline
 * journaled it, so Icinga records "sent" only for what pushgate holds.
 */

/** The intake's path. */
export const ICINGA_CHANNEL_PATH = '/icinga/notifications';

/** Icinga Notifications' severities (upstream `event.Severity` as text). */
const SEVERITIES = ['ok', 'debug', 'info', 'notice', 'warning', 'err', 'crit', 'alert', 'emerg'] as const;

// The upstream plugin package's JSON (plugin.NotificationRequest); Go writes a nil slice or map as null.
// Unknown keys pass: fields a newer daemon adds do not break the intake.
const AddressSchema = z.object({ type: z.string(), address: z.string() });
const RequestSchema = z.object({
  /** Which address type is the plugin's: its file name in the daemon's channels directory. */
  channel_type: z.string().regex(/^[a-zA-Z0-9_-]{1,255}$/, { error: 'expected the channel type, 1-255 of a-z A-Z 0-9 _ -' }),
  contact: z.object({ full_name: z.string(), addresses: z.array(AddressSchema).nullable() }),
  object: z.object({ name: z.string(), url: z.string(), tags: z.record(z.string(), z.string()).nullable() }),
  incident: z.object({ id: z.int().min(0), url: z.string(), severity: z.enum(SEVERITIES) }).nullable(),
  event: z.object({
    /** RFC 3339, Go's time.Time (nanoseconds allowed). */
    time: z.string().refine((s) => Number.isFinite(Date.parse(s)), { error: 'expected an RFC 3339 time' }),
    message: z.string(),
  }),
});

/** A validated intake body. */
export type IcingaChannelRequest = z.output<typeof RequestSchema>;

/** What the intake needs of the Icinga endpoint (`icinga.enabled`) to turn a username into a contact. */
export interface IcingaLookup {
  /** The pending notified row of the incident for that contact on a channel of that type (directory/icinga.ts). */
  pendingChannelRow(incidentId: number, username: string, channelType: string): Promise<NotifiedRow | undefined>;
  /** The poll's dedupe (sources/icinga-poller.ts `repeats`). */
  repeats(row: NotifiedRow): boolean;
}

/** Counters of the intake, for metrics. */
export interface IcingaChannelStats {
  /** Answers by HTTP status (`"200"`, `"401"`, `"422"`, …). */
  answers: Record<string, number>;
  /** Requests answered 200 without a new notification: the poll had shown it already. */
  duplicates: number;
}

/** Options of {@link IcingaChannelSource}. */
export interface IcingaChannelSourceOptions {
  config: Config['icinga']['channel'];
  logger: Logger;
  pipeline: Pipeline;
  ids: IdClock;
  /** Per-IP failed-authentication budget, shared with `/message` and the WebSocket handshake. */
  guard: HandshakeGuard;
  /** The Icinga database and poll, when `icinga.enabled`; without it only pushgate user ids are recipients. */
  icinga: IcingaLookup | undefined;
  /** True once the gateway is shutting down: 503. */
  closing: () => boolean;
}

/** The Bearer token of the request, or undefined. */
function bearer(req: IncomingMessage): string | undefined {
  const auth = req.headers.authorization;
  if (auth === undefined || !/^bearer\s+/i.test(auth)) return undefined;
  const token = auth.replace(/^bearer\s+/i, '').trim();
  return token === '' ? undefined : token;
}

/** The object's key as the poll writes it for Icinga 2 objects (`icinga:<host>!<service>`), from its tags; else its name. */
export function icingaObjectName(object: IcingaChannelRequest['object']): string {
  const host = object.tags?.host;
  if (host === undefined || host === '') return object.name;
  const service = object.tags?.service;
  return service === undefined || service === '' ? host : `${host}!${service}`;
}

/** A Naemon-like state id for the openITCOCKPIT wire formats (WebSocket frame, mobile push). */
function stateId(type: 'host' | 'service', severity: Severity): number {
  if (severity === 'ok' || severity === 'info') return 0;
  if (type === 'host') return 1;
  return severity === 'warning' ? 1 : severity === 'critical' ? 2 : 3;
}

/** The intake (see the module comment). */
export class IcingaChannelSource {
  readonly stats: IcingaChannelStats = { answers: {}, duplicates: 0 };
  readonly #o: IcingaChannelSourceOptions;
  readonly #tokens: readonly Buffer[];
  readonly #log: Logger;

  constructor(opts: IcingaChannelSourceOptions) {
    this.#o = opts;
    this.#tokens = opts.config.tokens.map(digest);
    this.#log = opts.logger.child({ component: 'icinga-channel' });
  }

  /** The route handler. */
  readonly handler = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    try {
      await this.#intake(req, res);
    } catch (err) {
      if (err instanceof GatewayError && err.code === 'GW_ERR_DIRECTORY_UNAVAILABLE') {
        this.#log.warn({ err }, `${ICINGA_CHANNEL_PATH}: Icinga database unavailable`);
        this.#refuse(res, 'GW_REFUSE_ICINGA_CHANNEL_DATABASE_UNAVAILABLE');
        return;
      }
      this.#log.error({ err }, `${ICINGA_CHANNEL_PATH} failed`);
      this.#refuse(res, 'GW_REFUSE_INTERNAL');
    }
  };

  /** Every refusal is logged (Icinga records only a failed send): a warning for what an operator must fix, else debug. */
  #refuse<C extends HttpRefusalCode>(res: ServerResponse, code: C, ...detail: DetailArgs<C>): void {
    const status = refusalStatus(code);
    count(this.stats.answers, String(status));
    const reason = refusalText(code, ...detail);
    if (status === 422 || status === 503 || status === 401) this.#log.warn({ status, code, reason }, `${ICINGA_CHANNEL_PATH} refused`);
    else if (this.#log.isLevelEnabled('debug')) this.#log.debug({ status, code, reason }, `${ICINGA_CHANNEL_PATH} refused`);
    if (!res.headersSent) answerRefusal(res, code, ...detail);
  }

  #ok(res: ServerResponse): void {
    count(this.stats.answers, '200');
    res.writeHead(200, { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': 2 });
    res.end('ok');
  }

  async #intake(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const o = this.#o;
    if (req.method !== 'POST') return this.#refuse(res, 'GW_REFUSE_ICINGA_CHANNEL_METHOD');
    if (o.closing()) return this.#refuse(res, 'GW_REFUSE_SHUTTING_DOWN');

    const ip = req.socket.remoteAddress ?? '';
    if (o.guard.failuresExceeded(ip, Date.now())) return this.#refuse(res, 'GW_REFUSE_TOO_MANY_FAILED_AUTH');
    const token = bearer(req);
    // Constant time over every configured token (directory/secrets.ts): neither which one nor how much matched shows.
    if (token === undefined || !matchesAny(token, this.#tokens)) {
      o.guard.recordFailure(ip, Date.now());
      return this.#refuse(res, 'GW_REFUSE_ICINGA_CHANNEL_UNAUTHORIZED');
    }

    let raw: Buffer;
    try {
      raw = await readBody(req, o.config.maxBodyBytes);
    } catch (err) {
      if (err instanceof BodyTooLarge) return this.#refuse(res, 'GW_REFUSE_ICINGA_CHANNEL_TOO_LARGE');
      throw err;
    }
    let json: unknown;
    try {
      json = JSON.parse(raw.toString('utf8'));
    } catch {
      return this.#refuse(res, 'GW_REFUSE_ICINGA_CHANNEL_INVALID', 'body is not JSON');
    }
    const parsed = RequestSchema.safeParse(json);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      const where = issue && issue.path.length > 0 ? issue.path.map(String).join('.') : 'body';
      return this.#refuse(res, 'GW_REFUSE_ICINGA_CHANNEL_INVALID', `${where}: ${issue?.message ?? 'invalid'}`);
    }
    const body = parsed.data;

    const address = body.contact.addresses?.find((a) => a.type === body.channel_type)?.address.trim() ?? '';
    if (address === '') {
      return this.#refuse(res, 'GW_REFUSE_ICINGA_CHANNEL_INVALID', `contact.addresses: ${JSON.stringify(body.contact.full_name)} has no address of type ${body.channel_type}`);
    }

    let to: Recipient;
    let row: NotifiedRow | undefined;
    if (/^\d+$/.test(address)) {
      // A pushgate (openITCOCKPIT) user id: its browsers, phones and the user's channels.
      const userId = Number(address);
      if (!Number.isSafeInteger(userId) || userId <= 0) {
        return this.#refuse(res, 'GW_REFUSE_ICINGA_CHANNEL_INVALID', `contact.addresses: user id ${address} must be an integer > 0`);
      }
      to = { kind: 'user', userId };
    } else {
      // An Icinga contact username: its Icinga Web streams and the contact's channels. The row the
      // daemon wrote for this very notification gives the contact and the SSE event id.
      if (o.icinga === undefined) return this.#refuse(res, 'GW_REFUSE_ICINGA_CHANNEL_UNRESOLVED', `the address ${JSON.stringify(address)} is an Icinga contact username, which needs icinga.enabled`);
      if (body.incident === null) return this.#refuse(res, 'GW_REFUSE_ICINGA_CHANNEL_UNRESOLVED', `a notification without an incident cannot go to the Icinga contact ${JSON.stringify(address)}`);
      row = await o.icinga.pendingChannelRow(body.incident.id, address, body.channel_type);
      if (row === undefined) {
        return this.#refuse(res, 'GW_REFUSE_ICINGA_CHANNEL_UNRESOLVED',
          `no pending notification of incident ${body.incident.id} for contact ${JSON.stringify(address)} on a channel of type ${body.channel_type}`);
      }
      if (o.icinga.repeats(row)) {
        // The poll showed this notification already (through another of the contact's channels): held, not shown twice.
        this.stats.duplicates++;
        this.#log.info({ historyId: row.id, incident: row.incidentId, contact: row.contactId }, 'icinga channel: notification already shown through the poll, not shown again');
        return this.#ok(res);
      }
      to = { kind: 'contact', contactId: row.contactId, username: address };
    }

    const n = channelNotification(body, to, row, o.ids.next(), Date.now());
    const accepted = await o.pipeline.accept(n);
    if (!accepted.ok) return this.#refuse(res, 'GW_REFUSE_ICINGA_CHANNEL_NOT_ACCEPTED', `${accepted.refusedBy}: ${accepted.reason}`);
    this.#ok(res);
  }
}

/**
 * The pipeline's notification for a channel request: kind and severity as
 * the poll maps them (sources/icinga-poller.ts), the object key from the
 * host/service tags, the incident page as click URL; Icinga facts (the SSE
 * event) from the contact's history row, openITCOCKPIT facts (the WebSocket
 * frame, mobile push) for a user.
 */
export function channelNotification(body: IcingaChannelRequest, to: Recipient, row: NotifiedRow | undefined, id: number, now: number): Notification {
  const word = body.incident?.severity ?? 'info';
  const severity = icingaSeverity(word);
  const kind = word === 'ok' ? 'RECOVERY' : 'PROBLEM';
  const host = body.object.tags?.host;
  const title = body.object.name;
  const eventTime = Date.parse(body.event.time);
  let icinga: IcingaFacts | undefined;
  let oitc: OitcFacts | undefined;
  if (row !== undefined) {
    icinga = { historyId: row.id, incidentId: row.incidentId, severity: word, time: row.time, message: row.message };
  } else {
    const type = body.object.tags?.service ? 'service' : 'host';
    oitc = {
      timestamp: Math.floor(eventTime / 1000),
      type,
      // openITCOCKPIT's uuids are unknown to Icinga: left out of the frame.
      hostUuid: '',
      serviceUuid: '',
      icon: '',
      envelopeMessage: body.event.message,
      state: stateId(type, severity),
      notificationType: kind,
    };
  }
  return {
    id,
    objectKey: `icinga:${icingaObjectName(body.object)}`,
    kind,
    severity,
    title,
    body: body.event.message,
    recipients: [to],
    source: 'icinga-channel',
    created: now,
    ...(host !== undefined && host !== '' ? { host } : {}),
    ...(body.incident !== null && body.incident.url !== '' ? { url: body.incident.url } : {}),
    // The same request again (a daemon retry) maps to the same outbox deliveries.
    dedupe: JSON.stringify(['icinga-channel', body.channel_type, body.contact.addresses, body.incident?.id ?? null, body.event.time, word, body.event.message]),
    ...(icinga !== undefined ? { icinga } : {}),
    ...(oitc !== undefined ? { oitc } : {}),
  };
}
