import { mkdir, open, readdir, readFile, stat, unlink, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { GatewayError } from '../errors.js';

/**
 * The trail's files (docs/trail.md): one JSON line per event, appended to
 * segment files under `<state.dir>/trail/`, bounded by age and bytes. Lines
 * are written in batches (one `write` per batch, no fsync per batch: the
 * page cache survives `kill -9`; a segment is fsynced when it is closed), so
 * recording costs the hot path nothing but a string push.
 *
 * Line format: `{"at":<ms>,"nid":<notification id>,"type":"<event type>",…the event's fields}`.
 * Whole segments leave: a segment is closed at `segmentBytes`; closed
 * segments older than `maxAgeMs` (by their last write) or beyond `maxBytes`
 * in total, oldest first, are deleted when a segment closes and every
 * `compactEveryMs`.
 */

/** One stored line: when, which notification, and the event's own fields. */
export interface StoredEvent {
  at: number;
  nid: number;
  type: string;
  [field: string]: unknown;
}

/** Options of {@link TrailStore.open}. */
export interface TrailStoreOptions {
  /** Directory of the segments; created when missing. */
  dir: string;
  logger: Logger;
  /** Default 4 MiB. */
  segmentBytes?: number;
  /** Default 64 MiB. */
  maxBytes?: number;
  /** Default 7 days. */
  maxAgeMs?: number;
  /** How often old segments are looked for besides at each rotation, ms; default 600000. */
  compactEveryMs?: number;
  /** Clock in ms; default `Date.now`. */
  now?: () => number;
}

/** Counters of a {@link TrailStore}. */
export interface TrailStoreStats {
  /** Lines written. */
  written: number;
  /** Batches whose write failed (their lines are lost; logged). */
  writeErrors: number;
  /** Segments deleted by age or size. */
  compactions: number;
  /** Lines that could not be parsed when read (a torn last line after a crash is not counted). */
  corrupt: number;
}

interface Segment {
  seq: number;
  path: string;
  bytes: number;
  mtimeMs: number;
}

const SEGMENT = /^(\d{8})\.jsonl$/;

/** The trail's append-only segment files; open with {@link TrailStore.open}. */
export class TrailStore {
  readonly stats: TrailStoreStats = { written: 0, writeErrors: 0, compactions: 0, corrupt: 0 };
  readonly #dir: string;
  readonly #log: Logger;
  readonly #segmentBytes: number;
  readonly #maxBytes: number;
  readonly #maxAgeMs: number;
  readonly #now: () => number;
  readonly #segments: Segment[];
  readonly #timer: NodeJS.Timeout;
  #fh: FileHandle | undefined;
  #buf: string[] = [];
  #writing: Promise<void> | undefined;
  #closed = false;

  private constructor(opts: TrailStoreOptions, segments: Segment[]) {
    this.#dir = opts.dir;
    this.#log = opts.logger.child({ component: 'trail' });
    this.#segmentBytes = opts.segmentBytes ?? 4 * 1024 * 1024;
    this.#maxBytes = opts.maxBytes ?? 64 * 1024 * 1024;
    this.#maxAgeMs = opts.maxAgeMs ?? 7 * 86_400_000;
    this.#now = opts.now ?? Date.now;
    this.#segments = segments;
    this.#timer = setInterval(() => {
      if (this.#writing === undefined) this.#writing = this.#compact().finally(() => { this.#writing = undefined; this.#kick(); });
    }, opts.compactEveryMs ?? 600_000);
    this.#timer.unref();
  }

  /**
   * Open (creating) the directory, delete what retention no longer keeps,
   * and start a new segment for this run.
   * @throws GatewayError `GW_ERR_STATE` when the directory cannot be created, read or written.
   */
  static async open(opts: TrailStoreOptions): Promise<TrailStore> {
    const segments: Segment[] = [];
    try {
      await mkdir(opts.dir, { recursive: true });
      const names = (await readdir(opts.dir)).filter((f) => SEGMENT.test(f)).sort();
      for (const name of names) {
        const path = join(opts.dir, name);
        const s = await stat(path);
        segments.push({ seq: Number(SEGMENT.exec(name)![1]), path, bytes: s.size, mtimeMs: s.mtimeMs });
      }
    } catch (cause) {
      throw new GatewayError('GW_ERR_STATE', `cannot open the trail directory ${opts.dir}: ${(cause as Error).message}`, { cause });
    }
    const store = new TrailStore(opts, segments);
    await store.#compact();
    await store.#startSegment();
    return store;
  }

  /** Append one event line; written with the next batch. Dropped (and counted) after close. */
  append(e: StoredEvent): void {
    if (this.#closed) {
      this.stats.writeErrors++;
      return;
    }
    this.#buf.push(JSON.stringify(e) + '\n');
    this.#kick();
  }

  #kick(): void {
    if (this.#writing || this.#buf.length === 0) return;
    this.#writing = (async () => {
      while (this.#buf.length > 0) {
        const lines = this.#buf;
        this.#buf = [];
        const data = lines.join('');
        try {
          await this.#fh!.write(data);
          this.stats.written += lines.length;
          const seg = this.#segments[this.#segments.length - 1]!;
          seg.bytes += Buffer.byteLength(data);
          seg.mtimeMs = this.#now();
          if (seg.bytes >= this.#segmentBytes) await this.#rotate();
        } catch (err) {
          this.stats.writeErrors++;
          this.#log.error({ err, lines: lines.length }, 'trail: write failed; these events are not in the trail');
        }
      }
    })().finally(() => {
      this.#writing = undefined;
      if (this.#buf.length > 0 && !this.#closed) this.#kick();
    });
  }

  /** Resolves once everything appended so far is written (tests, the CLI, queries that must see the newest lines). */
  async flush(): Promise<void> {
    while (this.#writing !== undefined || (this.#buf.length > 0 && !this.#closed)) {
      this.#kick();
      await this.#writing;
    }
  }

  async #rotate(): Promise<void> {
    await this.#fh?.datasync();
    await this.#fh?.close();
    this.#fh = undefined;
    await this.#compact();
    await this.#startSegment();
  }

  async #startSegment(): Promise<void> {
    const seq = (this.#segments[this.#segments.length - 1]?.seq ?? 0) + 1;
    const path = join(this.#dir, `${String(seq).padStart(8, '0')}.jsonl`);
    try {
      this.#fh = await open(path, 'a');
    } catch (cause) {
      throw new GatewayError('GW_ERR_STATE', `cannot write trail segment ${path}: ${(cause as Error).message}`, { cause });
    }
    this.#segments.push({ seq, path, bytes: 0, mtimeMs: this.#now() });
  }

  /** Delete closed segments past `maxAgeMs`, then the oldest while over `maxBytes`; the open segment stays. */
  async #compact(): Promise<void> {
    const now = this.#now();
    let total = this.bytes;
    while (this.#segments.length > (this.#fh === undefined ? 0 : 1)) {
      const oldest = this.#segments[0]!;
      if (oldest.mtimeMs >= now - this.#maxAgeMs && total <= this.#maxBytes) break;
      this.#segments.shift();
      total -= oldest.bytes;
      this.stats.compactions++;
      await unlink(oldest.path).catch((err: NodeJS.ErrnoException) => {
        if (err.code !== 'ENOENT') this.#log.warn({ err, path: oldest.path }, 'trail: cannot delete an old segment');
      });
    }
  }

  /**
   * Every stored event, oldest first, segment by segment (at most `maxBytes`
   * are read). Call {@link flush} first to include what was just appended.
   */
  async *events(): AsyncGenerator<StoredEvent> {
    for (const seg of [...this.#segments]) {
      let text: string;
      try {
        text = await readFile(seg.path, 'utf8');
      } catch (err) {
        // Deleted by retention while being read: its events are gone anyway.
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue;
        throw new GatewayError('GW_ERR_STATE', `cannot read trail segment ${seg.path}: ${(err as Error).message}`, { cause: err });
      }
      const lines = text.split('\n');
      for (let i = 0; i < lines.length; i++) {
        const line = lines[i]!;
        if (line === '') continue;
        let e: StoredEvent;
        try {
          e = JSON.parse(line) as StoredEvent;
        } catch {
          // A torn last line is what a crash mid-write leaves: not corruption.
          if (i < lines.length - 1) this.stats.corrupt++;
          continue;
        }
        if (typeof e === 'object' && e !== null && typeof e.nid === 'number' && typeof e.at === 'number' && typeof e.type === 'string') yield e;
        else this.stats.corrupt++;
      }
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

  /** Write what is pending, fsync and close. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    await this.flush();
    this.#closed = true;
    clearInterval(this.#timer);
    while (this.#writing) await this.#writing;
    await this.#fh?.datasync().catch(() => undefined);
    await this.#fh?.close();
    this.#fh = undefined;
  }
}
