import { mobilePushDelivery, type DeliverySink, type DeviceDirectory, type PushJob } from '@pushgate/relay';
import { deliveryKey, type Notification, type Recipient } from '../pipeline/notification.js';
import type { Target, TargetResult } from './target.js';

/**
 * Phones through the openITCOCKPIT mobile push gateway
 * (docs/protocol/mobile-push.md): one durable outbox delivery per device of
 * the user, journaled before `/message` answers, so a crash or a restart
 * loses no phone notification. The relay settings are read again at every
 * attempt (the auth key is never journaled).
 */
export class MobilePushTarget implements Target {
  readonly name = 'mobile-push';
  readonly label = 'mobile push';
  readonly durable = true;
  readonly #directory: DeviceDirectory;
  readonly #outbox: DeliverySink;

  constructor(directory: DeviceDirectory, outbox: DeliverySink) {
    this.#directory = directory;
    this.#outbox = outbox;
  }

  serves(to: Recipient): boolean {
    return to.kind === 'user';
  }

  /** Rejects with the directory's `GW_ERR_DIRECTORY_UNAVAILABLE` when relay settings or devices cannot be read. */
  async deliver(n: Notification, to: Recipient): Promise<TargetResult> {
    const o = n.oitc;
    if (to.kind !== 'user' || o === undefined) return QUEUED_NONE;
    if ((await this.#directory.relaySettings()) === undefined) return QUEUED_NONE;
    const tokens = await this.#directory.devices(to.userId);
    if (tokens.length === 0) return QUEUED_NONE;
    const job: PushJob = {
      userId: to.userId,
      title: n.title,
      body: n.body,
      type: o.type,
      notificationType: o.notificationType,
      currentState: o.state,
      hostUuid: o.hostUuid,
      serviceUuid: o.serviceUuid,
    };
    const key = deliveryKey(n);
    const settled = await Promise.allSettled(tokens.map((token) => this.#outbox.enqueue({ ...mobilePushDelivery(key, job, token), notificationId: n.id })));
    const refused = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
    if (refused !== undefined) return { outcome: 'refused', reason: (refused.reason as Error)?.message ?? String(refused.reason) };
    return { outcome: 'queued', count: tokens.length };
  }

  /** An enabled relay makes every user reachable (the push gateway knows their phones). */
  async reaches(): Promise<boolean> {
    return (await this.#directory.relaySettings()) !== undefined;
  }
}

const QUEUED_NONE: TargetResult = Object.freeze({ outcome: 'queued', count: 0 });
