import type { ServerResponse } from 'node:http';

/**
 * Every refusal the gateway answers on a wire, by code: the HTTP status
 * (before a WebSocket upgrade, at `POST /message`, at the SSE endpoints) or
 * the WebSocket close code (after the upgrade), with its exact text, byte
 * for byte, and the extra headers it carries. Code branches on the code,
 * never on a text; docs/errors.md lists every row (a test compares it with
 * this table). The openITCOCKPIT-compatible texts are its own
 * (docs/protocol/openitcockpit.md); the Icinga ones follow Icinga's daemon
 * (docs/protocol/icinga-sse.md). A retired code is never reused.
 *
 * A text containing `{detail}` is a template: {@link refusalText} puts the
 * caller's detail there.
 */

/** An answer over HTTP. */
export interface HttpRefusal {
  readonly status: number;
  /** The body; `{detail}` is replaced by the caller's detail. An empty body is sent without Content-Type. */
  readonly text: string;
  /** Response headers besides Content-Type and Content-Length, in wire order. */
  readonly headers?: Readonly<Record<string, string>>;
  /** Where and when it is answered (docs/errors.md). */
  readonly when: string;
}

/** A WebSocket close after the handshake (RFC 6455 §7.4: 1000–2999 standard, 4000–4999 ours). */
export interface CloseRefusal {
  readonly close: number;
  /** The close reason. */
  readonly text: string;
  readonly when: string;
}

