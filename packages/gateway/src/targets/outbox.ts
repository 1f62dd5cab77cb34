import { isAbsolute, join, resolve } from 'node:path';
import type { Logger } from 'pino';
import {
  createChannels, MOBILE_PUSH_CHANNEL, MobilePushChannel, Outbox, readCaFile, RelayError,
  type Channel, type Delivery, type DeviceDirectory, type NotificationsConfig, type Outcome,
} from '@pushgate/relay';

/**
 * The durable outbox every durable target delivers through
 * (docs/channels.md "The durable outbox"): the named channels of the
 * `notifications` section and the mobile push channel, over one journal
 * under the state directory. Opened only when something durable is
 * configured; the gateway imports this module (and the relay behind it, the
 * slowest import) only then.
 */

/** The outbox with its channels; close with {@link OpenOutbox.close}. */
export interface OpenOutbox {
  readonly outbox: Outbox;
  /** Every channel the outbox attempts through, by name (`mobile-push` included when mobile push is on). */
  readonly channels: ReadonlyMap<string, Channel>;
  /** The configured named channels (not mobile push, not Web Push), in configuration order. */
  readonly named: readonly string[];
  /**
   * For `/readyz`: not ok once closed, or while full (`maxPending`
   * deliveries pending or `maxJournalBytes` reached: new ones are refused).
   */
  health(): { ok: true } | { ok: false; reason: string };
  /** Closes the outbox (pending deliveries stay journaled), then the channels. Idempotent. */
  close(): Promise<void>;
}

/** Options of {@link openOutbox}. */
export interface OpenOutboxOptions {
  logger: Logger;
  /** `<stateDir>/outbox` unless `notifications.outbox.dir` says otherwise. */
  stateDir: string;
  /** A relative `outbox.dir` is resolved against this (the config file's directory). Default the working directory. */
  baseDir?: string;
  /** Extra wait before a journal write to batch fsyncs, ms (OutboxOptions.flushDelayMs). Default 0. */
  flushDelayMs?: number;
  /**
   * Mobile push through the outbox (one delivery per device, channel
   * `mobile-push`): the directory with relay settings and devices, the
   * relay's `caFile` (PEM path) and `timeoutMs`. Absent: no mobile push channel.
   */
  mobile?: { directory: DeviceDirectory; caFile?: string; timeoutMs?: number };
  /** Told once per delivery when it is sent or dead-lettered (the pipeline's trail and counters). */
  onSettled?: (delivery: Delivery, outcome: Outcome) => void;
  /** Channels of the gateway's own (Web Push), attempted and closed like the others. */
  extraChannels?: readonly Channel[];
}

/**
 * Builds every configured channel (and the mobile push channel) and opens
 * the outbox, replaying deliveries left pending by a previous run.
 *
 * @throws RelayError `RELAY_ERR_CHANNEL_CONFIG` (a reserved name),
 * `RELAY_ERR_CA_FILE` (an unreadable `caFile`) or `RELAY_ERR_JOURNAL` (the
 * outbox directory cannot be created, read or written).
 */
export async function openOutbox(cfg: NotificationsConfig, opts: OpenOutboxOptions): Promise<OpenOutbox> {
  const channels: Map<string, Channel> = createChannels(cfg);
  const named = [...channels.keys()];
  const closeChannels = (): Promise<unknown> => Promise.allSettled([...channels.values()].map((c) => c.close()));
  const mobile = opts.mobile;
  if (mobile !== undefined) {
    if (channels.has(MOBILE_PUSH_CHANNEL)) {
      await closeChannels();
      throw new RelayError('RELAY_ERR_CHANNEL_CONFIG', `channels.${MOBILE_PUSH_CHANNEL}: the name is reserved for mobile push (relay section)`);
    }
    let ca: string | undefined;
    try {
      ca = mobile.caFile === undefined ? undefined : readCaFile(mobile.caFile);
    } catch (err) {
      await closeChannels();
      throw err;
    }
    const channel = new MobilePushChannel({ directory: mobile.directory, ...(ca !== undefined ? { ca } : {}), ...(mobile.timeoutMs !== undefined ? { timeoutMs: mobile.timeoutMs } : {}) });
    channels.set(channel.name, channel);
  }
  for (const extra of opts.extraChannels ?? []) {
    if (channels.has(extra.name)) {
      await closeChannels();
      throw new RelayError('RELAY_ERR_CHANNEL_CONFIG', `channels.${extra.name}: the name is reserved for ${extra.type}`);
    }
    channels.set(extra.name, extra);
  }
  const o = cfg.outbox;
  const dir = o.dir === undefined ? join(opts.stateDir, 'outbox') : isAbsolute(o.dir) ? o.dir : resolve(opts.baseDir ?? '.', o.dir);
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
      ...(opts.onSettled !== undefined ? { onSettled: opts.onSettled } : {}),
    });
  } catch (err) {
    await closeChannels();
    throw err;
  }
  let closing: Promise<void> | undefined;
  return {
    outbox,
    channels,
    named,
    health() {
      if (closing) return { ok: false, reason: 'closed' };
      if (outbox.pending >= o.maxPending) return { ok: false, reason: `full: ${outbox.pending} deliveries pending (maxPending ${o.maxPending})` };
      if (outbox.journalBytes >= o.maxJournalBytes) return { ok: false, reason: `full: journal ${outbox.journalBytes} bytes (maxJournalBytes ${o.maxJournalBytes})` };
      return { ok: true };
    },
    close() {
      closing ??= (async () => {
        await outbox.close();
        await closeChannels();
      })();
      return closing;
    },
  };
}
