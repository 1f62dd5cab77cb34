import type { PresenceObserver } from '../../cluster/bus.js';
import type { Connection } from './connection.js';
import { wireFrame } from './frame.js';

/**
 * Every open connection indexed user → browser → tabs, updated on open and
 * close, so delivery to a user costs O(that user's connections).
 */
export class Registry {
  readonly #users = new Map<number, Map<string, Set<Connection>>>();
  readonly #registered = new Set<number>();
  #size = 0;
  /** Told of every presence change (a cluster bus); undefined on one node. */
  readonly #observer: PresenceObserver | undefined;

  constructor(observer?: PresenceObserver) {
    this.#observer = observer;
  }

  /** Open connections. */
  get size(): number {
    return this.#size;
  }

  /** Users with at least one open connection. */
  get userCount(): number {
    return this.#users.size;
  }

  /** Index a freshly opened connection. */
  add(conn: Connection): void {
    let browsers = this.#users.get(conn.userId);
    if (!browsers) this.#users.set(conn.userId, (browsers = new Map()));
    let tabs = browsers.get(conn.browserUuid);
    let added = false;
    if (!tabs) {
      browsers.set(conn.browserUuid, (tabs = new Set()));
      added = true;
    }
    if (!tabs.has(conn)) {
      tabs.add(conn);
      this.#size++;
      const o = this.#observer;
      if (o) {
        if (added) o.browserAdded(conn.userId, conn.browserUuid);
        o.countChanged(conn.userId, this.countUser(conn.userId));
      }
    }
  }

  /**
   * Drop a closed connection. When it was the user's last one the user's
   * registration is cleared too (openITCOCKPIT semantics).
   */
  remove(conn: Connection): void {
    const browsers = this.#users.get(conn.userId);
    const tabs = browsers?.get(conn.browserUuid);
    if (!browsers || !tabs || !tabs.delete(conn)) return;
    this.#size--;
    const o = this.#observer;
    if (tabs.size === 0) {
      browsers.delete(conn.browserUuid);
      o?.browserRemoved(conn.userId, conn.browserUuid);
    }
    if (browsers.size === 0) {
      this.#users.delete(conn.userId);
      this.#registered.delete(conn.userId);
    }
    o?.countChanged(conn.userId, this.countUser(conn.userId));
  }

  /**
   * Mark a user registered for push notifications (client message
   * `RegisterBrowserPushNotification`); ignored when the user has no open
   * connection.
   */
  register(userId: number): void {
    if (!this.#users.has(userId) || this.#registered.has(userId)) return;
    this.#registered.add(userId);
    this.#observer?.registered(userId);
  }

  /** Users with at least one open connection here (for a cluster bus re-announcing its state). */
  users(): IterableIterator<number> {
    return this.#users.keys();
  }

  /** Browser ids of a user with a tab open here. */
  browsersOf(userId: number): string[] {
    return [...(this.#users.get(userId)?.keys() ?? [])];
  }

  /** The tab of one browser that gets its notifications (as in {@link toUserOnePerBrowser}); undefined when it has none here. */
  bestTab(userId: number, browserUuid: string): Connection | undefined {
    const tabs = this.#users.get(userId)?.get(browserUuid);
    if (!tabs) return undefined;
    let best: Connection | undefined;
    for (const c of tabs) {
      if (!best || c.activitySeq > best.activitySeq || (c.activitySeq === best.activitySeq && c.openedSeq > best.openedSeq)) best = c;
    }
    return best;
  }

  /** Users marked registered that still have an open connection. */
  get registeredCount(): number {
    return this.#registered.size;
  }

  /** True when some connection of the user sent `RegisterBrowserPushNotification`. */
  isRegistered(userId: number): boolean {
    return this.#registered.has(userId);
  }

  /** Every connection of a user. */
  toUser(userId: number): Connection[] {
    const out: Connection[] = [];
    const browsers = this.#users.get(userId);
    if (browsers) for (const tabs of browsers.values()) for (const c of tabs) out.push(c);
    return out;
  }

  /**
   * One connection per browser instance of a user, so a browser with five
   * tabs shows a desktop notification once: the tab that most recently sent
   * anything, else the newest tab.
   */
  toUserOnePerBrowser(userId: number): Connection[] {
    const out: Connection[] = [];
    const browsers = this.#users.get(userId);
    if (!browsers) return out;
    for (const tabs of browsers.values()) {
      let best: Connection | undefined;
      for (const c of tabs) {
        if (!best || c.activitySeq > best.activitySeq || (c.activitySeq === best.activitySeq && c.openedSeq > best.openedSeq)) best = c;
      }
      if (best) out.push(best);
    }
    return out;
  }

  /**
   * Send one serialised message to every connection; returns how many got
   * it. Framed once (`wireFrame`) and written as one Buffer per socket.
   */
  broadcast(frame: Buffer): number {
    const wire = wireFrame(frame);
    let n = 0;
    for (const conn of this.all()) {
      conn.sendWire(wire);
      n++;
    }
    return n;
  }

  /** Every open connection (for broadcasts and the heartbeat sweep). */
  *all(): IterableIterator<Connection> {
    for (const browsers of this.#users.values()) for (const tabs of browsers.values()) yield* tabs;
  }

  /** Open connections of one user. */
  countUser(userId: number): number {
    let n = 0;
    const browsers = this.#users.get(userId);
    if (browsers) for (const tabs of browsers.values()) n += tabs.size;
    return n;
  }
}
