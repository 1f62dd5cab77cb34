import { envelope } from '@pushgate/protocol';
import type { IdClock } from '../cluster/ids.js';

/**
 * Missed-message replay for the WebSocket endpoint
 * (docs/protocol/extensions.md): every `ProcessPushNotification` carries an
 * increasing `id` in its payload, and the gateway keeps the last frames of
 * each user, bounded by count, bytes and age. A WebSocket connecting with
 * `?since=<id>` first receives, in order, every kept frame with a higher id;
 * when frames after `since` have already left the buffer, it is told so with
 * a `ReplayGap` message instead of a silent gap. The pipeline refills the log
 * from its journal at start (pipeline/journal.ts), so a restart within the
 * window loses nothing a client missed.
 *
 * The SSE hub (`transport/sse/stream.ts`) keeps its own replay ring, one over
 * all topics with ids that may arrive out of order; WebSocket ids are per user
 * and increasing, so this per-user log is simpler and needs no topic scan.
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
  /** Most frames kept per user; 0 disables replay (every resume with a gap is reported). Default 10000. */
  maxEvents: number;
  /** Longest a frame is kept, ms. Default 300000. */
  maxAgeMs: number;
  /** Bytes of frames kept for all users together; the oldest leave first. Default 64 MiB. */
  maxBytes?: number;
  /** Where ids come from: a `since` above every id issued or seen names nothing and is a gap. */
  ids: IdClock;
  /**
   * Lowest id that can be replayed: ids below it were issued before the
   * journal this log was restored from begins (default: the next id, as on
   * a first start).
   */
  firstId?: number;
  /** Clock in ms; default `Date.now`. */
  now?: () => number;
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
  readonly #maxBytes: number;
  readonly #now: () => number;
  readonly #ids: IdClock;
  /** Ids below this cannot be replayed. */
  readonly #firstId: number;
  /** Every record in order, so frames past `maxAgeMs` (or `maxBytes`) leave even for users who get nothing new. */
  readonly #order: { userId: number; at: number }[] = [];
  #orderHead = 0;
  /** Highest id lost with a user's log dropped as empty; stands in for `lost` of users without a log. */
  #forgotten = 0;
  #bytes = 0;
  #frames = 0;
  /** Frames that left before their age because of `maxEvents` or `maxBytes` (for metrics). */
  evicted = 0;

  constructor(opts: ReplayOptions) {
    this.#maxEvents = opts.maxEvents;
    this.#maxAgeMs = opts.maxAgeMs;
    this.#maxBytes = opts.maxBytes ?? 64 * 1024 * 1024;
    this.#now = opts.now ?? Date.now;
    this.#ids = opts.ids;
    this.#firstId = opts.firstId ?? opts.ids.lastId + 1;
  }

  /**
   * Keep `frame` (the exact Buffer sent to the user's sockets) under `id`.
   * `at` is when it was accepted (default now; older when restored from the journal).
   */
  record(userId: number, id: number, frame: Buffer, at = this.#now()): void {
    if (this.#maxEvents === 0) return;
    let log = this.#users.get(userId);
    if (!log) this.#users.set(userId, (log = { entries: [], head: 0, lost: 0 }));
    const now = this.#now();
    const { entries } = log;
    // Frames from other nodes may arrive slightly out of id order: keep the log sorted.
    let i = entries.length;
    while (i > log.head && entries[i - 1]!.id > id) i--;
    if (i === entries.length) entries.push({ id, at, frame });
    else entries.splice(i, 0, { id, at, frame });
    this.#bytes += frame.length;
    this.#frames++;
    this.#expire(log, now);
    this.#order.push({ userId, at });
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
    // Lost: something above `since` expired, or `since` predates what the journal holds, or names an id never issued.
    const lost = log?.lost ?? this.#forgotten;
    const gapped = since < lost || since < this.#firstId - 1 || since > this.#ids.highest;
    const gap = gapped
      ? Buffer.from(envelope<ReplayGapPayload>(REPLAY_GAP, gapMessage(since), { since, oldest }))
      : undefined;
    return { gap, frames };
  }

  /** Users with a log (kept frames, or lost ones not yet swept); bounded by the users notified within `maxAgeMs`. */
  get userCount(): number {
    return this.#users.size;
  }

  /** Frames kept, for metrics. */
  get frames(): number {
    return this.#frames;
  }

  /** Bytes of the frames kept, for metrics. */
  get bytes(): number {
    return this.#bytes;
  }

  /** Expire the users whose oldest records passed `maxAgeMs` (or the oldest beyond `maxBytes`); drop logs left empty. */
  #sweep(now: number): void {
    const order = this.#order;
    const cutoff = now - this.#maxAgeMs;
    while (this.#orderHead < order.length && (order[this.#orderHead]!.at < cutoff || this.#bytes > this.#maxBytes)) {
      const { userId } = order[this.#orderHead++]!;
      const log = this.#users.get(userId);
      if (!log) continue;
      // Over the byte budget: this record is the user's oldest, so it is the one to go.
      if (this.#bytes > this.#maxBytes && log.head < log.entries.length) {
        this.#drop(log);
        this.evicted++;
      }
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

  #drop(log: UserLog): void {
    const e = log.entries[log.head]!;
    log.lost = e.id;
    log.head++;
    this.#bytes -= e.frame.length;
    this.#frames--;
  }

  #expire(log: UserLog, now: number): void {
    const { entries } = log;
    const cutoff = now - this.#maxAgeMs;
    while (log.head < entries.length && (entries.length - log.head > this.#maxEvents || entries[log.head]!.at < cutoff)) {
      if (entries.length - log.head > this.#maxEvents) this.evicted++;
      this.#drop(log);
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
