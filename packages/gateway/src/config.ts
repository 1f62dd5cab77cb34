import { readFile } from 'node:fs/promises';
import { NotificationsSchema } from '@pushgate/relay/config';
import { z } from 'zod';
import { EngineSchema } from './engines/config.js';
import { GatewayError } from './errors.js';

/**
 * The gateway configuration: YAML validated once by these strict schemas (an
 * unknown key is an error, so a typo never silently disables a feature),
 * then frozen and trusted. docs/configuration.md is generated from here.
 */

/**
 * Integers say so in errors (`expected integer, got "80a"`), not zod's
 * `number`; only for the type error, so a range error keeps zod's text
 * (`Too small: expected number to be >=0`).
 */
const int = () => z.int({ error: (issue) => (issue.code === 'invalid_type' ? INTEGER : undefined) });
const INTEGER = 'expected integer';
const port = int().min(0).max(65535);
const ms = int().positive();

export const ListenSchema = z.strictObject({
  /** Bind address; 0.0.0.0 when IS_CONTAINER=1 and no host is configured. */
  host: z.string().min(1).optional(),
  port: port.default(8083),
});

export const FileDirectorySchema = z.strictObject({
  type: z.literal('file'),
  /** Path of the YAML directory file; relative to the config file. */
  path: z.string().min(1),
});

export const DemoDirectorySchema = z.strictObject({
  /** The embedded demo directory: one generated API key, demo hosts and services. */
  type: z.literal('demo'),
});

export const OpenItcockpitDirectorySchema = z.strictObject({
  type: z.literal('openitcockpit'),
  /** my.cnf-style file with a [client] section; env OITC_MYSQL_CNF overrides. */
  mysqlCnf: z.string().min(1).default('/opt/openitc/etc/mysql/mysql.cnf'),
  /** Per-query timeout. */
  queryTimeoutMs: ms.default(5000),
  /** Connection pool size. */
  poolSize: int().min(1).max(100).default(5),
  /** How long host and service names stay cached. */
  nameCacheTtlMs: ms.default(30_000),
  /** Most cached host and service names. */
  nameCacheSize: int().min(1).default(10_000),
  /** How often the API key is re-read from systemsettings. */
  apiKeyRefreshMs: ms.default(60_000),
  /** Least time between two re-reads triggered by an unknown key. */
  apiKeyMissRefreshMs: ms.default(5_000),
  /** First wait before reconnecting after the database failed; doubles per failure. */
  reconnectMinMs: ms.default(500),
  /** Longest wait between reconnect attempts. */
  reconnectMaxMs: ms.default(30_000),
  /** Most queries waiting or running at once; more are refused at once (no pile-up). */
  maxPendingQueries: int().min(1).default(200),
});

export const DirectorySchema = z.discriminatedUnion('type', [
  DemoDirectorySchema,
  FileDirectorySchema,
  OpenItcockpitDirectorySchema,
]);

export const WebSocketSchema = z.strictObject({
  /** Server ping interval (openITCOCKPIT: 54 s). */
  pingIntervalMs: ms.default(54_000),
  /** A connection silent for this long is dropped (openITCOCKPIT: 60 s). */
  pongTimeoutMs: ms.default(60_000),
  /** A write not flushed within this time drops the connection. */
  writeTimeoutMs: ms.default(10_000),
  /** Largest accepted client frame (openITCOCKPIT: 8192 bytes). */
  maxPayloadBytes: int().min(64).default(8192),
  /** Per-connection send buffer; a client that stays above it is closed. */
  maxBufferedBytes: int().min(1024).default(1024 * 1024),
  /** ExportStatus broadcast interval while clients are connected. */
  exportStatusIntervalMs: ms.default(3000),
  /**
   * `?since=<id>` resume window (pipeline/replay.ts, refilled from the journal at start): most notifications kept per
   * user (0 = none), their longest age, and the bytes kept for all users together. A slow reader closed at
   * `maxBufferedBytes` gets back what the close discarded when the window holds it.
   */
  replay: z.strictObject({ maxEvents: int().min(0).default(10_000), maxAgeMs: ms.default(300_000), maxBytes: int().min(1024).default(64 * 1024 * 1024) }).prefault({}),
  /**
   * The legacy openITCOCKPIT frontend (its default branch, PHP server): a plain WebSocket that
   * registers in a message (docs/protocol/openitcockpit-legacy.md).
   */
  legacy: z.strictObject({
    /** Serve it: an upgrade without `Sec-WebSocket-Protocol` is a legacy socket (false: refused 401). */
    enabled: z.boolean().default(true),
    /** A legacy socket without a valid `register` within this time is closed with 4002. */
    registerTimeoutMs: ms.default(10_000),
    /** Most legacy sockets waiting for their `register` at once; one more is refused with 429. */
    maxUnregistered: int().min(1).default(1000),
  }).prefault({}),
}).refine((w) => w.pingIntervalMs < w.pongTimeoutMs, {
  // A ping only proves liveness if its pong can arrive before the deadline.
  message: 'must be below websocket.pongTimeoutMs, or healthy clients are dropped between pings',
  path: ['pingIntervalMs'],
});

