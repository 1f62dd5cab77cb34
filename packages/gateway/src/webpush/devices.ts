import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { RecordStore } from './store.js';
import type { Owner } from './subscriptions.js';

/**
 * Devices and their enrolment (docs/web-push.md "Enrolment"): `pushgate
 * enroll` stores a one-time link valid for minutes; the app redeems it once
 * for a device credential bound to that user (or Icinga contact), which is
 * how the browser then authenticates without ever holding the API key.
 * Credentials are `pgd1.<device id>.<secret>`; only the SHA-256 of the
 * secret is stored. `pushgate revoke <device>` deletes the device: its
 * credential stops working and its subscriptions receive nothing more.
 */

/** Prefix of a device credential. */
export const DEVICE_PREFIX = 'pgd1.';

/** Who an enrolment link is for: an owner, or an Icinga contact still to be resolved by username at redemption. */
export type EnrolTarget = { owner: Owner } | { contactUsername: string };

/** A stored device. */
export interface Device {
  readonly id: string;
  readonly owner: Owner;
  readonly createdAt: number;
  /** What the app said about itself at redemption (user agent, trimmed); for `pushgate devices`. */
  readonly label: string;
  /** SHA-256 of the secret, hex. */
  readonly secretHash: string;
  /** The Icinga username it was enrolled for (`enroll --contact`), so `devices --contact` finds it. */
  readonly contactUsername?: string;
}

interface LinkRecord {
  target: EnrolTarget;
  expiresAt: number;
}

const LINKS = 'enrol';
const DEVICES = 'devices';

function sha256(text: string): Buffer {
  return createHash('sha256').update(text).digest();
}

/** Looks like a device credential (then it is checked here, never against the directory's API key). */
export function looksLikeDeviceCredential(credential: string): boolean {
  return credential.startsWith(DEVICE_PREFIX);
}

/** The outcome of {@link Devices.redeem}. */
export type Redeemed =
  | { ok: true; device: Device; credential: string }
  | { ok: false; reason: 'unknown' | 'expired' | 'no-contact' };

export class Devices {
  readonly #store: RecordStore;

  constructor(store: RecordStore) {
    this.#store = store;
  }

  /** Stores a one-time link code for `target`, valid `ttlMs`; the code (put it in the link's fragment). */
  async createLink(target: EnrolTarget, ttlMs: number, now = Date.now()): Promise<string> {
    const code = randomBytes(24).toString('base64url');
    const record: LinkRecord = { target, expiresAt: now + ttlMs };
    await this.#store.put(LINKS, sha256(code).toString('base64url'), JSON.stringify(record));
    return code;
  }

  /**
   * Uses a link code once: a device and its credential, or why not (used or
   * never issued, expired). `resolveContact` turns an Icinga username into
   * its contact id (undefined: no such contact).
   */
  async redeem(code: string, label: string, resolveContact: (username: string) => Promise<number | undefined>, now = Date.now()): Promise<Redeemed> {
    if (!/^[A-Za-z0-9_-]{16,64}$/.test(code)) return { ok: false, reason: 'unknown' };
    const text = await this.#store.take(LINKS, sha256(code).toString('base64url'));
    if (text === undefined) return { ok: false, reason: 'unknown' };
    const link = JSON.parse(text) as LinkRecord;
    if (now > link.expiresAt) return { ok: false, reason: 'expired' };
    let owner: Owner;
    if ('owner' in link.target) owner = link.target.owner;
    else {
      const id = await resolveContact(link.target.contactUsername);
      if (id === undefined) return { ok: false, reason: 'no-contact' };
      owner = `contact:${id}`;
    }
    const id = randomBytes(8).toString('hex');
    const secret = randomBytes(32).toString('base64url');
    const device: Device = {
      id, owner, createdAt: now, label: label.replace(/[\u0000-\u001f]/g, '').slice(0, 120), secretHash: sha256(secret).toString('hex'),
      ...('contactUsername' in link.target ? { contactUsername: link.target.contactUsername } : {}),
    };
    await this.#store.put(DEVICES, id, JSON.stringify(device));
    return { ok: true, device, credential: `${DEVICE_PREFIX}${id}.${secret}` };
  }

  /** The device a credential belongs to, or why not: malformed or unknown (revoked or never issued). */
  async verify(credential: string): Promise<Device | undefined> {
    const m = /^pgd1\.([0-9a-f]{16})\.([A-Za-z0-9_-]{43})$/.exec(credential);
    if (!m) return undefined;
    const device = await this.get(m[1]!);
    if (device === undefined) return undefined;
    const want = Buffer.from(device.secretHash, 'hex');
    const got = sha256(m[2]!);
    return want.length === got.length && timingSafeEqual(want, got) ? device : undefined;
  }

  async get(id: string): Promise<Device | undefined> {
    if (!/^[0-9a-f]{16}$/.test(id)) return undefined;
    const text = await this.#store.get(DEVICES, id);
    return text === undefined ? undefined : (JSON.parse(text) as Device);
  }

  /** Devices of one owner (or enrolled for one Icinga username), oldest first. */
  async list(who: { owner: Owner } | { contactUsername: string }): Promise<Device[]> {
    const all = (await this.#store.list(DEVICES)).map(([, text]) => JSON.parse(text) as Device);
    const mine = 'owner' in who ? all.filter((d) => d.owner === who.owner) : all.filter((d) => d.contactUsername?.toLowerCase() === who.contactUsername.toLowerCase());
    return mine.sort((a, b) => a.createdAt - b.createdAt);
  }

  /** Deletes the device; the device when it existed (the caller removes its subscriptions). */
  async revoke(id: string): Promise<Device | undefined> {
    const device = await this.get(id);
    if (device === undefined) return undefined;
    return (await this.#store.delete(DEVICES, id)) ? device : undefined;
  }
}
