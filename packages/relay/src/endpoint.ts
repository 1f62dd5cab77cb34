import { RelayError } from './errors.js';

/** Path of the openITCOCKPIT push gateway webhook (docs/protocol/mobile-push.md). */
export const SEND_NOTIFICATION_PATH = '/notifications/send-notification.json';

const SCHEME = /^[a-z][a-z0-9+.-]*:\/\//i;
const IPV6_BARE = /^[0-9a-f]*:[0-9a-f:.]*:[0-9a-f:.]*$/i;

/**
 * The push gateway URL for relay settings `address` and `port`
 * (docs/protocol/mobile-push.md): `https://<address>[:<port>]/notifications/send-notification.json`.
 *
 * - `https://` is assumed when `address` has no scheme; a scheme that is
 *   given (`http://`, `https://`) is kept. A bare IPv6 literal gets brackets.
 * - `port` is left out when it is the scheme's default (443 for https, 80
 *   for http); `port` 0 (unset) keeps whatever the address says.
 * - A trailing slash or path on the address is dropped: the webhook path is
 *   absolute on the gateway host.
 *
 * Pure. Throws `RelayError` `RELAY_ERR_ENDPOINT` when the result is not a
 * valid http(s) URL.
 */
export function sendNotificationUrl(address: string, port: number): string {
  const trimmed = address.trim();
  // A bare IPv6 literal (`fd00::1`) needs brackets to be a URL host.
  const host = !SCHEME.test(trimmed) && IPV6_BARE.test(trimmed) ? `[${trimmed}]` : trimmed;
  const withScheme = SCHEME.test(host) ? host : `https://${host}`;
  let url: URL;
  try {
    url = new URL(withScheme);
  } catch (cause) {
    throw new RelayError('RELAY_ERR_ENDPOINT', `push gateway address "${address}" is not a valid URL`, { cause });
  }
  if ((url.protocol !== 'https:' && url.protocol !== 'http:') || url.hostname === '') {
    throw new RelayError('RELAY_ERR_ENDPOINT', `push gateway address "${address}" must be an http(s) host`);
  }
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new RelayError('RELAY_ERR_ENDPOINT', `push gateway port ${port} is not a TCP port`);
  }
  // WHATWG URL drops a port equal to the scheme's default by itself.
  if (port !== 0) url.port = String(port);
  return `${url.protocol}//${url.host}${SEND_NOTIFICATION_PATH}`;
}
