import { readFileSync } from 'node:fs';
import { z } from 'zod';
import type { Channel } from './channels/channel.js';
import { EmailChannel } from './channels/email.js';
import { MattermostChannel } from './channels/mattermost.js';
import { PushoverChannel } from './channels/pushover.js';
import { SignalChannel } from './channels/signal.js';
import { WebhookChannel } from './channels/webhook.js';
import { RelayError } from './errors.js';

/**
 * The `notifications` configuration section: named channels with
 * type-specific strict schemas, routing lists, and the outbox. Validated
 * once by {@link parseNotificationsConfig}, then frozen. Keys are camelCase
 * like the rest of the gateway config (`defaultChannels` is the seed's
 * `default_channels`).
 */

const int = () => z.int({ error: 'expected integer' });
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
  /** Budget per attempt. Default 10000 (signal 30000). */
  timeoutMs: ms.optional(),
  /** No retry sooner than this. Default 0 (pushover 5000). */
  minRetryDelayMs: int().min(0).optional(),
};

export const PushoverChannelSchema = z.strictObject({
  type: z.literal('pushover'),
  token: pushoverKey,
  user: pushoverKey,
  priority: int().min(-2).max(2).default(0),
  /** Seconds between re-alerts at priority 2 (Pushover: >= 30). */
  retrySec: int().min(30).default(60),
  /** Seconds of re-alerting at priority 2 (Pushover: <= 10800). */
  expireSec: int().min(30).max(10_800).default(3600),
  sound: z.string().min(1).optional(),
  /** Only tests change it. */
  apiUrl: httpUrl.optional(),
  ...common,
});

export const MattermostChannelSchema = z.strictObject({
  type: z.literal('mattermost'),
  /** Incoming webhook URL, `https://<host>/hooks/<token>`. */
  url: httpUrl.refine((u) => /\/hooks\/[A-Za-z0-9]+\/?$/.test(u), 'expected an incoming webhook URL ending in /hooks/<token>'),
  channel: z.string().min(1).optional(),
  username: z.string().min(1).optional(),
  iconUrl: httpUrl.optional(),
  /** PEM file of extra CAs (a self-hosted server with a private CA). */
  caFile: z.string().min(1).optional(),
  ...common,
});

export const SignalChannelSchema = z.strictObject({
  type: z.literal('signal'),
  account: e164,
  recipients: z.array(e164).min(1),
  /** signal-cli executable. Default `signal-cli` from PATH. */
  cliPath: z.string().min(1).optional(),
  /** Base URL of `signal-cli daemon --http`; when set, JSON-RPC is used. */
  rpcUrl: httpUrl.optional(),
  /** Wait after signal-cli reports rate limiting. */
  rateLimitDelayMs: ms.default(60_000),
  ...common,
});

export const EmailChannelSchema = z.strictObject({
  type: z.literal('email'),
  host: z.string().min(1),
  port: int().min(1).max(65535).default(587),
  /** Default `implicit` on port 465, `starttls` otherwise. */
  tls: z.enum(['starttls', 'implicit', 'none']).optional(),
  /** PEM file of CAs trusted instead of Node's roots. */
  caFile: z.string().min(1).optional(),
  username: z.string().min(1).optional(),
  password: z.string().min(1).optional(),
  from: z.string().min(3, 'an email channel needs a sender'),
  to: z.array(z.email()).min(1),
  ...common,
}).refine((c) => (c.username === undefined) === (c.password === undefined), { message: 'username and password go together', path: ['password'] });

export const WebhookChannelSchema = z.strictObject({
  type: z.literal('webhook'),
  url: httpUrl,
  headers: z.record(z.string().regex(/^[A-Za-z0-9-]+$/, 'expected a header name'), z.string()).default({}),
  /** PEM file of extra CAs (a receiver with a private CA). */
  caFile: z.string().min(1).optional(),
  ...common,
});

export const ChannelSchema = z.discriminatedUnion('type', [
  PushoverChannelSchema,
  MattermostChannelSchema,
  SignalChannelSchema,
  EmailChannelSchema,
  WebhookChannelSchema,
]);

const channelList = z.array(channelName);

export const OutboxSchema = z.strictObject({
  /** Journal directory; default `<state.dir>/outbox` (relative to the config file's directory when relative). */
  dir: z.string().min(1).optional(),
  maxPending: int().min(1).default(10_000),
  maxJournalBytes: int().min(4096).default(64 * 1024 * 1024),
  compactAtBytes: int().min(4096).default(4 * 1024 * 1024),
  maxAttempts: int().min(1).default(8),
  retryBaseMs: ms.default(1000),
  maxRetryDelayMs: ms.default(300_000),
  ttlMs: ms.default(86_400_000),
});

