import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { GatewayContext } from '../../context.js';
import { count } from '../../ops/stats.js';
import { rejectUpgrade } from './handshake.js';

/**
 * The session-binding step of a newer-generation WebSocket upgrade
 * (`auth.openitcockpitSession`, auth/openitcockpit-session.ts): check the
 * request's `Cookie` against the user the upgrade claims (the query's
 * `userId`). The legacy generation claims its user later, in `register`,
 * and checks it there (legacy.ts).
 *
 * Refusals answer the upgrade with the verdict's status (401 not logged in,
 * 403 another user's session, 503 openITCOCKPIT unreachable under
 * `onUnavailable: refuse`), are counted in `handshakesRejected`, and 401/403
 * spend the address's failed-handshake budget. A session that belongs to
 * another user is logged as a warning (user ids only; never the cookie).
 *
 * @returns true to go on (binding off, the session matches, or openITCOCKPIT
 * unreachable under `key-only`); false when the upgrade was refused and
 * `socket` is done with.
 */
export async function sessionGate(ctx: GatewayContext, req: IncomingMessage, socket: Duplex, ip: string, userId: number): Promise<boolean> {
  const session = ctx.session;
  if (session === undefined) return true;
  const verdict = await session.check(req.headers.cookie, userId);
  if (verdict.ok) return true;
  if (verdict.status !== 503) ctx.guard?.recordFailure(ip, Date.now());
  count(ctx.stats.handshakesRejected, String(verdict.status));
  if (verdict.status === 403) ctx.logger.warn({ reason: verdict.reason, user: userId }, 'websocket handshake refused: openITCOCKPIT session of another user');
  else if (ctx.logger.isLevelEnabled('debug')) ctx.logger.debug({ reason: verdict.reason, status: verdict.status }, 'websocket handshake refused by session binding');
  rejectUpgrade(socket, verdict.status, verdict.body);
  return false;
}
