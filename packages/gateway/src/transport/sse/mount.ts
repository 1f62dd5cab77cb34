import type { Logger } from 'pino';
import type { Config } from '../../config.js';
import type { GatewayContext } from '../../context.js';
import type { Directory } from '../../directory/directory.js';
import { checkCredential } from '../ws/handshake.js';
import { startIcinga, type IcingaService } from './icinga.js';
import type { HttpRoute } from '../http/server.js';
import { PushSse } from './events.js';

/** The SSE endpoints a config enables, ready to mount on the gateway. */
export interface SseEndpoints {
  /** The Icinga endpoint, when `icinga.enabled`. */
  readonly icinga: IcingaService | undefined;
  /** pushgate's own `/events`, when `events.enabled`. */
  readonly events: PushSse | undefined;
  /** Pass to `startGateway({ httpRoutes })`. */
  readonly httpRoutes: HttpRoute[];
  /** Connect `/events` to the gateway's `/message` intake (sets `ctx.sse`); with the Redis bus, the Icinga poller to the bus. */
  attach(ctx: GatewayContext): void;
  /** End every stream and stop polling; call before `gateway.close()` so it need not wait for streams. */
  close(): Promise<void>;
}

/**
 * Create the SSE endpoints `config` enables: the Icinga endpoint (polling
 * and, with `icinga.listen`, its own listener) and `/events`. Rejects with
 * `GW_ERR_DIRECTORY_CONFIG` or `GW_ERR_LISTEN` from the Icinga side.
 */
export async function startSseEndpoints(config: Config, directory: Directory, logger: Logger): Promise<SseEndpoints> {
  const icinga = await startIcinga(config.icinga, logger, config.auth.allowedOrigins);
  const e = config.events;
  const events = e.enabled
    ? new PushSse({
      verifyApiKey: (key) => directory.verifyApiKey(key),
      authenticate: (credential) => checkCredential(credential, config.auth, directory, Math.floor(Date.now() / 1000)),
      allowedOrigins: config.auth.allowedOrigins,
      logger,
      keepAliveFirstMs: e.keepAliveFirstMs,
      keepAliveMs: e.keepAliveMs,
      retryMs: e.retryMs,
      maxStreamsPerBrowser: e.maxStreamsPerBrowser,
      replay: e.replay,
    })
    : undefined;
  const httpRoutes: HttpRoute[] = [];
  if (icinga) httpRoutes.push(icinga.route);
  if (events) httpRoutes.push(events.route);
  return {
    icinga,
    events,
    httpRoutes,
    attach(ctx) {
      if (events) {
        ctx.sse = events;
        events.session = ctx.session;
      }
      if (icinga && ctx.bus.kind !== 'local') {
        // One node polls incident_history (lease), every node's streams get the events.
        const bus = ctx.bus;
        const i = config.icinga;
        bus.onEvent('icinga', (contactId, id, frame) => icinga.hub.publish(String(contactId), id, frame));
        icinga.poller.coordinate({
          lead: () => bus.lead('icinga-poll', i.pollIntervalMs * 3 + i.queryTimeoutMs),
          deliver: (contactId, id, frame) => bus.publishEvent('icinga', contactId, id, frame),
          cursor: { get: () => bus.getCursor('icinga'), set: (id) => bus.setCursor('icinga', id) },
        });
      }
    },
    async close() {
      events?.close();
      await icinga?.close();
    },
  };
}