export const MessageSchema = z.strictObject({
  /** Accept `/message` without a key from loopback (migration aid; off by default). */
  allowUnauthenticatedLoopback: z.boolean().default(false),
  /** Notifications older than this are dropped with 202 (openITCOCKPIT: 300 s). */
  maxAgeSeconds: int().positive().default(300),
  /** Largest accepted `/message` body; larger gets 413. */
  maxBodyBytes: int().min(1024).default(64 * 1024),
});

export const RelaySchema = z.strictObject({
  /** PEM file of CAs trusted for the push gateway, in addition to Node's. */
  caFile: z.string().min(1).optional(),
  /** Per-request timeout for the push gateway. */
  timeoutMs: ms.default(10_000),
});

/** URL schemes of `icinga.database.url` and the database type each means. */
const ICINGA_URL = /^(mysql|mariadb|pgsql|postgres|postgresql):\/\//;
const PGSQL_URL = /^(pgsql|postgres|postgresql):/;

/**
 * Icinga Notifications database connection (Icinga Web's `notifications`
 * resource): `url`, or the keys `type`, `host`, `port`, `user`, `password`,
 * `database`, `socket`.
 */
export const IcingaDatabaseSchema = z.strictObject({
  /** `mysql` (MySQL, MariaDB) or `pgsql` (PostgreSQL), as Icinga Web's resource names it; default `mysql`, or the scheme of `url`. */
  type: z.enum(['mysql', 'pgsql']).optional(),
  /**
   * The whole connection as a URL instead of the other keys:
   * `mysql://user:password@host:port/database` (also `mariadb://`) or
   * `pgsql://…` (also `postgres://`, `postgresql://`); `?socket=<path>` for a
   * Unix socket. Percent-encode special characters. The password is never logged.
   */
  url: z.string().regex(ICINGA_URL, { error: 'expected a mysql://, mariadb://, pgsql://, postgres:// or postgresql:// URL' }).optional(),
  /** Database host; default `localhost`. */
  host: z.string().min(1).optional(),
  /** Database port; default 3306 for `mysql`, 5432 for `pgsql`. */
  port: port.optional(),
  /** Database user; required unless `url` names it. */
  user: z.string().min(1).optional(),
  /** Default empty. Never logged. */
  password: z.string().optional(),
  /** Database name; default `notifications`. */
  database: z.string().min(1).optional(),
  /** Unix socket (MySQL: the socket file; PostgreSQL: its directory); used instead of host/port when set. */
  socket: z.string().min(1).optional(),
}).superRefine((d, ctx) => {
  if (d.url === undefined) {
    if (d.user === undefined) ctx.addIssue({ code: 'custom', path: ['user'], message: 'required (or give icinga.database.url)' });
    return;
  }
  const extra = (['host', 'port', 'user', 'database', 'socket'] as const).filter((k) => d[k] !== undefined);
  if (extra.length > 0) {
    ctx.addIssue({ code: 'custom', path: ['url'], message: `give either url or ${extra.join('/')}, not both` });
  }
  let u: URL | undefined;
  try {
    u = new URL(d.url);
  } catch {
    ctx.addIssue({ code: 'custom', path: ['url'], message: 'not a valid URL' });
    return;
  }
  const urlType = PGSQL_URL.test(d.url) ? 'pgsql' : 'mysql';
  if (d.type !== undefined && d.type !== urlType) {
    ctx.addIssue({ code: 'custom', path: ['type'], message: `${d.type} contradicts the url's scheme ${u.protocol}` });
  }
  if (u.username === '') ctx.addIssue({ code: 'custom', path: ['url'], message: 'names no user (scheme://user@host/database)' });
  if (u.password !== '' && d.password !== undefined) {
    ctx.addIssue({ code: 'custom', path: ['password'], message: 'the url has a password already' });
  }
});

/**
 * pushgate as an Icinga Notifications channel (docs/icinga.md "pushgate as an
 * Icinga Notifications channel"): the intake `POST /icinga/notifications` the
 * channel plugin posts to; off by default.
 */
export const IcingaChannelSchema = z.strictObject({
  enabled: z.boolean().default(false),
  /**
   * Intake tokens, >= 16 printable characters each, any of them accepted
   * (rotation); the plugin sends one as `Authorization: Bearer`. Never logged.
   */
  tokens: z.array(z.string().regex(/^[\x21-\x7e]{16,}$/, { error: 'an intake token needs at least 16 printable characters and no spaces' })).default([]),
  /** Largest accepted notification body; larger gets 413. */
  maxBodyBytes: int().min(1024).default(256 * 1024),
}).refine((c) => !c.enabled || c.tokens.length > 0, {
  message: 'icinga.channel.enabled needs at least one token in icinga.channel.tokens',
  path: ['tokens'],
});

