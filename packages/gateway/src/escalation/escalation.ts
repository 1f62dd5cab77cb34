import { TimerWheel, type TimerHandle } from '@pushgate/relay';
import type { Logger } from 'pino';
import type { IdClock } from '../cluster/ids.js';
import type { EscalationConfig } from '../config.js';
import { recipientKey, type Notification, type Recipient } from '../pipeline/notification.js';
import { policiesFor, settled, startLadder, type Ladder } from './ladder.js';
import type { CancelledStep, StepStore } from './store.js';
import type { CancelReason, EscalationTrailSink } from './trail.js';

/**
 * Escalation (docs/escalation.md): a PROBLEM starts a ladder per routed
 * policy and recipient; each step, once due, delivers a reminder of the
 * notification (a new id, the same object) through the pipeline's targets
 * the step names, unless the object was acknowledged or recovered, or the
 * notification was `shown`/`clicked` where the step says so.
 *
 * Timers: one {@link TimerWheel} for every pending step this node owns
 * (O(1) schedule and cancel, O(1) per tick with nothing due). State: a
 * {@link StepStore}, asked before each step runs, so a cancellation written
 * by any node (Redis) stops the step here.
 *
 * A step being delivered is not cancelled under it (the store's `claim`
 * marks it running): it is recorded as run, the others as cancelled.
 *
 * Delivery is at least once into the targets, once in the store: a step is
 * marked run after its delivery was accepted, so a crash in between runs it
 * again at restart, under the same outbox delivery ids (`dedupe` carries the
 * policy and step), which the outbox does not double while the first is
 * pending.
 */

/** How a step reaches its targets: the pipeline (pipeline.ts `step`). */
export interface StepDeliverer {
  /** Deliver `n` to `to` through the named step targets; resolves with a result text per target. */
  step(n: Notification, to: Recipient, targets: readonly string[]): Promise<Record<string, string>>;
}

/** Counters, for metrics: by policy. */
export interface EscalationStats {
  /** Ladders started. */
  started: Record<string, number>;
  /** Steps run. */
  run: Record<string, number>;
  /** Steps cancelled, by `<policy>` then reason. */
  cancelled: Record<string, Record<string, number>>;
  /** Step checks or deliveries that failed (logged; the step is tried again after 5 s). */
  failed: number;
  /** Ladders taken over from a node whose lease lapsed. */
  adopted: number;
  /** Ladders not started because this node ran `maxLadders` already, by policy. */
  dropped: Record<string, number>;
}

/** Options of {@link Escalation}. */
export interface EscalationOptions {
  config: EscalationConfig;
  store: StepStore;
  deliverer: StepDeliverer;
  /** Ids of the reminders. */
  ids: IdClock;
  logger: Logger;
  trail?: EscalationTrailSink;
  /** How often to look for ladders of dead nodes, ms (the store's `adopt`); 0: never. Default 0. */
  adoptEveryMs?: number;
  /** Tick of the timer wheel, ms. Default 100. */
  tickMs?: number;
  /** Clock, ms since the epoch. Default `Date.now`. */
  now?: () => number;
}

interface Owned {
  readonly ladder: Ladder;
  readonly handles: (TimerHandle | undefined)[];
}

interface Due {
  readonly esc: Escalation;
  readonly key: string;
  readonly step: number;
}

/** Wait before a step whose check or delivery failed is tried again, ms. */
const RETRY_MS = 5000;

function inc(counts: Record<string, number>, key: string): void {
  counts[key] = (counts[key] ?? 0) + 1;
}

/** The escalation engine of one node. */
export class Escalation {
  readonly stats: EscalationStats = { started: {}, run: {}, cancelled: {}, failed: 0, adopted: 0, dropped: {} };
  readonly #cfg: EscalationConfig;
  readonly #store: StepStore;
  readonly #deliverer: StepDeliverer;
  readonly #ids: IdClock;
  readonly #log: Logger;
  readonly #trail: EscalationTrailSink | undefined;
  readonly #now: () => number;
  readonly #wheel: TimerWheel;
  /** Ladders this node runs, by key. */
  readonly #owned = new Map<string, Owned>();
  readonly #adoptTimer: NodeJS.Timeout | undefined;
  #adopting = false;
  #closed = false;

