import { mkdir, open, readFile, rename, stat, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { GatewayError } from '../errors.js';
import type { Notification, Recipient } from '../pipeline/notification.js';
import { settled, type Ladder, type LadderStep, type StepState } from './ladder.js';
import type { CancelledStep, Claim, StepStore } from './store.js';

/**
 * The step journal of one node (docs/escalation.md "Restarts"): ladders and
 * what became of their steps, appended as JSON lines to
 * `<state.dir>/escalation/steps.jsonl` and group-committed as the pipeline
 * journal is (pipeline/journal.ts: records arriving during an fsync share the
 * next one). The state directory's lock (the pipeline journal's) keeps a
 * second process off it.
 *
 * At start every line is read back (a torn last line after a crash is
 * skipped) and the unfinished ladders are handed to the engine. Once the
 * file exceeds `compactBytes` and twice what the unfinished ladders take,
 * it is rewritten with only those (a temporary file, fsynced, renamed over
 * the old one), so its size follows what is pending, not what ever was.
 *
 * Lines: `{"t":"l","k","n","to","p","s","st"?,"ids"?}` a ladder (`st`, `ids`:
 * step states and reminder ids, in rewritten files); `{"t":"r","k","i","rid"}`
 * step `i` ran as reminder `rid`; `{"t":"c","k","i","why"}` step `i` cancelled.
 */

type Line =
  | { t: 'l'; k: string; n: Notification; to: Recipient; p: string; s: LadderStep[]; st?: StepState[]; ids?: number[] }
  | { t: 'r'; k: string; i: number; rid: number }
  | { t: 'c'; k: string; i: number; why: string };

interface Waiter {
  resolve: () => void;
  reject: (err: Error) => void;
}

/** Options of {@link FileStepStore.open}. */
export interface FileStepStoreOptions {
  /** Directory of `steps.jsonl`; created when missing. */
  dir: string;
  logger: Logger;
  /** Rewrite the file once it holds more than this many bytes (and twice what the last rewrite left). */
  compactBytes: number;
}

/** The one-node {@link StepStore}; open with {@link FileStepStore.open}. */
export class FileStepStore implements StepStore {
  /** Rewrites done, unreadable lines skipped at start. */
  readonly stats = { compactions: 0, corrupt: 0, fsyncs: 0 };
  readonly #path: string;
  readonly #log: Logger;
  readonly #compactBytes: number;
  readonly #ladders = new Map<string, Ladder>();
  readonly #byObject = new KeyIndex<string>();
  /** Notification id (a ladder's own or a reminder's) → ladder keys. */
  readonly #byId = new KeyIndex<number>();
  /** `<ladder key>#<step>` of steps being delivered (claimed, not yet run): cancellations leave them alone. */
  readonly #running = new Set<string>();
  /** Per ladder key: its reminder ids (to unindex them). */
  readonly #reminders = new Map<string, number[]>();
  #fh: FileHandle | undefined;
  #bytes = 0;
  /** Bytes and count of the ladder lines written: their mean estimates what a rewrite would keep. */
  #ladderBytes = 0;
  #ladderLines = 0;
  #buf: string[] = [];
  #waiters: Waiter[] = [];
  #writing: Promise<void> | undefined;
  #closed = false;

  private constructor(opts: FileStepStoreOptions) {
    this.#path = join(opts.dir, 'steps.jsonl');
    this.#log = opts.logger.child({ component: 'escalation-journal' });
    this.#compactBytes = opts.compactBytes;
  }

  /**
   * Open (creating) the step journal and read it back.
   * @throws GatewayError `GW_ERR_STATE` when it cannot be read or written.
   */
  static async open(opts: FileStepStoreOptions): Promise<FileStepStore> {
    const store = new FileStepStore(opts);
    try {
      await mkdir(opts.dir, { recursive: true });
      const text = await readFile(store.#path, 'utf8').catch((err: NodeJS.ErrnoException) => {
        if (err.code === 'ENOENT') return '';
        throw err;
      });
      store.#replay(text);
      store.#fh = await open(store.#path, 'a');
      store.#bytes = (await stat(store.#path)).size;
    } catch (cause) {
      throw new GatewayError('GW_ERR_STATE', `cannot open the escalation journal ${store.#path}: ${(cause as Error).message}`, { cause });
    }
    if (store.stats.corrupt > 0) store.#log.warn({ lines: store.stats.corrupt }, 'escalation journal: unreadable lines skipped');
    return store;
  }

  #replay(text: string): void {
    const lines = text.split('\n');
    for (let i = 0; i < lines.length; i++) {
      const line = lines[i]!;
      if (line === '') continue;
      let rec: Line;
      try {
        rec = JSON.parse(line) as Line;
      } catch {
        // A torn last line is what a crash mid-write leaves: not corruption.
        if (i < lines.length - 1) this.stats.corrupt++;
        continue;
      }
      if (rec.t === 'l') {
        const l: Ladder = { key: rec.k, n: rec.n, to: rec.to, policy: rec.p, steps: rec.s, state: rec.st ?? rec.s.map(() => undefined) };
        this.#index(l);
        for (const id of rec.ids ?? []) this.#addReminder(l.key, id);
      } else {
        const l = this.#ladders.get(rec.k);
        if (l === undefined || l.state[rec.i] !== undefined) continue;
        this.#settle(l, rec.i, rec.t === 'r' ? 'run' : `cancelled:${rec.why}`);
        if (rec.t === 'r') this.#addReminder(l.key, rec.rid);
      }
    }
    for (const l of [...this.#ladders.values()]) if (settled(l)) this.#forget(l);
  }

  start(): Promise<Ladder[]> {
    return Promise.resolve([...this.#ladders.values()]);
  }

  async add(ladders: readonly Ladder[]): Promise<Ladder[]> {
    const added = ladders.filter((l) => !this.#ladders.has(l.key));
    for (const l of added) this.#index(l);
    await this.#append(added.map((l): Line => ({ t: 'l', k: l.key, n: l.n, to: l.to, p: l.policy, s: [...l.steps] })));
    return added;
  }

  claim(key: string, step: number): Promise<Claim> {
    const l = this.#ladders.get(key);
    if (l === undefined) return Promise.resolve('gone');
    if (l.state[step] !== undefined) return Promise.resolve('skip');
    this.#running.add(`${key}#${step}`);
    return Promise.resolve('run');
  }

  async ran(ladder: Ladder, step: number, reminderId: number): Promise<void> {
    this.#running.delete(`${ladder.key}#${step}`);
    const l = this.#ladders.get(ladder.key);
    if (l === undefined || l.state[step] !== undefined) return;
    this.#settle(l, step, 'run');
    this.#addReminder(l.key, reminderId);
    const done = this.#append([{ t: 'r', k: l.key, i: step, rid: reminderId }]);
    if (settled(l)) this.#forget(l);
    await done;
  }

  async endObject(objectKey: string, reason: string): Promise<CancelledStep[]> {
    const keys = this.#byObject.keys(objectKey);
    const cancelled: CancelledStep[] = [];
    for (const key of keys) cancelled.push(...this.#cancel(this.#ladders.get(key)!, reason, () => true));
    await this.#write(cancelled, reason);
    return cancelled;
  }

  async cancelUnless(id: number, kind: 'shown' | 'clicked', userId?: number): Promise<CancelledStep[]> {
    const cancelled: CancelledStep[] = [];
    for (const key of this.#byId.keys(id)) {
      const l = this.#ladders.get(key)!;
      if (userId !== undefined && (l.to.kind !== 'user' || l.to.userId !== userId)) continue;
      cancelled.push(...this.#cancel(l, kind, (s) => s.unless.includes(kind)));
    }
    await this.#write(cancelled, kind);
    return cancelled;
  }

  objectOf(id: number): Promise<string | undefined> {
    const first = this.#byId.keys(id)[0];
    return Promise.resolve(first === undefined ? undefined : this.#ladders.get(first)?.n.objectKey);
  }

  adopt(): Promise<Ladder[]> {
    return Promise.resolve([]);
  }

  #cancel(l: Ladder, reason: string, which: (s: LadderStep) => boolean): CancelledStep[] {
    const out: CancelledStep[] = [];
    l.steps.forEach((s, i) => {
      if (l.state[i] !== undefined || !which(s) || this.#running.has(`${l.key}#${i}`)) return;
      this.#settle(l, i, `cancelled:${reason}`);
      out.push({ ladder: l, step: i });
    });
    if (settled(l)) this.#forget(l);
    return out;
  }

  async #write(cancelled: readonly CancelledStep[], why: string): Promise<void> {
    await this.#append(cancelled.map((c): Line => ({ t: 'c', k: c.ladder.key, i: c.step, why })));
  }

  #index(l: Ladder): void {
    this.#ladders.set(l.key, l);
    this.#byObject.add(l.n.objectKey, l.key);
    this.#byId.add(l.n.id, l.key);
  }

  #addReminder(key: string, id: number): void {
    let r = this.#reminders.get(key);
    if (r === undefined) this.#reminders.set(key, (r = []));
    r.push(id);
    this.#byId.add(id, key);
  }

  #settle(l: Ladder, step: number, state: StepState): void {
    l.state[step] = state;
  }

  #forget(l: Ladder): void {
    this.#ladders.delete(l.key);
    this.#byObject.delete(l.n.objectKey, l.key);
    this.#byId.delete(l.n.id, l.key);
    for (const id of this.#reminders.get(l.key) ?? []) this.#byId.delete(id, l.key);
    this.#reminders.delete(l.key);
  }

  #append(lines: readonly Line[]): Promise<void> {
    if (lines.length === 0) return Promise.resolve();
    if (this.#closed) return Promise.reject(new GatewayError('GW_ERR_STATE', 'escalation journal closed'));
    for (const l of lines) {
      const line = JSON.stringify(l) + '\n';
      if (l.t === 'l') {
        this.#ladderBytes += line.length;
        this.#ladderLines++;
      }
      this.#buf.push(line);
    }
    const done = new Promise<void>((resolve, reject) => this.#waiters.push({ resolve, reject }));
    this.#kick();
    return done;
  }

  #kick(): void {
    if (this.#writing) return;
    this.#writing = (async () => {
      while (this.#buf.length > 0) {
        const data = this.#buf.join('');
        const waiters = this.#waiters;
        this.#buf = [];
        this.#waiters = [];
        try {
          await this.#fh!.write(data);
          await this.#fh!.datasync();
          this.stats.fsyncs++;
          this.#bytes += Buffer.byteLength(data);
          for (const w of waiters) w.resolve();
        } catch (cause) {
          this.#log.error({ err: cause }, 'escalation journal: write failed');
          const err = new GatewayError('GW_ERR_STATE', `escalation journal write failed: ${(cause as Error).message}`, { cause });
          for (const w of waiters) w.reject(err);
        }
        if (this.#worthRewriting() && !this.#closed) await this.#compact();
      }
    })().finally(() => {
      this.#writing = undefined;
      if (this.#buf.length > 0 && !this.#closed) this.#kick();
    });
  }

  /** Past `compactBytes`, and more than twice what the unfinished ladders would take (so a rewrite at least halves it). */
  #worthRewriting(): boolean {
    if (this.#bytes <= this.#compactBytes) return false;
    const mean = this.#ladderLines === 0 ? 0 : this.#ladderBytes / this.#ladderLines;
    return this.#bytes > 2 * mean * this.#ladders.size;
  }

  /** Rewrite the file with the unfinished ladders only; a failure keeps the old file (logged, retried at the next threshold). */
  async #compact(): Promise<void> {
    const tmp = `${this.#path}.tmp`;
    let fh: FileHandle | undefined;
    try {
      fh = await open(tmp, 'w');
      let bytes = 0;
      const chunk: string[] = [];
      const flush = async (): Promise<void> => {
        const data = chunk.join('');
        chunk.length = 0;
        bytes += Buffer.byteLength(data);
        await fh!.write(data);
      };
      for (const l of this.#ladders.values()) {
        const ids = this.#reminders.get(l.key);
        chunk.push(JSON.stringify({ t: 'l', k: l.key, n: l.n, to: l.to, p: l.policy, s: [...l.steps], st: l.state, ...(ids ? { ids } : {}) } satisfies Line) + '\n');
        if (chunk.length >= 1000) await flush();
      }
      await flush();
      await fh.datasync();
      await fh.close();
      fh = undefined;
      await rename(tmp, this.#path);
      await this.#fh!.close();
      this.#fh = await open(this.#path, 'a');
      this.#bytes = bytes;
      this.stats.compactions++;
    } catch (err) {
      await fh?.close().catch(() => undefined);
      this.#log.error({ err }, 'escalation journal: rewrite failed; the old file stays (tried again at the next write)');
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    while (this.#writing) await this.#writing;
    await this.#fh?.close();
    this.#fh = undefined;
  }
}

/**
 * Index from an object key or notification id to ladder keys. Nearly every
 * entry names one ladder, so it is held as a string and becomes a Set only
 * when a second arrives (a Set per entry doubled the memory of 100k
 * pending steps).
 */
class KeyIndex<K> {
  readonly #map = new Map<K, string | Set<string>>();

  add(k: K, key: string): void {
    const v = this.#map.get(k);
    if (v === undefined) this.#map.set(k, key);
    else if (typeof v === 'string') { if (v !== key) this.#map.set(k, new Set([v, key])); }
    else v.add(key);
  }

  /** The ladder keys of `k`, a copy (callers change the index while they walk it). */
  keys(k: K): string[] {
    const v = this.#map.get(k);
    return v === undefined ? [] : typeof v === 'string' ? [v] : [...v];
  }

  delete(k: K, key: string): void {
    const v = this.#map.get(k);
    if (v === key) this.#map.delete(k);
    else if (typeof v === 'object') {
      v.delete(key);
      if (v.size === 0) this.#map.delete(k);
    }
  }
}
