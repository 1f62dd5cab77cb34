import { readFileSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import type { Logger } from 'pino';
import {
  channelsFor, createChannels, dispatch, MOBILE_PUSH_CHANNEL, MobilePushChannel, mobilePushDelivery, Outbox, parseNotificationsConfig, RelayError,
  type Channel, type DeviceDirectory, type NotificationsConfig,
} from '@pushgate/relay';
import type { ChannelDispatcher } from '../context.js';

/**
 * The gateway's notification channels (docs/channels.md): the
 * `notifications` config section validated by `@pushgate/relay`, the
 * channels built from it, and the durable outbox they deliver through.
 * main.ts imports this module only when channels are configured (the relay
 * is the slowest import), tests import it directly.
 */

/** Channels, outbox and the dispatcher `/message` uses; close with {@link OpenChannels.close}. */
export interface OpenChannels {
  readonly config: NotificationsConfig;
  readonly channels: ReadonlyMap<string, Channel>;
  readonly outbox: Outbox;
  /** What the gateway context takes (`GatewayOptions.channels`). */
  readonly dispatcher: ChannelDispatcher;
  /**
   * For `/readyz`: not ok once closed, or while full (`maxPending`
   * deliveries pending or `maxJournalBytes` reached: new ones are refused).
   */
  health(): { ok: true } | { ok: false; reason: string };
  /** Closes the outbox (pending deliveries stay journaled), then the channels. Idempotent. */
  close(): Promise<void>;
}

/** Options of {@link openChannels}. */
export interface OpenChannelsOptions {
  logger: Logger;
  /** A relative `outbox.dir` is resolved against this (the config file's directory). Default the working directory. */
  baseDir?: string;
  /** Where the section came from, for error messages (`/etc/pushgate/config.yaml`). */
  source?: string;
  /** Extra wait before a journal write to batch fsyncs, ms (OutboxOptions.flushDelayMs). Default 0. */
  flushDelayMs?: number;
  /**
   * Mobile push through the outbox (one delivery per device, channel
   * `mobile-push`): the directory with relay settings and devices, the
   * relay's `caFile` (PEM path) and `timeoutMs`. Absent: no mobile push channel.
   */
  mobile?: { directory: DeviceDirectory; caFile?: string; timeoutMs?: number };
}

/**
 * Validates the raw `notifications` section, or returns undefined when it
 * configures no channel: then no outbox is opened at all.
 *
 * @throws RelayError `RELAY_ERR_CHANNEL_CONFIG` naming the bad key path.
 */
export function parseChannelsSection(section: unknown, source = 'config'): NotificationsConfig | undefined {
  const cfg = parseNotificationsConfig(section ?? {}, `${source} (section notifications)`);
  return Object.keys(cfg.channels).length === 0 ? undefined : cfg;
}

/**
 * Builds every configured channel and opens the outbox in `outbox.dir`
 * (replaying deliveries left pending by a previous run).
 *
 * @throws RelayError `RELAY_ERR_CHANNEL_CONFIG` (an unreadable `caFile`) or
 * `RELAY_ERR_JOURNAL` (the outbox directory cannot be created, read or written).
 */
export async function openChannels(cfg: NotificationsConfig, opts: OpenChannelsOptions): Promise<OpenChannels> {
  const channels: Map<string, Channel> = createChannels(cfg);
  const mobile = opts.mobile;
  if (mobile !== undefined) {
    if (channels.has(MOBILE_PUSH_CHANNEL)) {
      await Promise.allSettled([...channels.values()].map((c) => c.close()));
      throw new RelayError('RELAY_ERR_CHANNEL_CONFIG', `channels.${MOBILE_PUSH_CHANNEL}: the name is reserved for mobile push (relay section)`);
    }
    const ca = mobile.caFile === undefined ? undefined : readCaFile(mobile.caFile);
    const channel = new MobilePushChannel({ directory: mobile.directory, ...(ca !== undefined ? { ca } : {}), ...(mobile.timeoutMs !== undefined ? { timeoutMs: mobile.timeoutMs } : {}) });
    channels.set(channel.name, channel);
  }
  const o = cfg.outbox;
  const dir = isAbsolute(o.dir) ? o.dir : resolve(opts.baseDir ?? '.', o.dir);
  let outbox: Outbox;
  try {
    outbox = await Outbox.open({
      dir,
      channels: channels.values(),
      logger: opts.logger,
      maxPending: o.maxPending,
      maxJournalBytes: o.maxJournalBytes,
      compactAtBytes: o.compactAtBytes,
      maxAttempts: o.maxAttempts,
      retryBaseMs: o.retryBaseMs,
      maxRetryDelayMs: o.maxRetryDelayMs,
      ttlMs: o.ttlMs,
      ...(opts.flushDelayMs !== undefined ? { flushDelayMs: opts.flushDelayMs } : {}),
    });
  } catch (err) {
    await Promise.allSettled([...channels.values()].map((c) => c.close()));
    throw err;
  }
  const log = opts.logger.child({ component: 'channels' });
  const dispatcher: ChannelDispatcher = {
    channelsFor: (target) => channelsFor(cfg, target),
    dispatch: (n) => dispatch(cfg, outbox, n, log),
    ...(mobile !== undefined
      ? {
          async mobile(id, job) {
            const tokens = await mobile.directory.devices(job.userId);
            const settled = await Promise.allSettled(tokens.map((token) => outbox.enqueue(mobilePushDelivery(id, job, token))));
            const refused = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
            return refused === undefined ? undefined : (refused.reason as Error)?.message ?? String(refused.reason);
          },
        } satisfies Pick<ChannelDispatcher, 'mobile'>
      : {}),
  };
  let closing: Promise<void> | undefined;
  return {
    config: cfg,
    channels,
    outbox,
    dispatcher,
    health() {
      if (closing) return { ok: false, reason: 'closed' };
      if (outbox.pending >= o.maxPending) return { ok: false, reason: `full: ${outbox.pending} deliveries pending (maxPending ${o.maxPending})` };
      if (outbox.journalBytes >= o.maxJournalBytes) return { ok: false, reason: `full: journal ${outbox.journalBytes} bytes (maxJournalBytes ${o.maxJournalBytes})` };
      return { ok: true };
    },
    close() {
      closing ??= (async () => {
        await outbox.close();
        await Promise.allSettled([...channels.values()].map((c) => c.close()));
      })();
      return closing;
    },
  };
}

function readCaFile(path: string): string {
  let pem: string;
  try {
    pem = readFileSync(path, 'utf8');
  } catch (cause) {
    throw new RelayError('RELAY_ERR_CA_FILE', `cannot read CA file ${path}`, { cause });
  }
  if (!pem.includes('-----BEGIN CERTIFICATE-----')) throw new RelayError('RELAY_ERR_CA_FILE', `CA file ${path} holds no PEM certificate`);
  return pem;
}
