import type { DeliverySink } from '@pushgate/relay';
import { deliveryKey, type Notification, type Recipient } from '../pipeline/notification.js';
import { payloadText, topicOf, urgencyOf, type ClickUrls } from '../webpush/payload.js';
import { WEB_PUSH_CHANNEL, type WebPushData } from '../webpush/sender.js';
import { inc, type WebPushStats } from '../webpush/stats.js';
import { subscriptionId, type Owner, type Subscriptions } from '../webpush/subscriptions.js';
import type { Target, TargetResult } from './target.js';

/**
 * Web Push (docs/web-push.md): one durable outbox delivery per subscription
 * of the recipient, journaled before the source is answered, attempted by
 * the `web-push` channel (webpush/sender.ts). The plaintext is built once
 * per notification and shared by the recipient's subscriptions. Under
 * `webPush.when: no-live-browser` a user with a registered tab on any node
 * gets nothing here (the tab shows it); test notifications and escalation
 * reminders (a step naming `web-push`) are always pushed.
 */
export class WebPushTarget implements Target {
  readonly name = WEB_PUSH_CHANNEL;
  readonly label = 'web push';
  readonly durable = true;
  readonly #subs: Subscriptions;
  readonly #outbox: DeliverySink;
  readonly #urls: ClickUrls;
  readonly #always: boolean;
  readonly #liveBrowser: (userId: number) => boolean | Promise<boolean>;
  readonly #stats: WebPushStats;
  readonly #ttlMs: number;
  /** The last notification's plaintext (a notification for several recipients is encoded once). */
  #last: { n: Notification; text: string } | undefined;

  constructor(opts: {
    subscriptions: Subscriptions; outbox: DeliverySink; urls: ClickUrls; when: 'always' | 'no-live-browser';
    /** Whether the user has a registered browser tab on any node (the browser target's `reaches`). */
    liveBrowser: (userId: number) => boolean | Promise<boolean>;
    stats: WebPushStats;
    /** `webPush.ttlSeconds` in ms: the outbox gives up on a push once the push service would drop it anyway. */
    ttlMs: number;
  }) {
    this.#subs = opts.subscriptions;
    this.#outbox = opts.outbox;
    this.#urls = opts.urls;
    this.#always = opts.when === 'always';
    this.#liveBrowser = opts.liveBrowser;
    this.#stats = opts.stats;
    this.#ttlMs = opts.ttlMs;
  }

  serves(): boolean {
    return true;
  }

  /** A recipient with a stored subscription is reachable (the push service holds the push for its browser). */
  async reaches(to: Recipient): Promise<boolean> {
    const owner: Owner = to.kind === 'user' ? `user:${to.userId}` : `contact:${to.contactId}`;
    try {
      return (await this.#subs.forOwner(owner)).length > 0;
    } catch {
      return false;
    }
  }

  async deliver(n: Notification, to: Recipient): Promise<TargetResult> {
    const owner: Owner = to.kind === 'user' ? `user:${to.userId}` : `contact:${to.contactId}`;
    // A test, and an escalation step that names web-push (a reminder), are pushed whatever the policy says.
    if (!this.#always && n.source !== 'test' && n.reminderOf === undefined && to.kind === 'user' && (await this.#liveBrowser(to.userId))) {
      inc(this.#stats.skipped, 'live-browser');
      return QUEUED_NONE;
    }
    let subs;
    try {
      subs = await this.#subs.forOwner(owner);
    } catch (err) {
      return { outcome: 'refused', reason: `web push subscriptions unreadable: ${(err as Error).message}` };
    }
    if (subs.length === 0) return QUEUED_NONE;
    if (this.#last?.n !== n) this.#last = { n, text: payloadText(n, this.#urls) };
    const data: Omit<WebPushData, 'sub'> = { owner, urgency: urgencyOf(n), topic: topicOf(n.objectKey), payload: this.#last.text };
    const key = deliveryKey(n);
    const settled = await Promise.allSettled(subs.map((s) => {
      const sub = subscriptionId(s.endpoint);
      return this.#outbox.enqueue({
        id: `${key}:${WEB_PUSH_CHANNEL}:${sub.slice(0, 16)}`,
        channel: WEB_PUSH_CHANNEL,
        title: n.title,
        message: '',
        data: { ...data, sub },
        notificationId: n.id,
        ttlMs: Math.max(1000, this.#ttlMs),
      });
    }));
    const refused = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
    if (refused !== undefined) return { outcome: 'refused', reason: (refused.reason as Error)?.message ?? String(refused.reason) };
    return { outcome: 'queued', count: subs.length };
  }
}

const QUEUED_NONE: TargetResult = Object.freeze({ outcome: 'queued', count: 0 });
