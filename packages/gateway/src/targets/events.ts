import type { AcknowledgeActions } from '../acknowledge/actions.js';
import type { Notification, Recipient } from '../pipeline/notification.js';
import type { PushSse } from '../transport/sse/events.js';
import { oitcFrame } from './oitc-frame.js';
import { delivered, type Target, type TargetResult } from './target.js';

/**
 * pushgate's own `/events` streams (docs/protocol/extensions.md): the same
 * envelope a WebSocket receives, one stream per browser, with the
 * notification's id as the event id, kept for `Last-Event-ID` resumes.
 * Every node writes its own streams (an SSE browser is not shared across
 * nodes the way WebSocket tabs are).
 */
export class EventsTarget implements Target {
  readonly name = 'events';
  readonly durable = false;
  readonly #sse: PushSse;
  readonly #actions: AcknowledgeActions | undefined;

  /** @param actions with `acknowledge` configured: a PROBLEM's frame carries the user's action token. */
  constructor(sse: PushSse, actions?: AcknowledgeActions) {
    this.#sse = sse;
    this.#actions = actions;
  }

  serves(to: Recipient): boolean {
    return to.kind === 'user';
  }

  deliver(n: Notification, to: Recipient): TargetResult {
    if (to.kind !== 'user') return delivered(0);
    const frame = oitcFrame(n, to.userId, this.#actions);
    return delivered(frame === undefined ? 0 : this.#sse.publish(to.userId, frame, n.id));
  }

  restore(n: Notification, to: Recipient, at: number): void {
    if (to.kind !== 'user') return;
    const frame = oitcFrame(n, to.userId, this.#actions);
    if (frame !== undefined) this.#sse.restore(to.userId, frame, n.id, at);
  }

  reaches(to: Recipient): boolean {
    return to.kind === 'user' && this.#sse.has(to.userId);
  }
}
