import { Texts } from '@pushgate/protocol';
import type { Notification } from '../pipeline/notification.js';

/**
 * `TestPushNotification` from a browser (docs/protocol/openitcockpit.md
 * "Client → server messages"): the user gets a `ProcessPushNotification`
 * with the fixed test text, on every node's browsers and streams, and a
 * `CUSTOM` mobile push when the relay is enabled, like any notification.
 */
export function testNotification(userId: number, title: string, icon: string, id: number, nowMs = Date.now()): Notification {
  return {
    id,
    objectKey: `test:${userId}`,
    kind: 'CUSTOM',
    severity: 'info',
    title,
    body: title,
    recipients: [{ kind: 'user', userId }],
    source: 'test',
    created: nowMs,
    oitc: {
      timestamp: Math.floor(nowMs / 1000),
      type: 'host',
      hostUuid: '',
      serviceUuid: '',
      icon,
      envelopeMessage: Texts.testNotification,
      state: 0,
      notificationType: 'CUSTOM',
    },
  };
}
