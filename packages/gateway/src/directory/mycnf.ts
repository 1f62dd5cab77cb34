import { readFile } from 'node:fs/promises';
import { GatewayError } from '../errors.js';

/** The `[client]` connection settings of a my.cnf-style file. */
export interface MyCnfClient {
  /** Server host; `localhost` when only `socket` is given. */
  host: string;
  /** TCP port, default 3306. */
  port: number;
  /** MySQL user name. */
  user: string;
  /** May be empty; never logged. */
  password: string;
  /** Schema name (openITCOCKPIT: `openitcockpit`). */
  database: string;
  /** Unix socket path; when present mysql2 connects through it instead of TCP. */
  socket?: string;
}

/**
 * Parse the `[client]` section of a my.cnf-style INI file, the way
 * openITCOCKPIT writes `/opt/openitc/etc/mysql/mysql.cnf`: `key = value`
 * lines, `#`/`;` comments, optional single or double quotes around values,
 * `-` and `_` interchangeable in key names (as MySQL treats them).
 * `!include` directives are ignored.
 *
 * Throws `GW_ERR_DIRECTORY_CONFIG` naming the file and the missing section
 * or key (`user`, `password`, `database`, and `host` unless `socket` is set).
 * The password never appears in a message.
 */
export function parseMyCnf(text: string, file: string): MyCnfClient {
  const sections = new Map<string, Map<string, string>>();
  let current: Map<string, string> | undefined;
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';') || line.startsWith('!')) continue;
    const section = /^\[([^\]]+)\]$/.exec(line);
    if (section) {
      const name = section[1]!.trim().toLowerCase();
      current = sections.get(name) ?? new Map();
      sections.set(name, current);
      continue;
    }
    if (!current) continue;
    const eq = line.indexOf('=');
    const key = (eq === -1 ? line : line.slice(0, eq)).trim().toLowerCase().replaceAll('-', '_');
    current.set(key, eq === -1 ? '' : unquote(line.slice(eq + 1).trim()));
  }
  const client = sections.get('client');
  if (!client) {
    throw new GatewayError('GW_ERR_DIRECTORY_CONFIG', `MySQL config ${file}: section [client] is missing`);
  }
  const need = (key: string): string => {
    const v = client.get(key);
    if (v === undefined) {
      throw new GatewayError('GW_ERR_DIRECTORY_CONFIG', `MySQL config ${file}: key "${key}" is missing in section [client]`);
    }
    return v;
  };
  const socket = client.get('socket') || undefined;
  const host = socket ? client.get('host') || 'localhost' : need('host');
  const portText = client.get('port') || '3306';
  const port = Number(portText);
  if (!/^\d+$/.test(portText) || port < 1 || port > 65535) {
    throw new GatewayError('GW_ERR_DIRECTORY_CONFIG', `MySQL config ${file}: key "port" in section [client] is not a port number: ${JSON.stringify(portText)}`);
  }
  const result: MyCnfClient = { host, port, user: need('user'), password: need('password'), database: need('database') };
  if (socket) result.socket = socket;
  return result;
}

/** Strip one pair of matching quotes, or a trailing ` # comment` from an unquoted value. */
function unquote(v: string): string {
  const q = v[0];
  if ((q === '"' || q === "'") && v.length >= 2 && v.endsWith(q)) return v.slice(1, -1);
  const hash = v.search(/\s[#;]/);
  return hash === -1 ? v : v.slice(0, hash).trimEnd();
}

/** Read and parse a my.cnf file; an unreadable file is `GW_ERR_DIRECTORY_CONFIG` naming it. */
export async function readMyCnf(file: string): Promise<MyCnfClient> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new GatewayError('GW_ERR_DIRECTORY_CONFIG', `cannot read MySQL config ${file}: ${(err as Error).message}`, { cause: err });
  }
  return parseMyCnf(text, file);
}
