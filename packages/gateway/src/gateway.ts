import { join, resolve } from 'node:path';
import type { Logger } from 'pino';
import { HandshakeGuard } from './auth/guard.js';
import type { Bus } from './cluster/bus.js';
import type { IdClock } from './cluster/ids.js';
import { LocalBus } from './cluster/local-bus.js';
import type { Config } from './config.js';
import type { Directory } from './directory/directory.js';
import type { NotifiedRow } from './directory/icinga.js';
import { openDirectory } from './directory/open.js';
import { GatewayMetrics } from './ops/metrics.js';
import { createStats, type GatewayStats } from './ops/stats.js';
import { StatusEndpoint } from './ops/status.js';
import type { Escalation } from './escalation/escalation.js';
import { Journal } from './pipeline/journal.js';
import { Pipeline } from './pipeline/pipeline.js';
import { ReplayLog } from './pipeline/replay.js';
import { Router, type ChannelRouting } from './pipeline/router.js';
import { ExportStatus } from './sources/export-status.js';
import { ICINGA_CHANNEL_PATH, IcingaChannelSource } from './sources/icinga-channel.js';
import { icingaNotification } from './sources/icinga-poller.js';
import { MessageSource } from './sources/message.js';
import { testNotification } from './sources/test-notification.js';
import { BrowserTarget } from './targets/browser.js';
import { ChannelTarget } from './targets/channel.js';
import { EventsTarget } from './targets/events.js';
import { IcingaSseTarget } from './targets/icinga-sse.js';
import type { OpenOutbox } from './targets/outbox.js';
import type { Target } from './targets/target.js';
import { demoRoutes } from './transport/http/demo.js';
import { HttpServer, type HttpRoute, type ReadinessCheck } from './transport/http/server.js';
import { PushSse } from './transport/sse/events.js';
import { startIcinga, type IcingaService } from './transport/sse/icinga.js';
import { Heartbeat } from './transport/ws/heartbeat.js';
import { checkCredential } from './transport/ws/handshake.js';
import { WsEndpoint } from './transport/ws/endpoint.js';
import type { LegacyEndpoint } from './transport/ws/legacy.js';
import type { OpenItcockpitSession } from './auth/openitcockpit-session.js';
import { Registry } from './transport/ws/registry.js';
import type { WebPush } from './webpush/open.js';

/**
 * The composition root (docs/architecture.md): builds every part of a
 * gateway once, wires sources → pipeline → targets, and closes the parts in
 * the reverse order. No part is assigned to another after construction.
 */

/** Options of {@link startGateway}. */
export interface GatewayOptions {
  /** Validated config; `listen.host` defaults to 127.0.0.1 here (the CLI applies IS_CONTAINER). */
  config: Config;
  /** Where the journal and the outbox live (`state.dir` resolved by the CLI); created when missing. */
  stateDir: string;
  logger: Logger;
  /** The directory to use, owned by the caller; default: opened from `config.directory` and closed with the gateway. */
  directory?: Directory;
  /** Relative paths in the config (`relay.caFile`, `notifications.outbox.dir`, a directory file) resolve against this. Default the working directory. */
  baseDir?: string;
  /** Extra HTTP routes (tests, benchmarks). */
  httpRoutes?: readonly HttpRoute[];
  /** The environment the directory reads (`OITC_MYSQL_CNF`, `MYSQL_DEBUG`); only the CLI passes `process.env`. Default none. */
  env?: NodeJS.ProcessEnv;
  /** Extra wait before each journal and outbox write so more records share an fsync, ms (benchmarks). Default 0. */
  flushDelayMs?: number;
}

