import { envelope } from '@pushgate/protocol';

/**
 * Missed-message replay for the WebSocket endpoint (PROTOCOL.md §6): every
 * `ProcessPushNotification` carries an increasing `id` in its payload, and
 * the gateway keeps the last frames of each user, bounded by count and age.
 * A WebSocket connecting with `?since=<id>` first receives, in order, every
 * kept frame with a higher id; when frames after `since` have already left
 * the buffer (or the gateway restarted since), it is told so with a
 * `ReplayGap` message instead of a silent gap (docs/protocol-extensions.md).
 *
 * The SSE hub (`sse/stream.ts`) keeps its own replay ring inside `SseHub`,
 * interleaved with its stream bookkeeping (one ring over all topics, ids
 * that may arrive out of order); WebSocket ids are per user and strictly
 * increasing, so this per-user log is simpler and needs no topic scan.
 */

/** Server message type telling a resuming client that notifications may be missing. */
export const REPLAY_GAP = 'ReplayGap';

/** Payload of a `ReplayGap` message. */
export interface ReplayGapPayload {
  /** The `since` the client asked for. */
  since: number;
  /** Lowest id still held for the user, or `null` when none is held. */
  oldest: number | null;
}

/** Bounds of {@link ReplayLog}. */
export interface ReplayOptions {
  /** Most frames kept per user; 0 disables replay (every resume with a gap is reported). Default 100. */
  maxEvents: number;
  /** Longest a frame is kept, ms. Default 300000. */
  maxAgeMs: number;
  /** Clock in ms; default `Date.now`. */
  now?: () => number;
  /**
   * Cluster-unique ids (bus/redis.ts): ids are `counter * slots + slot`, so
   * nodes with different slots never issue the same id. Default one slot.
   */
  ids?: { slots: number; slot: number };
}

interface Entry {
  id: number;
  at: number;
  frame: Buffer;
}

interface UserLog {
  entries: Entry[];
  /** Index of the first live entry (entries before it expired). */
  head: number;
  /** Highest id that left the buffer; resuming below it means a gap. */
  lost: number;
}

/** Per-user bounded log of serialised notification frames. */
export class ReplayLog {
  readonly #users = new Map<number, UserLog>();
  readonly #maxEvents: number;
  readonly #maxAgeMs: number;
  readonly #now: () => number;
  /** Ids issued before this process started cannot be replayed. */
  readonly #firstId: number;
  #last: number;
  /** Lamport counter behind the ids (`#last` = `#counter * #slots + #slot`). */
  #counter: number;
  readonly #slots: number;
  #slot: number;
  /** Highest id issued here or seen from another node. */
  #highest: number;
  /** Every record in order, so frames past `maxAgeMs` leave even for users who get nothing new. */
  readonly #order: { userId: number; at: number }[] = [];
  #orderHead = 0;
  /** Highest id lost with a user's log dropped as empty; stands in for `lost` of users without a log. */
  #forgotten = 0;

  constructor(opts: ReplayOptions) {
    this.#maxEvents = opts.maxEvents;
    this.#maxAgeMs = opts.maxAgeMs;
    this.#now = opts.now ?? Date.now;
    this.#slots = opts.ids?.slots ?? 1;
    this.#slot = opts.ids?.slot ?? 0;
    // Ids start at the clock (ms) so a `since` from before a restart is lower than every new id.
    this.#counter = this.#now();
    this.#last = this.#counter * this.#slots + this.#slot;
    this.#highest = this.#last;
    this.#firstId = this.#last + 1;
  }

