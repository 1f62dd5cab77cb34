import { z } from 'zod';

/**
 * Wire messages of the openITCOCKPIT-compatible WebSocket protocol and the
 * `POST /message` intake (docs/protocol/openitcockpit.md §1, §2). Schemas validate at the edges;
 * everything inside the gateway works on the inferred plain types.
 */

/** Types the server sends (docs/protocol/openitcockpit.md "Frames"). */
export const ServerMessageType = {
  ConnectionEstablished: 'ConnectionEstablished',
  KeepAlive: 'KeepAlive',
  Error: 'Error',
  ProcessPushNotification: 'ProcessPushNotification',
  ExportStatus: 'ExportStatus',
} as const;

/** Exact message texts of the original service. */
export const Texts = {
  connectionEstablished: 'Connection established successfully',
  pong: 'Pong',
  testNotification: 'This is a test push notification triggered by the client',
  unknownType: (type: string) => `Unknown message type: ${type}`,
} as const;

/** Envelope of every frame in both directions: `{type, message, payload}`. */
export interface Envelope<P = unknown> {
  type: string;
  message: string;
  payload: P;
}

export type ObjectKind = 'host' | 'service';

/**
 * Payload of `ProcessPushNotification`. `hostUuid`, `serviceUuid` and `icon`
 * are left out when empty. `id` is pushgate's per-user sequence number for
 * replay; original clients ignore it.
 */
export interface PushNotificationPayload {
  timestamp: number;
  userId: number;
  title: string;
  message: string;
  type: ObjectKind;
  hostUuid?: string;
  serviceUuid?: string;
  icon?: string;
  id?: number;
  /**
   * pushgate's action token for Acknowledge (docs/protocol/extensions.md
   * "Acknowledge"), last; only on a PROBLEM when `acknowledge` is configured.
   */
  ackToken?: string;
}

/** A client frame: unknown fields are ignored, `payload` is checked per type. */
export const ClientEnvelope = z.object({
  type: z.string(),
  message: z.string().optional(),
  payload: z.unknown().optional(),
});
export type ClientEnvelope = z.infer<typeof ClientEnvelope>;

/** `RegisterBrowserPushNotification` payload; openITCOCKPIT ignores it, so do we beyond its shape. */
export const RegisterPayload = z.object({
  userId: z.union([z.number(), z.string()]).optional(),
  clientUuid: z.string().optional(),
  browserUuid: z.string().optional(),
}).nullish();

/** `TestPushNotification` payload. */
export const TestPayload = z.object({
  title: z.string().max(1024).default('Test notification'),
  icon: z.string().max(2048).default(''),
}).nullish();
export type TestPayload = z.infer<typeof TestPayload>;

/** What a device reports about a notification (docs/protocol/extensions.md "Receipts"). */
export const RECEIPT_KINDS = ['delivered', 'shown', 'suppressed', 'clicked', 'dismissed'] as const;
export type ReceiptKind = (typeof RECEIPT_KINDS)[number];

/**
 * One receipt: the notification's `id` (the `id` of its `ProcessPushNotification`
 * payload), what happened, and for `suppressed` why (`permission`,
 * `shown-elsewhere`, `disabled`). pushgate's own client frame `Receipt` carries
 * one as its payload; `POST /receipts` a list of them.
 */
export const ReceiptPayload = z.object({
  id: z.number().int().positive().max(Number.MAX_SAFE_INTEGER),
  kind: z.enum(RECEIPT_KINDS),
  reason: z.string().regex(/^[a-z][a-z-]{0,31}$/, 'reason must be 1 to 32 lower-case letters or dashes').optional(),
});
export type ReceiptPayload = z.infer<typeof ReceiptPayload>;

/** Most receipts in one `POST /receipts` body. */
export const MAX_RECEIPTS_PER_POST = 50;

