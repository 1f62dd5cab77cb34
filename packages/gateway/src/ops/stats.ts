/**
 * Plain counters of the gateway, kept for the metrics endpoint (a later
 * issue exposes them in Prometheus format). Incremented in place on the hot
 * path: no labels objects, no allocation per event.
 */
export interface GatewayStats {
  /** WebSocket connections accepted since start. */
  connectionsOpened: number;
  /** Handshakes answered with an HTTP error, by status (`"401"`, `"503"`). */
  handshakesRejected: Record<string, number>;
  /**
   * Closed connections by reason (`client`, `pong-timeout`, `slow-consumer`, `write-timeout`, `too-big`, `protocol-error`, `shutdown`, `token-expired`;
   * legacy sockets also `register-timeout`, `register-unauthorized`, `register-invalid`, `session-mismatch`, `session-unavailable`, `user-connections`, `directory-unavailable`).
   */
  closes: Record<string, number>;
  /** `/message` answers by status code (`"200"`, `"202"`, `"400"`, ...). */
  messages: Record<string, number>;
  /** Server frames written to sockets (one per routed socket). */
  framesSent: number;
  /** Client frames answered with an `Error` message (bad JSON, bad payload, unknown type). */
  clientErrors: number;
  /**
   * Requests refused by an abuse limit (SECURITY.md "Limits"), by limit:
   * `origin` (403), `user-connections`, `ip-connections`, `failed-handshakes` (429).
   */
  limitRefusals: Record<string, number>;
  /** Legacy sockets (transport/ws/legacy.ts) whose `register` was accepted. */
  legacyRegistered: number;
}

/** Fresh zeroed counters. */
export function createStats(): GatewayStats {
  return { connectionsOpened: 0, handshakesRejected: {}, closes: {}, messages: {}, framesSent: 0, clientErrors: 0, limitRefusals: {}, legacyRegistered: 0 };
}

/** Add one to `counts[key]`. */
export function count(counts: Record<string, number>, key: string): void {
  counts[key] = (counts[key] ?? 0) + 1;
}
