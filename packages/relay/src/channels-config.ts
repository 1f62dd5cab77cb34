import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { NotificationsSchema, type ChannelConfig, type NotificationsConfig } from './channels-config-schema.js';
import type { Channel } from './channels/channel.js';
import { EmailChannel } from './channels/email.js';
import { MattermostChannel } from './channels/mattermost.js';
import { PushoverChannel } from './channels/pushover.js';
import { SignalChannel } from './channels/signal.js';
import { WebhookChannel } from './channels/webhook.js';
import { RelayError } from './errors.js';

/**
 * The `notifications` section at run time: validation (for callers that
 * hold the raw section) and building the channels. The schemas themselves
 * live in channels-config-schema.ts, free of channel code, so the gateway's
 * config schema can include them without loading undici or nodemailer.
 */
export * from './channels-config-schema.js';

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
