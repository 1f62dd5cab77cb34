/**
 * A coarse hierarchical timer wheel: one interval timer for any number of
 * pending items, O(1) schedule and cancel, O(1) work per tick when nothing
 * is due, memory proportional to the items (plus a fixed 4 × 256 slot
 * heads). Used for per-item timeouts that need no millisecond precision:
 * the outbox's retry waits, and later escalation steps.
 *
 * Time is cut into ticks of `tickMs`. Level 0 has one slot per tick for the
 * next 256 ticks; level 1 one slot per 256 ticks for the next 256² ticks,
 * and so on for 4 levels (256⁴ ticks: 13.6 years at 100 ms). When level 0
 * wraps around, the next slot of level 1 is moved down into level 0 (and so
 * on up), so each item is moved at most once per level. An item further
 * away than the top level waits in the top level's farthest slot and is
 * placed again whenever that slot comes round.
 *
 * An item fires on the first tick at or after its due time: never early,
 * at most one tick (plus event-loop delay) late. Items due in the same
 * tick fire in no particular order; items due in different ticks fire in
 * due order.
 */

const SLOT_BITS = 8;
const SLOTS = 1 << SLOT_BITS;
const MASK = SLOTS - 1;
const LEVELS = 4;
/** Ticks each level's slot spans: 1, 256, 65536, 16777216. */
const SPAN = Array.from({ length: LEVELS }, (_, l) => SLOTS ** l);
/** Ticks the whole wheel covers; items further away are placed again (see the class comment). */
const HORIZON = SLOTS ** LEVELS;

/** A scheduled item, returned by {@link TimerWheel.schedule}; pass it to {@link TimerWheel.cancel}. */
export interface TimerHandle {
  /** True until the item fires or is cancelled. */
  readonly pending: boolean;
}

/** The wheel's list node behind a {@link TimerHandle}. */
class Node implements TimerHandle {
  /** The tick it is due in. */
  due = 0;
  /** Level and slot it is linked into; level -1 when not pending (fired or cancelled). */
  level = -1;
  slot = 0;
  prev: Node | undefined = undefined;
  next: Node | undefined = undefined;
  fn: ((arg: unknown) => void) | undefined;
  arg: unknown;
  readonly wheel: TimerWheel;

  constructor(wheel: TimerWheel, fn: (arg: unknown) => void, arg: unknown) {
    this.wheel = wheel;
    this.fn = fn;
    this.arg = arg;
  }

  /** True until the item fires or is cancelled. */
  get pending(): boolean {
    return this.level !== -1;
  }
}

/** Options of {@link TimerWheel}. */
export interface TimerWheelOptions {
  /** Length of one tick in ms: the resolution. Default 100. */
  tickMs?: number;
  /**
   * Whether the interval timer lets the process exit while items are
   * pending (`timer.unref()`). Default true: a pending timeout does not
   * keep a process alive that has nothing else to do.
   */
  unref?: boolean;
  /** Monotonic clock in ms. Default `performance.now`. For tests that drive the wheel through {@link TimerWheel.advance}. */
  now?: () => number;
}

/**
 * One timer for many timeouts. `schedule(delayMs, fn, arg)` calls
 * `fn(arg)` once `delayMs` have passed; pass a shared function and the
 * item as `arg`, so no closure is made per item. The interval runs only
 * while something is pending.
 */
export class TimerWheel {
  readonly #tickMs: number;
  readonly #unref: boolean;
  readonly #now: () => number;
  /** Per level, per slot: the first handle of a doubly linked list. */
  readonly #slots: Array<Array<Node | undefined>> = Array.from({ length: LEVELS }, () => new Array<Node | undefined>(SLOTS).fill(undefined));
  /** Items linked into each level. */
  readonly #counts = new Array<number>(LEVELS).fill(0);
  /** Every tick up to and including this one has fired. */
  #tick: number;
  #size = 0;
  #timer: NodeJS.Timeout | undefined;
  #closed = false;

