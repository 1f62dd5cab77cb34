/**
 * This node's presence as the registry reported it (users, their open
 * connections, their browsers, registration), kept by the Redis bus so it
 * can announce it again after a reconnect and answer "do we hold this
 * browser" without asking the registry. One small entry per user with an
 * open connection here.
 */
export class LocalPresence {
  readonly #users = new Map<number, { count: number; browsers: Set<string>; registered: boolean }>();

  /** Record one change (the registry's observer calls, in order). */
  browserAdded(userId: number, browserUuid: string): void {
    this.#entry(userId).browsers.add(browserUuid);
  }

  browserRemoved(userId: number, browserUuid: string): void {
    this.#users.get(userId)?.browsers.delete(browserUuid);
  }

  countChanged(userId: number, count: number): void {
    if (count === 0) this.#users.delete(userId);
    else this.#entry(userId).count = count;
  }

  registered(userId: number): void {
    const e = this.#users.get(userId);
    if (e) e.registered = true;
  }

  /** True while this node has a tab of the browser. */
  holds(userId: number, browserUuid: string): boolean {
    return this.#users.get(userId)?.browsers.has(browserUuid) ?? false;
  }

  /** Every user with an open connection here: count, browsers, registration (a snapshot). */
  snapshot(): { userId: number; count: number; browsers: string[]; registered: boolean }[] {
    return [...this.#users].map(([userId, e]) => ({ userId, count: e.count, browsers: [...e.browsers], registered: e.registered }));
  }

  #entry(userId: number): { count: number; browsers: Set<string>; registered: boolean } {
    let e = this.#users.get(userId);
    if (!e) this.#users.set(userId, (e = { count: 0, browsers: new Set(), registered: false }));
    return e;
  }
}
