/**
 * `pushgate check`: an end-to-end self-test for a monitoring engine, after
 * the Nagios plugin conventions (one status line with performance data;
 * exit 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN). It connects a WebSocket as a
 * synthetic user, registers, POSTs a `/message` to that user and measures
 * the time until the `ProcessPushNotification` arrives.
 */
import { randomUUID } from 'node:crypto';
import { WebSocket } from 'ws';

/** Nagios plugin exit codes. */
export const CheckStatus = { ok: 0, warning: 1, critical: 2, unknown: 3 } as const;
/** One of {@link CheckStatus}. */
export type CheckCode = (typeof CheckStatus)[keyof typeof CheckStatus];

const LABELS = ['OK', 'WARNING', 'CRITICAL', 'UNKNOWN'] as const;

/** Synthetic user id the check connects as unless told otherwise. */
export const DEFAULT_CHECK_USER_ID = 2147483000;
/** The embedded demo directory's host (`pushgate serve` without `--config`). */
export const DEFAULT_CHECK_HOST_UUID = 'c36b8048-93ce-4385-ac19-ab5c90574b77';

/** Options of {@link runCheck}. */
export interface CheckOptions {
  /** Gateway base URL, `http://127.0.0.1:8083`; the WebSocket uses the same host and port. */
  url: string;
  /** API key; sent as the `access_token` subprotocol and as `X-Api-Key`, never printed. */
  apiKey: string;
  /** Synthetic user id, default {@link DEFAULT_CHECK_USER_ID}. */
  userId?: number;
  /** A host uuid the directory knows, default {@link DEFAULT_CHECK_HOST_UUID}. */
  hostUuid?: string;
  /** Latency at or above which the result is WARNING, ms; default 500. */
  warningMs?: number;
  /** Latency at or above which the result is CRITICAL, ms; default 2000. */
  criticalMs?: number;
  /** Bound on the whole check (connect, register, post, delivery), ms; default 10000. */
  timeoutMs?: number;
}

/** The outcome: the exit code and the one status line (without newline). */
export interface CheckResult {
  code: CheckCode;
  line: string;
  /** End-to-end latency in ms when the notification arrived. */
  latencyMs?: number;
}

function result(code: CheckCode, text: string, perf?: string): CheckResult {
  return { code, line: `PUSHGATE ${LABELS[code]} - ${text}${perf ? ` | ${perf}` : ''}` };
}

class CheckFailure extends Error {}

/** Run the self-test once; never throws (failures are CRITICAL results). */
export async function runCheck(opts: CheckOptions): Promise<CheckResult> {
  const warningMs = opts.warningMs ?? 500;
  const criticalMs = opts.criticalMs ?? 2000;
  const timeoutMs = opts.timeoutMs ?? 10_000;
  const userId = opts.userId ?? DEFAULT_CHECK_USER_ID;
  const hostUuid = opts.hostUuid ?? DEFAULT_CHECK_HOST_UUID;
  let base: URL;
  try {
    base = new URL(opts.url);
    if (base.protocol !== 'http:' && base.protocol !== 'https:') throw new Error('not http(s)');
  } catch {
    return result(CheckStatus.unknown, `invalid --url ${JSON.stringify(opts.url)}`);
  }
  const browserUuid = randomUUID();
  const wsBase = new URL(base);
  wsBase.protocol = base.protocol === 'https:' ? 'wss:' : 'ws:';
  wsBase.pathname = '/';
  wsBase.search = `?userId=${userId}&browserUuid=${browserUuid}`;
  const controller = new AbortController();
  let ws: WebSocket | undefined;
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new CheckFailure(`no notification delivered within ${timeoutMs} ms`)), timeoutMs);
  });
  try {
    const latencyMs = await Promise.race([deadline, (async () => {
      const socket = new WebSocket(wsBase.href, ['access_token', opts.apiKey], { perMessageDeflate: false });
      ws = socket;
      const frames: { type?: string; payload?: unknown }[] = [];
      let waiter: (() => void) | undefined;
      socket.on('message', (data) => {
        try {
          frames.push(JSON.parse(String(data)));
        } catch {
          frames.push({});
        }
        waiter?.();
      });
      const failed = new Promise<never>((_resolve, reject) => {
        socket.once('unexpected-response', (_req, res) => reject(new CheckFailure(`WebSocket handshake rejected: HTTP ${res.statusCode}`)));
        socket.once('error', (err) => reject(new CheckFailure(`cannot connect to ${base.host}: ${(err as NodeJS.ErrnoException).code ?? err.message}`)));
        socket.once('close', (code) => reject(new CheckFailure(`WebSocket closed by the gateway (${code})`)));
      });
      failed.catch(() => undefined);
      const next = async (type: string): Promise<void> => {
        for (;;) {
          const i = frames.findIndex((f) => f.type === type);
          if (i !== -1) {
            frames.splice(0, i + 1);
            return;
          }
          await Promise.race([failed, new Promise<void>((resolve) => { waiter = resolve; })]);
        }
      };
      await Promise.race([failed, new Promise<void>((resolve) => socket.once('open', () => resolve()))]);
      socket.send(JSON.stringify({ type: 'RegisterBrowserPushNotification', message: '', payload: { userId, clientUuid: '', browserUuid } }));
      // Frames are handled in order: the KeepAlive answer proves the registration was processed.
      socket.send(JSON.stringify({ type: 'KeepAlive', message: '', payload: null }));
      await next('KeepAlive');
      const start = performance.now();
      const res = await fetch(new URL('/message', base), {
        method: 'POST',
        signal: controller.signal,
        headers: { 'Content-Type': 'application/json', 'X-Api-Key': opts.apiKey },
        body: JSON.stringify({
          timestamp: Math.floor(Date.now() / 1000), userId, type: 'host', hostUuid, serviceUuid: '', icon: '',
          state: 0, notificationtype: 'CUSTOM', output: 'pushgate check', ackauthor: '', ackcomment: '',
        }),
      }).catch((err: unknown) => {
        throw new CheckFailure(`POST /message failed: ${((err as Error).cause as NodeJS.ErrnoException | undefined)?.code ?? (err as Error).message}`);
      });
      const answer = (await res.text()).slice(0, 200).replace(/\s+/g, ' ').trim();
      if (res.status !== 200) throw new CheckFailure(`POST /message rejected: HTTP ${res.status}${answer ? ` ${answer}` : ''}`);
      await next('ProcessPushNotification');
      return Math.round(performance.now() - start);
    })()]);
    const perf = `latency=${latencyMs}ms;${warningMs};${criticalMs};0`;
    const code = latencyMs >= criticalMs ? CheckStatus.critical : latencyMs >= warningMs ? CheckStatus.warning : CheckStatus.ok;
    return { ...result(code, `notification delivered in ${latencyMs} ms`, perf), latencyMs };
  } catch (err) {
    return result(CheckStatus.critical, err instanceof CheckFailure ? err.message : `check failed: ${(err as Error).message}`);
  } finally {
    clearTimeout(timer);
    controller.abort();
    const s = ws as WebSocket | undefined;
    if (s) {
      s.removeAllListeners('close');
      s.on('error', () => undefined);
      s.terminate();
    }
  }
}

