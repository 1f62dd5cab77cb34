import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { UsedTokenStore } from './used-tokens.js';

/**
 * Signed single-use action tokens: what an "Acknowledge" button of a shown
 * notification carries (docs/acknowledge.md). One token allows one action
 * (`acknowledge`) by one user on one object of one notification, until it
 * expires, once.
 *
 *     a1.<action>.<id>.<userId>.<expiresAt>.<notificationId>.<objectKey>.<sig>
 *
 * `id` is 16 random bytes, `expiresAt` unix seconds, `notificationId` and
 * `objectKey` unpadded base64url of their UTF-8 text, `sig` the unpadded
 * base64url HMAC-SHA256 of everything before the last `.` under one of
 * `auth.secrets` (the same secrets as the user tokens of token.ts: the
 * first mints, every one verifies). The `a1.` prefix keeps the two kinds
 * apart: a user token never verifies as an action token, nor the reverse.
 *
 * Pure except for {@link ActionTokens.redeem}, which records used ids in a
 * {@link UsedTokenStore}; the caller passes the clock.
 */

/** Version prefix of every action token. */
export const ACTION_TOKEN_PREFIX = 'a1.';
/** Longest notification id a token carries, in bytes. */
export const MAX_NOTIFICATION_ID_BYTES = 256;
/** Longest object key a token carries, in bytes. */
export const MAX_OBJECT_KEY_BYTES = 1024;
/** Default lifetime of a minted token, seconds (one day). */
export const DEFAULT_ACTION_TOKEN_TTL_S = 86_400;

const SIG_BYTES = 32;
const ID_BYTES = 16;
const B64 = '[A-Za-z0-9_-]';
const TOKEN = new RegExp(
  `^a1\\.([a-z]{1,32})\\.(${B64}{22})\\.([1-9]\\d{0,14})\\.([1-9]\\d{0,11})\\.(${B64}{2,${Math.ceil((MAX_NOTIFICATION_ID_BYTES * 4) / 3)}})\\.(${B64}{2,${Math.ceil((MAX_OBJECT_KEY_BYTES * 4) / 3)}})\\.(${B64}{43})$`,
);

/** What a token is bound to. */
export interface ActionClaims {
  /** The action it allows, lower-case letters: `acknowledge`. */
  action: string;
  /** The user it was minted for (> 0). */
  userId: number;
  /** The notification it came with. */
  notificationId: string;
  /** The object it acts on, `<host>[/<service>]` (engine.ts). */
  objectKey: string;
  /** Unix seconds; the token is refused from then on. */
  expiresAt: number;
}

/** A verified token's claims and its id (what single use is recorded by). */
export interface VerifiedAction extends ActionClaims {
  id: string;
}

/** Outcome of {@link verifyActionToken}. */
export type ActionTokenResult =
  | { ok: true; claims: VerifiedAction }
  | { ok: false; reason: 'malformed' | 'bad-signature' | 'expired' };

/** Why {@link ActionTokens.redeem} refused a token. */
export type RedeemRefusal =
  | 'malformed' | 'bad-signature' | 'expired'
  | 'wrong-action' | 'wrong-user' | 'wrong-notification' | 'wrong-object'
  | 'used' | 'store-full';

/** Outcome of {@link ActionTokens.redeem}. */
export type RedeemResult = { ok: true; claims: VerifiedAction } | { ok: false; reason: RedeemRefusal };

function sign(payload: string, secret: string): Buffer {
  return createHmac('sha256', secret).update(payload).digest();
}

function encodeText(text: string): string {
  return Buffer.from(text, 'utf8').toString('base64url');
}

/** The text of a canonical base64url field of valid UTF-8, else undefined. */
function decodeText(field: string): string | undefined {
  const text = Buffer.from(field, 'base64url').toString('utf8');
  return encodeText(text) === field ? text : undefined;
}

/**
 * Mint a token for `claims`, signed with `secret` (the first of
 * `auth.secrets`). Throws RangeError on claims no token can carry.
 * @param id 16 bytes; random unless given (tests).
 */
export function mintActionToken(claims: ActionClaims, secret: string, id: Buffer = randomBytes(ID_BYTES)): string {
  if (!/^[a-z]{1,32}$/.test(claims.action)) throw new RangeError('action must be 1 to 32 lower-case letters');
  if (!Number.isSafeInteger(claims.userId) || claims.userId < 1) throw new RangeError('userId must be an integer >= 1');
  if (!Number.isSafeInteger(claims.expiresAt) || claims.expiresAt < 1 || claims.expiresAt > 999_999_999_999) throw new RangeError('expiresAt must be a positive unix time in seconds');
  const n = Buffer.byteLength(claims.notificationId);
  if (n === 0 || n > MAX_NOTIFICATION_ID_BYTES) throw new RangeError(`notificationId must be 1 to ${MAX_NOTIFICATION_ID_BYTES} bytes`);
  const k = Buffer.byteLength(claims.objectKey);
  if (k === 0 || k > MAX_OBJECT_KEY_BYTES) throw new RangeError(`objectKey must be 1 to ${MAX_OBJECT_KEY_BYTES} bytes`);
  if (id.length !== ID_BYTES) throw new RangeError(`id must be ${ID_BYTES} bytes`);
  const payload = `${ACTION_TOKEN_PREFIX}${claims.action}.${id.toString('base64url')}.${claims.userId}.${claims.expiresAt}.${encodeText(claims.notificationId)}.${encodeText(claims.objectKey)}`;
  return `${payload}.${sign(payload, secret).toString('base64url')}`;
}

