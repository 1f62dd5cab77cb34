import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import type { HandshakeGuard } from '../../auth/guard.js';
import type { OpenItcockpitSession, SessionVerdict } from '../../auth/openitcockpit-session.js';
import { count, type GatewayStats } from '../../ops/stats.js';
import { refusalStatus, type FixedHttpRefusalCode } from '../refusals.js';
import { refuseUpgrade } from './handshake.js';

/** The refusal of a WebSocket upgrade for a session verdict's status (401 not logged in, 403 another user's, 503 unavailable). */
export function sessionRefusal(verdict: SessionVerdict & { ok: false }): FixedHttpRefusalCode {
  return verdict.status === 403 ? 'GW_REFUSE_SESSION_OTHER_USER' : verdict.status === 401 ? 'GW_REFUSE_SESSION_NOT_LOGGED_IN' : 'GW_REFUSE_SESSION_UNAVAILABLE';
}

/**
 * The session-binding step of a newer-generation WebSocket upgrade
 * (`auth.openitcockpitSession`, auth/openitcockpit-session.ts): check the
 * request's `Cookie` against the user the upgrade claims (the query's
 * `userId`). The legacy generation claims its user later, in `register`,
 * and checks it there (legacy.ts).
 *
 * Refusals answer the upgrade from the refusal table (401 not logged in,
 * 403 another user's session, 503 openITCOCKPIT unreachable under
 * `onUnavailable: refuse`), are counted in `handshakesRejected`, and 401/403
 * spend the address's failed-handshake budget. A session that belongs to
 * another user is logged as a warning (user ids only; never the cookie).
 *
 * @returns true to go on (binding off, the session matches, or openITCOCKPIT
 * unreachable under `key-only`); false when the upgrade was refused and
 * `socket` is done with.
 */
export async function sessionGate(
  deps: { session: OpenItcockpitSession | undefined; guard: HandshakeGuard; stats: GatewayStats; logger: Logger },
  req: IncomingMessage, socket: Duplex, ip: string, userId: number,
): Promise<boolean> {
  const { session, guard, stats, logger } = deps;
  if (session === undefined) return true;
  const verdict = await session.check(req.headers.cookie, userId);
  if (verdict.ok) return true;
  const code = sessionRefusal(verdict);
  if (verdict.status !== 503) guard.recordFailure(ip, Date.now());
  count(stats.handshakesRejected, String(refusalStatus(code)));
  if (verdict.status === 403) logger.warn({ reason: verdict.reason, user: userId }, 'websocket handshake refused: openITCOCKPIT session of another user');
  else if (logger.isLevelEnabled('debug')) logger.debug({ reason: verdict.reason, status: verdict.status }, 'websocket handshake refused by session binding');
  refuseUpgrade(socket, code);
  return false;
}
