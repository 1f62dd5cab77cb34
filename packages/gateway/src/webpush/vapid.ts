import { createECDH } from 'node:crypto';
import type { RecordStore } from './store.js';

/**
 * The VAPID identity (RFC 8292): one P-256 key pair per deployment, created
 * once and kept in the {@link RecordStore} (the state directory, mode 0600;
 * with the Redis bus, Redis, so every node signs with the same key). It is
 * never rotated silently: a browser's subscription is bound to the public
 * key it was made with (`applicationServerKey`), so a new key breaks every
 * subscription; {@link rotateVapidKeys} is the explicit way.
 */

/** A VAPID key pair, base64url without padding, as `web-push` takes them. */
export interface VapidKeys {
  /** Uncompressed P-256 point, 65 bytes (what `pushManager.subscribe` wants as `applicationServerKey`). */
  readonly publicKey: string;
  /** The private scalar, 32 bytes. */
  readonly privateKey: string;
  /** When it was created, ms since the epoch. */
  readonly createdAt: number;
}

/** Namespace and id of the key pair in the store. */
const NS = 'vapid';
const ID = 'keys';

function generate(now: number): VapidKeys {
  const ecdh = createECDH('prime256v1');
  ecdh.generateKeys();
  // getPrivateKey may return fewer than 32 bytes when the scalar has leading zeros.
  const priv = ecdh.getPrivateKey();
  const privateKey = Buffer.concat([Buffer.alloc(32 - priv.length), priv]).toString('base64url');
  return { publicKey: ecdh.getPublicKey().toString('base64url'), privateKey, createdAt: now };
}

function parse(text: string, where: string): VapidKeys {
  const v = JSON.parse(text) as Partial<VapidKeys>;
  if (typeof v.publicKey !== 'string' || Buffer.from(v.publicKey, 'base64url').length !== 65
    || typeof v.privateKey !== 'string' || Buffer.from(v.privateKey, 'base64url').length !== 32) {
    throw new Error(`the VAPID key pair in ${where} is damaged (expected a 65-byte public and a 32-byte private key)`);
  }
  return { publicKey: v.publicKey, privateKey: v.privateKey, createdAt: typeof v.createdAt === 'number' ? v.createdAt : 0 };
}

/**
 * The stored key pair, created when there is none. Two processes starting
 * together end up with the same pair (the store's `create` lets one win).
 * @param where how errors name the store (`/var/lib/pushgate/webpush/vapid/keys.json`).
 */
export async function loadVapidKeys(store: RecordStore, where: string, now = Date.now()): Promise<VapidKeys> {
  const existing = await store.get(NS, ID);
  if (existing !== undefined) return parse(existing, where);
  return parse(await store.create(NS, ID, JSON.stringify(generate(now))), where);
}

/** The stored key pair, or undefined (`pushgate vapid` without creating one). */
export async function readVapidKeys(store: RecordStore, where: string): Promise<VapidKeys | undefined> {
  const existing = await store.get(NS, ID);
  return existing === undefined ? undefined : parse(existing, where);
}

/** Replaces the key pair: every existing subscription stops working (browsers must subscribe again). */
export async function rotateVapidKeys(store: RecordStore, now = Date.now()): Promise<VapidKeys> {
  const keys = generate(now);
  await store.put(NS, ID, JSON.stringify(keys));
  return keys;
}
