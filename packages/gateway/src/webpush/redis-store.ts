import { Redis } from 'ioredis';
import { checkName, type RecordStore } from './store.js';

/**
 * The shared store of the Redis bus (docs/scale-out.md): one hash per
 * namespace, `<prefix>wp:<ns>`, field = record id. `create` is `HSETNX`, so
 * two nodes starting together agree on one VAPID key; `take` is `HGET` +
 * `HDEL` in one `MULTI`, and only the caller whose `HDEL` removed the field
 * gets the value (a link is used once across nodes).
 */
export class RedisRecordStore implements RecordStore {
  readonly #redis: Redis;
  readonly #prefix: string;

  constructor(url: string, prefix: string, commandTimeoutMs: number, connectTimeoutMs: number) {
    this.#redis = new Redis(url, { lazyConnect: false, connectTimeout: connectTimeoutMs, commandTimeout: commandTimeoutMs, maxRetriesPerRequest: 1 });
    // Errors reach the caller through the rejected command; the connection's own error events would otherwise be unhandled.
    this.#redis.on('error', () => undefined);
    this.#prefix = prefix;
  }

  #key(ns: string, id?: string): string {
    checkName(ns, id);
    return `${this.#prefix}wp:${ns}`;
  }

  async get(ns: string, id: string): Promise<string | undefined> {
    return (await this.#redis.hget(this.#key(ns, id), id)) ?? undefined;
  }

  async put(ns: string, id: string, value: string): Promise<void> {
    await this.#redis.hset(this.#key(ns, id), id, value);
  }

  async create(ns: string, id: string, value: string): Promise<string> {
    const key = this.#key(ns, id);
    if ((await this.#redis.hsetnx(key, id, value)) === 1) return value;
    return (await this.#redis.hget(key, id)) ?? value;
  }

  async delete(ns: string, id: string): Promise<boolean> {
    return (await this.#redis.hdel(this.#key(ns, id), id)) === 1;
  }

  async take(ns: string, id: string): Promise<string | undefined> {
    const res = await this.#redis.multi().hget(this.#key(ns, id), id).hdel(this.#key(ns, id), id).exec();
    if (res === null) return undefined;
    const [[, value], [, removed]] = res as [[unknown, string | null], [unknown, number]];
    return removed === 1 && value !== null ? value : undefined;
  }

  async list(ns: string): Promise<[string, string][]> {
    return Object.entries(await this.#redis.hgetall(this.#key(ns)));
  }

  async close(): Promise<void> {
    await this.#redis.quit().catch(() => this.#redis.disconnect());
  }
}
