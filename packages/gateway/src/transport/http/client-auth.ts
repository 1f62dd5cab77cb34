import type { IncomingMessage } from 'node:http';
import type { SessionVerdict } from '../../auth/openitcockpit-session.js';
import type { HttpRefusalCode } from '../refusals.js';
import { originAllowed, queryOf, tokenUserMismatch, type CredentialResult } from '../ws/handshake.js';

/**
 * Authenticates a browser's plain HTTP request the way its `/events` stream
 * is (docs/protocol/extensions.md): query `userId` (and `browserUuid`), the
 * API key or a signed token in `Authorization: Bearer` or `X-Api-Key`, never
 * in the URL; a token must name the query's user; with session binding an
 * API key needs that user's openITCOCKPIT session cookie. Used by
 * `POST /receipts` and `POST /acknowledge`.
 */

/** Query parameters that would put a credential into URLs and access logs: refused. */
const CREDENTIAL_PARAMS = ['apiKey', 'api_key', 'key', 'token', 'access_token'];

/** What {@link authenticateClient} needs. */
export interface ClientAuth {
  /** Checks a credential under the `auth` policy (handshake.ts `checkCredential`). */
  authenticate(credential: string): Promise<CredentialResult>;
  /** `auth.allowedOrigins` (empty: any). */
  allowedOrigins: readonly string[];
  /** Session binding, when enabled. */
  session?: { check(cookie: string | undefined, userId: number): Promise<SessionVerdict> } | undefined;
}

/** Who sent the request, or the refusal to answer with. */
export type ClientIdentity =
  | { ok: true; userId: number; browserUuid: string }
  | { ok: false; refusal: HttpRefusalCode & (
    | 'GW_REFUSE_SSE_ORIGIN' | 'GW_REFUSE_EVENTS_KEY_IN_URL' | 'GW_REFUSE_EVENTS_USER_ID' | 'GW_REFUSE_EVENTS_BROWSER_UUID'
    | 'GW_REFUSE_EVENTS_UNAUTHORIZED' | 'GW_REFUSE_SSE_DIRECTORY_UNAVAILABLE' | 'GW_REFUSE_EVENTS_SESSION_NOT_LOGGED_IN'
    | 'GW_REFUSE_EVENTS_SESSION_OTHER_USER' | 'GW_REFUSE_EVENTS_SESSION_UNAVAILABLE') };

/** The credential of a request: `Authorization: Bearer <key>`, else `X-Api-Key`; undefined when absent. */
export function credentialOf(req: IncomingMessage): string | undefined {
  const auth = req.headers.authorization;
  if (auth !== undefined) {
    const m = /^Bearer\s+(\S+)\s*$/i.exec(auth);
    return m ? m[1] : undefined;
  }
  const x = req.headers['x-api-key'];
  const v = (Array.isArray(x) ? x[0] : x)?.trim();
  return v ? v : undefined;
}

/**
 * Authenticate `req`. `browserUuid` is required when `requireBrowser`
 * (receipts name their device), else `''` when absent.
 */
export async function authenticateClient(req: IncomingMessage, auth: ClientAuth, requireBrowser: boolean): Promise<ClientIdentity> {
  if (!originAllowed(req.headers.origin, auth.allowedOrigins)) return { ok: false, refusal: 'GW_REFUSE_SSE_ORIGIN' };
  const query = queryOf(req.url);
  if (CREDENTIAL_PARAMS.some((p) => query.has(p))) return { ok: false, refusal: 'GW_REFUSE_EVENTS_KEY_IN_URL' };
  const rawUser = query.get('userId');
  let userId = rawUser !== null && /^\d{1,15}$/.test(rawUser) ? Number(rawUser) : 0;
  // A credential bound to a user (a token, a Web Push device credential) may leave userId out: it names the user.
  if (rawUser !== null && userId <= 0) return { ok: false, refusal: 'GW_REFUSE_EVENTS_USER_ID' };
  const browserUuid = query.get('browserUuid') ?? '';
  if (requireBrowser && browserUuid === '') return { ok: false, refusal: 'GW_REFUSE_EVENTS_BROWSER_UUID' };
  if (browserUuid.length > 256) return { ok: false, refusal: 'GW_REFUSE_EVENTS_BROWSER_UUID' };
  const key = credentialOf(req);
  if (key === undefined) return { ok: false, refusal: 'GW_REFUSE_EVENTS_UNAUTHORIZED' };
  const cred = await auth.authenticate(key);
  if (!cred.ok && cred.refusal === 'GW_REFUSE_DIRECTORY_UNAVAILABLE') return { ok: false, refusal: 'GW_REFUSE_SSE_DIRECTORY_UNAVAILABLE' };
  if (!cred.ok) return { ok: false, refusal: 'GW_REFUSE_EVENTS_UNAUTHORIZED' };
  if (rawUser === null) {
    if (cred.token === undefined || cred.token.userId <= 0) return { ok: false, refusal: 'GW_REFUSE_EVENTS_USER_ID' };
    userId = cred.token.userId;
  }
  if (tokenUserMismatch(cred, userId) !== undefined) return { ok: false, refusal: 'GW_REFUSE_EVENTS_UNAUTHORIZED' };
  if (auth.session !== undefined && cred.token === undefined) {
    const v = await auth.session.check(req.headers.cookie, userId);
    if (!v.ok) {
      return {
        ok: false,
        refusal: v.status === 403 ? 'GW_REFUSE_EVENTS_SESSION_OTHER_USER' : v.status === 401 ? 'GW_REFUSE_EVENTS_SESSION_NOT_LOGGED_IN' : 'GW_REFUSE_EVENTS_SESSION_UNAVAILABLE',
      };
    }
  }
  return { ok: true, userId, browserUuid };
}