/** Icinga Notifications Web desktop notifications over SSE (docs/icinga.md); off by default. */
export const IcingaSchema = z.strictObject({
  enabled: z.boolean().default(false),
  /** my.cnf-style file with a [client] section; alternative to `database`. */
  mysqlCnf: z.string().min(1).optional(),
  database: IcingaDatabaseSchema.optional(),
  /** A second listener for the SSE endpoint (Icinga's daemon: 127.0.0.1:5664); absent = served on `listen`. */
  listen: z.strictObject({ host: z.string().min(1).default('127.0.0.1'), port: port.default(5664) }).optional(),
  /** Poll interval of incident_history (Icinga: 3 s). */
  pollIntervalMs: ms.default(3000),
  /** Per-query timeout. */
  queryTimeoutMs: ms.default(5000),
  /** First keep-alive comment after authentication (Icinga: 1 s). */
  keepAliveFirstMs: ms.default(1000),
  /** Later keep-alive comments (Icinga: 30 s). */
  keepAliveMs: ms.default(30_000),
  /** `retry:` field of each event (Icinga: 3000). */
  retryMs: ms.default(3000),
  /** Concurrent streams per (contact, browser); one more gets 204. */
  maxStreamsPerBrowser: int().min(1).default(2),
  /** A stream with more unsent bytes is closed (its standby takes over). */
  maxBufferedBytes: int().min(1024).default(1024 * 1024),
  /** Last-Event-ID replay window: most events kept in total, and their longest age. */
  replay: z.strictObject({ maxEvents: int().min(0).default(1000), maxAgeMs: ms.default(300_000) }).prefault({}),
  /** Pending rows behind a sent one are re-checked: at most this many, for at most this long. */
  pending: z.strictObject({ maxIds: int().min(1).default(10_000), maxAgeMs: ms.default(3_600_000) }).prefault({}),
  /** browser_session rows older than this are not trusted (Icinga purges them after 24 h). */
  sessionMaxAgeMs: ms.default(86_400_000),
  /** The intake of the pushgate channel plugin; works without `enabled` for contact addresses that are pushgate user ids. */
  channel: IcingaChannelSchema.prefault({}),
}).refine((c) => !c.enabled || c.mysqlCnf !== undefined || c.database !== undefined, {
  message: 'icinga.enabled needs icinga.database or icinga.mysqlCnf',
});

/** pushgate's own notifications over SSE at `GET /events` (sse/notifications.ts); off by default. */
export const EventsSchema = z.strictObject({
  enabled: z.boolean().default(false),
  /** First keep-alive comment after subscribing. */
  keepAliveFirstMs: ms.default(1000),
  /** Later keep-alive comments. */
  keepAliveMs: ms.default(30_000),
  /** `retry:` field of each event. */
  retryMs: ms.default(3000),
  /** Concurrent streams per (user, browserUuid); one more gets 204. */
  maxStreamsPerBrowser: int().min(1).default(2),
  /** A stream with more unsent bytes is closed (its standby takes over; the browser resumes with Last-Event-ID). */
  maxBufferedBytes: int().min(1024).default(1024 * 1024),
  /** Last-Event-ID replay window: most events kept in total, and their longest age. */
  replay: z.strictObject({ maxEvents: int().min(0).default(1000), maxAgeMs: ms.default(300_000) }).prefault({}),
});

/**
 * Who may connect (SECURITY.md). `mode`: `shared-key` accepts only the
 * directory's API key (openITCOCKPIT compatible); `token` only signed
 * per-user tokens (token.ts), which bind a connection to one userId;
 * `both` (default) accepts either, so openITCOCKPIT frontends keep working
 * while token-aware clients get per-user binding.
 */
