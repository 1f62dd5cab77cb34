import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * Signed per-user tokens (docs/protocol/extensions.md): `v1.<userId>.<expiry>.<sig>`, where
 * `expiry` is a unix time in seconds and `sig` the unpadded base64url
 * HMAC-SHA256 of `v1.<userId>.<expiry>` under one of the configured secrets.
 *
 * userId `0` is the intake scope: such a token authorises `POST /message`
 * (for any user, like the API key) and nothing else; a token for a user
 * `> 0` authorises only that user's WebSocket and SSE subscriptions.
 *
 * Pure: no clock, no config; the caller passes both.
 */

/** Version prefix of every token this module mints. */
export const TOKEN_PREFIX = 'v1.';
/** The userId of an intake-scoped token (`POST /message`). */
export const INTAKE_SCOPE_USER = 0;
/** Shortest accepted secret, in characters (`auth.secrets`). */
export const MIN_SECRET_LENGTH = 32;

const SIG_BYTES = 32;
const TOKEN = /^v1\.(0|[1-9]\d{0,14})\.([1-9]\d{0,11})\.([A-Za-z0-9_-]{43})$/;

/** Outcome of {@link verifyToken}. */
export type TokenResult =
  | { ok: true; userId: number; expiresAt: number }
  | { ok: false; reason: 'malformed' | 'bad-signature' | 'expired' };

function sign(payload: string, secret: string): Buffer {
  return createHmac('sha256', secret).update(payload).digest();
}

/** True when `value` has the shape of a token (not that it verifies); tells tokens from API keys. */
export function looksLikeToken(value: string): boolean {
  return value.startsWith(TOKEN_PREFIX);
}

/**
 * Mint a token for `userId` (0 = intake scope) valid until `expiresAt`
 * (unix seconds), signed with `secret` (the first of `auth.secrets`).
 */
export function mintToken(userId: number, expiresAt: number, secret: string): string {
  if (!Number.isSafeInteger(userId) || userId < 0) throw new RangeError('userId must be an integer >= 0');
  if (!Number.isSafeInteger(expiresAt) || expiresAt <= 0) throw new RangeError('expiresAt must be a positive unix time in seconds');
  const payload = `${TOKEN_PREFIX}${userId}.${expiresAt}`;
  return `${payload}.${sign(payload, secret).toString('base64url')}`;
}

/**
 * Check a token against every secret (rotation: any listed secret verifies),
 * in time independent of which secret matches: every secret is tried, the
 * signatures compared with `timingSafeEqual`. Expired means `expiresAt <= nowS`.
 * The signature is checked before the expiry, so a forged token never learns
 * whether its expiry would have been accepted.
 * @param nowS current unix time in seconds.
 */
export function verifyToken(token: string, secrets: readonly string[], nowS: number): TokenResult {
  const m = TOKEN.exec(token);
  if (!m) return { ok: false, reason: 'malformed' };
  const given = Buffer.from(m[3] as string, 'base64url');
  // The 43rd character carries 2 unused bits: refuse non-canonical encodings so a token has exactly one spelling.
  if (given.length !== SIG_BYTES || given.toString('base64url') !== m[3]) return { ok: false, reason: 'malformed' };
  const payload = `${TOKEN_PREFIX}${m[1]}.${m[2]}`;
  let found = false;
  for (const secret of secrets) found = timingSafeEqual(sign(payload, secret), given) || found;
  if (!found) return { ok: false, reason: 'bad-signature' };
  const expiresAt = Number(m[2]);
  if (expiresAt <= nowS) return { ok: false, reason: 'expired' };
  return { ok: true, userId: Number(m[1]), expiresAt };
}

const UNIT_S: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86_400 };

/**
 * Parse a duration such as `90s`, `15m`, `8h`, `30d` (or bare seconds) into
 * seconds; `undefined` when it is not one.
 */
export function parseDurationSeconds(text: string): number | undefined {
  const m = /^(\d{1,9})([smhd]?)$/.exec(text.trim());
  if (!m) return undefined;
  const s = Number(m[1]) * (UNIT_S[m[2] || 's'] as number);
  return s > 0 ? s : undefined;
}