  constructor(opts: TimerWheelOptions = {}) {
    this.#tickMs = opts.tickMs ?? 100;
    if (!(this.#tickMs > 0)) throw new RangeError(`tickMs must be positive, got ${this.#tickMs}`);
    this.#unref = opts.unref ?? true;
    this.#now = opts.now ?? (() => performance.now());
    this.#tick = Math.floor(this.#now() / this.#tickMs);
  }

  /** Items pending. */
  get size(): number {
    return this.#size;
  }

  /** The tick length in ms. */
  get tickMs(): number {
    return this.#tickMs;
  }

  /**
   * Calls `fn(arg)` once, `delayMs` (≥ 0) from now rounded up to the next
   * tick. An exception from `fn` does not stop the other items of the tick;
   * it is rethrown in a microtask (an uncaught exception, as from `setTimeout`).
   *
   * @throws Error after {@link TimerWheel.close}.
   */
  schedule<A>(delayMs: number, fn: (arg: A) => void, arg: A): TimerHandle {
    if (this.#closed) throw new Error('timer wheel closed');
    const h = new Node(this, fn as (arg: unknown) => void, arg);
    if (this.#size === 0) {
      // Nothing pending: no tick had to run meanwhile, so catch up in O(1).
      this.#tick = Math.max(this.#tick, Math.floor(this.#now() / this.#tickMs));
    }
    // Due in the first tick that starts at or after now + delay: never early.
    h.due = Math.max(this.#tick + 1, Math.ceil((this.#now() + Math.max(0, delayMs)) / this.#tickMs));
    this.#link(h);
    this.#size++;
    if (this.#timer === undefined) {
      this.#timer = setInterval(() => this.advance(), this.#tickMs);
      if (this.#unref) this.#timer.unref();
    }
    return h;
  }

  /** Cancels a pending item; false when it already fired or was cancelled (or is another wheel's). O(1). */
  cancel(handle: TimerHandle): boolean {
    if (!(handle instanceof Node) || handle.wheel !== this || handle.level === -1) return false;
    const h = handle;
    this.#unlink(h);
    h.fn = undefined;
    h.arg = undefined;
    this.#size--;
    // The interval stops at its next run once nothing is pending (cheaper than stopping here and restarting on the next schedule).
    return true;
  }

  /**
   * Fires every item due by now. The interval calls this every `tickMs`;
   * a late interval (a busy event loop) catches up tick by tick.
   */
  advance(): void {
    const target = Math.floor(this.#now() / this.#tickMs);
    while (this.#tick < target && this.#size > 0) {
      // Skip ticks where nothing fires or cascades (a long-blocked loop, a test clock): O(1) per tick otherwise.
      const next = this.#nextEvent(target);
      if (next > target) {
        this.#tick = target;
        break;
      }
      this.#tick = next - 1;
      this.#step();
    }
    if (this.#size === 0) {
      this.#tick = Math.max(this.#tick, target);
      this.#stop();
    }
  }

  /** Cancels everything pending and stops the timer; {@link TimerWheel.schedule} throws afterwards. Idempotent. */
  close(): void {
    this.#closed = true;
    for (const level of this.#slots) {
      for (let s = 0; s < SLOTS; s++) {
        for (let h = level[s]; h !== undefined; h = h.next) {
          h.level = -1;
          h.fn = undefined;
          h.arg = undefined;
        }
        level[s] = undefined;
      }
    }
    this.#counts.fill(0);
    this.#size = 0;
    this.#stop();
  }

  /**
   * The first tick after the current one, up to `limit`, at which a slot
   * fires or cascades; `limit + 1` when there is none. Looks at the lowest
   * level holding items: its slots in order (at most 256, and at most the
   * ticks to `limit`), stopping where the level above cascades.
   */
  #nextEvent(limit: number): number {
    let level = 0;
    while (this.#counts[level] === 0) level++;
    const span = SPAN[level]!;
    const bound = level + 1 < LEVELS ? (Math.floor(this.#tick / SPAN[level + 1]!) + 1) * SPAN[level + 1]! : Infinity;
    const slots = this.#slots[level]!;
    for (let t = (Math.floor(this.#tick / span) + 1) * span; t <= limit; t += span) {
      if (t >= bound || slots[Math.floor(t / span) & MASK] !== undefined) return t;
    }
    return limit + 1;
  }

  #stop(): void {
    if (this.#timer === undefined) return;
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  /** Moves to the next tick: cascades the levels above that wrap here, then fires level 0's slot. */
  #step(): void {
    const tick = ++this.#tick;
    for (let l = 1; l < LEVELS && tick % SPAN[l]! === 0; l++) {
      const s = Math.floor(tick / SPAN[l]!) & MASK;
      const level = this.#slots[l]!;
      let h = level[s];
      level[s] = undefined;
      while (h !== undefined) {
        const next = h.next;
        h.prev = h.next = undefined;
        this.#counts[l]!--;
        this.#link(h);
        h = next;
      }
    }
    const slots = this.#slots[0]!;
    const s = tick & MASK;
    for (let h = slots[s]; h !== undefined; h = slots[s]) {
      // Unlink one at a time: fn may cancel other items of this slot. Nothing fn schedules lands here (it is due at tick + 1 or later).
      this.#unlink(h);
      this.#size--;
      const { fn, arg } = h;
      h.fn = undefined;
      h.arg = undefined;
      try {
        fn!(arg);
      } catch (err) {
        queueMicrotask(() => {
          throw err;
        });
      }
    }
  }

  /** Links `h` into the slot for its due tick, relative to the current tick. */
  #link(h: Node): void {
    const delta = h.due - this.#tick;
    let level = 0;
    while (level < LEVELS - 1 && delta >= SPAN[level + 1]!) level++;
    // Beyond the horizon: the top level's farthest slot, placed again when it comes round.
    const at = delta >= HORIZON ? this.#tick + HORIZON - 1 : h.due;
    const slot = Math.floor(at / SPAN[level]!) & MASK;
    const list = this.#slots[level]!;
    const head = list[slot];
    h.level = level;
    h.slot = slot;
    this.#counts[level]!++;
    h.prev = undefined;
    h.next = head;
    if (head !== undefined) head.prev = h;
    list[slot] = h;
  }

  #unlink(h: Node): void {
    if (h.prev !== undefined) h.prev.next = h.next;
    else this.#slots[h.level]![h.slot] = h.next;
    if (h.next !== undefined) h.next.prev = h.prev;
    h.prev = h.next = undefined;
    this.#counts[h.level]!--;
    h.level = -1;
  }
}
