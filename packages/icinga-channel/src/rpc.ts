/**
 * JSON-RPC 2.0 as Icinga Notifications speaks it with a channel plugin
 * (docs/protocol/icinga-channel.md "Framing"): one JSON value per line on
 * stdin (the daemon writes with Go's `json.Encoder`, which ends every value
 * with `\n` and escapes newlines inside strings), one per line on stdout.
 * Pure functions: parsing a line and writing replies; no I/O here.
 */

/** The error codes of the JSON-RPC 2.0 specification §5.1, as the daemon's jsonrpc package re-exports them. */
export const RpcCodes = {
  parseError: -32700,
  invalidRequest: -32600,
  methodNotFound: -32601,
  invalidParams: -32602,
  internalError: -32603,
} as const;

/**
 * A request id: the daemon sends unsigned integers counting from 0, the
 * specification also allows strings. `null` only in answers to a line whose
 * id could not be read (§5: "If there was an error in detecting the id …,
 * it MUST be Null").
 */
export type RpcId = number | string | null;

/** What one line came to. */
export type Incoming =
  /** A call that wants an answer (`id` present, even `0`). */
  | { readonly kind: 'request'; readonly id: RpcId; readonly method: string; readonly params: unknown }
  /** No `id`: a JSON-RPC notification, never answered (§4.1). */
  | { readonly kind: 'notification'; readonly method: string; readonly params: unknown }
  /** A response (we send the daemon only notifications, so nothing waits for one). */
  | { readonly kind: 'response' }
  /** Not a request: answered with `code` and `message`, the id when one could be read. */
  | { readonly kind: 'invalid'; readonly id: RpcId; readonly code: number; readonly message: string }
  /** An empty line: nothing to do. */
  | { readonly kind: 'blank' };

function isId(v: unknown): v is RpcId {
  return v === null || typeof v === 'string' || (typeof v === 'number' && Number.isFinite(v));
}

/** Parse one line (without its `\n`). Never throws. */
export function parseLine(line: string): Incoming {
  if (line.trim() === '') return { kind: 'blank' };
  let v: unknown;
  try {
    v = JSON.parse(line);
  } catch (err) {
    return { kind: 'invalid', id: null, code: RpcCodes.parseError, message: `parse error: ${(err as Error).message}` };
  }
  if (v === null || typeof v !== 'object' || Array.isArray(v)) {
    // Batches (§6) are not used by the daemon; an array is answered as one invalid request.
    return { kind: 'invalid', id: null, code: RpcCodes.invalidRequest, message: 'invalid request: expected a JSON object' };
  }
  const o = v as Record<string, unknown>;
  const hasId = Object.hasOwn(o, 'id');
  const id: RpcId = hasId && isId(o.id) ? o.id : null;
  if (hasId && !isId(o.id)) return { kind: 'invalid', id: null, code: RpcCodes.invalidRequest, message: 'invalid request: id must be a number, a string or null' };
  if (o.jsonrpc !== '2.0') return { kind: 'invalid', id, code: RpcCodes.invalidRequest, message: 'invalid request: jsonrpc must be "2.0"' };
  if (!Object.hasOwn(o, 'method')) {
    if (hasId && (Object.hasOwn(o, 'result') || Object.hasOwn(o, 'error'))) return { kind: 'response' };
    return { kind: 'invalid', id, code: RpcCodes.invalidRequest, message: 'invalid request: missing method' };
  }
  if (typeof o.method !== 'string' || o.method === '') return { kind: 'invalid', id, code: RpcCodes.invalidRequest, message: 'invalid request: method must be a non-empty string' };
  const params = o.params;
  if (params !== undefined && params !== null && typeof params !== 'object') {
    return { kind: 'invalid', id, code: RpcCodes.invalidRequest, message: 'invalid request: params must be an object or an array' };
  }
  return hasId ? { kind: 'request', id, method: o.method, params } : { kind: 'notification', method: o.method, params };
}