export const AuthSchema = z.strictObject({
  mode: z.enum(['shared-key', 'token', 'both']).default('both'),
  /** HMAC secrets for tokens, >= 32 characters each; the first mints, all verify (rotation). Never logged. */
  secrets: z.array(z.string().min(32, { error: 'a token secret needs at least 32 characters' })).default([]),
  /**
   * Keys of the admin scope, >= 32 characters each: they read the trail
   * (`GET /trail`, `pushgate history`) as `Authorization: Bearer <key>`.
   * Empty (default): the trail endpoints refuse every request. Never logged.
   */
  adminKeys: z.array(z.string().regex(/^[\x21-\x7e]+$/, { error: 'admin keys are printable ASCII without spaces' }).min(32, { error: 'an admin key needs at least 32 characters' })).default([]),
  /** Origins allowed to open WebSockets and `/events` streams (`https://oitc.example.com`); empty = any (warned at startup). */
  allowedOrigins: z.array(z.string().min(1)).default([]),
  /**
   * Bind each browser to the user its openITCOCKPIT session belongs to
   * (auth/openitcockpit-session.ts, SECURITY.md): the upgrade's `Cookie` is
   * replayed to openITCOCKPIT, whose answer names the user.
   */
  openitcockpitSession: z.strictObject({
    /** Check the session on every WebSocket upgrade and `/events` request authenticated by the API key (tokens already bind a user). */
    enabled: z.boolean().default(false),
    /** openITCOCKPIT's web server as pushgate reaches it (`https://127.0.0.1`); asked `GET <baseUrl>/angular/push_configuration.json?angular=true`. Never the request's `Host`. */
    baseUrl: z.string().refine(isHttpBaseUrl, { error: 'expected an http(s) URL without query or fragment, e.g. https://127.0.0.1' }).optional(),
    /** PEM file of CAs trusted for that server (openITCOCKPIT's self-signed certificate), in addition to Node's. */
    caFile: z.string().min(1).optional(),
    /** Name the server's certificate is verified against (and sent as SNI) when `baseUrl` is an address, e.g. `oitc.example.com`. */
    serverName: z.string().min(1).optional(),
    /** Time for openITCOCKPIT's whole answer; slower counts as unreachable. */
    timeoutMs: ms.default(3000),
    /** How long a logged-in answer is reused for the same cookie. */
    cacheTtlMs: ms.default(30_000),
    /** How long a not-logged-in answer (401) is reused for the same cookie. */
    anonymousCacheTtlMs: ms.default(5000),
    /** Most cookies cached (by their SHA-256); the oldest entry goes first. */
    cacheSize: int().min(1).default(10_000),
    /** openITCOCKPIT unreachable, failing or answering nonsense: `refuse` the handshake (503), or fall back to the API key alone (`key-only`). Logged and counted either way. */
    onUnavailable: z.enum(['refuse', 'key-only']).default('refuse'),
    /** User ids that need no session: `pushgate check`'s synthetic user (`--user-id`, default 2147483000), for which openITCOCKPIT has none. Never list a real user. */
    exemptUserIds: z.array(int().positive()).default([2147483000]),
  }).prefault({}),
}).refine((a) => a.mode !== 'token' || a.secrets.length > 0, {
  message: 'auth.mode "token" needs at least one secret in auth.secrets',
  path: ['secrets'],
}).refine((a) => !a.openitcockpitSession.enabled || a.openitcockpitSession.baseUrl !== undefined, {
  message: 'auth.openitcockpitSession.enabled needs auth.openitcockpitSession.baseUrl (openITCOCKPIT\'s web server, e.g. https://127.0.0.1)',
  path: ['openitcockpitSession', 'baseUrl'],
}).refine((a) => !a.openitcockpitSession.enabled || a.allowedOrigins.length > 0, {
  // The cookie is the proof of identity: without an Origin check any page the user visits could use it.
  message: 'auth.openitcockpitSession.enabled needs auth.allowedOrigins (your openITCOCKPIT origin, e.g. https://oitc.example.com): '
    + 'with the session cookie as proof of identity, a foreign page could otherwise open sockets with it',
  path: ['allowedOrigins'],
});

/** An http(s) URL with a host and no query, fragment or credentials. */
function isHttpBaseUrl(s: string): boolean {
  try {
    const u = new URL(s);
    return (u.protocol === 'https:' || u.protocol === 'http:') && u.host !== '' && u.search === '' && u.hash === ''
      && u.username === '' && u.password === '';
  } catch {
    return false;
  }
}

/** Abuse limits (SECURITY.md "Limits"); every refusal is counted in the gateway's stats. */
export const LimitsSchema = z.strictObject({
  /** Open WebSockets per userId; one more is refused with 429. 0 = unlimited. */
  maxConnectionsPerUser: int().min(0).default(100),
  /** Open WebSockets per client IP; one more is refused with 429. 0 = unlimited. */
  maxConnectionsPerIp: int().min(0).default(1000),
  /** Failed (401/403) handshakes per IP within `failedHandshakeWindowMs` before further ones get 429. 0 = unlimited. */
  maxFailedHandshakesPerIp: int().min(0).default(30),
  /** Window of `maxFailedHandshakesPerIp` (default one minute). */
  failedHandshakeWindowMs: ms.default(60_000),
  /** Most IPs tracked for failed handshakes; the oldest entry is dropped beyond it (memory stays bounded). */
  maxTrackedIps: int().min(1).default(10_000),
  /**
   * Peer addresses the per-IP limits do not apply to: your reverse proxy, through which every browser
   * arrives. Default loopback, because the default listen address is loopback and only the local
   * reverse proxy (openITCOCKPIT's nginx) reaches it; limiting it would limit all users together.
   */
  exemptAddresses: z.array(z.string().min(1)).default(['127.0.0.1', '::1', '::ffff:127.0.0.1']),
  /** Largest request header block (node:http `maxHeaderSize`); larger gets 431. */
  maxHeaderBytes: int().min(1024).default(16 * 1024),
  /** Time to receive the complete request headers, handshakes included (node:http `headersTimeout`); then 408. */
  headersTimeoutMs: ms.default(10_000),
  /** Time to receive a complete request (node:http `requestTimeout`); then 408. */
  requestTimeoutMs: ms.default(30_000),
});

