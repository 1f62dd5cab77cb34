import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Directory } from '../../directory/directory.js';
import { GatewayError } from '../../errors.js';
import { INTAKE_SCOPE_USER, looksLikeToken, verifyToken } from '../../auth/token.js';
import { refusalText, Refusals, type FixedHttpRefusalCode, type HttpRefusal } from '../refusals.js';

/** The subprotocol the openITCOCKPIT frontend offers first and the server echoes. */
export const ACCESS_TOKEN_PROTOCOL = 'access_token';

/** Who a successful handshake authenticated. */
export interface Identity {
  userId: number;
  browserUuid: string;
  /** Expiry of the token that authenticated it, unix seconds; absent for an API key. */
  tokenExpiresAt?: number;
}

/** Which credentials are accepted (config `auth`, SECURITY.md). */
export interface AuthPolicy {
  /** `shared-key`: the directory's API key only; `token`: signed tokens only; `both`: either. */
  readonly mode: 'shared-key' | 'token' | 'both';
  /** Token secrets; every one verifies (rotation). */
  readonly secrets: readonly string[];
  /**
   * Web Push device credentials (`pgd1.…`, webpush/devices.ts), accepted
   * whatever `mode` says when Web Push is on: the user id a credential is
   * bound to, undefined when unknown or revoked (or bound to an Icinga contact).
   */
  readonly devices?: { userOf(credential: string): Promise<number | undefined> } | undefined;
}

/** Prefix of a Web Push device credential. */
const DEVICE_PREFIX = 'pgd1.';

/** The policy of a gateway without `auth` config: the openITCOCKPIT-compatible key only. */
export const SHARED_KEY_ONLY: AuthPolicy = Object.freeze({ mode: 'shared-key', secrets: [] });

/** How a credential or a handshake is refused (transport/refusals.ts): no credential, or no directory to check it. */
export type AuthRefusal = 'GW_REFUSE_UNAUTHORIZED' | 'GW_REFUSE_DIRECTORY_UNAVAILABLE';

/** A refused credential: the refusal code, its HTTP status (`Refusals[refusal].status`) and a reason for logs. */
export interface AuthFailure {
  ok: false;
  refusal: AuthRefusal;
  status: 401 | 503;
  /** For logs; never contains the credential, never sent to the client. */
  reason: string;
}

function failure(refusal: AuthRefusal, reason: string): AuthFailure {
  return { ok: false, refusal, status: Refusals[refusal].status, reason };
}

/**
 * Outcome of {@link checkCredential}: accepted (with the token's userId and
 * expiry when it was a token), or refused.
 */
export type CredentialResult =
  | { ok: true; token?: { userId: number; expiresAt: number } }
  | AuthFailure;

/**
 * Check one credential (an API key or a signed token, token.ts) under
 * `policy`. A token is recognised by its `v1.` prefix; in `shared-key` mode
 * it is just a wrong key. `reason` never contains the credential.
 * @param nowS current unix time in seconds (token expiry).
 */
export async function checkCredential(credential: string, policy: AuthPolicy, directory: Directory, nowS: number): Promise<CredentialResult> {
  if (policy.devices !== undefined && credential.startsWith(DEVICE_PREFIX)) {
    const userId = await policy.devices.userOf(credential);
    if (userId === undefined) return failure('GW_REFUSE_UNAUTHORIZED', 'device credential unknown or revoked');
    // Bound to one user like a token, without expiry (revocation ends it: `pushgate revoke`).
    return { ok: true, token: { userId, expiresAt: Number.MAX_SAFE_INTEGER } };
  }
  if (policy.mode !== 'shared-key' && looksLikeToken(credential)) {
    const t = verifyToken(credential, policy.secrets, nowS);
    if (!t.ok) return failure('GW_REFUSE_UNAUTHORIZED', `token ${t.reason}`);
    return { ok: true, token: { userId: t.userId, expiresAt: t.expiresAt } };
  }
  if (policy.mode === 'token') return failure('GW_REFUSE_UNAUTHORIZED', 'auth.mode is token: API keys are not accepted');
  try {
    if (!(await directory.verifyApiKey(credential))) return failure('GW_REFUSE_UNAUTHORIZED', 'API key not accepted');
  } catch (err) {
    if (err instanceof GatewayError && err.code === 'GW_ERR_DIRECTORY_UNAVAILABLE') {
      return failure('GW_REFUSE_DIRECTORY_UNAVAILABLE', `directory unavailable: ${err.message}`);
    }
    throw err;
  }
  return { ok: true };
}

/** Outcome of {@link authenticate}: an identity, or the refusal. */
export type AuthResult =
  | ({ ok: true } & Identity)
  | AuthFailure;

/**
 * Bind a checked credential to the requested user: a token must name the
 * query's `userId` (the intake scope, userId 0, never subscribes). `undefined` = fine.
 */
export function tokenUserMismatch(cred: CredentialResult & { ok: true }, userId: number): string | undefined {
  if (!cred.token) return undefined;
  if (cred.token.userId === INTAKE_SCOPE_USER) return 'an intake token cannot subscribe';
  return cred.token.userId === userId ? undefined : 'token is for another userId';
}

const POSITIVE_INT = /^\d{1,15}$/;

