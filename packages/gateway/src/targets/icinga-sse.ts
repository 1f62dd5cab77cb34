import type { Notification, Recipient } from '../pipeline/notification.js';
import { icingaFrame } from '../transport/sse/icinga-frame.js';
import type { SseHub } from '../transport/sse/stream.js';
import { delivered, type Target, type TargetResult } from './target.js';

/**
 * Icinga Web's desktop-notification streams (docs/protocol/icinga-sse.md):
 * the contact's browsers, one stream each, the `incident_history.id` as the
 * event id, kept for `Last-Event-ID` resumes.
 */
export class IcingaSseTarget implements Target {
  readonly name = 'icinga-sse';
  readonly durable = false;
  readonly #hub: SseHub;
  readonly #retryMs: number;

  /** @param retryMs the `retry:` field of each event, ms (Icinga: 3000). */
  constructor(hub: SseHub, retryMs: number) {
    this.#hub = hub;
    this.#retryMs = retryMs;
  }

  serves(to: Recipient): boolean {
    return to.kind === 'contact';
  }

  deliver(n: Notification, to: Recipient): TargetResult {
    if (to.kind !== 'contact' || n.icinga === undefined) return delivered(0);
    return delivered(this.#hub.publish(String(to.contactId), n.icinga.historyId, eventFrame(n, this.#retryMs)));
  }

  restore(n: Notification, to: Recipient, at: number): void {
    if (to.kind !== 'contact' || n.icinga === undefined) return;
    this.#hub.restore(String(to.contactId), n.icinga.historyId, eventFrame(n, this.#retryMs), at);
  }
}

function eventFrame(n: Notification, retryMs: number): Buffer {
  const i = n.icinga!;
  return icingaFrame({ id: i.historyId, time: i.time, incidentId: i.incidentId, severity: i.severity, title: n.title, message: i.message }, retryMs);
}
