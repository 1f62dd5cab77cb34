import { randomBytes } from 'node:crypto';
import { readFile, rename, writeFile } from 'node:fs/promises';
import type { RelaySettings } from '@pushgate/relay';
import { z } from 'zod';
import { GatewayError } from '../errors.js';
import type { Directory } from './directory.js';
import { digest, matchesAny } from './secrets.js';

/**
 * The YAML directory file: everything openITCOCKPIT would keep in MySQL, for
 * a gateway without a database. See docs/configuration.md#directory-file.
 */
export const DirectoryFileSchema = z.strictObject({
  /** Valid shared API keys; several at once for rotation. */
  apiKeys: z.array(z.string().regex(/^[\x21-\x7e]+$/, 'API keys are printable ASCII without spaces').min(16)).min(1),
  /** Host uuid → host name. */
  hosts: z.record(z.string(), z.string()).default({}),
  /** Service uuid → service name. */
  services: z.record(z.string(), z.string()).default({}),
  /** User id → the person's name, the author of their acknowledgements in the engine (docs/acknowledge.md). */
  users: z.record(z.string().regex(/^[1-9]\d*$/, 'user ids are integers > 0'), z.string().min(1).max(128)).default({}),
  /** User id → mobile device tokens. */
  devices: z.record(z.string().regex(/^[1-9]\d*$/, 'user ids are integers > 0'), z.array(z.string().min(1))).default({}),
  /** The openITCOCKPIT push gateway; absent or `enabled: false` turns mobile push off. */
  relay: z.strictObject({
    address: z.string().min(1),
    port: z.int().min(1).max(65535).default(443),
    authKey: z.string().min(1),
    enabled: z.boolean().default(true),
  }).optional(),
});
export type DirectoryFile = z.output<typeof DirectoryFileSchema>;

/**
 * Directory backed by a YAML file (or, for the embedded demo, by memory).
 * Device deletions are written back atomically (temp file + rename).
 */
export class FileDirectory implements Directory {
  readonly kind: string;
  /** True when the file has a `relay` section (the file cannot change while it is loaded). */
  readonly mobilePush: boolean;
  #data: DirectoryFile;
  #keyDigests: Buffer[];
  #path: string | undefined;
  #writing: Promise<void> = Promise.resolve();

  constructor(data: DirectoryFile, path?: string, kind = 'file') {
    this.#data = data;
    this.#path = path;
    this.kind = kind;
    this.mobilePush = data.relay !== undefined;
    this.#keyDigests = data.apiKeys.map(digest);
  }

  /** Load and validate a directory file; errors name the file and key path. */
  static async load(path: string): Promise<FileDirectory> {
    let doc: unknown;
    try {
      // Loaded here, not at import: the embedded demo directory (FileDirectory.demo) never reads YAML.
      const { parse: parseYaml } = await import('yaml');
      doc = parseYaml(await readFile(path, 'utf8'));
    } catch (err) {
      throw new GatewayError('GW_ERR_DIRECTORY_CONFIG', `cannot read directory file ${path}: ${(err as Error).message}`, { cause: err });
    }
    const result = DirectoryFileSchema.safeParse(doc);
    if (!result.success) {
      const lines = result.error.issues.map((i) => `  ${i.path.join('.') || '(root)'}: ${i.message}`);
      throw new GatewayError('GW_ERR_DIRECTORY_CONFIG', `invalid directory file ${path}:\n${lines.join('\n')}`);
    }
    return new FileDirectory(result.data, path);
  }

  /** The embedded default: a fresh random API key and a few demo objects. */
  static demo(): { directory: FileDirectory; apiKey: string } {
    // 80 random bytes as 160 hex characters, the shape openITCOCKPIT generates.
    const apiKey = randomBytes(80).toString('hex');
    const directory = new FileDirectory({
      apiKeys: [apiKey],
      hosts: DEMO_HOSTS,
      services: DEMO_SERVICES,
      users: {},
      devices: {},
    }, undefined, 'demo');
    return { directory, apiKey };
  }

  async verifyApiKey(key: string): Promise<boolean> {
    return matchesAny(key, this.#keyDigests);
  }

  async hostName(uuid: string): Promise<string | undefined> {
    return Object.hasOwn(this.#data.hosts, uuid) ? this.#data.hosts[uuid] : undefined;
  }

  async serviceName(uuid: string): Promise<string | undefined> {
    return Object.hasOwn(this.#data.services, uuid) ? this.#data.services[uuid] : undefined;
  }

  async userName(userId: number): Promise<string | undefined> {
    const key = String(userId);
    return Object.hasOwn(this.#data.users, key) ? this.#data.users[key] : undefined;
  }

  async relaySettings(): Promise<RelaySettings | undefined> {
    const r = this.#data.relay;
    return r?.enabled ? { address: r.address, port: r.port, authKey: r.authKey } : undefined;
  }

  async devices(userId: number): Promise<string[]> {
    return [...(this.#data.devices[String(userId)] ?? [])];
  }

  async deleteDevice(deviceToken: string): Promise<void> {
    let changed = false;
    for (const [user, tokens] of Object.entries(this.#data.devices)) {
      const kept = tokens.filter((t) => t !== deviceToken);
      if (kept.length !== tokens.length) {
        this.#data.devices[user] = kept;
        changed = true;
      }
    }
    if (changed && this.#path) await this.#persist(this.#path);
  }

  health(): { ok: true } | { ok: false; reason: string } {
    return { ok: true };
  }

  async close(): Promise<void> {
    await this.#writing;
  }

  /** Writes are serialised so two quick deletions never interleave. */
  #persist(path: string): Promise<void> {
    const next = this.#writing.then(async () => {
      const tmp = `${path}.${process.pid}.tmp`;
      const { stringify: stringifyYaml } = await import('yaml');
      await writeFile(tmp, stringifyYaml(this.#data), { mode: 0o600 });
      await rename(tmp, path);
    });
    this.#writing = next.catch(() => undefined);
    return next;
  }
}

/** Demo objects: uuids as openITCOCKPIT would name them. */
export const DEMO_HOSTS: Record<string, string> = {
  'c36b8048-93ce-4385-ac19-ab5c90574b77': 'demo-web-01',
  '7a1d9f43-2b1c-4a7e-9e2f-5d0c8b6a4e11': 'demo-db-01',
};
export const DEMO_SERVICES: Record<string, string> = {
  '74fd8f59-1348-4e16-85f0-4a5c57c7dd62': 'HTTP',
  'e5b9c3a8-6f2d-4b1e-8c7a-3d9f0e2b1a55': 'MySQL connections',
};
