import { createHash } from 'node:crypto';
import { type Agent, request } from 'undici';
import type { DeviceDirectory } from '../directory.js';
import { MOBILE_PUSH_CHANNEL } from '../channels-config-schema.js';
import { sendNotificationUrl } from '../endpoint.js';
import { pushBody, type PushJob } from '../mobile-push.js';
import type { DeliveryInput } from '../outbox.js';
import { type Channel, type Delivery, type SendResult, DEFAULT_TIMEOUT_MS, bodyExcerpt, classifyStatus, httpAgent, networkReason, networkResult } from './channel.js';

// The name is defined beside the config schema, which refuses it as a channel name.
export { MOBILE_PUSH_CHANNEL };

/** Settings of a {@link MobilePushChannel}. */
export interface MobilePushChannelOptions {
  /** Relay settings (read at every attempt: the auth key is never journaled), devices, and deletion of gone devices. */
  directory: DeviceDirectory;
  /** PEM of extra CAs trusted besides Node's roots. Default none. */
  ca?: string;
  /** Budget for connect, response headers and body, in ms. Default 10000. */
  timeoutMs?: number;
  /** Requests in flight at once. Default 16. */
  concurrency?: number;
}

/**
 * One outbox delivery per device (docs/protocol/mobile-push.md): id
 * `<notification id>:mobile-push:<sha-256 prefix of the token>`, the push
 * body's fields in `data` (the device token included, the auth key not).
 */
export function mobilePushDelivery(notificationId: string, job: PushJob, token: string): DeliveryInput {
  return {
    id: `${notificationId}:${MOBILE_PUSH_CHANNEL}:${createHash('sha256').update(token).digest('hex').slice(0, 12)}`,
    channel: MOBILE_PUSH_CHANNEL,
    title: job.title,
    message: job.body,
    data: {
      token,
      type: job.type,
      notification_type: job.notificationType,
      current_state: job.currentState,
      host_uuid: job.hostUuid,
      service_uuid: job.serviceUuid,
      user_id: job.userId,
    },
  };
}

/**
 * Mobile push as an outbox channel: one attempt POSTs one device's request
 * to the openITCOCKPIT push gateway with the relay settings current at that
 * moment. 200 is sent; `410 Gone` deletes the device and ends the delivery
 * (reason `410 device gone, token deleted`); 408, 429, 5xx and network
 * errors are retried by the outbox; other answers are refused.
 */
export class MobilePushChannel implements Channel {
  readonly type = 'mobile-push';
  readonly name = MOBILE_PUSH_CHANNEL;
  readonly concurrency: number;
  readonly minRetryDelayMs = 0;
  readonly #directory: DeviceDirectory;
  readonly #agent: Agent;

  constructor(opts: MobilePushChannelOptions) {
    this.#directory = opts.directory;
    this.concurrency = opts.concurrency ?? 16;
    this.#agent = httpAgent(opts.timeoutMs ?? DEFAULT_TIMEOUT_MS, opts.ca);
  }

  async send(d: Delivery): Promise<SendResult> {
    const data = d.data ?? {};
    const { token, type } = data;
    if (typeof token !== 'string' || (type !== 'host' && type !== 'service')) return { kind: 'failed', reason: 'delivery lacks the mobile push fields' };
    const job: PushJob = {
      userId: Number(data.user_id),
      title: d.title,
      body: d.message,
      type,
      notificationType: String(data.notification_type ?? ''),
      currentState: Number(data.current_state ?? 0),
      hostUuid: String(data.host_uuid ?? ''),
      serviceUuid: String(data.service_uuid ?? ''),
    };
    let url: string;
    let authKey: string;
    try {
      const settings = await this.#directory.relaySettings();
      if (settings === undefined) return { kind: 'failed', reason: 'mobile push relay disabled' };
      url = sendNotificationUrl(settings.address, settings.port);
      authKey = settings.authKey;
    } catch (err) {
      // A failing directory may heal; an invalid endpoint (RELAY_ERR_ENDPOINT) needs an operator.
      const code = (err as { code?: unknown } | null)?.code;
      return code === 'RELAY_ERR_ENDPOINT' ? { kind: 'failed', reason: (err as Error).message } : { kind: 'retry', reason: `directory: ${networkReason(err)}` };
    }
    try {
      const res = await request(url, {
        method: 'POST',
        dispatcher: this.#agent,
        // Spelled as Go's net/http canonicalises them, as the original sent them.
        headers: { 'Content-Type': 'application/json', 'X-Api-Key': authKey },
        body: pushBody(job, token, authKey),
      });
      if (res.statusCode === 200) {
        await res.body.dump();
        return { kind: 'sent' };
      }
      if (res.statusCode === 410) {
        await res.body.dump();
        try {
          await this.#directory.deleteDevice(token);
        } catch (err) {
          return { kind: 'failed', reason: `410 device gone, deleting the token failed: ${networkReason(err)}` };
        }
        return { kind: 'failed', reason: '410 device gone, token deleted' };
      }
      const detail = await bodyExcerpt(res.body, [authKey]);
      const result = classifyStatus(res.statusCode, res.headers['retry-after'], detail);
      // docs/protocol/mobile-push.md: anything but 200 is a failure, other 2xx included.
      return result.kind === 'sent' ? { kind: 'failed', reason: `${res.statusCode} ${detail}`.trim() } : result;
    } catch (err) {
      return networkResult(err);
    }
  }

  async close(): Promise<void> {
    if (!this.#agent.closed) await this.#agent.close();
  }
}
