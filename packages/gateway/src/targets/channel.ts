import type { DeliverySink } from '@pushgate/relay';
import { deliveryKey, type Notification, type Recipient } from '../pipeline/notification.js';
import type { Target, TargetResult } from './target.js';

/**
 * One named channel (docs/channels.md: Pushover, Mattermost, Signal, email,
 * webhooks): one durable outbox delivery per notification, id
 * `<notification key>:<channel>`, so a resend of the same notification is
 * not doubled while the first is pending. Which notifications go to which
 * channels is the router's decision (pipeline/router.ts).
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
      });
      return QUEUED_ONE;
    } catch (err) {
      return { outcome: 'refused', reason: (err as Error)?.message ?? String(err) };
    }
  }
}

const QUEUED_ONE: TargetResult = Object.freeze({ outcome: 'queued', count: 1 });
