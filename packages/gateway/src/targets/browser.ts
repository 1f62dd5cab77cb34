import type { AcknowledgeActions } from '../acknowledge/actions.js';
import type { Bus } from '../cluster/bus.js';
import type { Notification, Recipient } from '../pipeline/notification.js';
import type { ReplayLog } from '../pipeline/replay.js';
import type { Registry } from '../transport/ws/registry.js';
import { oitcFrame } from './oitc-frame.js';
import { delivered, type Origin, type Target, type TargetResult } from './target.js';

/**
 * Browser tabs over the openITCOCKPIT WebSocket: one tab per browser of the
 * user (the registry's choice: the most recently active, else the newest),
 * across nodes exactly once per browser (the bus's claims), and kept in the
 * user's resume window for `?since=`.
 */
export class BrowserTarget implements Target {
  readonly name = 'ws';
  readonly durable = false;
  readonly #registry: Registry;
  readonly #replay: ReplayLog;
  readonly #bus: Bus;
  readonly #actions: AcknowledgeActions | undefined;

  /** @param actions with `acknowledge` configured: a PROBLEM's frame carries the user's action token. */
  constructor(registry: Registry, replay: ReplayLog, bus: Bus, actions?: AcknowledgeActions) {
    this.#registry = registry;
    this.#replay = replay;
    this.#bus = bus;
    this.#actions = actions;
  }

  serves(to: Recipient): boolean {
    return to.kind === 'user';
  }

  deliver(n: Notification, to: Recipient, origin: Origin): TargetResult {
    if (to.kind !== 'user') return delivered(0);
    const frame = oitcFrame(n, to.userId, this.#actions);
    if (frame === undefined) return delivered(0);
    const { userId } = to;
    // Kept before it is written: a tab resuming in the same tick gets it once, in order.
    this.#replay.record(userId, n.id, frame);
    const tabs = this.#registry.toUserOnePerBrowser(userId);
    if (origin === 'local') {
      for (const conn of tabs) conn.sendFrame(frame);
      return delivered(tabs.length);
    }
    for (const conn of tabs) {
      const browserUuid = conn.browserUuid;
      // The best tab at send time: a claim's round trip may outlast the tab it started with.
      this.#bus.onceAcrossNodes(userId, browserUuid, origin.node, n.id, () => this.#registry.bestTab(userId, browserUuid)?.sendFrame(frame));
    }
    return delivered(tabs.length);
  }

  restore(n: Notification, to: Recipient, at?: number): void {
    if (to.kind !== 'user') return;
    const frame = oitcFrame(n, to.userId, this.#actions);
    if (frame !== undefined) this.#replay.record(to.userId, n.id, frame, at);
  }

  reaches(to: Recipient): boolean | Promise<boolean> {
    if (to.kind !== 'user') return false;
    if (this.#registry.isRegistered(to.userId)) return true;
    return this.#bus.kind !== 'local' && this.#bus.registeredElsewhere(to.userId);
  }
}
