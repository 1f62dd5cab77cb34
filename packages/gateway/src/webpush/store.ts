import { randomBytes } from 'node:crypto';
import { link, mkdir, open, readdir, readFile, rename, rm, unlink } from 'node:fs/promises';
import { join } from 'node:path';

/**
 * Where Web Push keeps what must survive a restart and, with the Redis bus,
 * what every node must see (docs/web-push.md "State"): the VAPID key pair,
 * subscriptions, devices and enrolment links. Records are small JSON texts
 * in namespaces (`vapid`, `subs:user:7`, `devices`, `enrol`), keyed by an id
 * of `[A-Za-z0-9_-]` characters.
 */
export interface RecordStore {
  /** The record, or undefined. */
  get(ns: string, id: string): Promise<string | undefined>;
  /** Writes the record (replacing it); `durable: false` skips the fsync (a timestamp refresh). */
  put(ns: string, id: string, value: string, durable?: boolean): Promise<void>;
  /** Writes the record only when absent; the value that is stored afterwards (ours, or the one that won). */
  create(ns: string, id: string, value: string): Promise<string>;
  /** Deletes it; true when it existed (so of two concurrent deletes exactly one is true). */
  delete(ns: string, id: string): Promise<boolean>;
  /** Deletes and returns it, at most once across processes (single-use links). */
  take(ns: string, id: string): Promise<string | undefined>;
  /** Every record of a namespace, as `[id, value]`. */
  list(ns: string): Promise<[string, string][]>;
  close(): Promise<void>;
}

const ID = /^[A-Za-z0-9_-]{1,128}$/;
const NS = /^[A-Za-z0-9_:.-]{1,128}$/;

/** Throws on an id or namespace that could escape its directory. */
export function checkName(ns: string, id?: string): void {
  if (!NS.test(ns) || ns.includes('..')) throw new Error(`invalid record namespace ${JSON.stringify(ns)}`);
  if (id !== undefined && !ID.test(id)) throw new Error(`invalid record id ${JSON.stringify(id)}`);
}

/**
 * The one-node store: one file per record under `<dir>/<ns with : as />/<id>.json`,
 * mode 0600, written to a temporary file, fsynced and renamed over the old one
 * (a crash leaves the old or the new record, never a torn one). Several
 * processes may use one directory (`pushgate enroll` beside the daemon):
 * `create` links a finished temporary file (fails when the name exists),
 * `take` renames the record away before reading it, so exactly one wins.
 */
export class FileRecordStore implements RecordStore {
  readonly #dir: string;
  /** Namespace directories known to exist (a mkdir per write was measurable). */
  readonly #made = new Set<string>();

  constructor(dir: string) {
    this.#dir = dir;
  }

  #nsDir(ns: string): string {
    checkName(ns);
    return join(this.#dir, ...ns.split(':'));
  }

  #path(ns: string, id: string): string {
    checkName(ns, id);
    return join(this.#nsDir(ns), `${id}.json`);
  }

  async #writeTemp(ns: string, value: string, durable: boolean): Promise<string> {
    const dir = this.#nsDir(ns);
    if (!this.#made.has(dir)) {
      await mkdir(dir, { recursive: true, mode: 0o700 });
      this.#made.add(dir);
    }
    const tmp = join(dir, `.tmp-${randomBytes(8).toString('hex')}`);
    const fh = await open(tmp, 'wx', 0o600);
    try {
      await fh.writeFile(value);
      if (durable) await fh.sync();
    } finally {
      await fh.close();
    }
    return tmp;
  }

  async #syncDir(ns: string): Promise<void> {
    const fh = await open(this.#nsDir(ns), 'r');
    try {
      await fh.sync();
    } finally {
      await fh.close();
    }
  }

  async get(ns: string, id: string): Promise<string | undefined> {
    try {
      return await readFile(this.#path(ns, id), 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
  }

  async put(ns: string, id: string, value: string, durable = true): Promise<void> {
    const path = this.#path(ns, id);
    const tmp = await this.#writeTemp(ns, value, durable);
    await rename(tmp, path);
    if (durable) await this.#syncDir(ns);
  }

  async create(ns: string, id: string, value: string): Promise<string> {
    const path = this.#path(ns, id);
    const tmp = await this.#writeTemp(ns, value, true);
    try {
      await link(tmp, path);
      await this.#syncDir(ns);
      return value;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      return (await this.get(ns, id)) ?? value;
    } finally {
      await unlink(tmp).catch(() => undefined);
    }
  }

  async delete(ns: string, id: string): Promise<boolean> {
    try {
      await unlink(this.#path(ns, id));
      return true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
      throw err;
    }
  }

  async take(ns: string, id: string): Promise<string | undefined> {
    const path = this.#path(ns, id);
    const away = `${path}.taken-${randomBytes(6).toString('hex')}`;
    try {
      await rename(path, away);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
    try {
      return await readFile(away, 'utf8');
    } finally {
      await rm(away, { force: true });
    }
  }

  async list(ns: string): Promise<[string, string][]> {
    let names: string[];
    try {
      names = await readdir(this.#nsDir(ns));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw err;
    }
    const out: [string, string][] = [];
    for (const name of names) {
      if (!name.endsWith('.json')) continue;
      const id = name.slice(0, -5);
      const value = await this.get(ns, id);
      if (value !== undefined) out.push([id, value]);
    }
    return out;
  }

  async close(): Promise<void> {}
}
