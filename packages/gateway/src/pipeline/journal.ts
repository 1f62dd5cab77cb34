import { writeSync } from 'node:fs';
import { mkdir, open, readdir, readFile, stat, unlink, writeFile, type FileHandle } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { Logger } from 'pino';
import { GatewayError } from '../errors.js';
import type { Notification } from './notification.js';

/**
 * The pipeline's journal (docs/architecture.md "The journal"): every
 * notification this node accepted or received from another node, with what
 * its live targets did, and every later outcome of its durable deliveries,
 * appended as JSON lines to segment files under `<state.dir>/journal/`.
 * Writes are grouped: records appended in one turn of the event loop (or
 * while an fsync of `syncIntervalMs: 0` runs) share one write. A record
 * counts as written once write(2) returned: the kernel's page cache then
 * holds it, so `kill -9` of the process (or a crash of Node) loses nothing. The fsync that protects it from a power loss or a kernel
 * crash runs at most every `syncIntervalMs` (so a power loss can lose up to
 * that much); with `syncIntervalMs: 0` every batch is fsynced before its
 * records resolve, and the fsync's cost is shared by the batch.
 *
 * At start the segments young enough for the resume windows are read back
 * (torn last lines after a crash are skipped), so the pipeline can refill
 * the targets' windows; older segments are not even parsed. The journal is
 * bounded by age and bytes: a segment is closed at `segmentBytes`, and whole
 * segments are deleted once older than `maxAgeMs` or beyond `maxBytes`.
 * Deliveries' own retry state is the outbox's journal (relay); this one is
 * the trail and the resume window.
 *
 * Line format: `{"t":"h","since":<id>,"at":<ms>}` opens each segment (ids up
 * to `since` were issued before it began); `{"t":"n","at":<ms>,"n":<Notification>,"o":<node>?,"live":{<target>:<count>}}`
 * a notification (`o`: received from that bus node); `{"t":"d","at","nid","target","to","outcome","attempts","reason"?}`
 * a durable delivery's outcome.
 */

/** A journal line. */
export type JournalRecord =
  | { t: 'h'; since: number; at: number }
  | { t: 'n'; at: number; n: Notification; o?: string; live?: Record<string, number> }
  | { t: 'd'; at: number; nid: number; target: string; to: string; outcome: 'sent' | 'dead'; attempts: number; reason?: string };

/** Options of {@link Journal.open}. */
export interface JournalOptions {
  /** Directory of the segments; created when missing. */
  dir: string;
  logger: Logger;
  /** A segment is closed once it holds this many bytes. Default 8 MiB. */
  segmentBytes?: number;
  /** Segments beyond this many bytes in total are deleted, oldest first. Default 256 MiB. */
  maxBytes?: number;
  /** Segments whose last write is older than this are deleted. Default 24 h. */
  maxAgeMs?: number;
  /** Notifications younger than this are handed back by {@link Journal.open} (the resume windows). */
  restoreAgeMs: number;
  /** The highest id issued or seen so far (the id clock's `highest`): each new segment's header. */
  lastId: () => number;
  /** Extra wait before a write so more records share one write, ms. Default 0. */
  flushDelayMs?: number;
  /**
   * Written records are fsynced at most this long after their write, ms;
   * 0: each batch is fsynced before its records resolve. Default 1000.
   */
  syncIntervalMs?: number;
  /** Clock in ms. Default `Date.now`. */
  now?: () => number;
}

/** What the journal held at start, for the resume windows. */
export interface Restored {
  /** Notifications younger than `restoreAgeMs`, oldest first. */
  notifications: { n: Notification; at: number }[];
  /**
   * The highest id not handed back: everything up to it was issued before
   * the restored part begins (it is older, or its segment is gone). Ids
   * above it that are not in `notifications` were never issued to a user.
   * Undefined when the journal was empty or new.
   */
  before: number | undefined;
  /** The highest notification id found (the id clock must continue above it). */
  highestId: number;
}

/** Counters of a {@link Journal}, for metrics. */
export interface JournalStats {
  /** Records appended, by type (`n`, `d`). */
  records: { n: number; d: number };
  fsyncs: number;
  /** Writes or fsyncs that failed (a failed write refuses the records of its batch; a failed periodic fsync is logged). */
  writeErrors: number;
  /** Segments deleted by age or size. */
  compactions: number;
  /** Lines that could not be parsed at start (a torn last line after a crash is not counted). */
  corrupt: number;
}

