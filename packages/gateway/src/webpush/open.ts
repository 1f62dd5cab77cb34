import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { Logger } from 'pino';
import type { Config } from '../config.js';
import { GatewayError } from '../errors.js';
import { Devices } from './devices.js';
import { EndpointPolicy } from './endpoint-policy.js';
import { WebPushChannel } from './sender.js';
import { createWebPushStats, type WebPushStats } from './stats.js';
import { FileRecordStore, type RecordStore } from './store.js';
import { Subscriptions } from './subscriptions.js';
import { loadVapidKeys, type VapidKeys } from './vapid.js';

/**
 * Opens Web Push's parts for the gateway and the CLI: the store (the state
 * directory's `webpush/`, or Redis with the Redis bus), the VAPID keys,
 * subscriptions, devices and the outbox channel.
 */

/** The store and how errors name it. */
export interface OpenedStore {
  store: RecordStore;
  /** `/var/lib/pushgate/webpush` or `redis <prefix>wp:*`. */
  where: string;
  /** Path of the VAPID key file (file store), for messages. */
  keyPath: string;
}

/**
 * The store Web Push uses: Redis when the bus is Redis (every node must see
 * the same keys and subscriptions), else `<stateDir>/webpush`. With
 * `serve --workers`, each worker's state dir is `<state>/worker-<n>`, but
 * workers need Redis anyway.
 */
export async function openWebPushStore(config: Config, stateDir: string): Promise<OpenedStore> {
  const bus = config.bus;
  if (bus.type === 'redis') {
    const { RedisRecordStore } = await import('./redis-store.js');
    const store = new RedisRecordStore(bus.url, bus.prefix, bus.commandTimeoutMs, bus.connectTimeoutMs);
    return { store, where: `redis ${bus.prefix}wp:*`, keyPath: `redis ${bus.prefix}wp:vapid` };
  }
  const dir = join(stateDir, 'webpush');
  return { store: new FileRecordStore(dir), where: dir, keyPath: join(dir, 'vapid', 'keys.json') };
}

/** Everything the gateway wires. */
export interface WebPush {
  readonly store: RecordStore;
  readonly keys: VapidKeys;
  readonly policy: EndpointPolicy;
  readonly subscriptions: Subscriptions;
  readonly devices: Devices;
  readonly channel: WebPushChannel;
  readonly stats: WebPushStats;
  close(): Promise<void>;
}

/** Opens Web Push when `webPush.enabled`; rejects with `GW_ERR_STATE` (store, key) or `GW_ERR_CONFIG` (caFile). */
export async function openWebPush(config: Config, stateDir: string, baseDir: string, logger: Logger): Promise<WebPush> {
  const w = config.webPush;
  // The schema already requires it; repeated so a caller that built a Config by hand still gets the key path.
  if (w.subject === undefined) throw new GatewayError('GW_ERR_CONFIG', 'webPush.enabled needs webPush.subject (mailto: or https:)');
  let ca: string | undefined;
  if (w.caFile !== undefined) {
    const path = resolve(baseDir, w.caFile);
    try {
      ca = await readFile(path, 'utf8');
    } catch (err) {
      throw new GatewayError('GW_ERR_CONFIG', `webPush.caFile: cannot read ${path}: ${(err as Error).message}`, { cause: err });
    }
  }
  const opened = await openWebPushStore(config, stateDir);
  let keys: VapidKeys;
  try {
    keys = await loadVapidKeys(opened.store, opened.keyPath);
  } catch (err) {
    await opened.store.close();
    throw new GatewayError('GW_ERR_STATE', `webPush: cannot read or create the VAPID key pair at ${opened.keyPath}: ${(err as Error).message}`, { cause: err });
  }
  const stats = createWebPushStats();
  const policy = new EndpointPolicy(w.allowHosts);
  const subscriptions = new Subscriptions({ store: opened.store, policy, stats, logger, maxPerOwner: w.maxSubscriptionsPerUser, expireAfterMs: w.expireAfterMs });
  const devices = new Devices(opened.store);
  const channel = new WebPushChannel({
    keys, subject: w.subject, subscriptions, devices, policy, stats, logger,
    ttlSeconds: w.ttlSeconds, timeoutMs: w.timeoutMs, concurrency: w.concurrency,
    ...(ca !== undefined ? { ca } : {}),
  });
  logger.info({ store: opened.where, publicKey: keys.publicKey }, 'web push enabled');
  return {
    store: opened.store, keys, policy, subscriptions, devices, channel, stats,
    async close() {
      await opened.store.close();
    },
  };
}
