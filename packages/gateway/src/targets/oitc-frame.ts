import { envelope, ServerMessageType, type PushNotificationPayload } from '@pushgate/protocol';
import type { AcknowledgeActions } from '../acknowledge/actions.js';
import type { Notification } from '../pipeline/notification.js';

/**
 * The `ProcessPushNotification` frame of a notification for one user
 * (docs/protocol/openitcockpit.md "Server → client messages"), serialised
 * once: the browser target, the `/events` stream and the resume window all
 * use the same Buffer, whatever the fan-out. Key order and the left-out
 * empty fields are part of the wire format.
 */
const frames = new WeakMap<Notification, { userId: number; frame: Buffer }>();

/**
 * The frame for `userId`; undefined when the notification has no openITCOCKPIT
 * facts (an Icinga event). With `actions` (`acknowledge` configured) a
 * PROBLEM carries the user's action token as `ackToken`, after `id`.
 */
export function oitcFrame(n: Notification, userId: number, actions?: AcknowledgeActions): Buffer | undefined {
  const kept = frames.get(n);
  if (kept !== undefined && kept.userId === userId) return kept.frame;
  const o = n.oitc;
  if (o === undefined) return undefined;
  const payload: PushNotificationPayload = { timestamp: o.timestamp, userId, title: n.title, message: n.body, type: o.type };
  if (o.hostUuid !== '') payload.hostUuid = o.hostUuid;
  if (o.serviceUuid !== '') payload.serviceUuid = o.serviceUuid;
  if (o.icon !== '') payload.icon = o.icon;
  payload.id = n.id;
  const ackToken = actions?.tokenFor(n, userId);
  if (ackToken !== undefined) payload.ackToken = ackToken;
  const frame = Buffer.from(envelope(ServerMessageType.ProcessPushNotification, o.envelopeMessage, payload));
  frames.set(n, { userId, frame });
  return frame;
}