interface Waiter {
  resolve: () => void;
  reject: (err: Error) => void;
}

interface Segment {
  seq: number;
  path: string;
  bytes: number;
  mtimeMs: number;
}

const SEGMENT = /^(\d{8})\.jsonl$/;

function segmentName(seq: number): string {
  return `${String(seq).padStart(8, '0')}.jsonl`;
}

/** The append-only, group-committed journal; open with {@link Journal.open}. */
export class Journal {
  readonly stats: JournalStats = { records: { n: 0, d: 0 }, fsyncs: 0, writeErrors: 0, compactions: 0, corrupt: 0 };
  readonly #dir: string;
  readonly #log: Logger;
  readonly #segmentBytes: number;
  readonly #maxBytes: number;
  readonly #maxAgeMs: number;
  readonly #flushDelayMs: number;
  readonly #syncIntervalMs: number;
  readonly #now: () => number;
  readonly #lastId: () => number;
  readonly #segments: Segment[];
  #fh: FileHandle | undefined;
  #buf: string[] = [];
  #waiters: Waiter[] = [];
  #writing: Promise<void> | undefined;
  /** Something was written to the open segment since its last fsync. */
  #unsynced = false;
  #syncTimer: NodeJS.Timeout | undefined;
  #syncing: Promise<void> | undefined;
  /** A write is scheduled for the end of this turn of the event loop. */
  #scheduled = false;
  #closed = false;
  #lockPath: string | undefined;

  private constructor(opts: JournalOptions, segments: Segment[]) {
    this.#dir = opts.dir;
    this.#log = opts.logger.child({ component: 'journal' });
    this.#segmentBytes = opts.segmentBytes ?? 8 * 1024 * 1024;
    this.#maxBytes = opts.maxBytes ?? 256 * 1024 * 1024;
    this.#maxAgeMs = opts.maxAgeMs ?? 86_400_000;
    this.#flushDelayMs = opts.flushDelayMs ?? 0;
    this.#syncIntervalMs = opts.syncIntervalMs ?? 1000;
    this.#now = opts.now ?? Date.now;
    this.#lastId = opts.lastId;
    this.#segments = segments;
  }

  /**
   * Open (creating) the journal in `opts.dir` and read back what the resume
   * windows need. A new segment is started for this run.
   *
   * @throws GatewayError `GW_ERR_STATE` when the directory cannot be created, read or written.
   */
  static async open(opts: JournalOptions): Promise<{ journal: Journal; restored: Restored }> {
    const now = (opts.now ?? Date.now)();
    let names: string[];
    try {
      await mkdir(opts.dir, { recursive: true });
      names = (await readdir(opts.dir)).filter((f) => SEGMENT.test(f)).sort();
    } catch (cause) {
      throw new GatewayError('GW_ERR_STATE', `cannot open the journal directory ${opts.dir}: ${(cause as Error).message}`, { cause });
    }
    const segments: Segment[] = [];
    for (const name of names) {
      const path = join(opts.dir, name);
      const s = await stat(path);
      segments.push({ seq: Number(SEGMENT.exec(name)![1]), path, bytes: s.size, mtimeMs: s.mtimeMs });
    }
    const journal = new Journal(opts, segments);
    await journal.#lock();
    const restored = await journal.#restore(now - opts.restoreAgeMs);
    await journal.#compact(now);
    await journal.#startSegment();
    return { journal, restored };
  }

