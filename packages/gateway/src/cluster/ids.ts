/**
 * Notification ids (docs/protocol/extensions.md "Notification ids"): every
 * notification carries an increasing integer id, unique across the cluster.
 * An id is `counter * slots + slot`: the counter starts at the clock in ms
 * (so ids after a restart are higher than before it, for clients resuming
 * with `since`), counts up once per id, and advances past every id seen from
 * another node (a Lamport clock), so one user's ids keep the order in which
 * a node saw them, whichever node issued them. The slot is leased per node by
 * the Redis bus; one process uses slot 0 of 1.
 */
export class IdClock {
  #counter: number;
  #slot: number;
  readonly #slots: number;
  #last: number;
  #highest: number;

  /**
   * @param opts.slots ids per counter step (1024 with the Redis bus); default 1.
   * @param opts.slot this node's slot, 0..slots-1; default 0.
   * @param opts.now clock in ms; default `Date.now`.
   */
  constructor(opts: { slots?: number; slot?: number; now?: () => number } = {}) {
    this.#slots = opts.slots ?? 1;
    this.#slot = opts.slot ?? 0;
    this.#counter = (opts.now ?? Date.now)();
    this.#last = this.#counter * this.#slots + this.#slot;
    this.#highest = this.#last;
  }

  /** The next id. */
  next(): number {
    this.#last = ++this.#counter * this.#slots + this.#slot;
    if (this.#last > this.#highest) this.#highest = this.#last;
    return this.#last;
  }

  /** An id issued elsewhere (another node, or before a restart): later ids here are higher. */
  observe(id: number): void {
    const counter = Math.floor(id / this.#slots);
    if (counter > this.#counter) this.#counter = counter;
    if (id > this.#highest) this.#highest = id;
  }

  /** Issue later ids in another slot (the bus leased a new one). */
  setSlot(slot: number): void {
    this.#slot = slot;
  }

  /** The id issued last here (the clock at start when none was issued yet). */
  get lastId(): number {
    return this.#last;
  }

  /** The highest id issued here or observed. */
  get highest(): number {
    return this.#highest;
  }
}
