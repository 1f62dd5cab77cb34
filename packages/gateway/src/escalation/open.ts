import { join } from 'node:path';
import type { Logger } from 'pino';
import type { IdClock } from '../cluster/ids.js';
import type { Config } from '../config.js';
import { Escalation, type StepDeliverer } from './escalation.js';
import { FileStepStore } from './file-store.js';
import type { StepStore } from './store.js';
import type { EscalationTrailSink } from './trail.js';

/** What {@link openEscalation} needs from the composition root. */
export interface OpenEscalationOptions {
  config: Config;
  /** `<state.dir>`: the step journal lives in `escalation/` below it (one node). */
  stateDir: string;
  logger: Logger;
  ids: IdClock;
  deliverer: StepDeliverer;
  trail?: EscalationTrailSink;
}

/**
 * Open the step store the bus calls for (the Redis bus: Redis, shared by
 * every node; else the journal under the state directory) and start the
 * engine with the ladders it holds.
 */
export async function openEscalation(o: OpenEscalationOptions): Promise<Escalation> {
  const cfg = o.config.escalation;
  let store: StepStore;
  let adoptEveryMs = 0;
  if (o.config.bus.type === 'redis') {
    const { RedisStepStore } = await import('./redis-store.js');
    store = await RedisStepStore.connect({ bus: o.config.bus, leaseMs: cfg.leaseMs, logger: o.logger });
    adoptEveryMs = Math.max(200, Math.floor(cfg.leaseMs / 3));
  } else {
    store = await FileStepStore.open({ dir: join(o.stateDir, 'escalation'), logger: o.logger, compactBytes: cfg.compactBytes });
  }
  try {
    return await Escalation.start({
      config: cfg, store, deliverer: o.deliverer, ids: o.ids, logger: o.logger, adoptEveryMs,
      ...(o.trail !== undefined ? { trail: o.trail } : {}),
    });
  } catch (err) {
    await store.close();
    throw err;
  }
}
