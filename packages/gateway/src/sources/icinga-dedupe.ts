import { createHash } from 'node:crypto';
import type { NotifiedRow } from '../directory/icinga.js';

/**
 * "The same notification over several channels" for Icinga rows: the daemon
 * writes one `incident_history` row per contact and channel, and a browser
 * should show it once.
 *
 * - With `event_id` (the v0.2.0 schema) the rows of one notification share
 *   it: a row repeats when its (contact, incident, event) was delivered.
 * - Without it (the current schema, and v0.2.0 rows whose event_id is NULL)
 *   the rows of one notification round are written together: same contact,
 *   incident and message, each for a different channel, their `time`s
 *   taken one after the other (ms apart). A row repeats when an earlier
 *   delivered row of its (contact, incident) has the same message, a `time`
 *   at most `roundMs` away, and the round has not had this channel yet.
 *   A later notification of the same incident and severity (an
 *   acknowledgement, a re-notification) is a new round: it reaches a channel
 *   the round already had, or comes later, or says something else, so it
 *   is delivered.
 *
 * Each row is judged once, whoever asks first: the poll, or the channel
 * intake (sources/icinga-channel.ts) for the row of the notification the
 * daemon is handing to pushgate's channel plugin. So a notification that
 * reaches pushgate both ways, and its rows on the contact's other
 * channels, are shown once.
 */

/** Options of {@link IcingaDedupe}. */
export interface IcingaDedupeOptions {
  /** Most (contact, incident[, event]) keys remembered; the oldest is forgotten first. */
  maxEntries: number;
  /** A key is forgotten this long after its last delivered row, ms. */
  maxAgeMs: number;
  /** Widest spread of `time` within one round, ms. */
  roundMs: number;
}

/** Rounds remembered per (contact, incident): a late row of an older round still finds its round. */
const ROUNDS_PER_KEY = 8;

interface Round {
  time: number;
  message: string;
  channels: Set<number | null>;
}

interface Entry {
  /** When the key was last touched (the poller's clock), for expiry. */
  at: number;
  /** Rounds, oldest first; empty for event-keyed entries. */
  rounds: Round[];
}

/** A digest stands for the message: the memory stays small whatever the plugin output. */
function messageKey(message: string | null): string {
  return message === null ? '' : `m${createHash('sha256').update(message).digest('base64')}`;
}

/** Remembers delivered Icinga rows and says which further rows repeat one of them. */
export class IcingaDedupe {
  /** Insertion order = age order (a touched key is moved to the end). */
  private readonly entries = new Map<string, Entry>();
  /** History row ids judged → when (the poller's clock); insertion order = age order. */
  private readonly judged = new Map<number, number>();

  constructor(private readonly o: IcingaDedupeOptions) {}

  /** Keys remembered (for tests). */
  get size(): number {
    return this.entries.size;
  }

  /**
   * True when `row` (a `sent` row) repeats a delivered notification on
   * another channel: do not push it. Otherwise it is remembered as
   * delivered and false is returned.
   * @param now the poller's clock, ms.
   */
  repeats(row: NotifiedRow, now: number): boolean {
    this.expire(now);
    // A row judged already (the channel intake saw it pending, now the poll sees it sent) is not shown again.
    if (this.judged.has(row.id)) return true;
    this.judged.set(row.id, now);
    if (this.judged.size > this.o.maxEntries) this.judged.delete(this.judged.keys().next().value!);
    const base = `${row.contactId}|${row.incidentId}`;
    if (row.eventId !== null) {
      const key = `${base}|e${row.eventId}`;
      if (this.entries.has(key)) return true;
      this.touch(key, { at: now, rounds: [] });
      return false;
    }
    const key = `${base}|r`;
    const entry = this.entries.get(key) ?? { at: now, rounds: [] };
    const message = messageKey(row.message);
    const round = entry.rounds.find((r) => r.message === message && !r.channels.has(row.channelId) && Math.abs(row.time - r.time) <= this.o.roundMs);
    if (round) {
      round.channels.add(row.channelId);
      return true;
    }
    entry.rounds.push({ time: row.time, message, channels: new Set([row.channelId]) });
    if (entry.rounds.length > ROUNDS_PER_KEY) entry.rounds.shift();
    entry.at = now;
    this.touch(key, entry);
    return false;
  }

  private touch(key: string, entry: Entry): void {
    this.entries.delete(key);
    this.entries.set(key, entry);
    if (this.entries.size > this.o.maxEntries) this.entries.delete(this.entries.keys().next().value!);
  }

  private expire(now: number): void {
    const limit = now - this.o.maxAgeMs;
    for (const [id, at] of this.judged) {
      if (at >= limit) break;
      this.judged.delete(id);
    }
    for (const [key, e] of this.entries) {
      if (e.at >= limit) break;
      this.entries.delete(key);
    }
  }
}