/** Parsed `pushgate check` arguments, or a usage error. */
export type CheckArgs =
  | { ok: true; options: CheckOptions }
  /** `--key-file` given: the caller reads the key from `keyFile` into `options.apiKey`. */
  | { ok: true; options: CheckOptions; keyFile: string }
  | { ok: false; message: string };

/** Usage text of `pushgate check`. */
export const CHECK_USAGE = `usage: pushgate check --url <http://host:port> [--key <key> | --key-file <file> | env PUSHGATE_API_KEY]
                      [--user-id <n>] [--host-uuid <uuid>] [--warning <ms>] [--critical <ms>] [--timeout <ms>]
`;

/**
 * Parse `pushgate check` arguments (after the command word). `envKey` is the
 * caller's `PUSHGATE_API_KEY`, used when `--key` is absent.
 */
export function parseCheckArgs(argv: string[], envKey: string | undefined): CheckArgs {
  const values: Record<string, string> = {};
  const known = ['--url', '--key', '--key-file', '--user-id', '--host-uuid', '--warning', '--critical', '--timeout'];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] as string;
    const eq = a.indexOf('=');
    const name = eq === -1 ? a : a.slice(0, eq);
    if (!known.includes(name)) return { ok: false, message: `unknown argument ${a}` };
    const v = eq === -1 ? argv[++i] : a.slice(eq + 1);
    if (v === undefined || v === '') return { ok: false, message: `${name} needs a value` };
    values[name] = v;
  }
  const url = values['--url'];
  if (url === undefined) return { ok: false, message: '--url is required' };
  const keyFile = values['--key-file'];
  const apiKey = values['--key'] ?? (keyFile === undefined ? envKey : '');
  if (apiKey === undefined || (apiKey === '' && keyFile === undefined)) return { ok: false, message: 'an API key is required (--key, --key-file or PUSHGATE_API_KEY)' };
  const options: CheckOptions = { url, apiKey };
  for (const [flag, field] of [['--user-id', 'userId'], ['--warning', 'warningMs'], ['--critical', 'criticalMs'], ['--timeout', 'timeoutMs']] as const) {
    const v = values[flag];
    if (v === undefined) continue;
    if (!/^\d{1,10}$/.test(v) || (flag !== '--warning' && flag !== '--critical' && Number(v) === 0)) return { ok: false, message: `${flag} must be a positive integer` };
    options[field] = Number(v);
  }
  if (values['--host-uuid'] !== undefined) options.hostUuid = values['--host-uuid'];
  if ((options.warningMs ?? 500) > (options.criticalMs ?? 2000)) return { ok: false, message: '--warning must not exceed --critical' };
  return keyFile !== undefined && values['--key'] === undefined ? { ok: true, options, keyFile } : { ok: true, options };
}

/** The status line for a usage error (exit 3). */
export function usageResult(message: string): CheckResult {
  return result(CheckStatus.unknown, message);
}
