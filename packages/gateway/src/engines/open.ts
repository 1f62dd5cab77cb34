import { z } from 'zod';
import type { Engine } from './engine.js';
import { Icinga2Engine, Icinga2EngineSchema } from './icinga2.js';
import { NaemonEngine, NaemonEngineSchema } from './naemon.js';

/** One engine's config, told apart by `type` (`naemon` | `icinga2`). */
export const EngineSchema = z.discriminatedUnion('type', [NaemonEngineSchema, Icinga2EngineSchema]);

export type EngineConfig = z.output<typeof EngineSchema>;

/**
 * The adapter for a parsed engine config. Throws GW_ERR_CONFIG (naming
 * `where`) when a file it needs cannot be read.
 * @param where the config path, for messages (`engines.icinga`).
 */
export async function openEngine(config: EngineConfig, where = 'engine'): Promise<Engine> {
  if (config.type === 'naemon') return new NaemonEngine(config);
  return Icinga2Engine.fromConfig(config, where);
}