export const MetricsSchema = z.strictObject({
  /** Serve `GET /metrics` (Prometheus text format, docs/operations.md). */
  enabled: z.boolean().default(true),
  /** Serve /metrics only on this address instead of the main listener (e.g. a management interface). */
  listen: z.strictObject({ host: z.string().min(1).default('127.0.0.1'), port: port.default(9464) }).optional(),
});

export const LocalBusSchema = z.strictObject({
  /** The in-process bus: one gateway process, delivery is a direct call. */
  type: z.literal('local'),
});

export const RedisBusSchema = z.strictObject({
  /**
   * Redis pub/sub: several gateway processes or machines on one Redis behave
   * as one gateway (docs/scale-out.md); needed by `serve --workers N` with N > 1.
   */
  type: z.literal('redis'),
  /** Redis URL, `redis://[:password@]host:port[/db]` (`rediss://` for TLS). The password is never logged. */
  url: z.string().regex(/^rediss?:\/\//, { error: 'expected a redis:// or rediss:// URL' }),
  /** Prefix of every key and of the channel: gateways sharing a prefix form one cluster. */
  prefix: z.string().min(1).default('pushgate:'),
  /** A node that stops refreshing its liveness key for this long is treated as gone (its connections, browsers, leases). */
  nodeTtlMs: ms.min(1000).default(15_000),
  /** Connect timeout; also how long startup waits for Redis before serving local clients anyway. */
  connectTimeoutMs: ms.default(3000),
  /** Per-command timeout: a hung Redis delays nothing longer than this. */
  commandTimeoutMs: ms.default(1000),
  /** Longest wait between reconnect attempts (they start at 50 ms and double). */
  reconnectMaxMs: ms.default(2000),
});

export const BusSchema = z.discriminatedUnion('type', [LocalBusSchema, RedisBusSchema]);

/**
 * Where pushgate keeps what must survive a restart (the pipeline journal, the outbox); docs/operations.md "State".
 */
export const StateSchema = z.strictObject({
  /**
   * The state directory, created when missing. Default `$STATE_DIRECTORY` (set by systemd's `StateDirectory=`),
   * else `$XDG_STATE_HOME/pushgate` (`~/.local/state/pushgate`); the gateway logs the one it uses.
   */
  dir: z.string().min(1).optional(),
  /** The pipeline journal: every notification and delivery outcome (the resume windows after a restart, the trail). */
  journal: z.strictObject({
    /** Journal segments beyond this many bytes in total are deleted, oldest first. */
    maxBytes: int().min(1024 * 1024).default(256 * 1024 * 1024),
    /** Journal segments older than this are deleted. */
    maxAgeMs: ms.default(86_400_000),
    /** A journal segment is closed at this size and a new one begun. */
    segmentBytes: int().min(64 * 1024).default(8 * 1024 * 1024),
    /**
     * A notification is answered once its journal record is written (it survives `kill -9` of the process);
     * the fsync that makes it survive a power loss follows within this many ms, so a power loss can lose up to
     * this interval. 0: fsync before answering (slower at low rates, where each request pays a whole fsync).
     */
    syncIntervalMs: int().min(0).max(60_000).default(1000),
  }).prefault({}),
});

/**
 * Acknowledge from the notification (docs/acknowledge.md): notifications of
 * a problem carry a signed single-use action token, and `POST /acknowledge`
 * acknowledges the problem in the monitoring engine. Absent (default): no
 * token is minted and `/acknowledge` answers 404. Needs `auth.secrets` (the
 * tokens are signed with them).
 */
export const AcknowledgeSchema = z.strictObject({
  /** The monitoring engine acknowledgements are sent to. */
  engine: EngineSchema,
  /** Lifetime of an action token from the moment its notification is sent, seconds. */
  tokenTtlSeconds: int().min(60).max(30 * 86_400).default(86_400),
  /** Used token ids remembered (per process) until their tokens expire; when full, further tokens are refused. */
  maxUsedTokens: int().min(1).default(100_000),
  /** The acknowledgement's comment in the engine. */
  comment: z.string().min(1).max(512).default('Acknowledged from a pushgate notification'),
  /** Keep the acknowledgement until the object is OK/UP again (not only until its next state change). */
  sticky: z.boolean().default(true),
  /** Let the engine send ACKNOWLEDGEMENT notifications to the object's contacts (they replace the PROBLEM on screen). */
  notify: z.boolean().default(true),
  /** Keep the comment after the acknowledgement ends. */
  persistent: z.boolean().default(false),
});

/** The trail of each notification (docs/trail.md): events under `<state.dir>/trail/`, bounded by age and size. */
export const TrailSchema = z.strictObject({
  /** Record the trail. Off: nothing is written, receipts are not counted, `/trail` answers 404. */
  enabled: z.boolean().default(true),
  /** Trail segments older than this are deleted. */
  maxAgeMs: ms.default(7 * 86_400_000),
  /** Trail segments beyond this many bytes in total are deleted, oldest first. */
  maxBytes: int().min(1024 * 1024).default(64 * 1024 * 1024),
  /** A trail segment is closed at this size and a new one begun. */
  segmentBytes: int().min(64 * 1024).default(4 * 1024 * 1024),
  /** Recent notifications remembered in memory (receipts counted once per device, times to shown and to acknowledgement). */
  maxNotifications: int().min(100).default(50_000),
});

/** `mailto:` or `https:` with a host: what push services accept as a VAPID `sub` (RFC 8292 §2.1). */
function isVapidSubject(s: string): boolean {
  if (/^mailto:[^@\s]+@[^@\s]+\.[^@\s]+$/.test(s)) return true;
  try {
    const u = new URL(s);
    return u.protocol === 'https:' && u.hostname !== '' && u.hostname !== 'localhost';
  } catch {
    return false;
  }
}

/**
 * Web Push (docs/web-push.md): notifications that reach a browser with no
 * tab open, and the installable pushgate app. The VAPID key pair lives in
 * the state directory (Redis with the Redis bus); `pushgate vapid` shows it.
 */
export const WebPushSchema = z.strictObject({
  enabled: z.boolean().default(false),
  /** VAPID contact, `mailto:ops@example.com` or `https://example.com/contact`; required when enabled (some push services refuse others). */
  subject: z.string().refine(isVapidSubject, { error: 'expected a mailto: address or an https: URL (the VAPID subject push services contact)' }).optional(),
  /** `no-live-browser`: push only to users with no connected tab on any node; `always`: every notification. Test notifications are always pushed. */
  when: z.enum(['no-live-browser', 'always']).default('no-live-browser'),
  /** `TTL` of a push, seconds: how long the push service keeps it for an offline browser (counted from acceptance). */
  ttlSeconds: int().min(0).max(2_419_200).default(86_400),
  /** Push-service hosts allowed besides the big browsers' (UnifiedPush, a self-hosted distributor): exact names or addresses, or `*.example.com`. A listed host may be a private address. */
  allowHosts: z.array(z.string().min(1)).default([]),
  /** PEM file of CAs trusted for push services in addition to Node's (a self-hosted distributor); relative to the config file. */
  caFile: z.string().min(1).optional(),
  /** Most subscriptions per user or contact; one more replaces the least recently used. */
  maxSubscriptionsPerUser: int().min(1).max(1000).default(10),
  /** A subscription without a successful push for this long expires, ms (default 60 days). */
  expireAfterMs: ms.default(60 * 86_400_000),
  /** Where the app is served (manifest, service worker, page, subscription API), ending in `/`. */
  appPath: z.string().regex(/^\/([A-Za-z0-9._~-]+\/)*$/, { error: 'expected an absolute path ending in /, e.g. /app/' }).default('/app/'),
  /** The app's public URL as browsers reach it (behind the proxy), for `pushgate enroll` links, e.g. `https://oitc.example.com/pushgate/app/`. Default `http://<listen.host>:<listen.port><appPath>`. */
  publicUrl: z.string().url().optional(),
  /** Click URL templates; `{hostUuid}`, `{serviceUuid}`, `{objectKey}`, `{id}` are replaced. Without one, a click opens the app. */
  clickUrl: z.strictObject({
    /** For host notifications, e.g. `https://oitc.example.com/#!/hosts/browser/{hostUuid}`. */
    host: z.string().min(1).optional(),
    /** For service notifications, e.g. `https://oitc.example.com/#!/services/browser/{serviceUuid}`. */
    service: z.string().min(1).optional(),
  }).prefault({}),
  /** How long a `pushgate enroll` link stays valid, ms. */
  enrolTtlMs: ms.max(86_400_000).default(600_000),
  /** Request budget per push (connect, headers, body each), ms. */
  timeoutMs: ms.default(10_000),
  /** Pushes in flight at once. */
  concurrency: int().min(1).max(1000).default(32),
});

/** A duration: milliseconds as an integer, or a string `<n>ms|s|m|h` (`200ms`, `30s`, `1m`, `2h`). */
const duration = z.union([
  int().min(0),
  z.string().regex(/^\d+(ms|s|m|h)$/, 'expected a duration like 200ms, 30s, 5m or 1h (or milliseconds as an integer)'),
]).transform((v) => (typeof v === 'number' ? v : parseDuration(v)));

const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** `200ms` → 200, `5m` → 300000 (the string is already validated). */
function parseDuration(text: string): number {
  const [, n, unit] = /^(\d+)(ms|s|m|h)$/.exec(text)!;
  return Number(n) * DURATION_UNITS[unit!]!;
}

/** What a step's `unless` can name: a receipt of the notification that makes the step unnecessary. */
export const STEP_RECEIPTS = ['shown', 'clicked'] as const;

/** One step of an escalation ladder (docs/escalation.md). */
export const EscalationStepSchema = z.strictObject({
  /** Delay after the notification was accepted: `0`, `200ms`, `1m`, `15m`, `1h` (or ms as an integer). Steps run in the order of their `after`. */
  after: duration,
  /**
   * Where the step delivers: `browser` (the recipient's browser tabs and streams, as a reminder with a new
   * notification id), `web-push` (needs Web Push enabled), or the name of a `notifications.channels` entry.
   */
  targets: z.array(z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/, 'expected a target name: browser, web-push or a channel name')).min(1),
  /** The step does not run once the notification was `shown` or `clicked` (a receipt from pushgate's own clients). Default: only acknowledgement and recovery stop it. */
  unless: z.array(z.enum(STEP_RECEIPTS)).default([]),
});

