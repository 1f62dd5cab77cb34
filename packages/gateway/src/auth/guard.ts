import type { Config } from '../config.js';

/**
 * Per-address abuse limits of the WebSocket handshake (SECURITY.md
 * "Limits"): open connections per IP, and failed (401/403) handshakes per IP
 * within a window. Both maps are bounded: connection counts by the open
 * sockets themselves, failure windows by `limits.maxTrackedIps` (the oldest
 * entry is dropped first) and by {@link HandshakeGuard.sweep}, which the
 * heartbeat's one timer calls (no timer of its own). Addresses in
 * `limits.exemptAddresses` (default loopback: the local reverse proxy) are never limited.
 */
export class HandshakeGuard {
  readonly #limits: Config['limits'];
  readonly #open = new Map<string, number>();
  /** ip → failures in the window that started at `since` (ms); Map order = insertion = oldest first. */
  readonly #failures = new Map<string, { count: number; since: number }>();
  readonly #exempt: ReadonlySet<string>;

  /** @param limits the validated `limits` config section. */
  constructor(limits: Config['limits']) {
    this.#limits = limits;
    this.#exempt = new Set(limits.exemptAddresses);
  }

  /** True when `ip` reached `limits.maxFailedHandshakesPerIp` within the current window. */
  failuresExceeded(ip: string, now: number): boolean {
    const max = this.#limits.maxFailedHandshakesPerIp;
    if (max === 0 || this.#exempt.has(ip)) return false;
    const f = this.#failures.get(ip);
    return f !== undefined && now - f.since < this.#limits.failedHandshakeWindowMs && f.count >= max;
  }

  /** Count one failed handshake of `ip` (`now` in ms). */
  recordFailure(ip: string, now: number): void {
    if (this.#limits.maxFailedHandshakesPerIp === 0 || this.#exempt.has(ip)) return;
    const f = this.#failures.get(ip);
    if (f !== undefined && now - f.since < this.#limits.failedHandshakeWindowMs) {
      f.count++;
      return;
    }
    this.#failures.delete(ip);
    if (this.#failures.size >= this.#limits.maxTrackedIps) {
      const oldest = this.#failures.keys().next().value;
      if (oldest !== undefined) this.#failures.delete(oldest);
    }
    this.#failures.set(ip, { count: 1, since: now });
  }

  /** True when one more WebSocket from `ip` would exceed `limits.maxConnectionsPerIp`. */
  ipFull(ip: string): boolean {
    const max = this.#limits.maxConnectionsPerIp;
    return max !== 0 && !this.#exempt.has(ip) && (this.#open.get(ip) ?? 0) >= max;
  }

  /** A WebSocket from `ip` opened. */
  opened(ip: string): void {
    this.#open.set(ip, (this.#open.get(ip) ?? 0) + 1);
  }

  /** A WebSocket from `ip` closed. */
  closed(ip: string): void {
    const n = (this.#open.get(ip) ?? 0) - 1;
    if (n > 0) this.#open.set(ip, n);
    else this.#open.delete(ip);
  }

  /** Drop failure windows that ended before `now` (ms). */
  sweep(now: number): void {
    const windowMs = this.#limits.failedHandshakeWindowMs;
    for (const [ip, f] of this.#failures) if (now - f.since >= windowMs) this.#failures.delete(ip);
  }

  /** Addresses with a live failure window (memory bound check). */
  get trackedIps(): number {
    return this.#failures.size;
  }
}
