import { execFile } from 'node:child_process';
import { Agent, request } from 'undici';
import { type Channel, type Delivery, type SendResult, DEFAULT_TIMEOUT_MS, bodyExcerpt, classifyStatus, networkReason, networkResult } from './channel.js';

/** Settings of a {@link SignalChannel}. */
export interface SignalOptions {
  name: string;
  /** The registered sending account, E.164 (`+4915112345678`). */
  account: string;
  /** Recipients (E.164 numbers or usernames); at least one. */
  recipients: string[];
  /** signal-cli executable, run without a shell. Default `signal-cli` (looked up in PATH). */
  cliPath?: string;
  /** Base URL of a `signal-cli daemon --http` (`http://127.0.0.1:8080`); when set, JSON-RPC is used instead of the executable. */
  rpcUrl?: string;
  /** Budget per attempt (process run or request), in ms; a process past it is killed with SIGKILL. Default 30000 (signal-cli starts a JVM). */
  timeoutMs?: number;
  /** Attempts in flight. signal-cli locks its account store, so the CLI tolerates 1. Default 1. */
  concurrency?: number;
  /** No retry sooner than this, in ms. Default 0. */
  minRetryDelayMs?: number;
  /** Wait after signal-cli reports rate limiting (exit 5), in ms. Default 60000. */
  rateLimitDelayMs?: number;
}

/**
 * signal-cli's exit codes (its man page, EXIT CODES): 1 user error (bad
 * arguments, unregistered account/recipient), 2 unexpected error, 3 server
 * or IO error, 4 untrusted identity key, 5 rate limited. 1 and 4 need an
 * operator and are not retried; the rest, and codes it may add later, are.
 */
export const SIGNAL_EXIT_RETRY: Readonly<Record<number, boolean>> = { 1: false, 2: true, 3: true, 4: false, 5: true, 6: true };

/**
 * Signal through signal-cli: either `signal-cli -a <account> send -m <text>
 * <recipient>...` per delivery (argv, no shell), or, when `rpcUrl` is set,
 * `POST <rpcUrl>/api/v1/rpc` with JSON-RPC 2.0 method `send`
 * `{"account","recipient":[...],"message"}` and the delivery id as the
 * request id. The text is the title, a newline, the message and the link.
 * Signal has no idempotency key: a retry after a lost answer can show twice.
 */
export class SignalChannel implements Channel {
  readonly type = 'signal';
  readonly name: string;
  readonly concurrency: number;
  readonly minRetryDelayMs: number;
  readonly #opts: SignalOptions;
  readonly #timeoutMs: number;
  readonly #agent: Agent | undefined;

  constructor(opts: SignalOptions) {
    this.name = opts.name;
    this.#opts = opts;
    this.concurrency = opts.concurrency ?? 1;
    this.minRetryDelayMs = opts.minRetryDelayMs ?? 0;
    this.#timeoutMs = opts.timeoutMs ?? 30_000;
    const timeout = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.#agent = opts.rpcUrl === undefined ? undefined : new Agent({ headersTimeout: timeout, bodyTimeout: timeout, connect: { timeout } });
  }

  /** The text sent for one delivery. */
  text(d: Delivery): string {
    let text = d.title === '' ? d.message : `${d.title}\n${d.message}`;
    if (d.url !== undefined) text += `\n${d.url}`;
    return text;
  }

  send(d: Delivery): Promise<SendResult> {
    return this.#agent === undefined ? this.#cli(d) : this.#rpc(d, this.#agent);
  }

  #cli(d: Delivery): Promise<SendResult> {
    const o = this.#opts;
    const args = ['-a', o.account, 'send', '-m', this.text(d), ...o.recipients];
    return new Promise((resolve) => {
      execFile(o.cliPath ?? 'signal-cli', args, { timeout: this.#timeoutMs, killSignal: 'SIGKILL', maxBuffer: 1024 * 1024 }, (err, _stdout, stderr) => {
        if (err === null) return resolve({ kind: 'sent' });
        const e = err as NodeJS.ErrnoException & { code?: unknown; killed?: boolean; signal?: string | null };
        const detail = String(stderr).replace(/\s+/g, ' ').trim().slice(0, 200);
        if (typeof e.code === 'number') {
          const reason = `signal-cli exit ${e.code}${detail ? `: ${detail}` : ''}`;
          if (SIGNAL_EXIT_RETRY[e.code] === false) return resolve({ kind: 'failed', reason });
          if (e.code === 5) return resolve({ kind: 'retry', reason, retryAfterMs: o.rateLimitDelayMs ?? 60_000 });
          return resolve({ kind: 'retry', reason });
        }
        if (e.killed || e.signal) return resolve({ kind: 'retry', reason: `signal-cli killed (${e.signal ?? 'timeout'}) after ${this.#timeoutMs} ms` });
        // ENOENT/EACCES: the executable is missing; an operator must fix it, but the outbox's attempts bound the retries.
        return resolve({ kind: 'retry', reason: `signal-cli did not start: ${networkReason(err)}` });
      });
    });
  }

  async #rpc(d: Delivery, agent: Agent): Promise<SendResult> {
    const o = this.#opts;
    const url = `${(o.rpcUrl ?? '').replace(/\/+$/, '')}/api/v1/rpc`;
    const body = JSON.stringify({ jsonrpc: '2.0', method: 'send', params: { account: o.account, recipient: o.recipients, message: this.text(d) }, id: d.id });
    let res;
    try {
      res = await request(url, { method: 'POST', dispatcher: agent, headers: { 'content-type': 'application/json' }, body });
    } catch (err) {
      return networkResult(err);
    }
    if (res.statusCode !== 200) return classifyStatus(res.statusCode, res.headers['retry-after'], await bodyExcerpt(res.body));
    let answer: { result?: unknown; error?: { code?: unknown; message?: unknown } };
    try {
      answer = (await res.body.json()) as typeof answer;
    } catch (err) {
      return { kind: 'retry', reason: `signal-cli answered invalid JSON: ${networkReason(err)}` };
    }
    if (answer.error === undefined) return { kind: 'sent' };
    const code = typeof answer.error.code === 'number' ? answer.error.code : 0;
    const reason = `signal-cli error ${code}: ${String(answer.error.message ?? '').slice(0, 200)}`;
    // JSON-RPC's own codes (-32700..-32600: bad request/params) will not heal;
    // signal-cli reports its exit-code classes as negative numbers.
    if (code <= -32600 && code >= -32700) return { kind: 'failed', reason };
    if (SIGNAL_EXIT_RETRY[-code] === false) return { kind: 'failed', reason };
    if (code === -5) return { kind: 'retry', reason, retryAfterMs: o.rateLimitDelayMs ?? 60_000 };
    return { kind: 'retry', reason };
  }

  async close(): Promise<void> {
    if (this.#agent !== undefined && !this.#agent.closed) await this.#agent.close();
  }
}