/** A named escalation policy: its ladder of steps. */
export const EscalationPolicySchema = z.strictObject({
  /** Ordered steps; at least one. */
  steps: z.array(EscalationStepSchema).min(1).max(32),
});

const policyName = z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/, 'expected 1-64 letters, digits, _ . -');

/**
 * Escalation (docs/escalation.md): named policies whose steps deliver a PROBLEM again, later and elsewhere,
 * until it is acknowledged or recovers. Routed like `notifications`: the host's list plus the user's list,
 * else `defaultPolicies`.
 */
export const EscalationSchema = z.strictObject({
  /** Escalation policies by name. */
  policies: z.record(policyName, EscalationPolicySchema).default({}),
  /** Policies for notifications whose host and user have no list of their own. */
  defaultPolicies: z.array(policyName).default([]),
  /** Per host (the engine's host name): `policies`, replacing the defaults (an empty list silences them). */
  hosts: z.record(z.string().min(1), z.strictObject({
    /** Policies for this host's notifications. */
    policies: z.array(policyName),
  })).default({}),
  /** Per user (openITCOCKPIT user id as a string, `"7"`, or an Icinga contact's username): `policies`, added to the host's. */
  users: z.record(z.string().min(1), z.strictObject({
    /** Policies for this user's notifications. */
    policies: z.array(policyName),
  })).default({}),
  /**
   * Most ladders one node runs at once (memory: about 1 kB per pending step). A PROBLEM that would start more
   * is still delivered as usual, but starts no ladder: logged and counted (`pushgate_escalation_dropped_total`).
   */
  maxLadders: int().min(1).default(100_000),
  /** With the Redis bus: how long a node's ownership of its ladders lasts without renewal (renewed every third of it); another node takes over after it. */
  leaseMs: ms.min(1000).default(5000),
  /** The journal of pending steps (`<state.dir>/escalation/steps.jsonl`, one node) is rewritten with only the unfinished ladders once it exceeds this many bytes and twice what those take. */
  compactBytes: int().min(64 * 1024).default(4 * 1024 * 1024),
});