export const NotificationsSchema = z
  .strictObject({
    channels: z.record(channelName, ChannelSchema).default({}),
    /** Channels for notifications whose host and user have no list of their own. */
    defaultChannels: channelList.default([]),
    /** By host name: its channels, and `watch: false` to send no heartbeat events. */
    hosts: z.record(z.string().min(1), z.strictObject({ channels: channelList.optional(), watch: z.boolean().default(true) })).default({}),
    /** By user name: their channels. */
    users: z.record(z.string().min(1), z.strictObject({ channels: channelList.optional() })).default({}),
    outbox: OutboxSchema.prefault({}),
  })
  .superRefine((cfg, ctx) => {
    const known = (list: readonly string[] | undefined, path: (string | number)[]) => {
      list?.forEach((name, i) => {
        if (!(name in cfg.channels)) ctx.addIssue({ code: 'custom', message: `no channel named "${name}"`, path: [...path, i] });
      });
    };
    known(cfg.defaultChannels, ['defaultChannels']);
    for (const [host, h] of Object.entries(cfg.hosts)) known(h.channels, ['hosts', host, 'channels']);
    for (const [user, u] of Object.entries(cfg.users)) known(u.channels, ['users', user, 'channels']);
  });

export type NotificationsConfig = z.output<typeof NotificationsSchema>;
export type ChannelConfig = z.output<typeof ChannelSchema>;

/**
 * Validates the `notifications` section; the result is frozen.
 *
 * @throws RelayError `RELAY_ERR_CHANNEL_CONFIG` whose message names every
 * bad key path (`✖ expected 30 letters and digits → at channels.po.token`).
 */
export function parseNotificationsConfig(input: unknown, source = 'notifications'): NotificationsConfig {
  const result = NotificationsSchema.safeParse(input ?? {});
  if (!result.success) {
    throw new RelayError('RELAY_ERR_CHANNEL_CONFIG', `invalid notification channels in ${source}:\n${z.prettifyError(result.error)}`);
  }
  return deepFreeze(result.data);
}

/**
 * Builds the channel named `name` from its validated config. Reads an email
 * channel's `caFile` once.
 *
 * @throws RelayError `RELAY_ERR_CHANNEL_CONFIG` when `caFile` cannot be read.
 */
export function createChannel(name: string, cfg: ChannelConfig): Channel {
  const common = {
    name,
    ...(cfg.concurrency !== undefined ? { concurrency: cfg.concurrency } : {}),
    ...(cfg.timeoutMs !== undefined ? { timeoutMs: cfg.timeoutMs } : {}),
    ...(cfg.minRetryDelayMs !== undefined ? { minRetryDelayMs: cfg.minRetryDelayMs } : {}),
  };
  switch (cfg.type) {
    case 'pushover':
      return new PushoverChannel({
        ...common,
        token: cfg.token,
        user: cfg.user,
        priority: cfg.priority,
        retrySec: cfg.retrySec,
        expireSec: cfg.expireSec,
        ...(cfg.sound !== undefined ? { sound: cfg.sound } : {}),
        ...(cfg.apiUrl !== undefined ? { apiUrl: cfg.apiUrl } : {}),
      });
    case 'mattermost':
      return new MattermostChannel({
        ...common,
        ...withCa(name, cfg.caFile),
        url: cfg.url,
        ...(cfg.channel !== undefined ? { channel: cfg.channel } : {}),
        ...(cfg.username !== undefined ? { username: cfg.username } : {}),
        ...(cfg.iconUrl !== undefined ? { iconUrl: cfg.iconUrl } : {}),
      });
    case 'signal':
      return new SignalChannel({
        ...common,
        account: cfg.account,
        recipients: [...cfg.recipients],
        rateLimitDelayMs: cfg.rateLimitDelayMs,
        ...(cfg.cliPath !== undefined ? { cliPath: cfg.cliPath } : {}),
        ...(cfg.rpcUrl !== undefined ? { rpcUrl: cfg.rpcUrl } : {}),
      });
    case 'email': {
      const ca = readCa(name, cfg.caFile);
      return new EmailChannel({
        ...common,
        host: cfg.host,
        port: cfg.port,
        from: cfg.from,
        to: [...cfg.to],
        ...(cfg.tls !== undefined ? { tls: cfg.tls } : {}),
        ...(ca !== undefined ? { ca } : {}),
        ...(cfg.username !== undefined && cfg.password !== undefined ? { auth: { user: cfg.username, pass: cfg.password } } : {}),
      });
    }
    case 'webhook':
      return new WebhookChannel({ ...common, ...withCa(name, cfg.caFile), url: cfg.url, headers: { ...cfg.headers } });
  }
}

/** Every configured channel, built. Close each when done. */
export function createChannels(cfg: NotificationsConfig): Map<string, Channel> {
  return new Map(Object.entries(cfg.channels).map(([name, c]) => [name, createChannel(name, c)]));
}

function readCa(name: string, caFile: string | undefined): string | undefined {
  if (caFile === undefined) return undefined;
  let pem: string;
  try {
    pem = readFileSync(caFile, 'utf8');
  } catch (cause) {
    throw new RelayError('RELAY_ERR_CHANNEL_CONFIG', `channels.${name}.caFile: cannot read ${caFile}`, { cause });
  }
  if (!pem.includes('-----BEGIN CERTIFICATE-----')) {
    throw new RelayError('RELAY_ERR_CHANNEL_CONFIG', `channels.${name}.caFile: ${caFile} holds no PEM certificate`);
  }
  return pem;
}

function withCa(name: string, caFile: string | undefined): { ca?: string } {
  const ca = readCa(name, caFile);
  return ca === undefined ? {} : { ca };
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object') {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}