  private constructor(opts: EscalationOptions) {
    this.#cfg = opts.config;
    this.#store = opts.store;
    this.#deliverer = opts.deliverer;
    this.#ids = opts.ids;
    this.#log = opts.logger.child({ component: 'escalation' });
    this.#trail = opts.trail;
    this.#now = opts.now ?? Date.now;
    this.#wheel = new TimerWheel({ tickMs: opts.tickMs ?? 100 });
    const every = opts.adoptEveryMs ?? 0;
    if (every > 0) {
      this.#adoptTimer = setInterval(() => void this.#adopt(), every);
      this.#adoptTimer.unref();
    }
  }

  /** Start: schedule every ladder the store hands back (late steps run at once). */
  static async start(opts: EscalationOptions): Promise<Escalation> {
    const esc = new Escalation(opts);
    const ladders = await opts.store.start();
    for (const l of ladders) esc.#own(l);
    if (ladders.length > 0) esc.#log.info({ ladders: ladders.length, pending: esc.pending }, 'escalation: ladders restored');
    return esc;
  }

  /** Pending steps with a timer on this node. */
  get pending(): number {
    return this.#wheel.size;
  }

  /** Ladders this node runs. */
  get ladders(): number {
    return this.#owned.size;
  }

  /**
   * A notification accepted on this node (the pipeline's hook): a
   * PROBLEM starts its ladders, an ACKNOWLEDGEMENT or a RECOVERY (or any
   * notification of severity ok) ends the object's. Resolves once that is
   * durable; never rejects (a store failure is logged and counted).
   */
  async observe(n: Notification): Promise<void> {
    if (n.reminderOf !== undefined || n.source === 'test' || this.#closed) return;
    try {
      if (n.kind === 'ACKNOWLEDGEMENT') await this.#end(n.objectKey, 'acknowledged', 'engine');
      else if (n.kind === 'RECOVERY' || n.severity === 'ok') await this.#end(n.objectKey, 'recovered', `notification ${n.id}`);
      else if (n.kind === 'PROBLEM') await this.#plan(n);
    } catch (err) {
      this.stats.failed++;
      this.#log.error({ err, notification: n.id }, 'escalation: could not record a notification; its ladder may not run');
    }
  }

  /**
   * Acknowledged through pushgate (the Acknowledge action, once the engine
   * said done): every ladder of the object ends. `ref` names the object, or a
   * notification (a ladder's or a reminder's) whose object it is. Resolves
   * with the steps cancelled; never rejects.
   */
  async acknowledged(ref: { readonly objectKey: string } | { readonly notificationId: number }, by: string): Promise<number> {
    try {
      const objectKey = 'objectKey' in ref ? ref.objectKey : await this.#store.objectOf(ref.notificationId);
      if (objectKey === undefined) return 0;
      return await this.#end(objectKey, 'acknowledged', by);
    } catch (err) {
      this.stats.failed++;
      this.#log.error({ err }, 'escalation: acknowledgement not recorded');
      return 0;
    }
  }

  /**
   * A receipt from one of pushgate's clients: `shown` and `clicked` cancel
   * the pending steps whose `unless` names them, in the ladders notification
   * `id` started or reminded of (with `userId`, that user's only). Other
   * kinds change nothing. Resolves with the steps cancelled; never rejects.
   */
  async receipt(id: number, kind: string, userId?: number): Promise<number> {
    if (kind !== 'shown' && kind !== 'clicked') return 0;
    try {
      const cancelled = await this.#store.cancelUnless(id, kind, userId);
      this.#cancelled(cancelled, kind, undefined);
      return cancelled.length;
    } catch (err) {
      this.stats.failed++;
      this.#log.error({ err, notification: id }, 'escalation: receipt not recorded');
      return 0;
    }
  }

  /**
   * Whether escalation has a use for `n`: a PROBLEM with a policy routed for
   * one of its recipients starts a ladder; an ACKNOWLEDGEMENT or RECOVERY may
   * end one (on any node: not looked up here). `/message` accepts these even
   * when no target reaches the recipient now.
   */
  escalates(n: Notification): boolean {
    if (n.reminderOf !== undefined || n.source === 'test') return false;
    if (n.kind === 'ACKNOWLEDGEMENT' || n.kind === 'RECOVERY' || n.severity === 'ok') return true;
    return n.kind === 'PROBLEM' && n.recipients.some((to) => policiesFor(this.#cfg, n.host, to).length > 0);
  }

  async #plan(n: Notification): Promise<void> {
    const ladders: Ladder[] = [];
    for (const to of n.recipients) {
      for (const policy of policiesFor(this.#cfg, n.host, to)) ladders.push(startLadder(this.#cfg, policy, n, to));
    }
    if (ladders.length === 0) return;
    const room = Math.max(0, this.#cfg.maxLadders - this.#owned.size);
    if (ladders.length > room) {
      // Bounded like every queue: the notification itself was delivered; only its escalation is given up, loudly.
      for (const l of ladders.slice(room)) inc(this.stats.dropped, l.policy);
      this.#log.warn({ notification: n.id, ladders: ladders.length - room, maxLadders: this.#cfg.maxLadders }, 'escalation: too many ladders on this node; not started');
      ladders.length = room;
      if (room === 0) return;
    }
    const added = await this.#store.add(ladders);
    for (const l of added) {
      inc(this.stats.started, l.policy);
      const to = recipientKey(l.to);
      l.steps.forEach((s, step) => this.#trail?.record(l.n.id, { type: 'step-planned', policy: l.policy, step, due: s.due, targets: s.targets, to, objectKey: l.n.objectKey }));
      this.#own(l);
    }
    // A PROBLEM for an object whose ladder still climbs does not start it again (a renotification).
    if (added.length < ladders.length && this.#log.isLevelEnabled('debug')) {
      this.#log.debug({ notification: n.id, objectKey: n.objectKey }, 'escalation: ladder already climbing');
    }
  }

  async #end(objectKey: string, reason: CancelReason, by: string): Promise<number> {
    const cancelled = await this.#store.endObject(objectKey, reason);
    this.#cancelled(cancelled, reason, by);
    return cancelled.length;
  }

  /** Drop the timers of cancelled steps (they may be another node's: then nothing is here) and record them. */
  #cancelled(cancelled: readonly CancelledStep[], reason: CancelReason, by: string | undefined): void {
    for (const { ladder: l, step } of cancelled) {
      const owned = this.#owned.get(l.key);
      if (owned !== undefined) {
        const h = owned.handles[step];
        if (h !== undefined) this.#wheel.cancel(h);
        owned.handles[step] = undefined;
        owned.ladder.state[step] ??= `cancelled:${reason}`;
        if (owned.handles.every((x) => x === undefined)) this.#owned.delete(l.key);
      }
      inc(this.stats.cancelled[l.policy] ??= {}, reason);
      this.#trail?.record(l.n.id, { type: 'step-cancelled', policy: l.policy, step, reason, ...(by !== undefined ? { by } : {}), to: recipientKey(l.to), objectKey: l.n.objectKey });
    }
    if (cancelled.length > 0) this.#log.info({ steps: cancelled.length, reason, objectKey: cancelled[0]!.ladder.n.objectKey }, 'escalation: steps cancelled');
  }

  #own(l: Ladder): void {
    if (this.#closed || this.#owned.has(l.key)) return;
    const now = this.#now();
    const handles = l.steps.map((s, step) => (l.state[step] !== undefined ? undefined
      : this.#wheel.schedule(Math.max(0, s.due - now), fire, { esc: this, key: l.key, step } satisfies Due)));
    if (handles.some((h) => h !== undefined)) this.#owned.set(l.key, { ladder: l, handles });
  }

  /** Step `step` of ladder `key` is due. */
  async run(key: string, step: number): Promise<void> {
    const owned = this.#owned.get(key);
    if (owned === undefined) return;
    owned.handles[step] = undefined;
    const l = owned.ladder;
    const claim = await this.#store.claim(key, step).catch((err: unknown) => {
      this.#log.error({ err, ladder: key, step }, `escalation: cannot check a due step; trying again in ${RETRY_MS} ms`);
      this.stats.failed++;
      return 'error' as const;
    });
    if (claim === 'error') {
      this.#retry(owned, key, step);
      return;
    }
    if (claim !== 'run') {
      if (claim === 'gone') this.#drop(key);
      else if (owned.handles.every((h) => h === undefined)) this.#owned.delete(key);
      return;
    }
    const s = l.steps[step]!;
    const reminder: Notification = {
      ...l.n,
      id: this.#ids.next(),
      created: this.#now(),
      reminderOf: l.n.id,
      // Same step, same outbox delivery ids: a step run again after a crash is not doubled while pending.
      dedupe: `${l.n.dedupe ?? l.n.id}#${l.policy}:${step}`,
    };
    try {
      const results = await this.#deliverer.step(reminder, l.to, s.targets);
      await this.#store.ran(l, step, reminder.id);
      l.state[step] = 'run';
      inc(this.stats.run, l.policy);
      this.#trail?.record(l.n.id, { type: 'step-run', policy: l.policy, step, targets: s.targets, results, reminderId: reminder.id, to: recipientKey(l.to), objectKey: l.n.objectKey });
      this.#log.info({ notification: l.n.id, reminder: reminder.id, policy: l.policy, step, results }, 'escalation: step run');
    } catch (err) {
      // A refusing outbox (full, closed) or a store that cannot record the run: the step runs again (same delivery ids).
      this.stats.failed++;
      this.#log.error({ err, notification: l.n.id, policy: l.policy, step }, `escalation: step failed; trying again in ${RETRY_MS} ms`);
      if (l.state[step] === undefined) this.#retry(owned, key, step);
    }
    // Settled meanwhile (a cancellation while this step was delivered): its timers go too; the canceller records them.
    if (settled(l)) this.#drop(key);
    else if (owned.handles.every((h) => h === undefined)) this.#owned.delete(key);
  }

  #retry(owned: Owned, key: string, step: number): void {
    if (this.#closed || this.#owned.get(key) !== owned) return;
    owned.handles[step] = this.#wheel.schedule(RETRY_MS, fire, { esc: this, key, step } satisfies Due);
  }

  #drop(key: string): void {
    const owned = this.#owned.get(key);
    if (owned === undefined) return;
    for (const h of owned.handles) if (h !== undefined) this.#wheel.cancel(h);
    this.#owned.delete(key);
  }

  async #adopt(): Promise<void> {
    if (this.#adopting || this.#closed) return;
    this.#adopting = true;
    try {
      const ladders = await this.#store.adopt();
      for (const l of ladders) this.#own(l);
      if (ladders.length > 0) {
        this.stats.adopted += ladders.length;
        this.#log.info({ ladders: ladders.length }, 'escalation: ladders taken over from a node that is gone');
      }
    } catch (err) {
      this.#log.warn({ err }, 'escalation: looking for ladders of gone nodes failed');
    } finally {
      this.#adopting = false;
    }
  }

  /** Stop the timers and close the store; pending steps stay in the store. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#adoptTimer !== undefined) clearInterval(this.#adoptTimer);
    this.#wheel.close();
    this.#owned.clear();
    await this.#store.close();
  }
}

/** The wheel's one callback for every step (no closure per step). */
function fire(d: Due): void {
  void d.esc.run(d.key, d.step);
}
