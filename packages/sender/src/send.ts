import { readFileSync } from 'node:fs';
import { request as httpRequest, type ClientRequest, type IncomingMessage, type RequestOptions } from 'node:http';
import type { MessageBodyInput } from '@pushgate/protocol';
import { SenderError } from './errors.js';
import type { SenderFlags } from './flags.js';

// Only node built-ins and type imports here: the bundle must not pull zod or
// undici in, they cost hundreds of milliseconds of start-up (docs/benchmarks.md, "sender start-up").

/** Default timeout of the whole exchange (connect, request, response body), as the original: 10 s. */
export const DEFAULT_TIMEOUT_MS = 10_000;

/** The environment variables the sender reads; `main` passes `process.env`. Empty means unset. */
export interface SenderEnv {
  /** Full URL of the gateway's `/message`; wins over `OITC_ADDRESS`. */
  PUSHGATE_URL?: string | undefined;
  /** Host of the gateway as the original read it; the URL becomes `http://<it>:8083/message`. */
  OITC_ADDRESS?: string | undefined;
  /** The API key itself. */
  PUSHGATE_API_KEY?: string | undefined;
  /** File whose first line is the API key. */
  PUSHGATE_API_KEY_FILE?: string | undefined;
}

/** Where to send and with which key; the result of {@link resolveTarget}. */
export interface Target {
  /** Gateway `/message` URL, `http:` or `https:`. */
  url: URL;
  /** Value of the `X-Api-Key` header, or `undefined` to send none. */
  apiKey: string | undefined;
}

/** What the gateway answered. */
export interface Reply {
  /** HTTP status code. */
  status: number;
  /** Reason phrase as the gateway sent it (`OK`), like Go's `resp.Status` after the code. */
  statusText: string;
  /** Response body, UTF-8 decoded. */
  body: string;
}

/**
 * Resolve the gateway URL and API key. URL: flag `-url`, else `PUSHGATE_URL`,
 * else `http://<OITC_ADDRESS or 127.0.0.1>:8083/message`. Key: the first
 * line (trimmed) of the file named by `-api-key-file`, else
 * `PUSHGATE_API_KEY`, else the first line of `PUSHGATE_API_KEY_FILE`, else none.
 *
 * @throws {SenderError} `SEND_ERR_USAGE` for a URL that is not http(s);
 *   `SEND_ERR_API_KEY_FILE` when the key file is unreadable or its first line empty.
 */
export function resolveTarget(flags: Pick<SenderFlags, 'url' | 'apiKeyFile'>, env: SenderEnv): Target {
  let source: string;
  let raw: string;
  if (flags.url !== '') {
    [source, raw] = ['flag -url', flags.url];
  } else if (env.PUSHGATE_URL) {
    [source, raw] = ['PUSHGATE_URL', env.PUSHGATE_URL];
  } else {
    let host = env.OITC_ADDRESS || '127.0.0.1';
    // An IPv6 literal needs brackets in a URL; the original pasted it in as is.
    if (host.includes(':') && !host.startsWith('[')) host = `[${host}]`;
    [source, raw] = ['OITC_ADDRESS', `http://${host}:8083/message`];
  }
  let url: URL;
  try {
    url = new URL(raw);
  } catch (cause) {
    throw new SenderError('SEND_ERR_USAGE', `invalid value ${JSON.stringify(raw)} for ${source}: not a URL`, { cause });
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new SenderError('SEND_ERR_USAGE', `invalid value ${JSON.stringify(raw)} for ${source}: not an http:// or https:// URL`);
  }
  let apiKey: string | undefined;
  if (flags.apiKeyFile !== '') apiKey = readKeyFile(flags.apiKeyFile);
  else if (env.PUSHGATE_API_KEY) apiKey = env.PUSHGATE_API_KEY.trim();
  else if (env.PUSHGATE_API_KEY_FILE) apiKey = readKeyFile(env.PUSHGATE_API_KEY_FILE);
  return { url, apiKey };
}

function readKeyFile(path: string): string {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (cause) {
    const code = (cause as NodeJS.ErrnoException).code ?? 'unknown error';
    throw new SenderError('SEND_ERR_API_KEY_FILE', `cannot read API key file ${path}: ${code}`, { cause });
  }
  const key = (text.split('\n', 1)[0] as string).trim();
  if (key === '') throw new SenderError('SEND_ERR_API_KEY_FILE', `API key file ${path} has an empty first line`);
  return key;
}

