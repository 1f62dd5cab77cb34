import type { Notification } from '../pipeline/notification.js';
import { createBusStats, type Bus, type ReceiptMessage } from './bus.js';
import { IdClock } from './ids.js';

const ALWAYS = Promise.resolve(true);
const NEVER = Promise.resolve(false);
const NONE = Promise.resolve(0);

/** The in-process bus (the default): one node, nothing to carry, every query answers for this node. */
export class LocalBus implements Bus {
  readonly kind = 'local' as const;
  readonly stats = createBusStats();
  readonly up = true;
  readonly presence = undefined;
  readonly ids: IdClock;
  readonly #cursors = new Map<string, number>();

  constructor(opts: { now?: () => number } = {}) {
    this.ids = new IdClock(opts);
  }

  start(): void {}

  publish(_n: Notification): void {}

  publishExportStatus(_running: boolean): void {}

  publishReceipt(_r: ReceiptMessage): void {}

  onceAcrossNodes(_userId: number, _browserUuid: string, _origin: string, _id: number, send: () => void): void {
    // Nothing arrives from another node on one node; answer as the only holder would.
    send();
  }

  async getCursor(name: string): Promise<number | undefined> {
    return this.#cursors.get(name);
  }

  setCursor(name: string, value: number): void {
    this.#cursors.set(name, value);
  }

  registeredElsewhere(): Promise<boolean> {
    return NEVER;
  }

  connectionsElsewhere(): Promise<number> {
    return NONE;
  }

  lead(): Promise<boolean> {
    return ALWAYS;
  }

  health(): { ok: true } {
    return { ok: true };
  }

  async close(): Promise<void> {}
}