export const Refusals = {
  // ---- POST /message (docs/protocol/openitcockpit.md "/message") ----
  GW_REFUSE_MESSAGE_METHOD: { status: 405, text: 'Method not allowed', headers: { Allow: 'POST' }, when: '`/message` with a method other than POST' },
  GW_REFUSE_SHUTTING_DOWN: { status: 503, text: 'Shutting down', when: '`/message`, `/icinga/notifications` or a WebSocket handshake while the gateway shuts down' },
  GW_REFUSE_TOO_MANY_FAILED_AUTH: { status: 429, text: 'Too many failed authentications', when: '`/message` or `/icinga/notifications` from an address with `limits.maxFailedHandshakesPerIp` failed handshakes or intake authentications within `limits.failedHandshakeWindowMs` (one budget for all)' },
  GW_REFUSE_UNAUTHORIZED: { status: 401, text: 'Unauthorized', when: '`/message` without a valid key or intake token (userId 0); a WebSocket handshake with a bad `userId`/`browserUuid`, protocol header or key, a token that is forged, expired, for another `userId` or of the intake scope, or a key `auth.mode` does not accept' },
  GW_REFUSE_PAYLOAD_TOO_LARGE: { status: 413, text: 'Payload too large', headers: { Connection: 'close' }, when: '`/message` body over `message.maxBodyBytes`' },
  GW_REFUSE_INVALID_JSON: { status: 400, text: 'Invalid JSON', when: '`/message` body that is not a JSON object' },
  GW_REFUSE_INVALID_USER_ID: { status: 400, text: 'Invalid userId', when: '`/message` whose `userId` is missing or not an integer > 0' },
  GW_REFUSE_INVALID_FIELD: { status: 400, text: '{detail}', when: '`/message` with another field invalid: the detail names it, e.g. `Invalid state: …`' },
  GW_REFUSE_TOO_OLD: { status: 202, text: 'Notification is too old and was dropped', when: '`/message` whose `timestamp` is more than `message.maxAgeSeconds` old (dropped, logged)' },
  GW_REFUSE_NOT_REGISTERED: { status: 202, text: 'User is not registered for push notifications', when: '`/message` for a user no browser, phone or routed channel would reach (dropped, logged)' },
  GW_REFUSE_NO_HOST: { status: 400, text: 'No host found for given UUID', when: '`/message` whose `hostUuid` the directory does not know' },
  GW_REFUSE_NO_SERVICE: { status: 400, text: 'No service found for given UUID', when: '`/message` whose `serviceUuid` the directory does not know' },
  GW_REFUSE_NOT_ACCEPTED: { status: 503, text: 'Notification not accepted: {detail}', when: '`/message` when the outbox refused a delivery (full, closing); the detail is `channel <name>: <reason>` or `mobile push: <reason>`' },
  GW_REFUSE_DIRECTORY_UNAVAILABLE: { status: 503, text: 'Directory unavailable', when: '`/message` or a WebSocket handshake while the directory cannot answer' },
  GW_REFUSE_INTERNAL: { status: 500, text: 'Internal server error', when: 'a bug in a handler or in the handshake (logged with the error)' },

  // ---- WebSocket handshake and the WebSocket endpoint ----
  GW_REFUSE_UPGRADE_REQUIRED: { status: 426, text: 'Upgrade Required: this path is a WebSocket endpoint', when: 'a plain HTTP request on the WebSocket endpoint (any path that is no HTTP route)' },
  GW_REFUSE_UPGRADE_ON_HTTP_ROUTE: { status: 400, text: 'This path does not accept WebSocket upgrades', when: 'a WebSocket upgrade on an HTTP route (`/message`, `/healthz`, …)' },
  GW_REFUSE_TOO_MANY_FAILED_HANDSHAKES: { status: 429, text: 'Too many failed handshakes', when: 'a WebSocket handshake from an address with `limits.maxFailedHandshakesPerIp` failed (401/403) handshakes within `limits.failedHandshakeWindowMs` (`failed-handshakes`)' },
  GW_REFUSE_ORIGIN: { status: 403, text: 'Origin not allowed', when: 'a WebSocket handshake whose `Origin` is not in `auth.allowedOrigins` (`origin`)' },
  GW_REFUSE_USER_CONNECTIONS: { status: 429, text: 'Too many connections for this user', when: 'a WebSocket handshake when the user already has `limits.maxConnectionsPerUser` open connections (`user-connections`)' },
  GW_REFUSE_SESSION_NOT_LOGGED_IN: { status: 401, text: 'Unauthorized', when: 'with `auth.openitcockpitSession`: a WebSocket handshake with the API key whose `Cookie` carries no logged-in openITCOCKPIT session (`pushgate_session_checks_total{result="not-logged-in"}`)' },
  GW_REFUSE_SESSION_OTHER_USER: { status: 403, text: 'Forbidden', when: 'with `auth.openitcockpitSession`: a WebSocket handshake whose `userId` is not the user of the `Cookie`\'s openITCOCKPIT session (logged as a warning; `result="other-user"`)' },
  GW_REFUSE_SESSION_UNAVAILABLE: { status: 503, text: 'Session check unavailable', when: 'with `auth.openitcockpitSession` and `onUnavailable: refuse`: a WebSocket handshake while openITCOCKPIT cannot be asked whose session it is (`result="unavailable-refused"`)' },
  GW_REFUSE_LEGACY_UNREGISTERED: { status: 429, text: 'Too many unregistered connections', when: 'a legacy-frontend WebSocket (no `Sec-WebSocket-Protocol`) while `websocket.legacy.maxUnregistered` legacy sockets wait for their register (`legacy-unregistered`)' },
  GW_REFUSE_IP_CONNECTIONS: { status: 429, text: 'Too many connections from this address', when: 'a WebSocket handshake when the peer address already has `limits.maxConnectionsPerIp` open connections (`ip-connections`)' },

  // ---- GET /events (docs/protocol/extensions.md) ----
  GW_REFUSE_EVENTS_METHOD: { status: 405, text: 'Method Not Allowed: use GET\n', headers: { Allow: 'GET' }, when: '`/events` with a method other than GET' },
  GW_REFUSE_SSE_ORIGIN: { status: 403, text: 'Forbidden: origin not allowed\n', when: '`/events` or an Icinga subscription whose `Origin` is not in `auth.allowedOrigins`' },
  GW_REFUSE_EVENTS_KEY_IN_URL: { status: 400, text: 'Bad Request: send the API key in the Authorization or X-Api-Key header, never in the URL\n', when: '`/events` with a credential in the query string (`apiKey`, `api_key`, `key`, `token`, `access_token`)' },
  GW_REFUSE_EVENTS_USER_ID: { status: 400, text: 'Bad Request: userId must be an integer > 0\n', when: '`/events` whose `userId` is missing or not an integer > 0' },
  GW_REFUSE_EVENTS_BROWSER_UUID: { status: 400, text: 'Bad Request: browserUuid is missing or empty\n', when: '`/events` without a `browserUuid`' },
  GW_REFUSE_EVENTS_UNAUTHORIZED: { status: 401, text: 'Unauthorized\n', headers: { 'WWW-Authenticate': 'Bearer' }, when: '`/events` without a valid key or token (a token must name the query\'s `userId`)' },
  GW_REFUSE_SSE_DIRECTORY_UNAVAILABLE: { status: 503, text: 'Service Unavailable: directory unavailable\n', headers: { 'Retry-After': '3' }, when: '`/events` or an Icinga subscription while the directory (the Icinga database) cannot answer' },
  GW_REFUSE_EVENTS_SESSION_NOT_LOGGED_IN: { status: 401, text: 'Unauthorized\n', when: 'with `auth.openitcockpitSession`: `/events` with the API key whose `Cookie` carries no logged-in openITCOCKPIT session' },
  GW_REFUSE_EVENTS_SESSION_OTHER_USER: { status: 403, text: 'Forbidden\n', when: 'with `auth.openitcockpitSession`: `/events` whose `userId` is not the user of the `Cookie`\'s session' },
  GW_REFUSE_EVENTS_SESSION_UNAVAILABLE: { status: 503, text: 'Session check unavailable\n', headers: { 'Retry-After': '3' }, when: 'with `auth.openitcockpitSession` and `onUnavailable: refuse`: `/events` while openITCOCKPIT cannot be asked' },
  GW_REFUSE_EVENTS_STREAM_LIMIT: { status: 204, text: '', when: '`/events` when the (user, browserUuid) already has `events.maxStreamsPerBrowser` streams: EventSource stops reconnecting' },

  // ---- Icinga subscriptions (docs/protocol/icinga-sse.md) ----
  GW_REFUSE_ICINGA_METHOD: { status: 405, text: 'Method Not Allowed: use GET', headers: { Allow: 'GET' }, when: 'an Icinga subscription with a method other than GET' },
  GW_REFUSE_ICINGA_VERSION: { status: 400, text: 'Bad Request: {detail}; this server speaks version 1\n', when: 'an Icinga subscription for another protocol version; the detail is `invalid protocol version` or `unsupported protocol version <n>`' },
  GW_REFUSE_ICINGA_SHUTTING_DOWN: { status: 503, text: 'Service Unavailable: shutting down\n', when: 'an Icinga subscription while the endpoint shuts down' },
  GW_REFUSE_ICINGA_REFUSED: { status: 204, text: '', when: 'an Icinga subscription that fails authentication (no or unknown session cookie, user agent, expired or superseded session, no contact) or whose browser already has `icinga.maxStreamsPerBrowser` streams: EventSource stops reconnecting' },
  GW_REFUSE_NOT_FOUND: { status: 404, text: 'Not found', when: 'any other path on the Icinga endpoint\'s own listener (`icinga.listen`)' },

  // ---- POST /icinga/notifications, the channel plugin's intake (docs/protocol/icinga-channel.md) ----
  GW_REFUSE_ICINGA_CHANNEL_METHOD: { status: 405, text: 'Method not allowed', headers: { Allow: 'POST' }, when: '`/icinga/notifications` with a method other than POST' },
  GW_REFUSE_ICINGA_CHANNEL_UNAUTHORIZED: { status: 401, text: 'Unauthorized: missing or unknown intake token', headers: { 'WWW-Authenticate': 'Bearer' }, when: '`/icinga/notifications` without `Authorization: Bearer <token>` naming one of `icinga.channel.tokens`' },
  GW_REFUSE_ICINGA_CHANNEL_TOO_LARGE: { status: 413, text: 'Payload too large', headers: { Connection: 'close' }, when: '`/icinga/notifications` body over `icinga.channel.maxBodyBytes`' },
  GW_REFUSE_ICINGA_CHANNEL_INVALID: { status: 400, text: 'Invalid notification: {detail}', when: '`/icinga/notifications` whose body is not JSON or not a notification request, or whose contact has no usable address of the channel type; the detail names the field' },
  GW_REFUSE_ICINGA_CHANNEL_UNRESOLVED: { status: 422, text: 'Recipient not resolved: {detail}', when: '`/icinga/notifications` for an Icinga contact username that pushgate cannot turn into a contact: `icinga.enabled` is off, the request has no incident, or the Icinga database has no pending notification of the incident for that contact on a channel of that type' },
  GW_REFUSE_ICINGA_CHANNEL_DATABASE_UNAVAILABLE: { status: 503, text: 'Icinga database unavailable', when: '`/icinga/notifications` for a contact username while the Icinga database cannot answer' },
  GW_REFUSE_ICINGA_CHANNEL_NOT_ACCEPTED: { status: 503, text: 'Notification not accepted: {detail}', when: '`/icinga/notifications` when the outbox refused a delivery or the journal could not be written; the detail names the refusing part' },
  // ---- The Web Push app and its API under webPush.appPath (docs/web-push.md) ----
  GW_REFUSE_WEBPUSH_METHOD: { status: 405, text: 'Method Not Allowed\n', when: 'a Web Push app path with a method it does not take (the API: POST, DELETE for a subscription; files: GET, HEAD)' },
  GW_REFUSE_WEBPUSH_NOT_FOUND: { status: 404, text: 'Not Found\n', when: 'a path under `webPush.appPath` that is neither an app file nor an API route' },
  GW_REFUSE_WEBPUSH_UNAUTHORIZED: { status: 401, text: 'Unauthorized\n', headers: { 'WWW-Authenticate': 'Bearer' }, when: 'the Web Push API without `Authorization: Bearer <credential>` the gateway accepts: a device credential that is unknown or revoked, a token that is forged, expired or of the intake scope, a key `auth.mode` refuses, or the API key without a `userId` in the body' },
  GW_REFUSE_WEBPUSH_INVALID: { status: 400, text: 'Bad Request: {detail}\n', when: 'a Web Push API body that is not JSON or misses a field; the detail names it (`keys.auth must be 16 bytes`)' },
  GW_REFUSE_WEBPUSH_ENDPOINT: { status: 400, text: 'Bad Request: endpoint refused: {detail}\n', when: 'a subscription whose endpoint is not `https:`, not on the push-service allow-list (`webPush.allowHosts`), or resolves to a loopback, private or link-local address (logged; `pushgate_webpush_subscriptions_total{event="refused"}`)' },
  GW_REFUSE_WEBPUSH_ENROL: { status: 403, text: 'Forbidden: {detail}\n', when: 'an enrolment link that was used already or never issued (`link unknown or used`), has expired (`link expired`), or names an Icinga contact the directory does not know (`no such contact`)' },
  GW_REFUSE_WEBPUSH_TOO_LARGE: { status: 413, text: 'Payload Too Large\n', headers: { Connection: 'close' }, when: 'a Web Push API body over 8 KiB' },
  GW_REFUSE_WEBPUSH_UNAVAILABLE: { status: 503, text: 'Service Unavailable: {detail}\n', headers: { 'Retry-After': '3' }, when: 'the Web Push API while the store (state directory, Redis) or the directory cannot answer' },

  // ---- WebSocket closes (after the handshake) ----
  GW_CLOSE_GOING_AWAY: { close: 1001, text: 'Server shutting down', when: 'the gateway is shutting down (SIGTERM/SIGINT)' },
  GW_CLOSE_TOO_BIG: { close: 1009, text: '', when: 'a client frame was larger than `websocket.maxPayloadBytes` (8192 bytes by default); ws sends it' },
  GW_CLOSE_SLOW_CONSUMER: { close: 4000, text: 'send buffer over limit', when: 'the gateway stopped writing to a slow client: its send buffer was above `websocket.maxBufferedBytes` (1 MiB by default); when even the close frame cannot be flushed the socket is cut and the client sees 1006' },
  GW_CLOSE_WRITE_TIMEOUT: { close: 4001, text: 'write timeout', when: 'a write to the client was not flushed within `websocket.writeTimeoutMs` (10 s by default); cut (1006 at the client) when the close frame cannot be flushed either' },
  GW_CLOSE_INTERNAL: { close: 1011, text: 'internal error', when: 'a bug while handling a client frame (logged with the error)' },
  GW_CLOSE_LEGACY_REGISTER_TIMEOUT: { close: 4002, text: 'register timeout', when: 'legacy-frontend socket (docs/protocol/openitcockpit-legacy.md): no valid `register` within `websocket.legacy.registerTimeoutMs` (10 s by default)' },
  GW_CLOSE_LEGACY_UNAUTHORIZED: { close: 4003, text: 'key not accepted', when: 'legacy socket: the `key` of a `register` is not accepted (wrong API key, a token that is forged, expired, for another userId or of the intake scope, a key `auth.mode` refuses), or a later frame carries another key than its `register` (the PHP server closed with 1000)' },
  GW_CLOSE_LEGACY_INVALID_REGISTER: { close: 4004, text: '{detail}', when: 'legacy socket: a `register` without a userId (integer > 0 or a string of digits) or a non-empty `browserUuid`, with another socket\'s `uuid`, a second `register` as another user or browser, or more than 8 frames before registering; the reason names which' },
  GW_CLOSE_LEGACY_SESSION: { close: 4005, text: '{detail}', when: 'legacy socket with `auth.openitcockpitSession`: the `register` names another user than the session of the upgrade\'s Cookie (`session belongs to another user`, logged as a warning) or the Cookie carries no logged-in session (`no logged-in openITCOCKPIT session`)' },
  GW_CLOSE_LEGACY_USER_CONNECTIONS: { close: 4006, text: 'too many connections for this user', when: 'legacy socket: the user already has `limits.maxConnectionsPerUser` open connections (both generations count)' },
  GW_CLOSE_LEGACY_DIRECTORY_UNAVAILABLE: { close: 4007, text: 'directory unavailable', when: 'legacy socket: the directory could not verify the key (database down)' },
  GW_CLOSE_LEGACY_SESSION_UNAVAILABLE: { close: 4008, text: 'session check unavailable', when: 'legacy socket with `auth.openitcockpitSession` and `onUnavailable: refuse`: openITCOCKPIT could not be asked whose session it is (unreachable, TLS not trusted, slower than `timeoutMs`, a status other than 200/401/403, no `user.id`)' },
  GW_CLOSE_TOKEN_EXPIRED: { close: 4401, text: 'token expired, fetch a new one', when: 'the signed token the connection authenticated with expired: fetch a new token, then reconnect; checked by the heartbeat sweep, so the close comes at most a quarter of the shortest `websocket.*Ms` interval late' },
} as const satisfies Record<string, HttpRefusal | CloseRefusal>;

