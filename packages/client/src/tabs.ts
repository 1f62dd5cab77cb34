/**
 * Coordination between the tabs of one browser (one origin, one profile):
 * a Web Lock elects one leader tab, which holds the WebSocket and shows the
 * OS notifications; a BroadcastChannel carries notifications, connection
 * state and requests between the tabs. Without Web Locks (old browsers,
 * insecure contexts) every tab leads alone: the gateway still routes one
 * notification per browser, and `tag` keeps the OS from stacking them.
 */

/** Messages between tabs on the BroadcastChannel. */
export type TabMessage =
  | { kind: 'notification'; envelope: unknown }
  | { kind: 'state'; state: unknown; lastId: number }
  | { kind: 'hello' }
  | { kind: 'send'; frame: string }
  /**
   * Notification `id` was shown as an OS notification by another context of
   * this browser (a tab, or the service worker posting on the same channel
   * name): the leader suppresses its own and reports `suppressed`.
   */
  | { kind: 'shown'; id: number };

/** Callbacks of {@link TabGroup}. */
export interface TabGroupEvents {
  /** This tab became the leader; it keeps leading until {@link TabGroup.close}. */
  onLead(): void;
  /** A message from another tab of this browser. */
  onMessage(msg: TabMessage): void;
}

/** Leadership and messaging among the tabs of one browser for one pushgate user. */
export class TabGroup {
  readonly #channel: BroadcastChannel | undefined;
  #release: (() => void) | undefined;
  #abort: AbortController | undefined;
  #leader = false;
  #closed = false;

  /**
   * @param name per-user name of the lock and the channel, e.g. `pushgate:<url>:<userId>`.
   */
  constructor(readonly name: string, private readonly events: TabGroupEvents) {
    this.#channel = typeof BroadcastChannel === 'function' ? new BroadcastChannel(name) : undefined;
    if (this.#channel) this.#channel.onmessage = (e: MessageEvent) => this.events.onMessage(e.data as TabMessage);
  }

  /** True while this tab leads. */
  get leader(): boolean {
    return this.#leader;
  }

  /** Ask for leadership; `onLead` is called once granted (at once when Web Locks are missing). */
  start(): void {
    const locks = typeof navigator !== 'undefined' ? (navigator as Navigator & { locks?: LockManager }).locks : undefined;
    if (!locks) {
      this.#becomeLeader();
      return;
    }
    this.#abort = new AbortController();
    locks.request(this.name, { signal: this.#abort.signal }, () => {
      if (this.#closed) return undefined;
      this.#becomeLeader();
      // Held until close(): the browser releases it by itself when the tab goes away.
      return new Promise<void>((resolve) => { this.#release = resolve; });
    }).catch(() => { /* aborted by close() */ });
  }

  /** Send to every other tab of this browser. */
  post(msg: TabMessage): void {
    this.#channel?.postMessage(msg);
  }

  /** Give up leadership (or the wait for it) and stop listening. */
  close(): void {
    this.#closed = true;
    this.#leader = false;
    this.#abort?.abort();
    this.#release?.();
    this.#channel?.close();
  }

  #becomeLeader(): void {
    this.#leader = true;
    this.events.onLead();
  }
}