// Key order as the daemon's jsonrpc2 library writes its own responses
// (`{"id":…,"result":…,"jsonrpc":"2.0"}`), so a byte-level diff against a
// Go plugin shows only real differences.

/** The success answer to `id`, one line. `result` `undefined` is sent as `null` (SetConfig, SendNotification). */
export function resultLine(id: RpcId, result: unknown): string {
  return `{"id":${JSON.stringify(id)},"result":${JSON.stringify(result ?? null)},"jsonrpc":"2.0"}\n`;
}

/** The error answer to `id`, one line. */
export function errorLine(id: RpcId, code: number, message: string): string {
  return `{"id":${JSON.stringify(id)},"error":${JSON.stringify({ code, message })},"jsonrpc":"2.0"}\n`;
}

/** A notification to the daemon (no id), one line; keys sorted as Go's map encoding writes requests. */
export function notificationLine(method: string, params: unknown): string {
  return `{"jsonrpc":"2.0","method":${JSON.stringify(method)},"params":${JSON.stringify(params)}}\n`;
}

/** The daemon's method a plugin logs through (doc/10-Channels.md "Log"). */
export const LOG_METHOD = 'channel::Log';

/** Log levels the daemon accepts from a plugin; anything else it drops with a warning. */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

/**
 * A `channel::Log` notification: `fields` alternate key and value, as the
 * daemon passes them to its logger (never secrets: the daemon logs them as they are).
 */
export function logLine(level: LogLevel, message: string, fields: Readonly<Record<string, string | number | boolean>> = {}): string {
  const flat: (string | number | boolean)[] = [];
  for (const [k, v] of Object.entries(fields)) flat.push(k, v);
  return notificationLine(LOG_METHOD, flat.length > 0 ? { level, message, fields: flat } : { level, message });
}

/**
 * Splits a byte stream into lines. A line longer than `maxLineBytes` is
 * reported once by `onOverlong` and skipped up to its newline, so one
 * runaway value cannot grow memory without bound.
 */
export class LineSplitter {
  #pending: Buffer[] = [];
  #size = 0;
  #skipping = false;
  readonly #max: number;
  readonly #onLine: (line: string) => void;
  readonly #onOverlong: () => void;

  /** @param maxLineBytes longest line accepted, bytes. */
  constructor(maxLineBytes: number, onLine: (line: string) => void, onOverlong: () => void) {
    this.#max = maxLineBytes;
    this.#onLine = onLine;
    this.#onOverlong = onOverlong;
  }

  /** Feed a chunk; complete lines are handed to `onLine` in order. */
  push(chunk: Buffer): void {
    let start = 0;
    for (let nl = chunk.indexOf(10, start); nl !== -1; nl = chunk.indexOf(10, start)) {
      const part = chunk.subarray(start, nl);
      start = nl + 1;
      if (this.#skipping) {
        this.#skipping = false;
        this.#reset();
        continue;
      }
      if (this.#size + part.length > this.#max) {
        this.#reset();
        this.#onOverlong();
        continue;
      }
      const line = this.#size === 0 ? part.toString('utf8') : Buffer.concat([...this.#pending, part]).toString('utf8');
      this.#reset();
      this.#onLine(line.endsWith('\r') ? line.slice(0, -1) : line);
    }
    if (start >= chunk.length || this.#skipping) return;
    const rest = chunk.subarray(start);
    if (this.#size + rest.length > this.#max) {
      this.#reset();
      this.#skipping = true;
      this.#onOverlong();
      return;
    }
    this.#pending.push(Buffer.from(rest));
    this.#size += rest.length;
  }

  /** The stream ended: a last line without `\n` still counts. */
  end(): void {
    if (this.#skipping || this.#size === 0) return;
    const line = Buffer.concat(this.#pending).toString('utf8');
    this.#reset();
    this.#onLine(line);
  }

  #reset(): void {
    this.#pending = [];
    this.#size = 0;
  }
}