/** `POST /receipts` body: `{"receipts": [<ReceiptPayload>, …]}`. */
export const ReceiptsBody = z.strictObject({
  receipts: z.array(ReceiptPayload).min(1).max(MAX_RECEIPTS_PER_POST),
});

/**
 * `POST /message` body (docs/protocol/openitcockpit.md §2). Missing strings default to `""`
 * and a missing state to 0, as Go's zero values did in the original.
 * `type` is compared case-insensitively.
 */
export const MessageBody = z.object({
  timestamp: z.number({ error: 'timestamp must be a number (unix seconds)' }),
  userId: z.number({ error: 'userId must be an integer' }).int('userId must be an integer'),
  type: z.string().transform((t) => t.toLowerCase()).pipe(
    z.enum(['host', 'service'], { error: 'type must be "host" or "service"' }),
  ),
  hostUuid: z.string().default(''),
  serviceUuid: z.string().default(''),
  icon: z.string().default(''),
  state: z.number().int().default(0),
  notificationtype: z.string().default(''),
  output: z.string().default(''),
  ackauthor: z.string().default(''),
  ackcomment: z.string().default(''),
});
export type MessageBody = z.output<typeof MessageBody>;
export type MessageBodyInput = z.input<typeof MessageBody>;

const BODY_STRINGS = ['hostUuid', 'serviceUuid', 'icon', 'notificationtype', 'output', 'ackauthor', 'ackcomment'] as const;

/**
 * `MessageBody.safeParse` with a fast path: a body whose fields all have
 * their expected types (what the sender always posts) is copied into the
 * parsed shape directly; anything else goes through zod, so errors and edge
 * cases are zod's. Same result either way (a property test checks it);
 * zod's object parse was the largest JS cost of `POST /message` after the
 * socket writes in the `pnpm bench` saturate profile.
 */
export function parseMessageBody(json: unknown): ReturnType<typeof MessageBody.safeParse> {
  if (json !== null && typeof json === 'object' && !Array.isArray(json)) {
    const b = json as Record<string, unknown>;
    const type = typeof b.type === 'string' ? b.type.toLowerCase() : undefined;
    const state = b.state === undefined ? 0 : b.state;
    if (typeof b.timestamp === 'number' && Number.isFinite(b.timestamp) && Number.isSafeInteger(b.userId)
      && (type === 'host' || type === 'service') && Number.isSafeInteger(state)
      && BODY_STRINGS.every((k) => b[k] === undefined || typeof b[k] === 'string')) {
      const str = (k: (typeof BODY_STRINGS)[number]): string => (b[k] as string | undefined) ?? '';
      return {
        success: true,
        data: {
          timestamp: b.timestamp, userId: b.userId as number, type, hostUuid: str('hostUuid'), serviceUuid: str('serviceUuid'),
          icon: str('icon'), state: state as number, notificationtype: str('notificationtype'), output: str('output'),
          ackauthor: str('ackauthor'), ackcomment: str('ackcomment'),
        },
      } as ReturnType<typeof MessageBody.safeParse>;
    }
  }
  return MessageBody.safeParse(json);
}

/** Intake answers: status and exact body text (docs/protocol/openitcockpit.md §2). */
export const IntakeReplies = {
  methodNotAllowed: [405, 'Method not allowed'],
  invalidJson: [400, 'Invalid JSON'],
  invalidUserId: [400, 'Invalid userId'],
  tooOld: [202, 'Notification is too old and was dropped'],
  notRegistered: [202, 'User is not registered for push notifications'],
  noHost: [400, 'No host found for given UUID'],
  noService: [400, 'No service found for given UUID'],
  directoryUnavailable: [503, 'Directory unavailable'],
  ok: [200, 'ok'],
} as const satisfies Record<string, readonly [number, string]>;

/** Serialise an envelope the way every server frame is written. */
export function envelope<P>(type: string, message: string, payload: P): string {
  return JSON.stringify({ type, message, payload });
}