/**
 * Check a token's shape, signature (against every secret, in time
 * independent of which one matches) and expiry (`expiresAt <= nowS` is
 * expired), in that order: a forged token never learns whether its expiry
 * would have passed. Says nothing about single use: see {@link ActionTokens.redeem}.
 */
export function verifyActionToken(token: string, secrets: readonly string[], nowS: number): ActionTokenResult {
  const m = TOKEN.exec(token);
  if (!m) return { ok: false, reason: 'malformed' };
  const sigText = m[7] as string;
  const given = Buffer.from(sigText, 'base64url');
  if (given.length !== SIG_BYTES || given.toString('base64url') !== sigText) return { ok: false, reason: 'malformed' };
  const payload = token.slice(0, token.length - sigText.length - 1);
  let found = false;
  for (const secret of secrets) found = timingSafeEqual(sign(payload, secret), given) || found;
  if (!found) return { ok: false, reason: 'bad-signature' };
  const notificationId = decodeText(m[5] as string);
  const objectKey = decodeText(m[6] as string);
  if (notificationId === undefined || objectKey === undefined) return { ok: false, reason: 'malformed' };
  const expiresAt = Number(m[4]);
  if (expiresAt <= nowS) return { ok: false, reason: 'expired' };
  return { ok: true, claims: { action: m[1] as string, id: m[2] as string, userId: Number(m[3]), expiresAt, notificationId, objectKey } };
}

/** What the request presenting a token is about; every given field must match the token. */
export interface RedeemExpectation {
  action: string;
  /** The authenticated user presenting the token. */
  userId: number;
  notificationId?: string;
  objectKey?: string;
}

/** Settings of {@link ActionTokens}. */
export interface ActionTokensOptions {
  /** `auth.secrets`: the first mints, all verify. */
  secrets: readonly string[];
  /** Where used token ids are recorded. */
  store: UsedTokenStore;
  /** Lifetime of minted tokens, seconds; default 86400. */
  ttlS?: number;
}

/** Minting and single-use redemption of action tokens. */
export class ActionTokens {
  readonly #secrets: readonly string[];
  readonly #store: UsedTokenStore;
  readonly #ttlS: number;

  constructor(opts: ActionTokensOptions) {
    if (opts.secrets.length === 0) throw new RangeError('action tokens need at least one secret (auth.secrets)');
    this.#secrets = opts.secrets;
    this.#store = opts.store;
    this.#ttlS = opts.ttlS ?? DEFAULT_ACTION_TOKEN_TTL_S;
  }

  /** A token for `claims`, valid for the configured lifetime from `nowS`. */
  mint(claims: Omit<ActionClaims, 'expiresAt'>, nowS: number): string {
    return mintActionToken({ ...claims, expiresAt: nowS + this.#ttlS }, this.#secrets[0] as string);
  }

  /**
   * Verify `token`, check that it is bound to what `expect` names, and
   * record it used. A token refused for its binding is not used up (someone
   * else presenting it cannot spend it); a used one is refused as `used`.
   */
  async redeem(token: string, expect: RedeemExpectation, nowS: number): Promise<RedeemResult> {
    const v = verifyActionToken(token, this.#secrets, nowS);
    if (!v.ok) return v;
    const c = v.claims;
    if (c.action !== expect.action) return { ok: false, reason: 'wrong-action' };
    if (c.userId !== expect.userId) return { ok: false, reason: 'wrong-user' };
    if (expect.notificationId !== undefined && c.notificationId !== expect.notificationId) return { ok: false, reason: 'wrong-notification' };
    if (expect.objectKey !== undefined && c.objectKey !== expect.objectKey) return { ok: false, reason: 'wrong-object' };
    const claim = await this.#store.claim(c.id, c.expiresAt, nowS);
    if (claim === 'used') return { ok: false, reason: 'used' };
    if (claim === 'full') return { ok: false, reason: 'store-full' };
    return { ok: true, claims: c };
  }

  /** Give a redeemed token back (its action could not be carried out: engine unreachable), so it can be used once more. */
  async release(claims: VerifiedAction): Promise<void> {
    await this.#store.release(claims.id);
  }
}
