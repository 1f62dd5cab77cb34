import { resolve } from 'node:path';
import type { Logger } from 'pino';
import type { Config } from '../config.js';
import type { Directory } from './directory.js';
import { FileDirectory } from './file.js';

/**
 * The directory `config.directory` names: the embedded demo (with its
 * generated API key), a YAML file (relative to `baseDir`, the config file's
 * directory), or openITCOCKPIT's database (mysql2 loaded only then, so demo
 * and file set-ups start without it). `env`: `OITC_MYSQL_CNF`, `MYSQL_DEBUG`.
 *
 * @throws GatewayError `GW_ERR_DIRECTORY_CONFIG` when the file or my.cnf is missing or invalid.
 */
export async function openDirectory(config: Config, baseDir: string, logger: Logger, env: NodeJS.ProcessEnv): Promise<{ directory: Directory; demoKey?: string }> {
  const d = config.directory;
  switch (d.type) {
    case 'demo': {
      const { directory, apiKey } = FileDirectory.demo();
      return { directory, demoKey: apiKey };
    }
    case 'file':
      return { directory: await FileDirectory.load(resolve(baseDir, d.path)) };
    case 'openitcockpit': {
      const { createOpenItcockpitDirectory } = await import('./openitcockpit.js');
      return { directory: await createOpenItcockpitDirectory(d, { logger, env }) };
    }
  }
}
