import { z } from 'zod';

/**
 * The `notifications` configuration section as zod schemas: named channels
 * with type-specific strict schemas, routing lists, and the outbox. Keys
 * are camelCase like the rest of the gateway config (`defaultChannels` is
 * the seed's `default_channels`).
 *
 * Side-effect free and importing nothing but zod (no channel code, so no
 * undici or nodemailer): the gateway's config schema includes
 * {@link NotificationsSchema} through the `@pushgate/relay/config` subpath,
 * so a bad channel is reported like any other key while the relay itself
 * is still loaded only when needed. The TSDoc on each key is the source of
 * the `notifications` part of docs/configuration.md
 * (scripts/gen-config-docs.mjs).
 */

/** `expected integer` for the type error only, so a range error keeps zod's text (`Too small: …`). */
const int = () => z.int({ error: (issue) => (issue.code === 'invalid_type' ? 'expected integer' : undefined) });
const ms = int().positive();
const httpUrl = z.url({ protocol: /^https?$/, error: 'expected an http(s) URL' });
/** Pushover tokens and user/group keys are 30 characters of [A-Za-z0-9]. */
const pushoverKey = z.string().regex(/^[A-Za-z0-9]{30}$/, 'expected 30 letters and digits');
const e164 = z.string().regex(/^\+[1-9]\d{6,14}$/, 'expected an E.164 number like +4915112345678');
const channelName = z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/, 'expected 1-64 letters, digits, _ . -');

/** Keys every channel type accepts. */
const common = {
  /** Attempts in flight for this channel. Default per type (pushover 2, signal 1, email 2, others 4). */
  concurrency: int().min(1).max(64).optional(),
  /** Budget per attempt, in ms. Default 10000 (signal 30000). */
  timeoutMs: ms.optional(),
  /** No retry sooner than this, in ms. Default 0 (pushover 5000). */
  minRetryDelayMs: int().min(0).optional(),
};

/** Pushover (api.pushover.net/1/messages.json). */
export const PushoverChannelSchema = z.strictObject({
  /** Pushover: messages through the Pushover API. */
  type: z.literal('pushover'),
  /** Application API token, 30 letters and digits. */
  token: pushoverKey,
  /** User or group key, 30 letters and digits. */
  user: pushoverKey,
  /** Pushover priority, -2 (lowest) to 2 (emergency: re-alerts until acknowledged). */
  priority: int().min(-2).max(2).default(0),
  /** Seconds between re-alerts at priority 2 (Pushover: >= 30). */
  retrySec: int().min(30).default(60),
  /** Seconds of re-alerting at priority 2 (Pushover: <= 10800). */
  expireSec: int().min(30).max(10_800).default(3600),
  /** Pushover sound name; the user's default when unset. */
  sound: z.string().min(1).optional(),
  /** Base URL of the Pushover API; only tests change it. */
  apiUrl: httpUrl.optional(),
  ...common,
});

/** Mattermost incoming webhook. */
export const MattermostChannelSchema = z.strictObject({
  /** Mattermost: posts to an incoming webhook. */
  type: z.literal('mattermost'),
  /** Incoming webhook URL, `https://<host>/hooks/<token>`. */
  url: httpUrl.refine((u) => /\/hooks\/[A-Za-z0-9]+\/?$/.test(u), 'expected an incoming webhook URL ending in /hooks/<token>'),
  /** Channel to post in instead of the webhook's own, if the webhook allows overrides. */
  channel: z.string().min(1).optional(),
  /** Display name of the post, if the webhook allows overrides. */
  username: z.string().min(1).optional(),
  /** Avatar URL of the post, if the webhook allows overrides. */
  iconUrl: httpUrl.optional(),
  /** PEM file of extra CAs (a self-hosted server with a private CA). */
  caFile: z.string().min(1).optional(),
  ...common,
});

/** Signal through signal-cli. */
export const SignalChannelSchema = z.strictObject({
  /** Signal: messages sent with signal-cli. */
  type: z.literal('signal'),
  /** The registered signal-cli account, E.164 (quote it in YAML: `"+49…"`). */
  account: e164,
  /** Numbers to send to, E.164; at least one. */
  recipients: z.array(e164).min(1),
  /** signal-cli executable. Default `signal-cli` from PATH. */
  cliPath: z.string().min(1).optional(),
  /** Base URL of `signal-cli daemon --http`; when set, JSON-RPC is used. */
  rpcUrl: httpUrl.optional(),
  /** Wait after signal-cli reports rate limiting (exit code 5), in ms. */
  rateLimitDelayMs: ms.default(60_000),
  ...common,
});

/** Email over SMTP. */
export const EmailChannelSchema = z.strictObject({
  /** Email: one mail per notification over SMTP. */
  type: z.literal('email'),
  /** SMTP server. */
  host: z.string().min(1),
  /** SMTP port: 587 (STARTTLS) or 465 (implicit TLS). */
  port: int().min(1).max(65535).default(587),
  /** Default `implicit` on port 465, `starttls` otherwise; `none` only for a local relay. */
  tls: z.enum(['starttls', 'implicit', 'none']).optional(),
  /** PEM file of CAs trusted instead of Node's roots. */
  caFile: z.string().min(1).optional(),
  /** SMTP user; goes with `password`. */
  username: z.string().min(1).optional(),
  /** SMTP password; goes with `username`. Never logged. */
  password: z.string().min(1).optional(),
  /** Sender address, e.g. `"Monitoring" <monitoring@example.com>`. */
  from: z.string().min(3, 'an email channel needs a sender'),
  /** Recipient addresses; one mail to all of them, at least one. */
  to: z.array(z.email()).min(1),
  ...common,
}).refine((c) => (c.username === undefined) === (c.password === undefined), { message: 'username and password go together', path: ['password'] });

