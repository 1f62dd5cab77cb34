import type { Delivery, Outcome } from '@pushgate/relay';
import type { Logger } from 'pino';
import type { Bus } from '../cluster/bus.js';
import type { Target, TargetResult } from '../targets/target.js';
import type { Trail } from '../trail/trail.js';
import type { Journal, Restored } from './journal.js';
import { recipientKey, type Notification, type Recipient } from './notification.js';
import type { Plan, Router } from './router.js';

/** A durable target refused (outbox full or closed), or the journal could not be written. */
export interface Refused {
  readonly ok: false;
  /** The refusing part as answers name it (`channel po`, `mobile push`, `journal`). */
  readonly refusedBy: string;
  readonly reason: string;
}

/** What {@link Pipeline.accept} came to. */
export type Accepted =
  /** Journaled, live targets written, durable deliveries queued; `results` by target name (summed over recipients; durable ones `queued`). */
  | { readonly ok: true; readonly results: ReadonlyMap<string, TargetResult> }
  | Refused;

/** Counters of the pipeline, for metrics. */
export interface PipelineStats {
  /** Notifications accepted on this node, by source. */
  accepted: Record<string, number>;
  /** Notifications refused (a durable target or the journal said no), by the refusing part. */
  refused: Record<string, number>;
  /** Notifications received from other nodes. */
  received: number;
  /** Live deliveries by target: endpoints written. */
  live: Record<string, number>;
  /** Durable deliveries queued, and later settled, by target and outcome (`queued`, `sent`, `dead`). */
  durable: Record<string, Record<string, number>>;
  /** Notifications taken back into the resume windows from the journal at start. */
  restored: number;
}

/** Options of {@link Pipeline}. */
export interface PipelineOptions {
  /** Every target (the router plans among them). */
  targets: readonly Target[];
  router: Router;
  journal: Journal;
  /** Carries what this node accepts to the other nodes (the local bus: nowhere). */
  bus: Bus;
  logger: Logger;
  /** Escalation (escalation/escalation.ts), when policies are configured. */
  escalation?: EscalationHook;
  /** Records each notification's trail (accepted, deliveries and their results); absent: none is kept. */
  trail?: Trail | undefined;
}

/** What the pipeline asks of escalation. */
export interface EscalationHook {
  /** Told of every notification accepted on this node, once it is journaled (ladders start or end); `accept` waits for it. Must not reject. */
  observe(n: Notification): Promise<void>;
  /** Whether `n` starts or may end a ladder (then `/message` accepts it for a recipient no target reaches now). */
  escalates(n: Notification): boolean;
}

function inc(counts: Record<string, number>, key: string, by = 1): void {
  counts[key] = (counts[key] ?? 0) + by;
}

/**
 * The one notification pipeline (docs/architecture.md "How a notification
 * flows"). Sources hand it a {@link Notification}; it asks the router who
 * gets it through which targets, hands it to each, records what happened in
 * the journal, and carries it to the other nodes. Nothing else calls a
 * target.
 *
 * Order, and why: durable deliveries (outbox) are journaled first, so a
 * notification is accepted only once every phone and channel delivery is on
 * disk; then the live targets write at once (a browser never waits for a
 * disk); then the notification itself is journaled, and `accept` resolves
 * once that record is written (fsynced within `state.journal.syncIntervalMs`,
 * or before resolving when that is 0), so what the source answered 200 for
 * survives `kill -9` and is still in the resume windows after a restart.
 */
export class Pipeline {
  readonly stats: PipelineStats = { accepted: {}, refused: {}, received: 0, live: {}, durable: {}, restored: 0 };
  readonly #live: readonly Target[];
  readonly #targets: ReadonlyMap<string, Target>;
  readonly #router: Router;
  readonly #journal: Journal;
  readonly #bus: Bus;
  readonly #log: Logger;
  readonly #escalation: EscalationHook | undefined;
  readonly #trail: Trail | undefined;

  constructor(opts: PipelineOptions) {
    this.#live = opts.targets.filter((t) => !t.durable);
    this.#targets = new Map(opts.targets.map((t) => [t.name, t]));
    this.#router = opts.router;
    this.#journal = opts.journal;
    this.#bus = opts.bus;
    this.#log = opts.logger.child({ component: 'pipeline' });
    this.#escalation = opts.escalation;
    this.#trail = opts.trail;
  }

  /** Who gets `n` through which targets (the router's plan). */
  plan(n: Notification): Plan {
    return this.#router.plan(n);
  }

  /** True when some named channel is configured. */
  get hasChannels(): boolean {
    return this.#router.hasChannels;
  }

  /** True when escalation policies are configured. */
  get hasEscalation(): boolean {
    return this.#escalation !== undefined;
  }

  /** Whether `n` starts or may end an escalation ladder (a later step may reach the recipient). */
  escalates(n: Notification): boolean {
    return this.#escalation?.escalates(n) ?? false;
  }