export type EscalationConfig = z.output<typeof EscalationSchema>;

export const LogSchema = z.strictObject({
  level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
});

export const ConfigSchema = z.strictObject({
  listen: ListenSchema.prefault({}),
  directory: DirectorySchema.default({ type: 'demo' }),
  websocket: WebSocketSchema.prefault({}),
  message: MessageSchema.prefault({}),
  relay: RelaySchema.prefault({}),
  icinga: IcingaSchema.prefault({}),
  events: EventsSchema.prefault({}),
  log: LogSchema.prefault({}),
  metrics: MetricsSchema.prefault({}),
  auth: AuthSchema.prefault({}),
  limits: LimitsSchema.prefault({}),
  state: StateSchema.prefault({}),
  /** Acknowledge from the notification through a monitoring engine (docs/acknowledge.md); absent: off. */
  acknowledge: AcknowledgeSchema.optional(),
  /** The trail of each notification (docs/trail.md). */
  trail: TrailSchema.prefault({}),
  /** How gateway processes share notifications and state (docs/scale-out.md); default one process. */
  bus: BusSchema.default({ type: 'local' }),
  // The relay's schema (docs: its TSDoc), from `@pushgate/relay/config`: schemas only, so parsing
  // the config does not load the relay itself, the slowest import (main.ts loads it lazily).
  /** Named notification channels, routing and the outbox (docs/channels.md); without channels no outbox is opened. */
  notifications: NotificationsSchema.optional(),
  webPush: WebPushSchema.prefault({}),
  /** Escalation policies: steps that deliver a PROBLEM again until it is acknowledged or recovers (docs/escalation.md). */
  escalation: EscalationSchema.prefault({}),
  /** Serve the demo page at /demo. */
  demo: z.strictObject({ enabled: z.boolean().default(false) }).prefault({}),
  /** Graceful shutdown budget before sockets are torn down. */
  shutdownTimeoutMs: ms.default(8000),
}).superRefine((c, ctx) => {
  // Names across sections: a step's channel must exist, a routed policy must exist (the key path says which).
  const channels = c.notifications?.channels ?? {};
  const { policies } = c.escalation;
  for (const [name, p] of Object.entries(policies)) {
    p.steps.forEach((step, i) => step.targets.forEach((target, j) => {
      const builtin = target === 'browser' || target === 'web-push';
      if (builtin && Object.hasOwn(channels, target)) {
        ctx.addIssue({
          code: 'custom', path: ['escalation', 'policies', name, 'steps', i, 'targets', j],
          message: `"${target}" is ambiguous: a channel of notifications.channels has that name; rename the channel`,
        });
        return;
      }
      if (builtin || Object.hasOwn(channels, target)) return;
      ctx.addIssue({
        code: 'custom', path: ['escalation', 'policies', name, 'steps', i, 'targets', j],
        message: `unknown target "${target}": expected browser, web-push or a channel of notifications.channels`,
      });
    }));
  }
  const routed: [readonly (string | number)[], readonly string[]][] = [
    [['escalation', 'defaultPolicies'], c.escalation.defaultPolicies],
    ...Object.entries(c.escalation.hosts).map(([h, v]): [(string | number)[], readonly string[]] => [['escalation', 'hosts', h, 'policies'], v.policies]),
    ...Object.entries(c.escalation.users).map(([u, v]): [(string | number)[], readonly string[]] => [['escalation', 'users', u, 'policies'], v.policies]),
  ];
  for (const [path, names] of routed) {
    names.forEach((name, i) => {
      if (!Object.hasOwn(policies, name)) ctx.addIssue({ code: 'custom', path: [...path, i], message: `unknown policy "${name}": not in escalation.policies` });
    });
  }
  if (c.acknowledge !== undefined && c.auth.secrets.length === 0) {
    ctx.addIssue({
      code: 'custom', path: ['acknowledge'],
      message: 'acknowledge needs at least one secret in auth.secrets: the action tokens of the Acknowledge buttons are signed with it',
    });
  }
  if (c.webPush.enabled && c.webPush.subject === undefined) {
    ctx.addIssue({
      code: 'custom', path: ['webPush', 'subject'],
      message: 'webPush.enabled needs webPush.subject (mailto:you@example.com or an https: URL): push services refuse pushes without a VAPID contact',
    });
  }
});