/**
 * The `POST /message` body (docs/protocol/openitcockpit.md §2), fields in the original's order,
 * `icon` always `""` (the gateway picks the icon).
 *
 * @param nowSeconds unix time in seconds for `timestamp`.
 */
export function buildBody(flags: SenderFlags, nowSeconds: number): MessageBodyInput {
  return {
    timestamp: nowSeconds,
    userId: flags.userId,
    type: flags.type,
    hostUuid: flags.hostuuid,
    serviceUuid: flags.serviceuuid,
    icon: '',
    state: flags.state,
    notificationtype: flags.notificationtype,
    output: flags.output,
    ackauthor: flags.ackauthor,
    ackcomment: flags.ackcomment,
  };
}

/** Options of {@link send}. */
export interface SendOptions {
  /** Timeout of the whole exchange in milliseconds; default {@link DEFAULT_TIMEOUT_MS} (10 000). */
  timeoutMs?: number;
}

/**
 * POST `body` as JSON to `target.url` with `X-Api-Key` when a key is set, on
 * a fresh connection (no keep-alive agent, so nothing holds the process open).
 * Resolves with any HTTP answer, whatever its status; see {@link replyError}.
 *
 * @throws {SenderError} `SEND_ERR_TIMEOUT` when the answer is not complete
 *   within `timeoutMs`; `SEND_ERR_UNREACHABLE` for connection errors.
 */
export async function send(body: MessageBodyInput, target: Target, options: SendOptions = {}): Promise<Reply> {
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const payload = Buffer.from(JSON.stringify(body));
  const headers: Record<string, string | number> = {
    'Content-Type': 'application/json',
    'Content-Length': payload.length,
  };
  if (target.apiKey !== undefined) headers['X-Api-Key'] = target.apiKey;
  const request: typeof httpRequest = target.url.protocol === 'https:'
    ? (await import('node:https')).request
    : httpRequest;
  // Never show credentials or a query string in messages.
  const where = `${target.url.origin}${target.url.pathname}`;
  const requestOptions: RequestOptions = { method: 'POST', headers, agent: false };
  return new Promise<Reply>((resolve, reject) => {
    let req: ClientRequest | undefined;
    const timer = setTimeout(() => {
      fail(new SenderError('SEND_ERR_TIMEOUT', `gateway did not answer within ${timeoutMs} ms at ${where}`));
      req?.destroy();
    }, timeoutMs);
    let settled = false;
    function fail(err: SenderError): void {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      reject(err);
    }
    req = request(target.url, requestOptions, (res: IncomingMessage) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      // The connection dropped mid-answer: not a timeout, the gateway went away.
      res.on('close', () => {
        if (!res.complete) fail(new SenderError('SEND_ERR_UNREACHABLE', `gateway closed the connection before the whole answer at ${where}`));
      });
      res.on('error', () => { /* reported by 'close' above */ });
      res.on('end', () => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        resolve({
          status: res.statusCode ?? 0,
          statusText: res.statusMessage ?? '',
          body: Buffer.concat(chunks).toString('utf8'),
        });
      });
    });
    req.on('error', (cause: Error) => {
      fail(new SenderError('SEND_ERR_UNREACHABLE', `gateway unreachable at ${where}: ${cause.message}`, { cause }));
    });
    req.end(payload);
  });
}

/**
 * Classify an answer: `undefined` for 200 (exit 0); otherwise the error whose
 * code and exit status `main` reports: 4xx `SEND_ERR_REJECTED` (1), 5xx
 * `SEND_ERR_GATEWAY_FAILING` (3), anything else, e.g. 202,
 * `SEND_ERR_NOT_DELIVERED` (1, "1 otherwise" as the original).
 */
export function replyError(reply: Reply): SenderError | undefined {
  const status = `${reply.status} ${reply.statusText}`;
  if (reply.status === 200) return undefined;
  if (reply.status >= 500) return new SenderError('SEND_ERR_GATEWAY_FAILING', `gateway failing: ${status}`);
  if (reply.status >= 400) return new SenderError('SEND_ERR_REJECTED', `gateway rejected the notification: ${status}`);
  return new SenderError('SEND_ERR_NOT_DELIVERED', `gateway did not deliver the notification: ${status}`);
}

/** The stdout text for an answer: `Response status: <code> <text>`, then the body, as the original. */
export function formatReply(reply: Reply): string {
  return `Response status: ${reply.status} ${reply.statusText}\n${reply.body}\n`;
}