  /**
   * Whether the recipient counts as reachable now (a registered browser on
   * any node, an open stream, an enabled mobile push relay), asking the
   * targets in order until one says yes.
   */
  async reaches(to: Recipient): Promise<boolean> {
    for (const t of this.#targets.values()) {
      if (t.reaches !== undefined && t.serves(to) && (await t.reaches(to))) return true;
    }
    return false;
  }

  /**
   * Accept a notification from a source on this node. Rejects only with a
   * durable target's `GW_ERR_DIRECTORY_UNAVAILABLE` (nothing was delivered).
   */
  async accept(n: Notification, plan: Plan = this.#router.plan(n)): Promise<Accepted> {
    const accepted = await this.#accept(n, plan, true);
    if (accepted.ok && this.#escalation !== undefined) await this.#escalation.observe(n);
    return accepted;
  }

  /**
   * An escalation step (escalation/escalation.ts): deliver the reminder `n`
   * to `to` through the step's targets only: `browser` (every live target
   * serving the recipient, on every node), `web-push`, or a channel name.
   * Durable ones are journaled in the outbox first, as in {@link accept};
   * the reminder is journaled too (the resume windows). Resolves with a
   * result text per step target (`absent`: not configured here); rejects
   * when a durable target refused, so the step is not marked run.
   */
  async step(n: Notification, to: Recipient, names: readonly string[]): Promise<Record<string, string>> {
    const targets: Target[] = [];
    const texts: Record<string, string> = {};
    let channels = 0;
    let browser = false;
    for (const name of names) {
      if (name === 'browser') {
        browser = true;
        for (const t of this.#live) if (t.serves(to) && !targets.includes(t)) targets.push(t);
        continue;
      }
      const t = this.#targets.get(name) ?? this.#targets.get(`channel:${name}`);
      if (t === undefined || !t.serves(to)) {
        texts[name] = 'absent';
        this.#log.warn({ notification: n.reminderOf, target: name }, 'escalation step names a target this gateway does not have: skipped');
        continue;
      }
      if (t.name.startsWith('channel:')) channels++;
      if (!targets.includes(t)) targets.push(t);
    }
    const plan: Plan = { steps: [{ to, targets }], channels, durable: targets.filter((t) => t.durable).length };
    const accepted = await this.#accept(n, plan, browser);
    if (!accepted.ok) throw new Error(`${accepted.refusedBy} refused: ${accepted.reason}`);
    for (const name of names) {
      if (texts[name] !== undefined) continue;
      const results = name === 'browser' ? [...this.#live].filter((t) => targets.includes(t)).map((t) => accepted.results.get(t.name))
        : [accepted.results.get(name) ?? accepted.results.get(`channel:${name}`)];
      texts[name] = results.map((r) => (r === undefined ? 'none' : r.outcome === 'refused' ? `refused: ${r.reason}` : `${r.outcome} ${r.count}`)).join(', ');
    }
    return texts;
  }

  async #accept(n: Notification, plan: Plan, publish: boolean): Promise<Accepted> {
    const results = new Map<string, TargetResult>();
    // Per target and recipient, for the trail (only when one is kept).
    const each: TargetOutcome[] | undefined = this.#trail === undefined ? undefined : [];
    if (plan.durable > 0) {
      const refusal = await this.#deliverDurable(n, plan, results, each);
      if (refusal !== undefined) {
        inc(this.stats.refused, refusal.refusedBy);
        return refusal;
      }
    }
    const live: Record<string, number> = {};
    for (const step of plan.steps) {
      for (const t of step.targets) {
        if (t.durable) continue;
        const r = t.deliver(n, step.to, 'local') as TargetResult;
        add(results, t.name, r);
        each?.push({ target: t.name, to: step.to, r });
        if (r.outcome === 'delivered') {
          live[t.name] = (live[t.name] ?? 0) + r.count;
          inc(this.stats.live, t.name, r.count);
        }
      }
    }
    // Recorded before the journal's fsync: an outbox delivery may settle meanwhile, and its trail must follow the accept.
    if (this.#trail !== undefined) this.#record(this.#trail, n, each!);
    if (publish) this.#bus.publish(n);
    inc(this.stats.accepted, n.source);
    try {
      await this.#journal.append({ t: 'n', at: n.created, n, live });
    } catch (err) {
      inc(this.stats.refused, 'journal');
      this.#log.error({ err, notification: n.id }, 'notification not journaled: refused');
      this.#trail?.record(n.id, { type: 'refused', by: 'journal', reason: (err as Error).message });
      return { ok: false, refusedBy: 'journal', reason: (err as Error).message };
    }
    return { ok: true, results };
  }

  /** The trail of an accepted notification: accepted, what each durable target queued, what each live target wrote. */
  #record(trail: Trail, n: Notification, each: readonly TargetOutcome[]): void {
    trail.record(n.id, {
      type: 'accepted', objectKey: n.objectKey, kind: n.kind, severity: n.severity, source: n.source, title: n.title,
      recipients: n.recipients.map(recipientKey),
    }, n.created);
    for (const { target, to, r } of each) {
      if (r.outcome === 'queued') trail.record(n.id, { type: 'delivery', target, to: recipientKey(to), outcome: 'queued', count: r.count });
      else if (r.outcome === 'delivered') trail.record(n.id, { type: 'delivered', target, to: recipientKey(to), count: r.count });
    }
  }

  /** Durable deliveries in parallel (one group commit); the first refusal in plan order, or undefined. Each result also goes into `each`, when given. */
  async #deliverDurable(n: Notification, plan: Plan, out: Map<string, TargetResult>, each?: TargetOutcome[]): Promise<Refused | undefined> {
    const pending: Promise<TargetResult>[] = [];
    const order: Target[] = [];
    const tos: Recipient[] = [];
    for (const step of plan.steps) {
      for (const t of step.targets) {
        if (!t.durable) continue;
        pending.push(Promise.resolve(t.deliver(n, step.to, 'local')));
        order.push(t);
        tos.push(step.to);
      }
    }
    const settled = await Promise.allSettled(pending);
    let refusal: Refused | undefined;
    let failure: unknown;
    const results: Record<string, string> = {};
    settled.forEach((s, i) => {
      const t = order[i]!;
      if (s.status === 'rejected') {
        failure ??= s.reason;
        return;
      }
      const r = s.value;
      add(out, t.name, r);
      each?.push({ target: t.name, to: tos[i]!, r });
      results[t.name] = r.outcome === 'refused' ? `refused: ${r.reason}` : `${r.outcome} ${r.count}`;
      if (r.outcome === 'refused') refusal ??= { ok: false, refusedBy: t.label ?? t.name, reason: r.reason };
      else if (r.count > 0) inc(this.stats.durable[t.name] ??= {}, 'queued', r.count);
    });
    if (failure !== undefined) throw failure;
    // Texts stay out of the log; the id and per-target results are enough to trace a notification.
    if (refusal) this.#log.warn({ notification: n.id, results }, 'notification refused by the outbox');
    else this.#log.info({ notification: n.id, results }, 'notification queued for its durable targets');
    return refusal;
  }

  /** A notification accepted on another node: this node's live targets write it (once per browser across nodes), and it is journaled here too. */
  receive(n: Notification, node: string): void {
    this.stats.received++;
    const origin = { node };
    const live: Record<string, number> = {};
    for (const to of n.recipients) {
      for (const t of this.#live) {
        if (!t.serves(to)) continue;
        const r = t.deliver(n, to, origin) as TargetResult;
        if (r.outcome === 'delivered') {
          live[t.name] = (live[t.name] ?? 0) + r.count;
          inc(this.stats.live, t.name, r.count);
        }
      }
    }
    this.#journal.note({ t: 'n', at: Date.now(), n, o: node, live });
  }

  /** Refill the live targets' resume windows from what the journal held at start. */
  restore(restored: Restored): void {
    for (const { n, at } of restored.notifications) {
      for (const to of n.recipients) for (const t of this.#live) if (t.serves(to)) t.restore?.(n, to, at);
      this.stats.restored++;
    }
  }

  /** The outbox finished a durable delivery (its `onSettled`): counted and journaled for the notification's trail. */
  settled(d: Delivery, o: Outcome): void {
    const target = d.channel === 'mobile-push' || d.channel === 'web-push' ? d.channel : `channel:${d.channel}`;
    inc(this.stats.durable[target] ??= {}, o.kind);
    if (d.notificationId === undefined) return;
    // Mobile push journals the user id, Web Push its owner (`user:7`, `contact:3`): both are recipient keys.
    const to = typeof d.data?.user_id === 'number' ? recipientKey({ kind: 'user', userId: d.data.user_id })
      : typeof d.data?.owner === 'string' ? d.data.owner : '';
    this.#journal.note({
      t: 'd', at: Date.now(), nid: d.notificationId, target, to, outcome: o.kind, attempts: o.attempts,
      ...(o.kind === 'dead' ? { reason: o.reason } : {}),
    });
    this.#trail?.record(d.notificationId, {
      type: 'delivery', target, to, outcome: o.kind, attempts: o.attempts, ...(o.kind === 'dead' ? { reason: o.reason } : {}),
    });
  }
}

/** What one target answered for one recipient. */
interface TargetOutcome {
  target: string;
  to: Recipient;
  r: TargetResult;
}

/** Sum results of one target over recipients (live counts add up; a refusal wins). */
function add(results: Map<string, TargetResult>, name: string, r: TargetResult): void {
  const prev = results.get(name);
  if (prev === undefined || prev.outcome === 'refused') {
    if (prev === undefined) results.set(name, r);
    return;
  }
  if (r.outcome === 'refused') results.set(name, r);
  else results.set(name, { outcome: r.outcome, count: prev.outcome === r.outcome ? prev.count + r.count : r.count });
}
