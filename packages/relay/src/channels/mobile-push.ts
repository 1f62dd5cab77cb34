import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { type Agent, request } from 'undici';
import type { DeviceDirectory } from '../directory.js';
import { MOBILE_PUSH_CHANNEL } from '../channels-config-schema.js';
import { sendNotificationUrl } from '../endpoint.js';
import { RelayError } from '../errors.js';
import type { DeliveryInput } from '../outbox.js';
import { type Channel, type Delivery, type SendResult, DEFAULT_TIMEOUT_MS, bodyExcerpt, classifyStatus, httpAgent, networkReason, networkResult } from './channel.js';

/**
 * Mobile push to the openITCOCKPIT push gateway (docs/protocol/mobile-push.md): the
 * job and its request body, one durable outbox delivery per device, and the
 * channel that sends them. There is no other mobile push path: every phone
 * notification is journaled by the outbox before it is acknowledged.
 */

// The name of the built-in mobile push channel is defined beside the config schema, which refuses it as a channel name.
export { MOBILE_PUSH_CHANNEL };

/** One notification for one user, fanned out to each of the user's devices. */
export interface PushJob {
  /** openITCOCKPIT user id (> 0); sent as `user_id`. */
  userId: number;
  /** Notification title; sent as `title`. */
  title: string;
  /** Notification text; sent as `body`. */
  body: string;
  /** `host` or `service`; sent as `type`. */
  type: 'host' | 'service';
  /** Naemon notification type (`PROBLEM`, `RECOVERY`, `CUSTOM`…); sent as `notification_type`. */
  notificationType: string;
  /** Host or service state id (0..3); sent as `current_state`. */
  currentState: number;
  /** Host uuid; sent as `host_uuid`. */
  hostUuid: string;
  /** Service uuid, `''` for host notifications; sent as `service_uuid`. */
  serviceUuid: string;
}

/**
 * The request body of the push gateway webhook (docs/protocol/mobile-push.md, "What
 * goes on the wire"), keys in the order the push gateway receives them from
 * openITCOCKPIT.
 *
 * Reading of the original: the Go service's source was not in the code we
 * could search; what we found of openITCOCKPIT's Go data layer are its table
 * models (`push_notifications_relay`: address string, port int, auth_key
 * string, enabled bool; `mobile_devices`: user_id int, device_id string, the
 * device token). So the value types follow the `/message` input they are
 * copied from: `type` is the lower-case `host`/`service` string,
 * `notification_type` Naemon's `$NOTIFICATIONTYPE$` verbatim (`PROBLEM`,
 * `RECOVERY`, `ACKNOWLEDGEMENT`…, `CUSTOM` for the browser's test push),
 * `current_state` and `user_id` JSON integers, `service_uuid` `""` for host
 * notifications. Plain `JSON.stringify`, as Go's `encoding/json` of a
 * struct: fixed key order, no whitespace (Go would also escape `<`, `>`,
 * `&` as `\u003c`…, which decodes to the same string).
 */
export function pushBody(job: PushJob, token: string, authKey: string): string {
  return JSON.stringify({
    title: job.title,
    body: job.body,
    token,
    type: job.type,
    notification_type: job.notificationType,
    current_state: job.currentState,
    host_uuid: job.hostUuid,
    service_uuid: job.serviceUuid,
    user_id: job.userId,
    auth_key: authKey,
  });
}

/**
 * One outbox delivery per device: id
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
 * The PEM text of the relay's CA file (`relay.caFile`), for
 * {@link MobilePushChannelOptions.ca}. Read once, at startup.
 *
 * @throws RelayError `RELAY_ERR_CA_FILE` naming the path when the file
 * cannot be read or holds no PEM certificate.
 */
export function readCaFile(path: string): string {
  let pem: string;
  try {
    pem = readFileSync(path, 'utf8');
  } catch (cause) {
    throw new RelayError('RELAY_ERR_CA_FILE', `cannot read CA file ${path}`, { cause });
  }
  if (!pem.includes('-----BEGIN CERTIFICATE-----')) throw new RelayError('RELAY_ERR_CA_FILE', `CA file ${path} holds no PEM certificate`);
  return pem;
}

/** Settings of a {@link MobilePushChannel}. */
export interface MobilePushChannelOptions {
  /** Relay settings (read at every attempt: the auth key is never journaled), devices, and deletion of gone devices. */
  directory: DeviceDirectory;
  /** PEM of extra CAs trusted besides Node's roots ({@link readCaFile}). Default none. */
  ca?: string;
  /** Budget for connect, response headers and body, in ms. Default 10000. */
  timeoutMs?: number;
  /** Requests in flight at once, so also the most sockets open to the push gateway. Default 16. */
  concurrency?: number;
}

/**
 * Mobile push as an outbox channel: one attempt POSTs one device's request
 * to the openITCOCKPIT push gateway with the relay settings current at that
 * moment, over one keep-alive pool with TLS verified. 200 is sent;
 * `410 Gone` deletes the device and ends the delivery (reason
 * `410 device gone, token deleted`); 408, 429, 5xx, network errors and a
 * failing directory are retried by the outbox; an untrusted certificate, an
 * invalid gateway address, a disabled relay and other answers are refused.
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
    // One socket per attempt the outbox may run at once, kept alive between them.
    this.#agent = httpAgent(opts.timeoutMs ?? DEFAULT_TIMEOUT_MS, opts.ca, this.concurrency);
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
      // A failing directory may heal; an invalid endpoint needs an operator, so the code goes into the dead letter.
      const code = (err as { code?: unknown } | null)?.code;
      return code === 'RELAY_ERR_ENDPOINT' ? { kind: 'failed', reason: `${code}: ${(err as Error).message}` } : { kind: 'retry', reason: `directory: ${networkReason(err)}` };
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
