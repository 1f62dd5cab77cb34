import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Directory } from './directory/directory.js';
import { GatewayError } from './errors.js';

/** The subprotocol the openITCOCKPIT frontend offers first and the server echoes. */
export const ACCESS_TOKEN_PROTOCOL = 'access_token';

/** Who a successful handshake authenticated. */
export interface Identity {
  userId: number;
  browserUuid: string;
}

/** Outcome of {@link authenticate}: an identity, or the HTTP status to refuse with. */
export type AuthResult =
  | ({ ok: true } & Identity)
  | { ok: false; status: 401 | 503; reason: string };

const POSITIVE_INT = /^\d{1,15}$/;

/**
 * Authenticate a WebSocket upgrade request (PROTOCOL.md §1 "Handshake"):
 * query `userId` (integer > 0) and `browserUuid` (non-empty), header
 * `Sec-WebSocket-Protocol: access_token, <key>` with exactly two values and a
 * key the directory accepts. `reason` is for logs and never contains the key.
 * A directory that cannot answer gives 503 rather than a misleading 401.
 * Signed per-user tokens and an Origin allow-list plug in here.
 */
export async function authenticate(req: IncomingMessage, directory: Directory): Promise<AuthResult> {
  const query = new URL(req.url ?? '/', 'http://localhost').searchParams;
  const rawUser = query.get('userId') ?? '';
  const userId = POSITIVE_INT.test(rawUser) ? Number(rawUser) : 0;
  if (userId <= 0) return { ok: false, status: 401, reason: 'userId must be an integer > 0' };
  const browserUuid = query.get('browserUuid') ?? '';
  if (browserUuid === '') return { ok: false, status: 401, reason: 'browserUuid is missing or empty' };

  const header = req.headers['sec-websocket-protocol'];
  if (typeof header !== 'string') return { ok: false, status: 401, reason: 'Sec-WebSocket-Protocol header missing' };
  const values = header.split(',').map((v) => v.trim());
  if (values.length !== 2) return { ok: false, status: 401, reason: 'Sec-WebSocket-Protocol must carry exactly two values' };
  if (values[0] !== ACCESS_TOKEN_PROTOCOL) return { ok: false, status: 401, reason: 'first Sec-WebSocket-Protocol value is not access_token' };
  const key = values[1] ?? '';
  if (key === '') return { ok: false, status: 401, reason: 'API key is empty' };

  try {
    if (!(await directory.verifyApiKey(key))) return { ok: false, status: 401, reason: 'API key not accepted' };
  } catch (err) {
    if (err instanceof GatewayError && err.code === 'GW_ERR_DIRECTORY_UNAVAILABLE') {
      return { ok: false, status: 503, reason: `directory unavailable: ${err.message}` };
    }
    throw err;
  }
  return { ok: true, userId, browserUuid };
}

const STATUS_TEXT: Record<number, string> = {
  400: 'Bad Request', 401: 'Unauthorized', 403: 'Forbidden', 426: 'Upgrade Required',
  500: 'Internal Server Error', 503: 'Service Unavailable',
};

/**
 * Answer an upgrade request with a plain HTTP error on the raw socket, then
 * destroy it; the upgrade never happens.
 */
export function rejectUpgrade(socket: Duplex, status: number, body: string): void {
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
    '\r\n' + body,
  );
}

/** Select `access_token` when offered (ws `handleProtocols`); authenticate() already checked the rest. */
export function selectProtocol(protocols: Set<string>): string | false {
  return protocols.has(ACCESS_TOKEN_PROTOCOL) ? ACCESS_TOKEN_PROTOCOL : false;
}
