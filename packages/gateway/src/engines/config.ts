import { z } from 'zod';

/**
 * The engine adapters' config schemas (docs/acknowledge.md), apart from the
 * adapters so the gateway's config can validate them without loading an
 * adapter (the Icinga 2 one loads undici).
 */

/** Config of the Naemon adapter (`type: naemon`). */
export const NaemonEngineSchema = z.strictObject({
  type: z.literal('naemon'),
  /** The engine's external command pipe (`command_file` of naemon.cfg); openITCOCKPIT's by default. */
  commandFile: z.string().min(1).default('/opt/openitc/nagios/var/rw/nagios.cmd'),
  /**
   * The engine's status file (`status_file` of naemon.cfg), read before each
   * acknowledgement so that an unknown object, one without a problem or one
   * already acknowledged is refused with the reason (the pipe itself answers
   * nothing). `null`: not read; every command the pipe takes is `done`.
   */
  statusFile: z.string().min(1).nullable().default('/opt/openitc/nagios/var/status.dat'),
  /**
   * When the status file says "refuse" but was written before the request,
   * wait this long for a newer one (the object may have just changed state;
   * openITCOCKPIT rewrites it every 10 s), ms. 0: decide on the file as it is.
   */
  statusWaitMs: z.int().min(0).default(15_000),
});

export type NaemonEngineConfig = z.output<typeof NaemonEngineSchema>;

/** Config of the Icinga 2 adapter (`type: icinga2`). */
export const Icinga2EngineSchema = z.strictObject({
  type: z.literal('icinga2'),
  /** Base URL of the Icinga 2 API, `https://<node>:5665`. */
  url: z.string().regex(/^https:\/\/[^/?#]+\/?$/, { error: 'expected https://<host>:<port> (the API is TLS only)' }),
  /** ApiUser name; it needs the permission `actions/acknowledge-problem`. */
  user: z.string().min(1),
  /** ApiUser password. Never logged. */
  password: z.string().min(1),
  /** PEM file of the CA that signed the node's certificate (on the node: /var/lib/icinga2/certs/ca.crt). Only this CA is trusted. */
  caFile: z.string().min(1),
  /** Name the certificate must carry when it is not the URL's host (Icinga certificates name the node: its CN). */
  serverName: z.string().min(1).optional(),
  /** Budget per request (connect, answer and body), ms. */
  timeoutMs: z.int().positive().default(10_000),
  /** Acknowledgements expire after this many seconds (Icinga's `expiry`); 0: never. */
  expirySeconds: z.int().min(0).default(0),
});

export type Icinga2EngineConfig = z.output<typeof Icinga2EngineSchema>;

/** One engine's config, told apart by `type` (`naemon` | `icinga2`). */
export const EngineSchema = z.discriminatedUnion('type', [NaemonEngineSchema, Icinga2EngineSchema]);

export type EngineConfig = z.output<typeof EngineSchema>;