/**
 * The query parameters of a request target. Read from after the `?` rather
 * than through `new URL`: a target starting with `//` (a proxy joining
 * `/` to its own path gives `//?userId=...`) would otherwise be taken for
 * an authority and throw.
 */
export function queryOf(target: string | undefined): URLSearchParams {
  const t = target ?? '';
  const q = t.indexOf('?');
  return new URLSearchParams(q === -1 ? '' : t.slice(q + 1));
}

/**
 * Authenticate a WebSocket upgrade request (docs/protocol/openitcockpit.md "Handshake"):
 * query `userId` (integer > 0) and `browserUuid` (non-empty), header
 * `Sec-WebSocket-Protocol: access_token, <key>` with exactly two values and a
 * key the directory accepts. `reason` is for logs and never contains the key.
 * A directory that cannot answer gives 503 rather than a misleading 401.
 * Under `policy` the key slot may carry a signed token instead
 * (docs/protocol/extensions.md): it must name the query's `userId`, and its expiry rides along in the
 * identity so the heartbeat can close the socket when it passes.
 * @param nowS current unix time in seconds (default now).
 */
export async function authenticate(req: IncomingMessage, directory: Directory, policy: AuthPolicy = SHARED_KEY_ONLY, nowS = Math.floor(Date.now() / 1000)): Promise<AuthResult> {
  const query = queryOf(req.url);
  const rawUser = query.get('userId') ?? '';
  const userId = POSITIVE_INT.test(rawUser) ? Number(rawUser) : 0;
  if (userId <= 0) return failure('GW_REFUSE_UNAUTHORIZED', 'userId must be an integer > 0');
  const browserUuid = query.get('browserUuid') ?? '';
  if (browserUuid === '') return failure('GW_REFUSE_UNAUTHORIZED', 'browserUuid is missing or empty');

  const header = req.headers['sec-websocket-protocol'];
  if (typeof header !== 'string') return failure('GW_REFUSE_UNAUTHORIZED', 'Sec-WebSocket-Protocol header missing');
  const values = header.split(',').map((v) => v.trim());
  if (values.length !== 2) return failure('GW_REFUSE_UNAUTHORIZED', 'Sec-WebSocket-Protocol must carry exactly two values');
  if (values[0] !== ACCESS_TOKEN_PROTOCOL) return failure('GW_REFUSE_UNAUTHORIZED', 'first Sec-WebSocket-Protocol value is not access_token');
  const key = values[1] ?? '';
  if (key === '') return failure('GW_REFUSE_UNAUTHORIZED', 'API key is empty');

  const cred = await checkCredential(key, policy, directory, nowS);
  if (!cred.ok) return cred;
  const mismatch = tokenUserMismatch(cred, userId);
  if (mismatch !== undefined) return failure('GW_REFUSE_UNAUTHORIZED', mismatch);
  return cred.token ? { ok: true, userId, browserUuid, tokenExpiresAt: cred.token.expiresAt } : { ok: true, userId, browserUuid };
}

/**
 * True when a request with this `Origin` header may open a WebSocket or an
 * `/events` stream (`auth.allowedOrigins`): an empty list allows any; a
 * request without Origin is not from a browser page (browsers always send it
 * on WebSocket upgrades), and Origin only defends against a foreign page
 * using a browser's credentials, so it is allowed. Compared case-insensitively,
 * a trailing `/` ignored.
 */
export function originAllowed(origin: string | string[] | undefined, allowed: readonly string[]): boolean {
  if (allowed.length === 0 || origin === undefined) return true;
  if (Array.isArray(origin)) return false;
  const o = origin.toLowerCase().replace(/\/$/, '');
  return allowed.some((a) => a.toLowerCase().replace(/\/$/, '') === o);
}

const STATUS_TEXT: Record<number, string> = {
  400: 'Bad Request', 401: 'Unauthorized', 403: 'Forbidden', 426: 'Upgrade Required', 429: 'Too Many Requests',
  500: 'Internal Server Error', 503: 'Service Unavailable',
};

/**
 * Answer an upgrade request with the refusal `code` (transport/refusals.ts)
 * on the raw socket, then destroy it; the upgrade never happens.
 */
export function refuseUpgrade(socket: Duplex, code: FixedHttpRefusalCode): void {
  const r: HttpRefusal = Refusals[code];
  rejectUpgrade(socket, r.status, refusalText(code), r.headers);
}

/**
 * Answer an upgrade request with a plain HTTP error on the raw socket, then
 * destroy it; the upgrade never happens. Prefer {@link refuseUpgrade}.
 */
export function rejectUpgrade(socket: Duplex, status: number, body: string, headers?: Readonly<Record<string, string>>): void {
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  // end() flushes the answer; destroy once it is out so a peer that never reads cannot hold the socket.
  socket.once('finish', () => socket.destroy());
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_TEXT[status] ?? 'Error'}\r\n` +
    'Connection: close\r\n' +
    'Content-Type: text/plain; charset=utf-8\r\n' +
    `Content-Length: ${Buffer.byteLength(body)}\r\n` +
    (headers === undefined ? '' : Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`).join('')) +
    '\r\n' + body,
  );
}

/** Select `access_token` when offered (ws `handleProtocols`); authenticate() already checked the rest. */
export function selectProtocol(protocols: Set<string>): string | false {
  return protocols.has(ACCESS_TOKEN_PROTOCOL) ? ACCESS_TOKEN_PROTOCOL : false;
}