  /**
   * One process per journal: a `lock` file holds the owner's pid. A lock
   * whose process is gone (a crash, `kill -9`) is taken over.
   */
  async #lock(): Promise<void> {
    const path = join(this.#dir, 'lock');
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        await writeFile(path, `${process.pid}\n`, { flag: 'wx' });
        this.#lockPath = path;
        return;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') {
          throw new GatewayError('GW_ERR_STATE', `cannot lock the journal directory ${this.#dir}: ${(err as Error).message}`, { cause: err });
        }
      }
      const pid = Number((await readFile(path, 'utf8').catch(() => '')).trim());
      if (Number.isSafeInteger(pid) && pid > 0 && pid !== process.pid && alive(pid)) {
        throw new GatewayError('GW_ERR_STATE', `the state directory ${dirname(this.#dir)} is in use by pid ${pid} (another pushgate process); give each process its own state.dir`);
      }
      this.#log.warn({ pid: pid || undefined }, 'journal: taking over the lock of a process that is gone');
      await unlink(path).catch(() => undefined);
    }
    throw new GatewayError('GW_ERR_STATE', `cannot lock the journal directory ${this.#dir}: another process keeps taking it`);
  }

  async #restore(horizon: number): Promise<Restored> {
    const notifications: { n: Notification; at: number }[] = [];
    let before: number | undefined;
    let highestId = 0;
    for (const seg of this.#segments) {
      if (seg.mtimeMs < horizon) continue; // nothing in it is young enough: its header tells the next one's `before`
      let text: string;
      try {
        text = await readFile(seg.path, 'utf8');
      } catch (cause) {
        throw new GatewayError('GW_ERR_STATE', `cannot read journal segment ${seg.path}: ${(cause as Error).message}`, { cause });
      }
      const lines = text.split('\n');
      for (let i = 0; i < lines.length; i++) {
        const line = lines[i]!;
        if (line === '') continue;
        let rec: JournalRecord;
        try {
          rec = JSON.parse(line) as JournalRecord;
        } catch {
          // A torn last line is what a crash mid-write leaves: not corruption.
          if (i < lines.length - 1) this.stats.corrupt++;
          continue;
        }
        if (rec.t === 'h') {
          if (notifications.length === 0) before = Math.max(before ?? 0, rec.since);
        } else if (rec.t === 'n') {
          if (rec.n.id > highestId) highestId = rec.n.id;
          if (rec.at >= horizon) notifications.push({ n: rec.n, at: rec.at });
          else if (before === undefined || rec.n.id > before) before = rec.n.id;
        }
      }
    }
    if (this.stats.corrupt > 0) this.#log.warn({ lines: this.stats.corrupt }, 'journal: unreadable lines skipped');
    // Segments too old to read still bound what can be resumed: the first read header, or the newest skipped id, says so.
    return { notifications, before, highestId: Math.max(highestId, before ?? 0) };
  }

  /**
   * Append a record; resolves once it is written (in the page cache: it survives `kill -9`; fsynced
   * with its batch when `syncIntervalMs` is 0, else within that interval), rejects with `GW_ERR_STATE`
   * when the write failed.
   */
  append(rec: JournalRecord): Promise<void> {
    if (this.#closed) return Promise.reject(new GatewayError('GW_ERR_STATE', 'journal closed'));
    if (rec.t !== 'h') this.stats.records[rec.t]++;
    this.#buf.push(JSON.stringify(rec) + '\n');
    const done = new Promise<void>((resolve, reject) => this.#waiters.push({ resolve, reject }));
    this.#kick();
    return done;
  }

  /** Append without waiting (a received or outcome record nobody answers for); a failure is logged and counted. */
  note(rec: JournalRecord): void {
    this.append(rec).catch(() => undefined);
  }

  #kick(): void {
    if (this.#writing !== undefined || this.#scheduled) return;
    this.#scheduled = true;
    const start = (): void => {
      this.#scheduled = false;
      if (this.#writing !== undefined || this.#buf.length === 0) return;
      this.#startFlush();
    };
    // Records appended in the same turn of the event loop share one write.
    if (this.#flushDelayMs > 0) setTimeout(start, this.#flushDelayMs);
    else setImmediate(start);
  }

  #startFlush(): void {
    this.#writing = this.#flush().finally(() => {
      this.#writing = undefined;
      if (this.#buf.length > 0 && !this.#closed) this.#kick();
    });
  }

  /**
   * Write what is buffered, one batch per write. The write is a synchronous
   * write(2) into the page cache (a few µs of CPU): an async FileHandle write
   * costs a thread-pool round trip, ~20 µs of CPU per batch measured here,
   * and at low rates every request is a batch of its own.
   */
  async #flush(): Promise<void> {
    while (this.#buf.length > 0) {
      const lines = this.#buf;
      const waiters = this.#waiters;
      this.#buf = [];
      this.#waiters = [];
      try {
        const data = Buffer.from(lines.join(''));
        writeAll(this.#fh!.fd, data);
        const seg = this.#segments[this.#segments.length - 1]!;
        seg.bytes += data.length;
        seg.mtimeMs = this.#now();
        if (this.#syncIntervalMs === 0) {
          await this.#fh!.datasync();
          this.stats.fsyncs++;
        } else {
          this.#unsynced = true;
          this.#syncTimer ??= setTimeout(() => this.#periodicSync(), this.#syncIntervalMs).unref();
        }
        for (const w of waiters) w.resolve();
        if (seg.bytes >= this.#segmentBytes) await this.#rotate();
      } catch (cause) {
        this.stats.writeErrors++;
        this.#log.error({ err: cause, records: lines.length }, 'journal: write failed; the records of this batch are refused');
        const err = new GatewayError('GW_ERR_STATE', `journal write failed: ${(cause as Error).message}`, { cause });
        for (const w of waiters) w.reject(err);
      }
    }
  }

  /** The interval's fsync. Writes go on meanwhile (the kernel orders them); rotation and close wait for it. */
  #periodicSync(): void {
    this.#syncTimer = undefined;
    if (this.#closed || this.#fh === undefined) return;
    this.#syncing ??= this.#sync(this.#fh).finally(() => { this.#syncing = undefined; });
  }

  /** Fsync `fh` if anything was written since the last fsync; a failure is logged and counted. */
  async #sync(fh: FileHandle): Promise<void> {
    if (!this.#unsynced) return;
    this.#unsynced = false;
    try {
      await fh.datasync();
      this.stats.fsyncs++;
    } catch (cause) {
      this.stats.writeErrors++;
      this.#log.error({ err: cause }, 'journal: fsync failed; what was written since the last fsync would not survive a power loss');
    }
  }

  async #rotate(): Promise<void> {
    const fh = this.#fh;
    this.#fh = undefined;
    await this.#syncing;
    if (fh !== undefined) {
      await this.#sync(fh);
      await fh.close();
    }
    await this.#compact(this.#now());
    await this.#startSegment();
  }

  async #startSegment(): Promise<void> {
    const seq = (this.#segments[this.#segments.length - 1]?.seq ?? 0) + 1;
    const path = join(this.#dir, segmentName(seq));
    try {
      this.#fh = await open(path, 'a');
      const header = JSON.stringify({ t: 'h', since: this.#lastId(), at: this.#now() } satisfies JournalRecord) + '\n';
      await this.#fh.write(header);
      await this.#fh.datasync();
      this.#segments.push({ seq, path, bytes: Buffer.byteLength(header), mtimeMs: this.#now() });
    } catch (cause) {
      throw new GatewayError('GW_ERR_STATE', `cannot write journal segment ${path}: ${(cause as Error).message}`, { cause });
    }
  }

  /** Delete whole segments past `maxAgeMs`, then the oldest while over `maxBytes`; the open segment stays. */
  async #compact(now: number): Promise<void> {
    let total = this.#segments.reduce((sum, s) => sum + s.bytes, 0);
    while (this.#segments.length > 0) {
      const oldest = this.#segments[0]!;
      if (oldest.mtimeMs >= now - this.#maxAgeMs && total <= this.#maxBytes) break;
      if (this.#fh !== undefined && this.#segments.length === 1) break;
      this.#segments.shift();
      total -= oldest.bytes;
      this.stats.compactions++;
      await unlink(oldest.path).catch((err: NodeJS.ErrnoException) => {
        if (err.code !== 'ENOENT') this.#log.warn({ err, path: oldest.path }, 'journal: cannot delete an old segment');
      });
    }
  }

  /** Bytes of all segments. */
  get bytes(): number {
    return this.#segments.reduce((sum, s) => sum + s.bytes, 0);
  }

  /** Segment files. */
  get segments(): number {
    return this.#segments.length;
  }

  /** Finish pending writes, then close the file. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#syncTimer);
    this.#syncTimer = undefined;
    // What was appended before close is written (a scheduled write may not have started yet).
    while (this.#writing !== undefined || this.#buf.length > 0) {
      if (this.#writing === undefined) this.#startFlush();
      await this.#writing;
    }
    await this.#syncing;
    if (this.#fh !== undefined) await this.#sync(this.#fh);
    await this.#fh?.close();
    this.#fh = undefined;
    if (this.#lockPath !== undefined) await unlink(this.#lockPath).catch(() => undefined);
  }
}

/** Write all of `data` at the file's end (`fd` opened for appending); a short write continues where it stopped. */
function writeAll(fd: number, data: Buffer): void {
  let off = 0;
  while (off < data.length) off += writeSync(fd, data, off, data.length - off);
}

/** True while a process with this pid exists (EPERM: it exists under another user). */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
