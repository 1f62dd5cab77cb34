import { ServerMessageType, type PushNotificationPayload } from '@pushgate/protocol';
import { REPLAY_GAP } from '../../pipeline/replay.js';

/**
 * The frames of the legacy openITCOCKPIT push protocol (the PHP/Ratchet
 * server, docs/protocol/openitcockpit-legacy.md section 2), byte for byte:
 * `{"type", "message", "data"}` written as PHP's `json_encode` writes them.
 * And the one translation the shared delivery paths need: a frame of the
 * newer generation (`{"type", "message", "payload"}`, serialised once for
 * every socket of a notification) into the frame a legacy socket gets, or
 * nothing when the legacy frontend has no such message.
 */

/**
 * JSON as PHP's `json_encode` writes it with its default flags: `/` as
 * `\/`, every character above U+007F as a `\uXXXX` escape of its UTF-16
 * code units (lowercase hex, so surrogate pairs for astral characters), an
 * empty array or object as `[]` (PHP decodes `{}` to an empty array).
 * Everything else as `JSON.stringify` (the same escapes for `"`, `\` and
 * control characters).
 */
export function phpJson(value: unknown): string {
  return JSON.stringify(value, emptyAsArray).replace(/[/\u0080-\uffff]/g, escapeChar);
}

function emptyAsArray(this: unknown, _key: string, v: unknown): unknown {
  return v !== null && typeof v === 'object' && !Array.isArray(v) && Object.keys(v).length === 0 ? [] : v;
}

function escapeChar(c: string): string {
  return c === '/' ? '\\/' : `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`;
}

/** One legacy server frame. */
export function legacyFrame(type: string, message: string, data: unknown): Buffer {
  return Buffer.from(phpJson({ type, message, data }));
}

/** Exact texts of the PHP server. */
export const LegacyTexts = {
  connection: 'Connection established successfully',
  pong: 'Pong',
  testMessage: 'This is a test message',
} as const;

/** `{"type":"connection",…}`: the greeting, carrying the socket's uuid. */
export function connectionFrame(uuid: string): Buffer {
  return legacyFrame('connection', LegacyTexts.connection, { uuid });
}

/** `{"type":"keepAlive","message":"Pong","data":[]}`: the same bytes every time. */
export const KEEP_ALIVE_FRAME = legacyFrame('keepAlive', LegacyTexts.pong, []);

/** The answer to `testMessage`: the browser's own `data`, echoed. */
export function testMessageFrame(data: unknown): Buffer {
  return legacyFrame('message', LegacyTexts.testMessage, data);
}

/**
 * A notification as the PHP server sent it: the fields of the Gearman job
 * in its order, `serviceUuid` `""` and `icon` `null` when absent; pushgate
 * adds the replay `id` last (docs/protocol-extensions.md).
 */
export function notificationFrame(message: string, p: PushNotificationPayload): Buffer {
  const data: Record<string, unknown> = {
    timestamp: p.timestamp,
    userId: p.userId,
    title: p.title,
    message: p.message,
    type: p.type,
    hostUuid: p.hostUuid ?? '',
    serviceUuid: p.serviceUuid ?? '',
    icon: p.icon ?? null,
  };
  if (p.id !== undefined) data.id = p.id;
  return legacyFrame('message', message, data);
}

/** What the newer generation's frames become; `null`: not sent to a legacy socket. */
const translated = new WeakMap<Buffer, Buffer | null>();

/**
 * The legacy frame for a frame of the newer generation: a
 * `ProcessPushNotification` becomes a `message`, a `ReplayGap` keeps its
 * type in the legacy envelope; anything else (`ExportStatus`, which the
 * legacy socket never carried) is `undefined`. Cached per Buffer: a
 * notification sent to many legacy sockets is translated once.
 */
export function toLegacy(frame: Buffer): Buffer | undefined {
  const known = translated.get(frame);
  if (known !== undefined) return known ?? undefined;
  const out = translate(frame);
  translated.set(frame, out ?? null);
  return out;
}

const NOTIFICATION_PREFIX = Buffer.from(`{"type":"${ServerMessageType.ProcessPushNotification}",`);
const GAP_PREFIX = Buffer.from(`{"type":"${REPLAY_GAP}",`);

function translate(frame: Buffer): Buffer | undefined {
  const isNotification = startsWith(frame, NOTIFICATION_PREFIX);
  if (!isNotification && !startsWith(frame, GAP_PREFIX)) return undefined;
  let env: { type: string; message: string; payload: unknown };
  try {
    env = JSON.parse(frame.toString('utf8')) as typeof env;
  } catch {
    return undefined;
  }
  if (isNotification) return notificationFrame(env.message, env.payload as PushNotificationPayload);
  return legacyFrame(REPLAY_GAP, env.message, env.payload);
}

function startsWith(b: Buffer, prefix: Buffer): boolean {
  return b.length >= prefix.length && b.compare(prefix, 0, prefix.length, 0, prefix.length) === 0;
}

/**
 * The payload of an unmasked server frame built by `wireFrame`
 * (connection.ts): the bytes after its 2, 4 or 10 byte header.
 */
export function unwire(wire: Buffer): Buffer {
  const len = wire[1]! & 0x7f;
  return wire.subarray(len === 126 ? 4 : len === 127 ? 10 : 2);
}
