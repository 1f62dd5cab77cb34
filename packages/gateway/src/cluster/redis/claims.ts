import type { Logger } from 'pino';
import type { BusStats } from '../bus.js';
import type { LocalPresence } from './presence.js';
import type { BusScripts } from './scripts.js';

/** How long a per-notification claim is kept. */
const CLAIM_TTL_MS = 30_000;

/** A channel event about a browser that other nodes may hold too. */
type ShareEvent =
  | { kind: 'send'; origin: string; id: number; send: () => void }
  | { kind: 'join' | 'leave'; node: string }
  | { kind: 'own' };

/** What this node knows, in channel order, about a browser that other nodes may hold too. */
interface Share {
  /** Other nodes holding the browser. */
  holders: Set<string>;
  /** True from our announcement (when others held the browser) until our own `s` marker comes by. */
  awaitMarker: boolean;
  /** Set while our announcement is in flight: events wait here until Redis answered. */
  queue: ShareEvent[] | undefined;
}

/** What {@link BrowserClaims} needs of its bus. */
export interface ClaimsContext {
  readonly cmd: BusScripts;
  readonly prefix: string;
  /** The bus channel (the browser scripts publish the join/leave markers on it). */
  readonly channel: string;
  readonly logger: Logger;
  readonly stats: BusStats;
  readonly presence: LocalPresence;
  /** This node's current id. */
  node(): string;
  /** Whether Redis is reachable now. */
  up(): boolean;
}

/**
 * Exactly once per browser across nodes (docs/scale-out.md). A browser whose
 * tabs all sit on one node costs nothing extra: the node that accepts a
 * notification always writes to its own browsers. When a node adds a browser
 * that other live nodes also hold, the script that records it returns those
 * nodes and publishes `s` in the same atomic step (`l` when it drops the
 * browser), so every node knows, in channel order, which nodes hold the
 * browser when each notification passes: a notification from a holder is
 * skipped (the holder wrote it), one from before our own `s` is skipped (the
 * others covered it), and one from any other node is claimed by every holder
 * with `SET <prefix>claim:<id>:<browserUuid> <node> NX PX 30000`: one sends.
 * While Redis has not yet answered our announcement, that browser's channel
 * events wait in a queue.
 */
export class BrowserClaims {
  /** Browsers of this node whose tabs may sit on other nodes too (absent: only here; the usual case). */
  readonly #shares = new Map<number, Map<string, Share>>();
  readonly #c: ClaimsContext;

  constructor(ctx: ClaimsContext) {
    this.#c = ctx;
  }

  /** A notification from node `origin` for this node's tab of the browser: `send` runs when this node is the one to write it. */
  route(userId: number, browserUuid: string, origin: string, id: number, send: () => void): void {
    const share = this.#shares.get(userId)?.get(browserUuid);
    if (share === undefined) send();
    else if (share.queue) share.queue.push({ kind: 'send', origin, id, send });
    else this.#decide(userId, browserUuid, share, origin, id, send);
  }