  /**
   * The next notification id. One counter for all users: ids are increasing
   * per user (and globally), so one user's ids need not be consecutive.
   */
  nextId(): number {
    this.#last = ++this.#counter * this.#slots + this.#slot;
    if (this.#last > this.#highest) this.#highest = this.#last;
    return this.#last;
  }

  /** Issue later ids in another slot (the cluster bus leased a new one after reconnecting). */
  setSlot(slot: number): void {
    this.#slot = slot;
  }

  /**
   * An id issued by another node (cluster bus): later ids of this node are
   * higher (a Lamport clock), so one user's ids keep the order in which a
   * node saw them, whichever node issued them.
   */
  observe(id: number): void {
    const counter = Math.floor(id / this.#slots);
    if (counter > this.#counter) this.#counter = counter;
    if (id > this.#highest) this.#highest = id;
  }

  /** Keep `frame` (the exact Buffer sent to the user's sockets) under `id`. */
  record(userId: number, id: number, frame: Buffer): void {
    if (this.#maxEvents === 0) return;
    let log = this.#users.get(userId);
    if (!log) this.#users.set(userId, (log = { entries: [], head: 0, lost: 0 }));
    const now = this.#now();
    const { entries } = log;
    // Frames from other nodes may arrive slightly out of id order: keep the log sorted.
    let at = entries.length;
    while (at > log.head && entries[at - 1]!.id > id) at--;
    if (at === entries.length) entries.push({ id, at: now, frame });
    else entries.splice(at, 0, { id, at: now, frame });
    this.#expire(log, now);
    this.#order.push({ userId, at: now });
    this.#sweep(now);
  }

  /**
   * What a client resuming after `since` must receive: an optional gap
   * frame, then the kept frames with a higher id, oldest first.
   */
  resume(userId: number, since: number): { gap: Buffer | undefined; frames: Buffer[] } {
    const log = this.#users.get(userId);
    if (log) this.#expire(log, this.#now());
    const frames: Buffer[] = [];
    let oldest: number | null = null;
    if (log) {
      for (let i = log.head; i < log.entries.length; i++) {
        const e = log.entries[i]!;
        if (oldest === null) oldest = e.id;
        if (e.id > since) frames.push(e.frame);
      }
    }
    // Lost: something above `since` expired, or `since` predates this process, or names an id never issued.
    const lost = log?.lost ?? this.#forgotten;
    const gapped = since < lost || since < this.#firstId - 1 || since > this.#highest;
    const gap = gapped
      ? Buffer.from(envelope<ReplayGapPayload>(REPLAY_GAP, gapMessage(since), { since, oldest }))
      : undefined;
    return { gap, frames };
  }

  /** The id issued last (the clock at start when none was issued yet). */
  get lastId(): number {
    return this.#last;
  }

  /** Users with a log (kept frames, or lost ones not yet swept); bounded by the users notified within `maxAgeMs`. */
  get userCount(): number {
    return this.#users.size;
  }

  /** Expire the users whose oldest records passed `maxAgeMs`; drop logs left empty. */
  #sweep(now: number): void {
    const order = this.#order;
    const cutoff = now - this.#maxAgeMs;
    while (this.#orderHead < order.length && order[this.#orderHead]!.at < cutoff) {
      const { userId } = order[this.#orderHead++]!;
      const log = this.#users.get(userId);
      if (!log) continue;
      this.#expire(log, now);
      if (log.head === log.entries.length) {
        this.#users.delete(userId);
        if (log.lost > this.#forgotten) this.#forgotten = log.lost;
      }
    }
    if (this.#orderHead > 1024 && this.#orderHead * 2 > order.length) {
      order.splice(0, this.#orderHead);
      this.#orderHead = 0;
    }
  }

  #expire(log: UserLog, now: number): void {
    const { entries } = log;
    const cutoff = now - this.#maxAgeMs;
    while (log.head < entries.length && (entries.length - log.head > this.#maxEvents || entries[log.head]!.at < cutoff)) {
      log.lost = entries[log.head]!.id;
      log.head++;
    }
    // Compact once the dead prefix dominates, so the shift cost is amortised.
    if (log.head > 64 && log.head * 2 > entries.length) {
      entries.splice(0, log.head);
      log.head = 0;
    }
  }
}

function gapMessage(since: number): string {
  return `Notifications after id ${since} may be missing: they are no longer in the replay buffer`;
}

/**
 * The `since` query parameter of a WebSocket URL: a non-negative decimal
 * integer, else `undefined` (a garbled value means "no resume", never an
 * error: original clients never send it).
 */
export function parseSince(url: string | undefined): number | undefined {
  if (url === undefined) return undefined;
  const q = url.indexOf('?');
  if (q === -1) return undefined;
  const v = new URLSearchParams(url.slice(q + 1)).get('since');
  if (v === null || !/^\d{1,16}$/.test(v)) return undefined;
  const n = Number(v);
  return Number.isSafeInteger(n) ? n : undefined;
}
