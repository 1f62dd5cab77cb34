import type { EscalationConfig } from '../config.js';
import { recipientKey, type Notification, type Recipient } from '../pipeline/notification.js';

/**
 * A ladder: one policy's steps for one object problem and one recipient,
 * with each step's due time fixed when it starts (the notification's
 * `created` plus the step's `after`), so a restart keeps every step on time.
 */

/** A receipt that can make a step unnecessary (`unless`). */
export type StepReceipt = 'shown' | 'clicked';

/** One step of a ladder. */
export interface LadderStep {
  /** When it runs, ms since the epoch. */
  readonly due: number;
  /** `browser`, `web-push` or channel names, as configured. */
  readonly targets: readonly string[];
  readonly unless: readonly StepReceipt[];
}

/** What became of a step: undefined while pending. */
export type StepState = undefined | 'run' | `cancelled:${string}`;

/** A started ladder. */
export interface Ladder {
  /** `<policy>|<recipient>|<objectKey>`: one ladder per object problem, recipient and policy. */
  readonly key: string;
  /** The notification that started it. */
  readonly n: Notification;
  readonly to: Recipient;
  readonly policy: string;
  /** In due order. */
  readonly steps: readonly LadderStep[];
  /** Per step; the stores update it. */
  readonly state: StepState[];
}

/** The ladder key of a policy, recipient and object. */
export function ladderKey(policy: string, to: Recipient, objectKey: string): string {
  return `${policy}|${recipientKey(to)}|${objectKey}`;
}

/** A new ladder of `policy` for `n` and `to`: steps in the order of their `after` (stable), due from `n.created`. */
export function startLadder(cfg: EscalationConfig, policy: string, n: Notification, to: Recipient): Ladder {
  const steps = cfg.policies[policy]!.steps
    .map((s) => ({ due: n.created + s.after, targets: s.targets, unless: s.unless }))
    .sort((a, b) => a.due - b.due);
  return { key: ladderKey(policy, to, n.objectKey), n, to, policy, steps, state: steps.map(() => undefined) };
}

/** True when no step is pending any more. */
export function settled(l: Ladder): boolean {
  return l.state.every((s) => s !== undefined);
}

/**
 * The policies of a notification for one recipient, routed as named
 * channels are (relay `channelsFor`, docs/channels.md "Routing"): the
 * host's list plus the user's list (each name once, host's first), the
 * defaults only when neither has a list of its own; an empty own list
 * silences the defaults. Users are named as the router names them: the
 * openITCOCKPIT user id as a string, an Icinga contact by its username.
 */
export function policiesFor(cfg: EscalationConfig, host: string | undefined, to: Recipient): string[] {
  const user = to.kind === 'user' ? String(to.userId) : to.username;
  const h = host === undefined ? undefined : cfg.hosts[host]?.policies;
  const u = user === undefined ? undefined : cfg.users[user]?.policies;
  if (h === undefined && u === undefined) return [...cfg.defaultPolicies];
  return [...new Set([...(h ?? []), ...(u ?? [])])];
}
