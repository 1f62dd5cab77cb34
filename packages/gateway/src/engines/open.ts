import type { EngineConfig } from './config.js';
import type { Engine } from './engine.js';

export { EngineSchema, type EngineConfig } from './config.js';

/**
 * The adapter for a parsed engine config. Throws GW_ERR_CONFIG (naming
 * `where`) when a file it needs cannot be read. The adapter's module is
 * loaded here, on first use (the Icinga 2 one loads undici).
 * @param where the config path, for messages (`acknowledge.engine`).
 */
export async function openEngine(config: EngineConfig, where = 'engine'): Promise<Engine> {
  if (config.type === 'naemon') return new (await import('./naemon.js')).NaemonEngine(config);
  return (await import('./icinga2.js')).Icinga2Engine.fromConfig(config, where);
}
