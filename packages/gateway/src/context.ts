import type { PushJob, RoutedNotification } from '@pushgate/relay';
import type { Logger } from 'pino';
import type { Bus } from './cluster/bus.js';
import type { Config } from './config.js';
import type { Directory } from './directory/directory.js';
import type { HandshakeGuard } from './auth/guard.js';
import type { OpenItcockpitSession } from './auth/openitcockpit-session.js';
import type { LegacyEndpoint } from './transport/ws/legacy.js';
import type { Registry } from './transport/ws/registry.js';
import type { ReplayLog } from './pipeline/replay.js';
import type { GatewayStats } from './ops/stats.js';

export type { PushJob };

/**
 * What the gateway needs of the mobile push relay (`MobilePush` from
 * `@pushgate/relay` fits): `enqueue` never throws and never blocks.
 */
export interface PushRelay {
  enqueue(job: PushJob): void;
  close(): Promise<void>;
}

/**
 * The named notification channels as `/message` sees them (built by
 * `openChannels` in channels.ts over the durable outbox).
 */
export interface ChannelDispatcher {
  /** Channel names a notification for this host name and user goes to (host's list + user's list, else `defaultChannels`). */
  channelsFor(target: { host?: string; user?: string }): string[];
  /**
   * Journals one delivery per routed channel; resolves once each is fsynced
   * (`queued`) or refused (`rejected: <reason>`, outbox full or closed). Never rejects.
   */
  dispatch(n: RoutedNotification): Promise<Record<string, string>>;
  /**
   * Mobile push through the outbox: journals one delivery per device of
   * `job.userId` (id `<id>:mobile-push:<token hash>`). Resolves with the
   * first refusal's reason, or undefined when every device's delivery is
   * journaled. Absent: mobile push goes through `relay` (in memory).
   */
  mobile?(id: string, job: PushJob): Promise<string | undefined>;
}

/** Shared state every handler of one gateway reaches through its connection or request. */
export interface GatewayContext {
  readonly config: Config;
  readonly directory: Directory;
  readonly logger: Logger;
  readonly relay: PushRelay | undefined;
  /** Named notification channels; undefined when none are configured. */
  readonly channels?: ChannelDispatcher | undefined;
  readonly registry: Registry;
  readonly stats: GatewayStats;
  /** Between intake and delivery: the in-process bus, or Redis across gateway processes (bus/). */
  readonly bus: Bus;
  /** Ids and kept frames of `ProcessPushNotification`, for `?since=` resumes. */
  readonly replay: ReplayLog;
  /** Last `exportRunning()` answer; sent to new connections. */
  exportRunning: boolean | undefined;
  /** Set once close() started: new upgrades and intake get 503. */
  closing: boolean;
  /** Per-IP handshake limits (guard.ts); set by startGateway, swept by the heartbeat. */
  guard?: HandshakeGuard;
  /** Session binding (`auth.openitcockpitSession`); set by startGateway when enabled. */
  session?: OpenItcockpitSession;
  /** The legacy openITCOCKPIT frontend's endpoint (transport/ws/legacy.ts); set by startGateway. */
  legacy?: LegacyEndpoint;
  /**
   * pushgate's own SSE subscribers (`sse/notifications.ts`): a user with an
   * open stream counts as registered at `/message`, and every routed
   * `ProcessPushNotification` frame is published to them. Must not throw.
   */
  sse?: { has(userId: number): boolean; publish(userId: number, frame: Buffer): void };
}
