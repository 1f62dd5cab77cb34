/**
 * Which single-use tokens were already used (action-token.ts). A used id is
 * remembered until its token expires: after that the token is refused as
 * expired anyway, so the id can be forgotten, and the store stays bounded
 * by the tokens still valid.
 *
 * The interface is asynchronous so a durable or shared implementation (a
 * file, Redis `SET key 1 NX EXAT <expiresAt>`) can take the memory one's place.
 */
export interface UsedTokenStore {
  /**
   * Record `id` as used until `expiresAt` (unix seconds). `claimed`: it was
   * not used before and now is; `used`: it was; `full`: the store cannot
   * record more (refuse the token: forgetting a valid used id would let it
   * be used again).
   */
  claim(id: string, expiresAt: number, nowS: number): Promise<'claimed' | 'used' | 'full'>;
  /** Forget a claim, so the token can be used once more (e.g. the engine was unreachable). */
  release(id: string): Promise<void>;
}

/** Default most ids a {@link MemoryUsedTokens} holds. */
export const DEFAULT_MAX_USED_TOKENS = 100_000;

/**
 * Used ids in memory, for one gateway process: a Map for lookups and a
 * binary min-heap on expiry for purging, so each claim costs O(log n) and
 * memory stays below `maxEntries` ids. Lost on restart: a token used before
 * a restart could be used once more after it, until it expires.
 */
export class MemoryUsedTokens implements UsedTokenStore {
  readonly #max: number;
  readonly #expiry = new Map<string, number>();
  // [expiresAt, id] pairs; a released id stays in the heap until popped (checked against the map).
  readonly #heap: [number, string][] = [];

  /** @param maxEntries most ids remembered at once; default 100000. */
  constructor(maxEntries = DEFAULT_MAX_USED_TOKENS) {
    if (!Number.isSafeInteger(maxEntries) || maxEntries < 1) throw new RangeError('maxEntries must be a positive integer');
    this.#max = maxEntries;
  }

  /** Ids remembered now. */
  get size(): number {
    return this.#expiry.size;
  }

  async claim(id: string, expiresAt: number, nowS: number): Promise<'claimed' | 'used' | 'full'> {
    this.#purge(nowS);
    if (this.#expiry.has(id)) return 'used';
    if (this.#expiry.size >= this.#max) return 'full';
    this.#expiry.set(id, expiresAt);
    this.#push([expiresAt, id]);
    return 'claimed';
  }

  async release(id: string): Promise<void> {
    this.#expiry.delete(id);
  }

  /** Forget every id whose token has expired (expiresAt <= nowS). */
  #purge(nowS: number): void {
    const heap = this.#heap;
    while (heap.length > 0 && (heap[0] as [number, string])[0] <= nowS) {
      const [expiresAt, id] = this.#pop();
      if (this.#expiry.get(id) === expiresAt) this.#expiry.delete(id);
    }
    // Released ids leave stale heap entries; rebuild when they dominate so the heap stays bounded too.
    if (heap.length > 2 * this.#max) {
      const live = [...this.#expiry].map(([id, e]): [number, string] => [e, id]);
      heap.length = 0;
      for (const entry of live) this.#push(entry);
    }
  }

  #push(entry: [number, string]): void {
    const heap = this.#heap;
    heap.push(entry);
    let i = heap.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if ((heap[parent] as [number, string])[0] <= entry[0]) break;
      heap[i] = heap[parent] as [number, string];
      i = parent;
    }
    heap[i] = entry;
  }

  #pop(): [number, string] {
    const heap = this.#heap;
    const top = heap[0] as [number, string];
    const last = heap.pop() as [number, string];
    if (heap.length > 0) {
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        if (l >= heap.length) break;
        const r = l + 1;
        const c = r < heap.length && (heap[r] as [number, string])[0] < (heap[l] as [number, string])[0] ? r : l;
        if ((heap[c] as [number, string])[0] >= last[0]) break;
        heap[i] = heap[c] as [number, string];
        i = c;
      }
      heap[i] = last;
    }
    return top;
  }
}