/** A running gateway. */
export interface Gateway {
  /** The bound TCP port. */
  readonly port: number;
  /** Base URL, `http://<host>:<port>` (127.0.0.1 when bound to all addresses). */
  readonly url: string;
  readonly directory: Directory;
  /** The embedded demo directory's generated API key, when `directory.type` is `demo` and the gateway opened it. */
  readonly demoKey: string | undefined;
  readonly registry: Registry;
  readonly stats: GatewayStats;
  readonly bus: Bus;
  /** Notification ids (`lastId`: the one issued last). */
  readonly ids: IdClock;
  readonly pipeline: Pipeline;
  readonly journal: Journal;
  /** The durable outbox, when anything durable is configured (named channels, a directory with mobile push). */
  readonly outbox: OpenOutbox | undefined;
  /** pushgate's own `/events` endpoint, when `events.enabled`. */
  readonly events: PushSse | undefined;
  /** The Icinga desktop-notification endpoint, when `icinga.enabled`. */
  readonly icinga: IcingaService | undefined;
  /** The Prometheus metrics (`metrics.enabled`). */
  readonly metrics: GatewayMetrics | undefined;
  /** The handshake guard (per-IP limits). */
  readonly guard: HandshakeGuard;
  /** The export-status source (`poll()` asks the directory and broadcasts once). */
  readonly exportStatus: ExportStatus;
  /** The legacy openITCOCKPIT frontend's endpoint. */
  readonly legacy: LegacyEndpoint;
  /** Session binding (`auth.openitcockpitSession`), when enabled. */
  readonly session: OpenItcockpitSession | undefined;
  /** Web Push (`webPush.enabled`): keys, subscriptions, devices, counters. */
  readonly webPush: WebPush | undefined;
  /** Escalation (docs/escalation.md), when `escalation.policies` names any policy. */
  readonly escalation: Escalation | undefined;
  /**
   * Stop accepting, end SSE streams, close every WebSocket with 1001, let
   * in-flight requests finish (sockets still open after 3/4 of
   * `shutdownTimeoutMs` are destroyed), then close outbox, journal, bus and
   * the directory it opened, in that order. Idempotent.
   */
  close(): Promise<void>;
}

