import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { envelope, formatNotification, IntakeReplies, MessageBody, parseMessageBody, ServerMessageType, type PushNotificationPayload } from '@pushgate/protocol';
import type { GatewayContext, PushJob } from '../context.js';
import { GatewayError } from '../errors.js';
import { checkCredential } from '../transport/ws/handshake.js';
import { INTAKE_SCOPE_USER } from '../auth/token.js';
import { count } from '../ops/stats.js';

type Reply = readonly [number, string];

/** Peers that `message.allowUnauthenticatedLoopback` lets in without a key. */
function isLoopback(address: string | undefined): boolean {
  return address === '127.0.0.1' || address === '::1' || address === '::ffff:127.0.0.1' || (address?.startsWith('127.') ?? false);
}

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

class BodyTooLarge extends Error {}

/** Read the request body, refusing more than `limit` bytes. */
function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers['content-length']);
    if (declared > limit) {
      reject(new BodyTooLarge());
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        req.removeAllListeners('data');
        req.resume();
        reject(new BodyTooLarge());
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks, size)));
    req.on('error', reject);
  });
}

function reply(ctx: GatewayContext, res: ServerResponse, [status, text]: Reply, extraHeaders?: Record<string, string>): void {
  count(ctx.stats.messages, String(status));
  // 202 means a notification was dropped: log it with the reason. Rejections are the caller's to report.
  if (status === 202) ctx.logger.info({ status, reason: text }, '/message dropped');
  else if (status !== 200 && ctx.logger.isLevelEnabled('debug')) ctx.logger.debug({ status, reason: text }, '/message rejected');
  if (res.headersSent) return;
  res.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': Buffer.byteLength(text), ...extraHeaders });
  res.end(text);
}

const TOO_LARGE: Reply = [413, 'Payload too large'];
const UNAUTHORIZED: Reply = [401, 'Unauthorized'];
const TOO_MANY_FAILURES: Reply = [429, 'Too many failed authentications'];
const SHUTTING_DOWN: Reply = [503, 'Shutting down'];
const INTERNAL: Reply = [500, 'Internal server error'];

/**
 * `POST /message` (PROTOCOL.md §2): validate, authenticate, resolve host and
 * service names, format, deliver `ProcessPushNotification` to one tab per
 * browser of the user, hand the job to the mobile relay, answer `200 ok`.
 * Every other outcome has its exact status and text (`IntakeReplies`).
 */
export async function handleMessage(ctx: GatewayContext, req: IncomingMessage, res: ServerResponse): Promise<void> {
  try {
    await intake(ctx, req, res);
  } catch (err) {
    if (err instanceof GatewayError && err.code === 'GW_ERR_DIRECTORY_UNAVAILABLE') {
      ctx.logger.warn({ err }, '/message: directory unavailable');
      reply(ctx, res, IntakeReplies.directoryUnavailable);
      return;
    }
    ctx.logger.error({ err }, '/message failed');
    reply(ctx, res, INTERNAL);
  }
}

/** Same body, same id: the channels' idempotency keys (`<id>:<channel>`) survive a resend. */
function notificationId(body: MessageBody): string {
  return createHash('sha256').update(JSON.stringify(body)).digest('base64url').slice(0, 22);
}

