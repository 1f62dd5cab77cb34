import type { BusScripts } from './scripts.js';

/** Ids are `counter * ID_SLOTS + slot` (cluster/ids.ts), so 1024 nodes issue ids without colliding. */
export const ID_SLOTS = 1024;

/**
 * What the Redis bus leases (docs/scale-out.md): singleton jobs
 * (`SET <prefix>lease:<name> <node> NX PX ttl`, renewed by the holder: the
 * export-status poll, the Icinga poller), shared cursors
 * (`<prefix>cursor:<name>`, the Icinga poller's read position), and the id
 * slot of each node (`<prefix>slot:<n>` = node id, leased and refreshed with
 * the node's liveness key `<prefix>n:<node>`, so no two live nodes share a
 * slot however often nodes restart).
 */
export class Leases {
  readonly #cmd: BusScripts;
  readonly #prefix: string;
  readonly #node: () => string;
  readonly #up: () => boolean;

  constructor(cmd: BusScripts, prefix: string, node: () => string, up: () => boolean) {
    this.#cmd = cmd;
    this.#prefix = prefix;
    this.#node = node;
    this.#up = up;
  }

  /** True when this node holds (or just took) lease `name`; true as well while Redis is away (the job must not stop). */
  async lead(name: string, ttlMs: number): Promise<boolean> {
    if (!this.#up()) return true;
    try {
      return (await this.#cmd.pgLease(`${this.#prefix}lease:${name}`, this.#node(), ttlMs)) === 1;
    } catch {
      return true;
    }
  }

  async getCursor(name: string): Promise<number | undefined> {
    if (!this.#up()) return undefined;
    try {
      const v = await this.#cmd.get(`${this.#prefix}cursor:${name}`);
      return v === null ? undefined : Number(v);
    } catch {
      return undefined;
    }
  }

  setCursor(name: string, value: number): void {
    if (this.#up()) this.#cmd.set(`${this.#prefix}cursor:${name}`, String(value)).catch(() => undefined);
  }

  /** Lease a free id slot for `node`; -1 when all are taken. */
  slot(node: string, ttlMs: number): Promise<number> {
    return this.#cmd.pgSlot(this.#prefix, node, ttlMs);
  }

  /** Refresh the node key and its slot lease; false when either had expired (another node may hold them now). */
  async refresh(slot: number, ttlMs: number): Promise<boolean> {
    return (await this.#cmd.pgRefresh(this.#prefix, this.#node(), slot, ttlMs)) === 1;
  }
}