/** A generic JSON webhook. */
export const WebhookChannelSchema = z.strictObject({
  /** Webhook: a JSON POST with an `Idempotency-Key` header. */
  type: z.literal('webhook'),
  /** The receiver's URL. */
  url: httpUrl,
  /** Extra request headers (for example credentials); never logged. */
  headers: z.record(z.string().regex(/^[A-Za-z0-9-]+$/, 'expected a header name'), z.string()).default({}),
  /** PEM file of extra CAs (a receiver with a private CA). */
  caFile: z.string().min(1).optional(),
  ...common,
});

/** One named channel; its keys depend on `type`. */
export const ChannelSchema = z.discriminatedUnion('type', [
  PushoverChannelSchema,
  MattermostChannelSchema,
  SignalChannelSchema,
  EmailChannelSchema,
  WebhookChannelSchema,
]);

const channelList = z.array(channelName);

/** Name of the built-in mobile push channel of the outbox: reserved, not configurable, not routable. */
export const MOBILE_PUSH_CHANNEL = 'mobile-push';

/** Name of the gateway's Web Push channel of the outbox (docs/web-push.md): reserved likewise. */
export const WEB_PUSH_CHANNEL = 'web-push';

/** The durable outbox every channel delivers through (docs/channels.md, "The outbox"). */
export const OutboxSchema = z.strictObject({
  /** Journal directory; default `<state.dir>/outbox` (relative to the config file's directory when relative). */
  dir: z.string().min(1).optional(),
  /** Deliveries accepted and not finished; one more is refused (`/message` answers 503). */
  maxPending: int().min(1).default(10_000),
  /** Bytes the pending deliveries may occupy in the journal; more is refused. */
  maxJournalBytes: int().min(4096).default(64 * 1024 * 1024),
  /** The journal is rewritten with only pending deliveries past this size (when at least half of it is finished). */
  compactAtBytes: int().min(4096).default(4 * 1024 * 1024),
  /** Attempts per delivery, the first included; then it is dead-lettered. */
  maxAttempts: int().min(1).default(8),
  /** Backoff base: after attempt n wait retryBaseMs·2^(n-1), jittered to 50–100 %. */
  retryBaseMs: ms.default(1000),
  /** Ceiling of one backoff or `Retry-After` wait. */
  maxRetryDelayMs: ms.default(300_000),
  /** Lifetime of a delivery; an older one is dead-lettered. */
  ttlMs: ms.default(86_400_000),
});

/**
 * Named notification channels, routing and the outbox (docs/channels.md).
 * Absent, or without channels: no outbox is opened.
 */
export const NotificationsSchema = z
  .strictObject({
    /** The channels, by name (1-64 letters, digits, `_ . -`). */
    channels: z.record(channelName, ChannelSchema).default({}),
    /** Channels for notifications whose host and user have no list of their own. */
    defaultChannels: channelList.default([]),
    /** By host name: its channels, and `watch: false` to send no heartbeat events. */
    hosts: z.record(z.string().min(1), z.strictObject({
      /** The host's channels (with the user's list, instead of `defaultChannels`); `[]` silences the defaults. */
      channels: channelList.optional(),
      /** Whether the host sends heartbeat events. */
      watch: z.boolean().default(true),
    })).default({}),
    /** By user (the openITCOCKPIT userId as a string): their channels. */
    users: z.record(z.string().min(1), z.strictObject({
      /** The user's channels (with the host's list, instead of `defaultChannels`); `[]` silences the defaults. */
      channels: channelList.optional(),
    })).default({}),
    outbox: OutboxSchema.prefault({}),
  })
  .superRefine((cfg, ctx) => {
    const known = (list: readonly string[] | undefined, path: (string | number)[]) => {
      list?.forEach((name, i) => {
        if (!(name in cfg.channels)) ctx.addIssue({ code: 'custom', message: `no channel named "${name}"`, path: [...path, i] });
      });
    };
    if (MOBILE_PUSH_CHANNEL in cfg.channels) {
      ctx.addIssue({ code: 'custom', message: 'the name is reserved for mobile push (relay section)', path: ['channels', MOBILE_PUSH_CHANNEL] });
    }
    if (WEB_PUSH_CHANNEL in cfg.channels) {
      ctx.addIssue({ code: 'custom', message: 'the name is reserved for Web Push (webPush section)', path: ['channels', WEB_PUSH_CHANNEL] });
    }
    known(cfg.defaultChannels, ['defaultChannels']);
    for (const [host, h] of Object.entries(cfg.hosts)) known(h.channels, ['hosts', host, 'channels']);
    for (const [user, u] of Object.entries(cfg.users)) known(u.channels, ['users', user, 'channels']);
  });

/** The validated `notifications` section. */
export type NotificationsConfig = z.output<typeof NotificationsSchema>;
/** One validated channel. */
export type ChannelConfig = z.output<typeof ChannelSchema>;