/** Closes what was opened so far, newest first, when start-up fails or the gateway stops. */
class Teardown {
  readonly #steps: (() => unknown)[] = [];
  add(step: () => unknown): void {
    this.#steps.push(step);
  }
  async run(): Promise<void> {
    while (this.#steps.length > 0) await this.#steps.pop()!();
  }
}

/**
 * Start a gateway: open the directory (unless given), the bus, the journal
 * (refilling the resume windows), the outbox, the SSE endpoints, the pipeline
 * with its targets and sources, and the HTTP server. Rejects with
 * `GW_ERR_LISTEN`, `GW_ERR_STATE`, `GW_ERR_DIRECTORY_CONFIG` or a relay error
 * (`RELAY_ERR_*`); whatever was opened is closed again first.
 */
export async function startGateway(opts: GatewayOptions): Promise<Gateway> {
  const { config, logger } = opts;
  const baseDir = opts.baseDir ?? '.';
  const teardown = new Teardown();
  try {
    let directory = opts.directory;
    let demoKey: string | undefined;
    if (directory === undefined) {
      const opened = await openDirectory(config, baseDir, logger, opts.env ?? {});
      directory = opened.directory;
      demoKey = opened.demoKey;
      const d = directory;
      teardown.add(() => d.close());
    }
    return await compose(opts, directory, demoKey, baseDir, teardown);
  } catch (err) {
    await teardown.run();
    throw err;
  }
}

async function compose(opts: GatewayOptions, directory: Directory, demoKey: string | undefined, baseDir: string, teardown: Teardown): Promise<Gateway> {
  const { config, logger } = opts;
  const stats = createStats();
  const guard = new HandshakeGuard(config.limits);
  const lifecycle = { closing: false };
  const closing = (): boolean => lifecycle.closing;

  // The Redis bus is loaded only when configured (ioredis stays out of one-process start-ups).
  const bus: Bus = config.bus.type === 'redis'
    ? await (await import('./cluster/redis/bus.js')).RedisBus.connect(config.bus, logger)
    : new LocalBus();
  teardown.add(() => bus.close());
  const registry = new Registry(bus.presence);

  const windows = [config.websocket.replay.maxAgeMs, config.events.replay.maxAgeMs, config.icinga.replay.maxAgeMs];
  const { journal, restored } = await Journal.open({
    dir: join(opts.stateDir, 'journal'),
    logger,
    ...config.state.journal,
    restoreAgeMs: Math.max(...windows),
    lastId: () => bus.ids.highest,
    ...(opts.flushDelayMs !== undefined ? { flushDelayMs: opts.flushDelayMs } : {}),
  });
  teardown.add(() => journal.close());
  bus.ids.observe(restored.highestId);
  const replay = new ReplayLog({ ...config.websocket.replay, ids: bus.ids, ...(restored.before !== undefined ? { firstId: restored.before + 1 } : {}) });

  // Durable targets: the outbox opens only when something durable is configured (the relay is the slowest import).
  let settle: Pipeline['settled'] | undefined;
  let outbox: OpenOutbox | undefined;
  let routing: ChannelRouting | undefined;
  const durable: Target[] = [];
  const channelTargets: ChannelTarget[] = [];
  const hasChannels = Object.keys(config.notifications?.channels ?? {}).length > 0;
  const caFile = config.relay.caFile === undefined ? undefined : resolve(baseDir, config.relay.caFile);
  // A configured CA file is read at start even when nothing uses it yet: a typo is a start-up error, not a later surprise.
  if (caFile !== undefined) (await import('@pushgate/relay')).readCaFile(caFile);
  // Web Push: its store and key first (a bad state directory or Redis fails the start), its channel in the outbox.
  const webPush = config.webPush.enabled
    ? await (await import('./webpush/open.js')).openWebPush(config, opts.stateDir, baseDir, logger)
    : undefined;
  if (webPush) teardown.add(() => webPush.close());
  if (hasChannels || directory.mobilePush || webPush) {
    const { channelsFor, parseNotificationsConfig } = await import('@pushgate/relay');
    // Validated with the rest of the config; the outbox defaults of an absent section come from the schema.
    const notifications = config.notifications ?? parseNotificationsConfig({});
    routing = (target) => channelsFor(notifications, target);
    const { openOutbox } = await import('./targets/outbox.js');
    outbox = await openOutbox(notifications, {
      logger,
      stateDir: opts.stateDir,
      baseDir,
      ...(opts.flushDelayMs !== undefined ? { flushDelayMs: opts.flushDelayMs } : {}),
      ...(directory.mobilePush ? { mobile: { directory, timeoutMs: config.relay.timeoutMs, ...(caFile !== undefined ? { caFile } : {}) } } : {}),
      // Deliveries replayed from the outbox's journal may settle before the pipeline exists: counted from then on.
      onSettled: (d, o) => settle?.(d, o),
      ...(webPush ? { extraChannels: [webPush.channel] } : {}),
    });
    const o = outbox;
    teardown.add(() => o.close());
    if (directory.mobilePush) durable.push(new (await import('./targets/mobile-push.js')).MobilePushTarget(directory, o.outbox));
    for (const name of o.named) channelTargets.push(new ChannelTarget(name, o.outbox));
  }
  const browserTarget = new BrowserTarget(registry, replay, bus);
  if (webPush && outbox) {
    const w = config.webPush;
    durable.push(new (await import('./targets/web-push.js')).WebPushTarget({
      subscriptions: webPush.subscriptions, outbox: outbox.outbox, when: w.when, stats: webPush.stats,
      ttlMs: w.ttlSeconds * 1000,
      urls: { host: w.clickUrl.host, service: w.clickUrl.service, fallback: w.appPath },
      liveBrowser: (userId) => browserTarget.reaches({ kind: 'user', userId }),
    }));
  }

  // With Web Push, device credentials authenticate a WebSocket too (the app shows its live connection).
  const wp = webPush;
  const authConfig: Config = wp === undefined ? config : Object.freeze({
    ...config,
    auth: Object.freeze({
      ...config.auth,
      devices: {
        async userOf(credential: string): Promise<number | undefined> {
          const d = await wp.devices.verify(credential);
          return d !== undefined && d.owner.startsWith('user:') ? Number(d.owner.slice(5)) : undefined;
        },
      },
    }),
  });

  // Session binding reads its CA file here: a bad one stops the start before anything listens.
  // Loaded only when enabled: undici is among the slowest imports.
  const session = config.auth.openitcockpitSession.enabled
    ? new (await import('./auth/openitcockpit-session.js')).OpenItcockpitSession(config.auth.openitcockpitSession, logger)
    : undefined;
  if (session) teardown.add(() => session.close());

  // SSE endpoints.
  const now = (): number => Math.floor(Date.now() / 1000);
  const events = config.events.enabled
    ? new PushSse({
      verifyApiKey: (key) => directory.verifyApiKey(key),
      authenticate: (credential) => checkCredential(credential, config.auth, directory, now()),
      allowedOrigins: config.auth.allowedOrigins,
      logger,
      keepAliveFirstMs: config.events.keepAliveFirstMs,
      keepAliveMs: config.events.keepAliveMs,
      retryMs: config.events.retryMs,
      maxStreamsPerBrowser: config.events.maxStreamsPerBrowser,
      maxBufferedBytes: config.events.maxBufferedBytes,
      replay: config.events.replay,
      session,
    })
    : undefined;
  if (events) teardown.add(() => events.close());
  let acceptIcinga: ((row: NotifiedRow) => void) | undefined;
  const i = config.icinga;
  const icinga = await startIcinga(i, logger, {
    allowedOrigins: config.auth.allowedOrigins,
    // Rows polled before the pipeline exists wait for nothing: the poller's first poll only reads the position.
    deliver: (row) => acceptIcinga?.(row),
    // One node polls incident_history (lease); the pipeline carries its notifications to every node.
    ...(bus.kind !== 'local' ? {
      coordinator: {
        lead: () => bus.lead('icinga-poll', i.pollIntervalMs * 3 + i.queryTimeoutMs),
        cursor: { get: () => bus.getCursor('icinga'), set: (id: number) => bus.setCursor('icinga', id) },
      },
    } : {}),
  });
  if (icinga) teardown.add(() => icinga.close());

  // The pipeline and its targets.
  const targets: Target[] = [browserTarget];
  if (events) targets.push(new EventsTarget(events));
  if (icinga) targets.push(new IcingaSseTarget(icinga.hub, icinga.retryMs));
  targets.push(...durable);
  let escalation: Escalation | undefined;
  const pipeline = new Pipeline({
    targets: [...targets, ...channelTargets],
    router: new Router(targets, channelTargets, routing),
    journal,
    bus,
    logger,
    ...(Object.keys(config.escalation.policies).length > 0 ? {
      escalation: { observe: (n) => escalation?.observe(n) ?? Promise.resolve(), escalates: (n) => escalation?.escalates(n) ?? false },
    } : {}),
  });
  settle = (d, o) => pipeline.settled(d, o);
  pipeline.restore(restored);
  // Escalation is loaded only when a policy is configured; it starts before any source does, so restored steps find the pipeline.
  if (Object.keys(config.escalation.policies).length > 0) {
    const { openEscalation } = await import('./escalation/open.js');
    const e = await openEscalation({ config, stateDir: opts.stateDir, logger, ids: bus.ids, deliverer: pipeline });
    escalation = e;
    teardown.add(() => e.close());
  }
  const log = logger.child({ component: 'pipeline' });
  acceptIcinga = (row) => {
    pipeline.accept(icingaNotification(row, bus.ids.next(), Date.now())).catch((err: unknown) => log.error({ err, historyId: row.id }, 'icinga notification failed'));
  };

  // Transports and sources.
  const ws = new WsEndpoint({
    config: authConfig, directory, logger, stats, registry, replay, guard, bus, session, closing,
    onTest: (userId, title, icon) => {
      pipeline.accept(testNotification(userId, title, icon, bus.ids.next())).catch((err: unknown) => log.error({ err, user: userId }, 'test notification failed'));
    },
  });
  const message = new MessageSource({ config, directory, logger, stats, guard, pipeline, ids: bus.ids, closing });
  // The channel plugin's intake; Icinga contact usernames need the Icinga database (icinga.enabled).
  const icingaChannel = config.icinga.channel.enabled
    ? new IcingaChannelSource({
      config: config.icinga.channel, logger, pipeline, ids: bus.ids, guard, closing,
      icinga: icinga === undefined ? undefined : {
        pendingChannelRow: (incidentId, username, channelType) => icinga.directory.pendingChannelRow(incidentId, username, channelType),
        repeats: (row) => icinga.poller.repeats(row),
      },
    })
    : undefined;
  const metrics = config.metrics.enabled
    ? new GatewayMetrics({ directory, registry, stats, bus, pipeline, journal, replay, outbox: outbox?.outbox, events, icinga, icingaChannel, legacy: ws.legacy, session, escalation, webPush: webPush?.stats })
    : undefined;
  const status = new StatusEndpoint({ registry, stats, bus, outbox: outbox?.outbox });
  const routes: HttpRoute[] = [
    { path: '/message', handler: message.handler },
    { path: '/status', handler: status.handler },
  ];
  // With metrics.listen, /metrics is served only there (a management address), not on the client port.
  if (metrics && !config.metrics.listen) routes.push({ path: '/metrics', handler: metrics.handler });
  if (events) routes.push(events.route);
  if (icinga) routes.push(icinga.route);
  if (icingaChannel) routes.push({ path: ICINGA_CHANNEL_PATH, handler: icingaChannel.handler });
  // The demo page gets the key only on the embedded demo directory (transport/http/demo.ts), never in a configured deployment.
  if (config.demo.enabled) routes.push(...demoRoutes(demoKey === undefined ? {} : { demoApiKey: demoKey }));
  if (webPush) {
    const { webPushRoutes } = await import('./webpush/http.js');
    const { dirname } = await import('node:path');
    // The app is built beside the client bundle (packages/client/build-app.mjs), in the workspace and in the release tree.
    const appDir = join(dirname((await import('./transport/http/demo.js')).defaultClientBundle()), 'app');
    routes.push(...webPushRoutes({
      appPath: config.webPush.appPath, appDir, vapidPublicKey: webPush.keys.publicKey,
      devices: webPush.devices, subscriptions: webPush.subscriptions, directory, policy: config.auth, stats: webPush.stats, logger, session,
      resolveContact: async (username) => icinga?.directory.contactId(username),
      test: async (userId) => {
        await pipeline.accept(testNotification(userId, 'pushgate test notification', '', bus.ids.next()));
      },
    }));
  }
  routes.push(...opts.httpRoutes ?? []);
  const readiness: ReadinessCheck[] = [{ name: 'directory', health: () => directory.health() }];
  if (outbox) readiness.push({ name: 'outbox', health: () => outbox.health() });
  if (icinga) readiness.push({ name: 'icinga', health: () => icinga.health() });
  if (bus.kind !== 'local') readiness.push({ name: 'bus', health: () => bus.health() });
  const http = new HttpServer({ config, logger, stats, routes, readiness, upgrade: (req, socket, head) => ws.upgrade(req, socket, head) });

  bus.start({ notification: (n, origin) => pipeline.receive(n, origin), exportStatus: (running) => ws.exportStatus(running) });
  const address = await http.listen();
  teardown.add(() => new Promise<void>((r) => http.server.close(() => r())));
  if (metrics && config.metrics.listen) {
    await metrics.listen(config.metrics.listen.host, config.metrics.listen.port);
    teardown.add(() => metrics.close());
  }
  const heartbeat = new Heartbeat(registry, config.websocket, guard);
  const exportStatus = new ExportStatus({
    directory, logger, bus, closing, intervalMs: config.websocket.exportStatusIntervalMs,
    hasClients: () => registry.size > 0,
    apply: (running) => ws.exportStatus(running),
  });

  const urlHost = address.address === '0.0.0.0' || address.address === '::' ? '127.0.0.1'
    : address.family === 'IPv6' ? `[${address.address}]` : address.address;
  let closed: Promise<void> | undefined;
  const shutdown = async (): Promise<void> => {
    lifecycle.closing = true;
    heartbeat.stop();
    exportStatus.stop();
    // SSE streams end first so the server's close need not wait for them.
    events?.close();
    await icinga?.close();
    const serverClosed = http.beginClose();
    const socketsClosed = ws.closeAll();
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<'timeout'>((r) => {
      // Three quarters of the budget: outbox, journal, bus and directory still have to close.
      timer = setTimeout(() => r('timeout'), Math.floor(config.shutdownTimeoutMs * 0.75));
    });
    const outcome = await Promise.race([Promise.all([serverClosed, socketsClosed]), deadline]);
    clearTimeout(timer);
    if (outcome === 'timeout') {
      logger.warn('shutdown timeout: destroying remaining connections');
      ws.terminateAll();
      http.destroyAll();
    }
    ws.close();
    // Metrics listener, outbox (pending deliveries stay journaled), journal, bus, directory: newest first.
    await teardown.run();
  };

  return {
    port: address.port,
    url: `http://${urlHost}:${address.port}`,
    directory,
    demoKey,
    registry,
    stats,
    bus,
    ids: bus.ids,
    pipeline,
    journal,
    outbox,
    events,
    icinga,
    metrics,
    guard,
    exportStatus,
    legacy: ws.legacy,
    session,
    webPush,
    escalation,
    close() {
      closed ??= shutdown();
      return closed;
    },
  };
}