  /** A join (`s`) or leave (`l`) marker from another node, or our own join marker. */
  onMarker(userId: number, browserUuid: string, ev: { kind: 'join' | 'leave'; node: string } | { kind: 'own' }): void {
    const log = this.#c.logger;
    if (log.isLevelEnabled('debug')) log.debug({ user: userId, browser: browserUuid, node: this.#c.node(), ev }, 'bus: share event');
    let share = this.#shares.get(userId)?.get(browserUuid);
    if (!share) {
      // Only a join about a browser we hold matters; leaves and stale markers of unknown shares do not.
      if (ev.kind !== 'join' || !this.#c.presence.holds(userId, browserUuid)) return;
      share = this.#share(userId, browserUuid, undefined);
    }
    if (share.queue) share.queue.push(ev);
    else {
      this.#apply(userId, browserUuid, share, ev);
      this.#settle(userId, browserUuid, share);
    }
  }

  /** The browser's last tab here closed: whatever was known about sharing it is void. */
  forget(userId: number, browserUuid: string): void {
    const m = this.#shares.get(userId);
    if (m?.delete(browserUuid) && m.size === 0) this.#shares.delete(userId);
  }

  /**
   * Tell the cluster this node holds the browser. Until Redis answers with
   * the other holders, channel events for the browser wait in a queue; then
   * they are applied in order, starting from the answer (and, when there
   * are other holders, waiting for our own marker).
   */
  announce(userId: number, browserUuid: string, userKey: string): Promise<void> {
    const c = this.#c;
    const share = this.#share(userId, browserUuid, []);
    const settle = (holders: string[]): void => {
      if (c.logger.isLevelEnabled('debug')) c.logger.debug({ user: userId, browser: browserUuid, node: c.node(), holders, queued: share.queue?.length }, 'bus: browser announced');
      if (this.#shares.get(userId)?.get(browserUuid) !== share) return;
      const queue = share.queue ?? [];
      share.queue = undefined;
      share.holders = new Set(holders);
      share.awaitMarker = holders.length > 0;
      for (const ev of queue) this.#apply(userId, browserUuid, share, ev);
      this.#settle(userId, browserUuid, share);
    };
    // A failed announcement (Redis lost): alone until the re-announcement after reconnecting.
    return c.cmd.pgBrowser(userKey, c.prefix, c.node(), browserUuid, userId, c.channel).then(settle, () => settle([]));
  }

  /**
   * A notification from `origin` for a browser that other nodes may hold
   * too, in channel order: before our own `s` it predates our joining (the
   * others covered it); when its origin holds the browser, the origin
   * delivered it; else every holder claims it and one sends.
   */
  #decide(userId: number, browserUuid: string, share: Share, origin: string, id: number, send: () => void): void {
    const log = this.#c.logger;
    if (log.isLevelEnabled('debug')) {
      const decision = share.awaitMarker ? 'skip: before our join' : share.holders.has(origin) ? 'skip: origin holds it' : share.holders.size === 0 ? 'send' : 'claim';
      log.debug({ user: userId, browser: browserUuid, id, origin, holders: [...share.holders], decision }, 'bus: shared browser');
    }
    if (share.awaitMarker || share.holders.has(origin)) return;
    if (share.holders.size === 0) send();
    else void this.#claimAndSend(browserUuid, id, send);
  }

  /** Apply one channel event about a shared browser (in channel order). */
  #apply(userId: number, browserUuid: string, share: Share, ev: ShareEvent): void {
    switch (ev.kind) {
      case 'send': this.#decide(userId, browserUuid, share, ev.origin, ev.id, ev.send); break;
      case 'join': share.holders.add(ev.node); break;
      case 'leave': share.holders.delete(ev.node); break;
      case 'own': share.awaitMarker = false; break;
    }
  }

  /** Forget a share once nothing about it is left to know (only this node holds the browser). */
  #settle(userId: number, browserUuid: string, share: Share): void {
    if (share.queue || share.awaitMarker || share.holders.size > 0) return;
    const m = this.#shares.get(userId);
    if (m?.get(browserUuid) !== share) return;
    m.delete(browserUuid);
    if (m.size === 0) this.#shares.delete(userId);
  }

  async #claimAndSend(browserUuid: string, id: number, send: () => void): Promise<void> {
    const c = this.#c;
    let outcome: 'won' | 'lost' | 'failed';
    if (!c.up()) outcome = 'failed';
    else {
      try {
        const ok = await c.cmd.set(`${c.prefix}claim:${id}:${browserUuid}`, c.node(), 'PX', CLAIM_TTL_MS, 'NX');
        outcome = ok === 'OK' ? 'won' : 'lost';
      } catch {
        outcome = 'failed';
      }
    }
    c.stats.claims[outcome] = (c.stats.claims[outcome] ?? 0) + 1;
    // Without Redis no other node can see this notification either: deliver (twice beats never).
    if (outcome !== 'lost') send();
  }

  /** A fresh share state for a browser (replacing any), pending with a queue or settled without. */
  #share(userId: number, browserUuid: string, queue: ShareEvent[] | undefined): Share {
    let m = this.#shares.get(userId);
    if (!m) this.#shares.set(userId, (m = new Map()));
    const share: Share = { holders: new Set(), awaitMarker: false, queue };
    m.set(browserUuid, share);
    return share;
  }
}