async function intake(ctx: GatewayContext, req: IncomingMessage, res: ServerResponse): Promise<void> {
  if (req.method !== 'POST') return reply(ctx, res, IntakeReplies.methodNotAllowed, { Allow: 'POST' });
  if (ctx.closing) return reply(ctx, res, SHUTTING_DOWN);

  const cfg = ctx.config.message;
  if (!(cfg.allowUnauthenticatedLoopback && isLoopback(req.socket.remoteAddress))) {
    // The API key, or (auth.mode token/both) a token of the intake scope, userId 0: a user's own token cannot post.
    // Key guessing here spends the same per-IP budget as failed WebSocket handshakes (limits.maxFailedHandshakesPerIp).
    const ip = req.socket.remoteAddress ?? '';
    if (ctx.guard?.failuresExceeded(ip, Date.now())) {
      count(ctx.stats.limitRefusals, 'failed-handshakes');
      return reply(ctx, res, TOO_MANY_FAILURES);
    }
    const unauthorized = (): void => {
      ctx.guard?.recordFailure(ip, Date.now());
      reply(ctx, res, UNAUTHORIZED);
    };
    const key = requestApiKey(req);
    if (key === undefined) return unauthorized();
    if (!keptKeyMatches(req.socket, key, Date.now())) {
      const cred = await checkCredential(key, ctx.config.auth, ctx.directory, Math.floor(Date.now() / 1000));
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
    if (err instanceof BodyTooLarge) return reply(ctx, res, TOO_LARGE, { Connection: 'close' });
    throw err;
  }
  let json: unknown;
  try {
    json = JSON.parse(raw.toString('utf8'));
  } catch {
    return reply(ctx, res, IntakeReplies.invalidJson);
  }
  if (json === null || typeof json !== 'object' || Array.isArray(json)) return reply(ctx, res, IntakeReplies.invalidJson);

  // Go decoded a missing userId as 0 and answered "Invalid userId"; so do we for anything not a positive integer.
  const userId = (json as { userId?: unknown }).userId;
  if (typeof userId !== 'number' || !Number.isSafeInteger(userId) || userId <= 0) return reply(ctx, res, IntakeReplies.invalidUserId);

  const parsed = parseMessageBody(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const where = issue && issue.path.length ? issue.path.map(String).join('.') : 'body';
    const text = issue?.message.startsWith(where) ? issue.message : `Invalid ${where}: ${issue?.message ?? 'invalid'}`;
    return reply(ctx, res, [400, text]);
  }
  const body = parsed.data;

  if (Math.floor(Date.now() / 1000) - body.timestamp > cfg.maxAgeSeconds) return reply(ctx, res, IntakeReplies.tooOld);

  // pushgate: configured channels are a delivery path too. Routing needs the host name, so with
  // channels the "not registered" answer waits until host and service are known (docs/channels.md).
  const reachable = ctx.registry.isRegistered(body.userId) || ctx.sse?.has(body.userId) === true
    || (ctx.bus.kind !== 'local' && (await ctx.bus.registeredElsewhere(body.userId)))
    || (await ctx.directory.relaySettings()) !== undefined;
  if (!reachable && ctx.channels === undefined) return reply(ctx, res, IntakeReplies.notRegistered);

  const hostName = await ctx.directory.hostName(body.hostUuid);
  if (hostName === undefined) return reply(ctx, res, IntakeReplies.noHost);
  let serviceName: string | undefined;
  if (body.type === 'service') {
    serviceName = await ctx.directory.serviceName(body.serviceUuid);
    if (serviceName === undefined) return reply(ctx, res, IntakeReplies.noService);
  }
  // Users are routed by their userId as a string (`notifications.users."7"`): the directory knows no user names.
  const user = String(body.userId);
  const routed = ctx.channels?.channelsFor({ host: hostName, user }) ?? [];
  if (!reachable && routed.length === 0) return reply(ctx, res, IntakeReplies.notRegistered);

  const formatted = formatNotification({
    type: body.type, hostName, serviceName, state: body.state, notificationtype: body.notificationtype,
    output: body.output, ackauthor: body.ackauthor, ackcomment: body.ackcomment,
  });
  // Only the channels and the outbox use the id; a sha256 per request cost ~7 % of /message CPU (pnpm bench profile).
  const id = ctx.channels !== undefined ? notificationId(body) : '';
  const job: PushJob = {
    userId: body.userId,
    title: formatted.title,
    body: formatted.message,
    type: body.type,
    notificationType: body.notificationtype,
    currentState: body.state,
    hostUuid: body.hostUuid,
    serviceUuid: body.serviceUuid,
  };
  if (ctx.channels !== undefined && routed.length > 0) {
    // Accepted means journaled: every channel's delivery is fsynced before anyone sees 200 or a
    // browser sees the notification. A refusal (outbox full or closed) answers 503 and delivers
    // nothing here; deliveries already journaled for other channels still go out, and a resend of
    // the same body has the same id, so those pending are not doubled.
    const results = await ctx.channels.dispatch({ id, host: hostName, user, title: formatted.title, message: formatted.message });
    const refused = Object.entries(results).find(([, r]) => r.startsWith('rejected: '));
    if (refused !== undefined) return reply(ctx, res, [503, `Notification not accepted: channel ${refused[0]}: ${refused[1].slice('rejected: '.length)}`]);
  }
  // With the outbox open, mobile push is journaled too (one delivery per device), under the same rule.
  const mobile = ctx.channels?.mobile;
  if (mobile !== undefined && (await ctx.directory.relaySettings()) !== undefined) {
    const refused = await mobile(id, job);
    if (refused !== undefined) return reply(ctx, res, [503, `Notification not accepted: mobile push: ${refused}`]);
  }
  const payload: PushNotificationPayload = {
    timestamp: body.timestamp,
    userId: body.userId,
    title: formatted.title,
    message: formatted.message,
    type: body.type,
  };
  if (body.hostUuid !== '') payload.hostUuid = body.hostUuid;
  if (body.serviceUuid !== '') payload.serviceUuid = body.serviceUuid;
  const icon = formatted.icon || body.icon;
  if (icon !== '') payload.icon = icon;
  payload.id = ctx.replay.nextId();

  // Serialised once; the same Buffer goes to every routed socket, into the replay log and (Redis bus) to other nodes.
  const frame = Buffer.from(envelope(ServerMessageType.ProcessPushNotification, formatted.message, payload));
  ctx.bus.publishUser(body.userId, payload.id, frame);
  reply(ctx, res, IntakeReplies.ok);

  if (mobile === undefined) ctx.relay?.enqueue(job);
}
