/**
 * A bounded cache whose entries expire `ttlMs` after they were set. At
 * `maxSize` the oldest entry is evicted (insertion order, which with a short
 * TTL is as good as LRU and costs nothing on a hit). Expired entries are
 * dropped when read, so memory is bounded by `maxSize` alone.
 */
export class TtlCache<K, V> {
  readonly #map = new Map<K, { value: V; expires: number }>();
  readonly #ttlMs: number;
  readonly #maxSize: number;
  readonly #now: () => number;

  /**
   * @param ttlMs lifetime of an entry in milliseconds
   * @param maxSize most entries kept
   * @param now clock in milliseconds, default `performance.now`
   */
  constructor(ttlMs: number, maxSize: number, now: () => number = () => performance.now()) {
    this.#ttlMs = ttlMs;
    this.#maxSize = maxSize;
    this.#now = now;
  }

  /** Number of stored entries, expired ones included until read. */
  get size(): number {
    return this.#map.size;
  }

  /** `{ value }` for a live entry (the value may itself be `undefined`), else `undefined`. */
  get(key: K): { value: V } | undefined {
    const e = this.#map.get(key);
    if (!e) return undefined;
    if (e.expires <= this.#now()) {
      this.#map.delete(key);
      return undefined;
    }
    return { value: e.value };
  }

  /** Store `value` (which may be `undefined`, a cached miss) for `ttlMs`, evicting the oldest entry when full. */
  set(key: K, value: V): void {
    this.#map.delete(key);
    if (this.#map.size >= this.#maxSize) {
      const oldest = this.#map.keys().next();
      if (!oldest.done) this.#map.delete(oldest.value);
    }
    this.#map.set(key, { value, expires: this.#now() + this.#ttlMs });
  }

  /** Drop every entry. */
  clear(): void {
    this.#map.clear();
  }
}
