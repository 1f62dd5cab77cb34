import { WebSocket } from 'ws';
import type { Config } from '../../config.js';
import type { HandshakeGuard } from '../../auth/guard.js';
import type { Registry } from './registry.js';
import { closeCode, refusalText } from '../refusals.js';

/**
 * Liveness and back-pressure for every socket, driven by ONE timer (no timer
 * per connection). Each tick:
 * - pings every connection once `websocket.pingIntervalMs` has passed since
 *   the last round of pings;
 * - terminates a connection that sent nothing and answered no ping within
 *   `websocket.pongTimeoutMs` (close reason `pong-timeout`);
 * - closes with 4000 a socket whose `bufferedAmount` is above
 *   `websocket.maxBufferedBytes` (`slow-consumer`), and with 4001 one whose
 *   buffer has not drained for `websocket.writeTimeoutMs` (`write-timeout`);
 * - closes with 4401 a connection whose signed token expired (`token-expired`):
 *   the client fetches a new token and reconnects.
 *
 * The tick is a quarter of the shortest of those intervals, so a deadline is
 * overshot by at most 25 %.
 */
export class Heartbeat {
  readonly #registry: Registry;
  readonly #ws: Config['websocket'];
  readonly #guard: HandshakeGuard;
  readonly #timer: NodeJS.Timeout;
  #nextPingAt: number;

  /** @param guard its failure windows ride on this timer (no timer of their own). */
  constructor(registry: Registry, ws: Config['websocket'], guard: HandshakeGuard) {
    this.#registry = registry;
    this.#ws = ws;
    this.#guard = guard;
    const tick = Math.max(5, Math.floor(Math.min(ws.pingIntervalMs, ws.pongTimeoutMs, ws.writeTimeoutMs) / 4));
    this.#nextPingAt = Date.now() + ws.pingIntervalMs;
    this.#timer = setInterval(() => this.sweep(), tick);
    this.#timer.unref();
  }

  /** One pass over every connection; public so a test or shutdown can force it. */
  sweep(now = Date.now()): void {
    const { pongTimeoutMs, writeTimeoutMs, maxBufferedBytes, pingIntervalMs } = this.#ws;
    const ping = now >= this.#nextPingAt;
    if (ping) this.#nextPingAt = now + pingIntervalMs;
    this.#guard.sweep(now);
    for (const conn of this.#registry.all()) {
      if (conn.readyState !== WebSocket.OPEN) continue;
      if (now - conn.lastSeenAt > pongTimeoutMs) {
        conn.closeReason = 'pong-timeout';
        conn.terminate();
        continue;
      }
      if (conn.tokenExpiresAt !== 0 && now >= conn.tokenExpiresAt * 1000) {
        conn.closeFor('token-expired', closeCode('GW_CLOSE_TOKEN_EXPIRED'), refusalText('GW_CLOSE_TOKEN_EXPIRED'));
        continue;
      }
      const buffered = conn.bufferedAmount;
      if (buffered > maxBufferedBytes) {
        conn.closeFor('slow-consumer', closeCode('GW_CLOSE_SLOW_CONSUMER'), refusalText('GW_CLOSE_SLOW_CONSUMER'));
        continue;
      }
      if (buffered === 0) conn.bufferedSince = 0;
      else if (conn.bufferedSince === 0) conn.bufferedSince = now;
      else if (now - conn.bufferedSince > writeTimeoutMs) {
        conn.closeFor('write-timeout', closeCode('GW_CLOSE_WRITE_TIMEOUT'), refusalText('GW_CLOSE_WRITE_TIMEOUT'));
        continue;
      }
      if (ping) conn.ping();
    }
  }

  /** Stop the timer. */
  stop(): void {
    clearInterval(this.#timer);
  }
}