/** One of the codes of {@link Refusals}. */
export type RefusalCode = keyof typeof Refusals;

/** The codes answered over HTTP. */
export type HttpRefusalCode = { [C in RefusalCode]: (typeof Refusals)[C] extends { status: number } ? C : never }[RefusalCode];

/** The codes that close a WebSocket. */
export type CloseRefusalCode = Exclude<RefusalCode, HttpRefusalCode>;

/** `[detail]` for a template code, nothing for a fixed text. */
export type DetailArgs<C extends RefusalCode> = (typeof Refusals)[C]['text'] extends `${string}{detail}${string}` ? [detail: string] : [];

/** The HTTP codes whose text takes no detail. */
export type FixedHttpRefusalCode = { [C in HttpRefusalCode]: DetailArgs<C> extends [] ? C : never }[HttpRefusalCode];

/** The exact text of `code`, with the detail in its place for a template. */
export function refusalText<C extends RefusalCode>(code: C, ...detail: DetailArgs<C>): string {
  const text: string = Refusals[code].text;
  return detail.length === 0 ? text : text.replace('{detail}', () => detail[0]!);
}

/** The HTTP status of `code`. */
export function refusalStatus(code: HttpRefusalCode): number {
  return Refusals[code].status;
}

/** The close code of `code`. */
export function closeCode(code: CloseRefusalCode): number {
  return Refusals[code].close;
}

/**
 * Answers `res` with the refusal: status, `Content-Type: text/plain;
 * charset=utf-8`, `Content-Length`, the refusal's headers, the text. An
 * empty text (204) is answered with none of those headers.
 */
export function answerRefusal<C extends HttpRefusalCode>(res: ServerResponse, code: C, ...detail: DetailArgs<C>): void {
  const r: HttpRefusal = Refusals[code];
  const text = refusalText(code, ...detail);
  if (text === '') {
    if (r.headers) res.writeHead(r.status, r.headers);
    else res.writeHead(r.status);
    res.end();
    return;
  }
  res.writeHead(r.status, { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': Buffer.byteLength(text), ...r.headers });
  res.end(text);
}
