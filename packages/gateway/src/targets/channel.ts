import { createHash } from 'node:crypto';
import type { DeliverySink } from '@pushgate/relay';
import { deliveryKey, type Notification, type Recipient } from '../pipeline/notification.js';
import type { Target, TargetResult } from './target.js';

/**
 * One named channel (docs/channels.md: Pushover, Mattermost, Signal, email,
 * webhooks): one durable outbox delivery per notification, id
 * `<notification key>:<channel>`, so a resend of the same notification is
 * not doubled while the first is pending. Which notifications go to which
 * channels is the router's decision (pipeline/router.ts).
 *
 * Each delivery carries its object's tag, and a RECOVERY or ACKNOWLEDGEMENT
 * says it `ends` the object's problem, so a channel that can withdraw an
 * earlier message does (docs/channels.md "replace in place": Pushover
 * cancels its emergency re-alerts).
 */
export class ChannelTarget implements Target {
  readonly name: string;
  readonly label: string;
  readonly durable = true;
  /** The configured channel name. */
  readonly channel: string;
  readonly #outbox: DeliverySink;

  constructor(channel: string, outbox: DeliverySink) {
    this.channel = channel;
    this.name = `channel:${channel}`;
    this.label = `channel ${channel}`;
    this.#outbox = outbox;
  }

  serves(): boolean {
    return true;
  }

  async deliver(n: Notification, _to: Recipient): Promise<TargetResult> {
    try {
      await this.#outbox.enqueue({
        id: `${deliveryKey(n)}:${this.channel}`, channel: this.channel, title: n.title, message: n.body, notificationId: n.id,
        ...(n.url !== undefined ? { url: n.url } : {}),
        ...(n.objectKey !== '' ? { tag: objectTag(n.objectKey), ...(ENDS.has(n.kind) ? { ends: true } : {}) } : {}),
      });
      return QUEUED_ONE;
    } catch (err) {
      return { outcome: 'refused', reason: (err as Error)?.message ?? String(err) };
    }
  }
}

/** Notification kinds that end the object's problem. */
const ENDS = new Set(['RECOVERY', 'ACKNOWLEDGEMENT']);

/** `pg` and 32 hex digits of the object key's SHA-256: the same for every notification of the object, of a shape every channel takes. */
export function objectTag(objectKey: string): string {
  return `pg${createHash('sha256').update(objectKey).digest('hex').slice(0, 32)}`;
}

const QUEUED_ONE: TargetResult = Object.freeze({ outcome: 'queued', count: 1 });