export type Config = z.output<typeof ConfigSchema>;
export type ConfigInput = z.input<typeof ConfigSchema>;

/** Recursively freeze a parsed config so nothing mutates it after validation. */
function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object') {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}

/**
 * Validate a config object. Throws `GW_ERR_CONFIG` whose message names each
 * bad key path and the reason, e.g. `listen.port: expected integer, got "80a"`.
 * @param source where the object came from, for the message (a file path).
 */
export function parseConfig(input: unknown, source = 'config'): Config {
  const result = ConfigSchema.safeParse(input ?? {});
  if (!result.success) {
    const lines = result.error.issues.map((issue) => {
      const path = issue.path.length ? issue.path.join('.') : '(root)';
      return `  ${path}: ${describeIssue(issue, input)}`;
    });
    throw new GatewayError('GW_ERR_CONFIG', `invalid configuration in ${source}:\n${lines.join('\n')}`);
  }
  return deepFreeze(result.data);
}

function valueAt(input: unknown, path: readonly PropertyKey[]): unknown {
  let v: unknown = input;
  for (const key of path) {
    if (v === null || typeof v !== 'object') return undefined;
    v = (v as Record<PropertyKey, unknown>)[key];
  }
  return v;
}

/** zod's message plus the offending value, which zod 4 leaves out. */
function describeIssue(issue: z.core.$ZodIssue, input: unknown): string {
  if (issue.code === 'invalid_type') {
    const got = valueAt(input, issue.path);
    if (got === undefined) return `required ${issue.expected}, missing`;
    const expected = issue.message === INTEGER || issue.expected === 'int' ? 'integer' : issue.expected;
    return `expected ${expected}, got ${JSON.stringify(got)}`;
  }
  if (issue.code === 'unrecognized_keys') return `unknown key(s) ${issue.keys.map((k) => `"${k}"`).join(', ')}`;
  return issue.message;
}

/** Read, parse and validate a YAML config file. */
export async function loadConfigFile(path: string): Promise<Config> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new GatewayError('GW_ERR_CONFIG', `cannot read config file ${path}: ${(err as Error).message}`, { cause: err });
  }
  // yaml is loaded only with a config file: the embedded default (no file) starts without it.
  const { parse: parseYaml, YAMLParseError } = await import('yaml');
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (err) {
    const where = err instanceof YAMLParseError && err.linePos ? ` line ${err.linePos[0].line}` : '';
    throw new GatewayError('GW_ERR_CONFIG', `config file ${path}${where} is not valid YAML: ${(err as Error).message}`, { cause: err });
  }
  return parseConfig(doc, path);
}
