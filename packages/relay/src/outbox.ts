import { randomUUID } from 'node:crypto';
import { mkdir, open, readFile, rename, stat, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { Channel, Delivery, SendResult } from './channels/channel.js';
import { RelayError } from './errors.js';
import { TimerWheel, type TimerHandle } from './timer-wheel.js';

/**
 * What a caller hands to {@link Outbox.enqueue}: a {@link Delivery} whose
 * timestamps the outbox sets. `id` is the idempotency key (enqueueing an id
 * that is still pending is a no-op), default a random UUID; `ttlMs` is the
 * lifetime from now, default the outbox's `ttlMs`. `data` is journaled as
 * given, in plain text: never secrets.
 */
export type DeliveryInput = Omit<Delivery, 'id' | 'createdAt' | 'expiresAt'> & { id?: string; ttlMs?: number };

/** How a delivery ended. */
export type Outcome = { kind: 'sent'; attempts: number } | { kind: 'dead'; reason: string; attempts: number };

/** Options of {@link Outbox.open}. */
export interface OutboxOptions {
  /** Directory for `journal.jsonl` and `dead-letter.jsonl`; created if missing. */
  dir: string;
  /** The configured channels, by name. Not closed by the outbox. */
  channels: Iterable<Channel>;
  /** Logger; the outbox logs under `{ component: 'outbox' }`. Delivery texts are not logged. */
  logger: Logger;
  /** Deliveries accepted and not finished; one more is refused with `RELAY_ERR_OUTBOX_FULL`. Default 10000. */
  maxPending?: number;
  /** Bytes the pending deliveries may occupy in the journal; more is refused with `RELAY_ERR_OUTBOX_FULL`. Default 64 MiB. */
  maxJournalBytes?: number;
  /** The journal is rewritten with only pending deliveries once it exceeds this many bytes and at least half of it is finished. Default 4 MiB. */
  compactAtBytes?: number;
  /** Attempts per delivery including the first. Default 8. */
  maxAttempts?: number;
  /** Backoff base in ms: after attempt n wait retryBaseMs·2^(n-1), jittered to 50–100 %. Default 1000. */
  retryBaseMs?: number;
  /** Ceiling for one backoff or `Retry-After` wait, in ms. Default 300000. */
  maxRetryDelayMs?: number;
  /** Default lifetime of a delivery, in ms. Default 86400000 (24 h). */
  ttlMs?: number;
  /** Extra wait before each journal write so more records share one fsync, in ms. Default 0 (records arriving during an fsync share the next one anyway). */
  flushDelayMs?: number;
  /** `dead-letter.jsonl` is renamed to `dead-letter.1.jsonl` (replacing it) past this size, in bytes. Default 16 MiB. */
  maxDeadLetterBytes?: number;
  /** Called once per delivery when it is sent or dead-lettered (for metrics and per-channel results). */
  onSettled?: (delivery: Delivery, outcome: Outcome) => void;
  /**
   * The timer wheel that times retry waits, shared with other users; the
   * outbox cancels its own items on close but does not close the wheel.
   * Default: a wheel of its own with 100 ms ticks that keeps the process
   * alive while a retry is waiting (a waiting retry is work still to do).
   */
  timers?: TimerWheel;
}

/** Counters of an {@link Outbox} since it was opened. */
export interface OutboxStats {
  accepted: number;
  /** Refused by `enqueue` (full or closed). */
  rejected: number;
  sent: number;
  /** Attempts that were followed by another one. */
  retried: number;
  dead: number;
  /** Deliveries found pending in the journal at open. */
  replayed: number;
  /** Journal lines that could not be parsed at open (a torn last line after a crash is not counted). */
  corrupt: number;
  compactions: number;
  /** fsyncs of the journal (batches). */
  fsyncs: number;
}

interface Entry {
  d: Delivery;
  attempts: number;
  /** Not before this (ms since the epoch). */
  nextAt: number;
  lastReason: string;
  /** Size of its add record, counted against maxJournalBytes. */
  bytes: number;
  /** The pending retry wait on the outbox's timer wheel. */
  timer: TimerHandle | undefined;
  durable: Promise<void>;
}

interface ChannelState {
  channel: Channel;
  running: number;
  ready: Entry[];
}

interface Waiter {
  resolve: () => void;
  reject: (err: Error) => void;
}

/**
 * The durable outbox: every accepted delivery is appended to an
 * append-only journal and fsynced before {@link Outbox.enqueue} resolves;
 * a process killed at any moment replays the pending ones when reopened.
 * Deliveries are then attempted per channel with that channel's
 * concurrency; network errors, 429 and 5xx are retried with jittered
 * exponential backoff honouring `Retry-After`; refusals, exhausted attempts
 * and expiry end in a dead-letter record with the reason. Delivery is
 * at-least-once: an attempt whose answer was lost in a crash is repeated,
 * carrying the same idempotency key.
 *
 * Journal format, one JSON object per line: `{"t":"a","d":<Delivery>,"n":attempts,"at":notBeforeMs}`
 * (accepted), `{"t":"r","id","n","at"}` (retry scheduled), `{"t":"s","id"}`
 * (sent), `{"t":"x","id"}` (dead-lettered).
 */
export class Outbox {
  /** Counters since open. */
  readonly stats: OutboxStats = { accepted: 0, rejected: 0, sent: 0, retried: 0, dead: 0, replayed: 0, corrupt: 0, compactions: 0, fsyncs: 0 };
  /** Per configured channel name: deliveries sent, attempts retried, deliveries dead-lettered, since open. */
  readonly byChannel = new Map<string, { sent: number; retried: number; dead: number }>();

  readonly #dir: string;
  readonly #journalPath: string;
  readonly #deadPath: string;
  readonly #log: Logger;
  readonly #channels = new Map<string, ChannelState>();
  readonly #maxPending: number;
  readonly #maxJournalBytes: number;
  readonly #compactAtBytes: number;
  readonly #maxAttempts: number;
  readonly #retryBaseMs: number;
  readonly #maxRetryDelayMs: number;
  readonly #ttlMs: number;
  readonly #flushDelayMs: number;
  readonly #maxDeadLetterBytes: number;
  readonly #onSettled: ((d: Delivery, o: Outcome) => void) | undefined;
  readonly #timers: TimerWheel;
  /** Whether #timers is the outbox's own (closed with it). */
  readonly #ownTimers: boolean;
  /** One function for every retry wait (no closure per delivery). */
  readonly #onRetryDue = (entry: Entry): void => {
    entry.timer = undefined;
    this.#ready(entry);
  };

  readonly #entries = new Map<string, Entry>();
  #liveBytes = 0;
  #journalBytes = 0;
  #fh: FileHandle | undefined;
  #buf: string[] = [];
  #bufWaiters: Waiter[] = [];
  #writing: Promise<void> | undefined;
  #deadChain: Promise<void> = Promise.resolve();
  #deadBytes = 0;
  #running = 0;
  #closed = false;
  #idleWaiters: Array<() => void> = [];
  #runningWaiters: Array<() => void> = [];

  private constructor(opts: OutboxOptions) {
    this.#dir = opts.dir;
    this.#journalPath = join(opts.dir, 'journal.jsonl');
    this.#deadPath = join(opts.dir, 'dead-letter.jsonl');
    this.#log = opts.logger.child({ component: 'outbox' });
    for (const channel of opts.channels) {
      this.#channels.set(channel.name, { channel, running: 0, ready: [] });
      this.byChannel.set(channel.name, { sent: 0, retried: 0, dead: 0 });
    }
    this.#maxPending = opts.maxPending ?? 10_000;
    this.#maxJournalBytes = opts.maxJournalBytes ?? 64 * 1024 * 1024;
    this.#compactAtBytes = opts.compactAtBytes ?? 4 * 1024 * 1024;
    this.#maxAttempts = Math.max(1, opts.maxAttempts ?? 8);
    this.#retryBaseMs = opts.retryBaseMs ?? 1000;
    this.#maxRetryDelayMs = opts.maxRetryDelayMs ?? 300_000;
    this.#ttlMs = opts.ttlMs ?? 86_400_000;
    this.#flushDelayMs = opts.flushDelayMs ?? 0;
    this.#maxDeadLetterBytes = opts.maxDeadLetterBytes ?? 16 * 1024 * 1024;
    this.#onSettled = opts.onSettled;
    this.#ownTimers = opts.timers === undefined;
    this.#timers = opts.timers ?? new TimerWheel({ tickMs: 100, unref: false });
  }

  /**
   * Opens (or creates) the journal in `dir`, replays the deliveries still
   * pending in it, rewrites it with only those, and starts delivering them.
   *
   * @throws RelayError `RELAY_ERR_JOURNAL` when the directory or journal cannot be read or written.
   */
  static async open(opts: OutboxOptions): Promise<Outbox> {
    const outbox = new Outbox(opts);
    await outbox.#replay();
    return outbox;
  }

  /** Deliveries accepted and not yet sent or dead-lettered. */
  get pending(): number {
    return this.#entries.size;
  }

  /**
   * `createdAt` (ms since the epoch) of the oldest pending delivery;
   * undefined when none is pending. O(1): entries are kept in acceptance
   * order, and the journal replays them in that order.
   */
  get oldestPendingAt(): number | undefined {
    for (const e of this.#entries.values()) return e.d.createdAt;
    return undefined;
  }

  /** Current journal size in bytes. */
  get journalBytes(): number {
    return this.#journalBytes;
  }

  /**
   * Accepts a delivery: resolves once its journal record is fsynced, after
   * which a crash cannot lose it; delivery then runs in the background.
   * Enqueueing an id that is still pending resolves with the first one's
   * durability and adds nothing.
   *
   * @throws RelayError (as a rejection) `RELAY_ERR_OUTBOX_FULL` at
   * `maxPending` or `maxJournalBytes` (answer 503 with the message as
   * reason), `RELAY_ERR_OUTBOX_CLOSED` after `close()`,
   * `RELAY_ERR_CHANNEL_CONFIG` for a channel the outbox does not know,
   * `RELAY_ERR_JOURNAL` when the write or fsync failed.
   */
  enqueue(input: DeliveryInput): Promise<void> {
    if (this.#closed) return this.#reject(new RelayError('RELAY_ERR_OUTBOX_CLOSED', 'outbox closed'));
    if (!this.#channels.has(input.channel)) {
      return this.#reject(new RelayError('RELAY_ERR_CHANNEL_CONFIG', `no channel named "${input.channel}"`));
    }
    const id = input.id ?? randomUUID();
    const existing = this.#entries.get(id);
    if (existing !== undefined) return existing.durable;
    if (this.#entries.size >= this.#maxPending) {
      return this.#reject(new RelayError('RELAY_ERR_OUTBOX_FULL', `outbox full: ${this.#entries.size} deliveries pending (maxPending ${this.#maxPending})`));
    }
    const now = Date.now();
    const d: Delivery = {
      id,
      channel: input.channel,
      title: input.title,
      message: input.message,
      ...(input.url !== undefined ? { url: input.url } : {}),
      ...(input.priority !== undefined ? { priority: input.priority } : {}),
      ...(input.data !== undefined ? { data: input.data } : {}),
      ...(input.notificationId !== undefined ? { notificationId: input.notificationId } : {}),
      ...(input.tag !== undefined ? { tag: input.tag } : {}),
      ...(input.ends === true ? { ends: true } : {}),
      createdAt: now,
      expiresAt: now + (input.ttlMs ?? this.#ttlMs),
    };
    const line = addRecord(d, 0, now);
    const bytes = Buffer.byteLength(line);
    if (this.#liveBytes + bytes > this.#maxJournalBytes) {
      return this.#reject(new RelayError('RELAY_ERR_OUTBOX_FULL', `outbox full: pending deliveries occupy ${this.#liveBytes} journal bytes (maxJournalBytes ${this.#maxJournalBytes})`));
    }
    const entry: Entry = { d, attempts: 0, nextAt: now, lastReason: '', bytes, timer: undefined, durable: Promise.resolve() };
    this.#entries.set(id, entry);
    this.#liveBytes += bytes;
    this.stats.accepted++;
    entry.durable = new Promise<void>((resolve, reject) => this.#append(line, { resolve, reject })).then(
      () => {
        if (this.#entries.get(id) === entry) this.#ready(entry);
      },
      (err: Error) => {
        this.#forget(entry);
        this.stats.accepted--;
        this.stats.rejected++;
        throw err;
      },
    );
    return entry.durable;
  }

  /** Resolves once nothing is pending (every delivery sent or dead-lettered). */
  idle(): Promise<void> {
    if (this.#entries.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idleWaiters.push(resolve));
  }

  /**
   * Stops accepting and starting deliveries, cancels retry timers, waits for
   * attempts in flight (each bounded by its channel's timeout) and journal
   * writes, then closes the journal. Pending deliveries stay in the journal
   * and continue when it is opened again. Idempotent.
   */
  async close(): Promise<void> {
    this.#closed = true;
    for (const entry of this.#entries.values()) {
      if (entry.timer !== undefined) this.#timers.cancel(entry.timer);
      entry.timer = undefined;
    }
    if (this.#ownTimers) this.#timers.close();
    for (const state of this.#channels.values()) state.ready.length = 0;
    while (this.#running > 0) await new Promise<void>((resolve) => this.#runningWaiters.push(resolve));
    await this.#deadChain;
    while (this.#writing !== undefined) await this.#writing;
    const fh = this.#fh;
    this.#fh = undefined;
    await fh?.close();
  }

  #reject(err: RelayError): Promise<void> {
    this.stats.rejected++;
    this.#log.warn({ err }, 'delivery refused');
    return Promise.reject(err);
  }

  // ---- journal ----------------------------------------------------------

  async #replay(): Promise<void> {
    try {
      await mkdir(this.#dir, { recursive: true });
    } catch (cause) {
      throw new RelayError('RELAY_ERR_JOURNAL', `cannot create outbox directory ${this.#dir}`, { cause });
    }
    let text = '';
    try {
      text = await readFile(this.#journalPath, 'utf8');
    } catch (cause) {
      if ((cause as NodeJS.ErrnoException).code !== 'ENOENT') {
        throw new RelayError('RELAY_ERR_JOURNAL', `cannot read outbox journal ${this.#journalPath}`, { cause });
      }
    }
    const lines = text.split('\n');
    // A crash mid-write leaves a torn last line: it was never acknowledged.
    lines.pop();
    for (const line of lines) {
      if (line === '') continue;
      let rec: JournalRecord;
      try {
        rec = JSON.parse(line) as JournalRecord;
      } catch {
        this.stats.corrupt++;
        continue;
      }
      if (rec.t === 'a') {
        this.#entries.set(rec.d.id, {
          d: rec.d,
          attempts: rec.n,
          nextAt: rec.at,
          lastReason: '',
          bytes: 0,
          timer: undefined,
          durable: Promise.resolve(),
        });
      } else if (rec.t === 'r') {
        const entry = this.#entries.get(rec.id);
        if (entry !== undefined) {
          entry.attempts = rec.n;
          entry.nextAt = rec.at;
        }
      } else if (rec.t === 's' || rec.t === 'x') {
        this.#entries.delete(rec.id);
      }
    }
    if (this.stats.corrupt > 0) {
      this.#log.error({ err: new RelayError('RELAY_ERR_JOURNAL', `${this.stats.corrupt} unreadable journal lines skipped`) }, 'outbox journal damaged');
    }
    for (const entry of this.#entries.values()) {
      entry.bytes = Buffer.byteLength(addRecord(entry.d, entry.attempts, entry.nextAt));
      this.#liveBytes += entry.bytes;
    }
    this.stats.replayed = this.#entries.size;
    try {
      this.#deadBytes = (await stat(this.#deadPath)).size;
    } catch {
      this.#deadBytes = 0;
    }
    await this.#compact();
    if (this.#entries.size > 0) this.#log.info({ pending: this.#entries.size }, 'outbox replayed pending deliveries');
    for (const entry of this.#entries.values()) this.#schedule(entry);
  }

  /** Rewrites the journal with only the pending deliveries: temp file, fsync, rename, fsync the directory. */
  async #compact(): Promise<void> {
    const tmp = `${this.#journalPath}.tmp`;
    const data = [...this.#entries.values()].map((e) => addRecord(e.d, e.attempts, e.nextAt)).join('');
    try {
      await this.#fh?.close();
      this.#fh = undefined;
      const out = await open(tmp, 'w');
      try {
        await out.writeFile(data);
        await out.datasync();
      } finally {
        await out.close();
      }
      await rename(tmp, this.#journalPath);
      const dir = await open(this.#dir, 'r');
      try {
        await dir.sync();
      } finally {
        await dir.close();
      }
      this.#fh = await open(this.#journalPath, 'a');
    } catch (cause) {
      throw new RelayError('RELAY_ERR_JOURNAL', `cannot compact outbox journal ${this.#journalPath}`, { cause });
    }
    this.#journalBytes = Buffer.byteLength(data);
    this.stats.compactions++;
  }

  #append(line: string, waiter?: Waiter): void {
    this.#buf.push(line);
    if (waiter !== undefined) this.#bufWaiters.push(waiter);
    // #writeLoop clears #writing in the same tick it sees an empty buffer, so no line is left behind.
    if (this.#writing === undefined) this.#writing = this.#writeLoop();
  }

  /** Group commit: everything appended while one batch is being fsynced goes out in the next. */
  async #writeLoop(): Promise<void> {
    for (;;) {
      if (this.#buf.length === 0) {
        this.#writing = undefined;
        return;
      }
      if (this.#flushDelayMs > 0) await new Promise((r) => setTimeout(r, this.#flushDelayMs));
      const data = this.#buf.join('');
      const waiters = this.#bufWaiters;
      this.#buf = [];
      this.#bufWaiters = [];
      const bytes = Buffer.byteLength(data);
      try {
        const finished = this.#journalBytes - this.#liveBytes;
        if (
          (this.#journalBytes + bytes > this.#compactAtBytes && finished * 2 >= this.#journalBytes) ||
          (this.#journalBytes + bytes > this.#maxJournalBytes && finished > 0)
        ) {
          await this.#compact();
        }
        const fh = this.#fh;
        if (fh === undefined) throw new Error('journal is closed');
        await fh.appendFile(data);
        await fh.datasync();
        this.#journalBytes += bytes;
        this.stats.fsyncs++;
      } catch (cause) {
        const err = cause instanceof RelayError ? cause : new RelayError('RELAY_ERR_JOURNAL', `cannot write outbox journal ${this.#journalPath}`, { cause });
        this.#log.error({ err }, 'outbox journal write failed');
        for (const w of waiters) w.reject(err);
        continue;
      }
      for (const w of waiters) w.resolve();
    }
  }

  // ---- delivery ---------------------------------------------------------

  #schedule(entry: Entry): void {
    if (this.#closed) return;
    const wait = entry.nextAt - Date.now();
    if (wait <= 0) {
      this.#ready(entry);
      return;
    }
    entry.timer = this.#timers.schedule(wait, this.#onRetryDue, entry);
  }

  #ready(entry: Entry): void {
    if (this.#closed) return;
    const state = this.#channels.get(entry.d.channel);
    if (state === undefined) {
      this.#dead(entry, `no channel named "${entry.d.channel}" is configured`);
      return;
    }
    state.ready.push(entry);
    this.#pump(state);
  }

  #pump(state: ChannelState): void {
    while (!this.#closed && state.running < state.channel.concurrency && state.ready.length > 0) {
      const entry = state.ready.shift() as Entry;
      state.running++;
      this.#running++;
      void this.#attempt(state.channel, entry).finally(() => {
        state.running--;
        this.#running--;
        if (this.#running === 0) {
          const waiters = this.#runningWaiters;
          this.#runningWaiters = [];
          for (const resolve of waiters) resolve();
        }
        this.#pump(state);
      });
    }
  }

  async #attempt(channel: Channel, entry: Entry): Promise<void> {
    const { d } = entry;
    if (Date.now() > d.expiresAt) {
      this.#dead(entry, `expired after ${entry.attempts} attempts${entry.lastReason ? `: ${entry.lastReason}` : ''}`);
      return;
    }
    entry.attempts++;
    let result: SendResult;
    try {
      result = await channel.send(d);
    } catch (err) {
      // Channels promise not to throw; one that does is treated as a network error.
      result = { kind: 'retry', reason: `channel threw: ${(err as Error)?.message ?? String(err)}` };
    }
    if (result.kind === 'sent') {
      this.#finish(entry);
      this.#append(`{"t":"s","id":${JSON.stringify(d.id)}}\n`);
      this.stats.sent++;
      this.#count(d.channel, 'sent');
      this.#log.debug({ delivery: d.id, channel: d.channel, attempts: entry.attempts }, 'delivery sent');
      this.#onSettled?.(d, { kind: 'sent', attempts: entry.attempts });
      return;
    }
    if (result.kind === 'failed') {
      this.#dead(entry, `refused: ${result.reason}`);
      return;
    }
    entry.lastReason = result.reason;
    if (entry.attempts >= this.#maxAttempts) {
      this.#dead(entry, `${entry.attempts} attempts failed, last: ${result.reason}`);
      return;
    }
    const delay = Math.max(channel.minRetryDelayMs, Math.min(result.retryAfterMs ?? this.#backoff(entry.attempts), this.#maxRetryDelayMs));
    const now = Date.now();
    if (now + delay > d.expiresAt) {
      this.#dead(entry, `expires before the next attempt, last: ${result.reason}`);
      return;
    }
    entry.nextAt = now + delay;
    this.stats.retried++;
    this.#count(d.channel, 'retried');
    this.#append(`{"t":"r","id":${JSON.stringify(d.id)},"n":${entry.attempts},"at":${entry.nextAt}}\n`);
    this.#log.warn({ delivery: d.id, channel: d.channel, attempt: entry.attempts, reason: result.reason, retryInMs: delay }, 'delivery attempt failed, retrying');
    this.#schedule(entry);
  }

  #count(channel: string, what: 'sent' | 'retried' | 'dead'): void {
    const c = this.byChannel.get(channel);
    if (c !== undefined) c[what]++;
  }

  #backoff(attempt: number): number {
    const full = Math.min(this.#retryBaseMs * 2 ** (attempt - 1), this.#maxRetryDelayMs);
    // Equal jitter: half fixed, half random, so a burst of retries spreads out.
    return Math.round(full / 2 + Math.random() * (full / 2));
  }

  #dead(entry: Entry, reason: string): void {
    const { d } = entry;
    this.#finish(entry);
    this.stats.dead++;
    this.#count(d.channel, 'dead');
    const err = new RelayError('RELAY_ERR_DEAD_LETTER', `delivery ${d.id} to ${d.channel} given up: ${reason}`);
    this.#log.error({ err, delivery: d.id, channel: d.channel, attempts: entry.attempts }, 'delivery dead-lettered');
    const record = `${JSON.stringify({ at: new Date().toISOString(), reason, attempts: entry.attempts, delivery: d })}\n`;
    // The dead letter is on disk before the journal forgets the delivery.
    this.#deadChain = this.#deadChain
      .then(() => this.#writeDeadLetter(record))
      .catch((cause: unknown) => {
        this.#log.error({ err: new RelayError('RELAY_ERR_JOURNAL', `cannot write ${this.#deadPath}`, { cause }), delivery: d.id }, 'dead letter not written');
      })
      .then(() => this.#append(`{"t":"x","id":${JSON.stringify(d.id)}}\n`));
    this.#onSettled?.(d, { kind: 'dead', reason, attempts: entry.attempts });
  }

  async #writeDeadLetter(record: string): Promise<void> {
    if (this.#deadBytes > this.#maxDeadLetterBytes) {
      await rename(this.#deadPath, join(this.#dir, 'dead-letter.1.jsonl'));
      this.#deadBytes = 0;
    }
    const fh = await open(this.#deadPath, 'a');
    try {
      await fh.appendFile(record);
      await fh.datasync();
    } finally {
      await fh.close();
    }
    this.#deadBytes += Buffer.byteLength(record);
  }

  #finish(entry: Entry): void {
    this.#forget(entry);
    if (this.#entries.size === 0) {
      const waiters = this.#idleWaiters;
      this.#idleWaiters = [];
      for (const resolve of waiters) resolve();
    }
  }

  #forget(entry: Entry): void {
    if (this.#entries.get(entry.d.id) !== entry) return;
    this.#entries.delete(entry.d.id);
    this.#liveBytes -= entry.bytes;
    if (entry.timer !== undefined) this.#timers.cancel(entry.timer);
    entry.timer = undefined;
  }
}

type JournalRecord =
  | { t: 'a'; d: Delivery; n: number; at: number }
  | { t: 'r'; id: string; n: number; at: number }
  | { t: 's'; id: string }
  | { t: 'x'; id: string };

function addRecord(d: Delivery, attempts: number, at: number): string {
  return `{"t":"a","d":${JSON.stringify(d)},"n":${attempts},"at":${at}}\n`;
}
