import type { ChannelTarget } from '../targets/channel.js';
import type { Target } from '../targets/target.js';
import type { Notification, Recipient } from './notification.js';

/** Which targets one recipient of a notification gets. */
export interface PlanStep {
  readonly to: Recipient;
  /** Live targets first, then durable ones in the order their refusals are reported: channels (as routed), then the rest. */
  readonly targets: readonly Target[];
}

/** A notification's plan: a step per recipient. */
export interface Plan {
  readonly steps: readonly PlanStep[];
  /** Named channels routed to, over all steps (the `/message` "not registered" rule counts them). */
  readonly channels: number;
  /** Durable deliveries planned (the pipeline awaits them before answering). */
  readonly durable: number;
}

/**
 * The channel names a notification for this host and user goes to: the
 * relay's `channelsFor` over the `notifications` section (docs/channels.md
 * "Routing": the host's list plus the user's list, else `defaultChannels`).
 */
export type ChannelRouting = (target: { host?: string; user?: string }) => readonly string[];

/**
 * Decides who gets a notification through which targets. Every target that
 * serves the recipient's kind is planned; named channels only as the
 * routing says, where openITCOCKPIT users are named by their id
 * (`notifications.users."7"`) and Icinga contacts by their username.
 */
export class Router {
  readonly #live: readonly Target[];
  readonly #durable: readonly Target[];
  readonly #channels: ReadonlyMap<string, ChannelTarget>;
  readonly #routing: ChannelRouting | undefined;

  /**
   * @param targets every target but the named channels.
   * @param channels the named channels' targets, planned only as `routing` says.
   */
  constructor(targets: readonly Target[], channels: readonly ChannelTarget[], routing: ChannelRouting | undefined) {
    this.#live = targets.filter((t) => !t.durable);
    this.#durable = targets.filter((t) => t.durable);
    this.#channels = new Map(channels.map((c) => [c.channel, c]));
    this.#routing = routing;
  }

  /** True when any named channel is configured (then `/message` must look up the host before it can say "not registered"). */
  get hasChannels(): boolean {
    return this.#channels.size > 0;
  }

  plan(n: Notification): Plan {
    const steps: PlanStep[] = [];
    let channels = 0;
    let durable = 0;
    for (const to of n.recipients) {
      const targets: Target[] = this.#live.filter((t) => t.serves(to));
      for (const name of this.#routedChannels(n, to)) {
        const c = this.#channels.get(name);
        if (c === undefined) continue;
        targets.push(c);
        channels++;
        durable++;
      }
      for (const t of this.#durable) {
        if (!t.serves(to)) continue;
        targets.push(t);
        durable++;
      }
      steps.push({ to, targets });
    }
    return { steps, channels, durable };
  }

  #routedChannels(n: Notification, to: Recipient): readonly string[] {
    // A browser's test notification checks the browser and the phone, not the team's chat (as before channels existed).
    if (this.#routing === undefined || this.#channels.size === 0 || n.source === 'test') return [];
    const user = to.kind === 'user' ? String(to.userId) : to.username;
    return this.#routing({ ...(n.host !== undefined ? { host: n.host } : {}), ...(user !== undefined ? { user } : {}) });
  }
}
