import { createHash } from 'node:crypto';
import type { Notification } from '../pipeline/notification.js';

/**
 * What a push carries (docs/protocol/web-push.md): the JSON the service
 * worker shows, and the headers derived from the notification.
 */

/** RFC 8291 §4: 4096-byte record minus header (86), padding delimiter and tag leave 3993 bytes of plaintext. */
export const MAX_PLAINTEXT_BYTES = 3993;

/** RFC 8030 §5.3 `Urgency`. */
export type Urgency = 'very-low' | 'low' | 'normal' | 'high';

/** Click URL templates (`webPush.clickUrl`): `{hostUuid}`, `{serviceUuid}`, `{objectKey}`, `{id}` are replaced, URL-encoded. */
export interface ClickUrls {
  readonly host?: string | undefined;
  readonly service?: string | undefined;
  /** Used when no template applies (Icinga, tests): the app page. */
  readonly fallback: string;
}

/** The payload object (version 1). */
export interface WebPushPayload {
  v: 1;
  id: number;
  key: string;
  kind: string;
  severity: string;
  title: string;
  body: string;
  icon?: string;
  url: string;
  ts: number;
}

/** The state kinds that end or quiet an alert: never urgent. */
const QUIET_KINDS = /^(RECOVERY|ACKNOWLEDGEMENT|DOWNTIME|FLAPPING|CUSTOM_ACK)/;

/**
 * `Urgency` from the state: DOWN/UNREACHABLE/CRITICAL → high,
 * WARNING/UNKNOWN → normal, RECOVERY/OK/ACKNOWLEDGEMENT/DOWNTIME…/info → low.
 */
export function urgencyOf(n: Notification): Urgency {
  if (QUIET_KINDS.test(n.kind)) return 'low';
  switch (n.severity) {
    case 'critical': return 'high';
    case 'warning': case 'unknown': return 'normal';
    default: return 'low';
  }
}

/**
 * `Topic` (RFC 8030 §5.4, at most 32 base64url characters): from the
 * object key, so the push service replaces an undelivered PROBLEM by the
 * RECOVERY of the same object.
 */
export function topicOf(objectKey: string): string {
  return createHash('sha256').update(objectKey).digest('base64url').slice(0, 32);
}

function fill(template: string, n: Notification): string {
  const o = n.oitc;
  const values: Record<string, string> = { hostUuid: o?.hostUuid ?? '', serviceUuid: o?.serviceUuid ?? '', objectKey: n.objectKey, id: String(n.id) };
  return template.replace(/\{(hostUuid|serviceUuid|objectKey|id)\}/g, (_, k: string) => encodeURIComponent(values[k]!));
}

/** The click URL: the service or host template for openITCOCKPIT notifications that name one, else the fallback. */
export function clickUrlOf(n: Notification, urls: ClickUrls): string {
  const o = n.oitc;
  if (o !== undefined && o.serviceUuid !== '' && urls.service !== undefined) return fill(urls.service, n);
  if (o !== undefined && o.hostUuid !== '' && o.serviceUuid === '' && urls.host !== undefined) return fill(urls.host, n);
  return urls.fallback;
}

/**
 * The plaintext of one push, at most {@link MAX_PLAINTEXT_BYTES}: the body
 * is cut (ending in `…`) until it fits, never the title.
 */
export function payloadText(n: Notification, urls: ClickUrls): string {
  const p: WebPushPayload = {
    v: 1, id: n.id, key: n.objectKey, kind: n.kind, severity: n.severity, title: n.title, body: n.body,
    ...(n.oitc?.icon ? { icon: n.oitc.icon } : {}),
    url: clickUrlOf(n, urls), ts: Math.floor(n.created / 1000),
  };
  let text = JSON.stringify(p);
  if (Buffer.byteLength(text) <= MAX_PLAINTEXT_BYTES) return text;
  const chars = [...n.body];
  // Binary search on code points for the longest body that fits with its ellipsis.
  let lo = 0;
  let hi = chars.length;
  while (lo < hi) {
    const mid = Math.ceil((lo + hi) / 2);
    p.body = `${chars.slice(0, mid).join('')}…`;
    if (Buffer.byteLength(JSON.stringify(p)) <= MAX_PLAINTEXT_BYTES) lo = mid;
    else hi = mid - 1;
  }
  p.body = lo === 0 ? '' : `${chars.slice(0, lo).join('')}…`;
  text = JSON.stringify(p);
  return text;
}
