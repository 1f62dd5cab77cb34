import type { ActionTokens } from '../auth/action-token.js';
import type { Notification } from '../pipeline/notification.js';

/**
 * The Acknowledge action of a notification (docs/acknowledge.md): which
 * notifications carry one, and the token that goes with it for one user.
 * Only a `PROBLEM` from `POST /message` has something to acknowledge in the
 * engine; a RECOVERY, an ACKNOWLEDGEMENT, a test or an Icinga Notifications
 * event carries none.
 */
export class AcknowledgeActions {
  readonly #tokens: ActionTokens;
  readonly #now: () => number;

  /** @param now clock in ms; default `Date.now`. */
  constructor(tokens: ActionTokens, now: () => number = Date.now) {
    this.#tokens = tokens;
    this.#now = now;
  }

  /** True when `n` offers Acknowledge. */
  offers(n: Notification): boolean {
    return n.kind === 'PROBLEM' && n.source === 'message' && n.objectKey !== '';
  }

  /** The action token of `n` for `userId`, or undefined when `n` offers no Acknowledge. */
  tokenFor(n: Notification, userId: number): string | undefined {
    if (!this.offers(n)) return undefined;
    return this.#tokens.mint({ action: 'acknowledge', userId, notificationId: String(n.id), objectKey: n.objectKey }, Math.floor(this.#now() / 1000));
  }
}
