import type { Logger } from 'pino';
import type { Channel, SendResult } from './channels/channel.js';
import type { NotificationsConfig } from './channels-config.js';
import type { DeliveryInput } from './outbox.js';

/** What routing needs to know about one notification. */
export interface RoutedNotification {
  /** Unique per notification; each channel's delivery id is `<id>:<channel>` (the idempotency key). */
  id: string;
  /** Host name as the monitoring engine knows it. */
  host?: string;
  /** User name of the notified contact. */
  user?: string;
  title: string;
  message: string;
  url?: string;
  /** -2..2. */
  priority?: number;
}

/** Anything that accepts deliveries durably (the {@link Outbox}). */
export interface DeliverySink {
  enqueue(delivery: DeliveryInput): Promise<void>;
}

/**
 * The channels a notification goes to: the host's own list plus the user's
 * own list (each name once, host's first); `defaultChannels` only when
 * neither the host nor the user has a list of its own. An empty own list
 * (`channels: []`) is a list: it silences the defaults.
 */
export function channelsFor(cfg: NotificationsConfig, target: { host?: string; user?: string }): string[] {
  const host = target.host === undefined ? undefined : cfg.hosts[target.host]?.channels;
  const user = target.user === undefined ? undefined : cfg.users[target.user]?.channels;
  if (host === undefined && user === undefined) return [...cfg.defaultChannels];
  return [...new Set([...(host ?? []), ...(user ?? [])])];
}

/** False for a host configured with `watch: false`: it sends no heartbeat events. Unknown hosts are watched. */
export function isWatched(cfg: NotificationsConfig, host: string): boolean {
  return cfg.hosts[host]?.watch ?? true;
}

/**
 * Hands a notification to each of its channels in parallel and resolves with
 * one result per channel name: `queued` once durably journaled, or
 * `rejected: <reason>` (outbox full or closed; the caller answers 503 when
 * any was rejected). Never rejects. With `log`, the results are logged
 * (info; warn when any was refused). Later outcomes (`sent`, dead letters)
 * are logged and counted by the outbox (`stats`, `byChannel`, `onSettled`).
 */
export async function dispatch(cfg: NotificationsConfig, sink: DeliverySink, n: RoutedNotification, log?: Logger): Promise<Record<string, string>> {
  const names = channelsFor(cfg, { ...(n.host !== undefined ? { host: n.host } : {}), ...(n.user !== undefined ? { user: n.user } : {}) });
  const settled = await Promise.allSettled(
    names.map((channel) =>
      sink.enqueue({
        id: `${n.id}:${channel}`,
        channel,
        title: n.title,
        message: n.message,
        ...(n.url !== undefined ? { url: n.url } : {}),
        ...(n.priority !== undefined ? { priority: n.priority } : {}),
      }),
    ),
  );
  const results: Record<string, string> = {};
  settled.forEach((s, i) => {
    results[names[i] as string] = s.status === 'fulfilled' ? 'queued' : `rejected: ${(s.reason as Error)?.message ?? String(s.reason)}`;
  });
  if (log !== undefined) {
    // Notification texts stay out of the log; ids and per-channel results are enough to trace it.
    const rejected = settled.some((r) => r.status === 'rejected');
    log[rejected ? 'warn' : 'info']({ notification: n.id, results }, rejected ? 'notification partly refused by the outbox' : 'notification queued for its channels');
  }
  return results;
}

/** A result as operators read it: `sent`, `retrying: 503 …`, `failed: 400 …`. */
export function describeResult(r: SendResult): string {
  if (r.kind === 'sent') return 'sent';
  return r.kind === 'retry' ? `retrying: ${r.reason}` : `failed: ${r.reason}`;
}

/**
 * `pushgate test-channel <name>`: one attempt through one channel, outside
 * the outbox, so an operator sees at once whether credentials and address
 * work. Resolves with {@link describeResult}'s text.
 */
export async function testChannel(channel: Channel, now = Date.now()): Promise<string> {
  const result = await channel.send({
    id: `test-${now}:${channel.name}`,
    channel: channel.name,
    title: 'pushgate test',
    message: `Test message from pushgate through channel "${channel.name}" (${channel.type}).`,
    createdAt: now,
    expiresAt: now + 60_000,
  });
  return describeResult(result);
}
