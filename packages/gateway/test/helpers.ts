/**
 * Shared test helpers: a real gateway on 127.0.0.1 port 0 with a
 * FileDirectory and a silent logger, authenticated WebSocket clients with a
 * bounded "next frame" wait, and a `POST /message` helper. Other packages'
 * tests reuse these.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pino, type Logger } from 'pino';
import { WebSocket } from 'ws';
import { parseConfig, type ConfigInput } from '../src/config.js';
import type { Directory } from '../src/directory/directory.js';
import { FileDirectory, type DirectoryFile } from '../src/directory/file.js';
import { startGateway, type Gateway } from '../src/gateway.js';
import type { HttpRoute } from '../src/transport/http/server.js';

/** API key of the test directory (printable ASCII, >= 16 chars). */
export const TEST_API_KEY = 'test-key-0123456789abcdef0123456789abcdef';
/** A host and a service the test directory knows. */
export const HOST_UUID = 'c36b8048-93ce-4385-ac19-ab5c90574b77';
export const HOST_NAME = 'web-01';
export const SERVICE_UUID = '74fd8f59-1348-4e16-85f0-4a5c57c7dd62';
export const SERVICE_NAME = 'HTTP';

/** Default bound for every wait in tests, ms. */
export const WAIT_MS = 5000;

/** A logger that writes nothing. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}

/** One parsed pino line. */
export interface LogLine {
  level: number;
  msg: string;
  [field: string]: unknown;
}

/** A pino logger writing its JSON lines, parsed, into `lines`. */
export function capturedLogger(level = 'info'): { logger: Logger; lines: LogLine[] } {
  const lines: LogLine[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const l of chunk.toString('utf8').split('\n')) if (l) lines.push(JSON.parse(l) as LogLine);
      cb();
    },
  });
  return { logger: pino({ level }, stream), lines };
}

/** Directory file contents the tests use unless they pass their own. */
export function testDirectoryData(extra: Partial<DirectoryFile> = {}): DirectoryFile {
  return {
    apiKeys: [TEST_API_KEY],
    hosts: { [HOST_UUID]: HOST_NAME },
    services: { [SERVICE_UUID]: SERVICE_NAME },
    devices: {},
    ...extra,
  };
}

/** Options of {@link startTestGateway}. */
export interface TestGatewayOptions {
  /** Config overrides; `listen.port` is 0 and `listen.host` 127.0.0.1 unless given. */
  config?: ConfigInput;
  /** Directory to use; default a FileDirectory over {@link testDirectoryData}. */
  directory?: Directory;
  logger?: Logger;
  httpRoutes?: HttpRoute[];
  /** State directory (journal, outbox); default a fresh temporary one, removed when the gateway closes. */
  stateDir?: string;
}

/** A fresh temporary directory, for a gateway's state or a test's files. */
export function tempDir(prefix = 'pushgate-test-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

/**
 * The environment for a spawned `pushgate serve`: this process's, with a
 * state directory of its own (`STATE_DIRECTORY`, as systemd sets it), removed
 * at teardown, so concurrent test processes never share a journal.
 */
export function stateEnv(t: { teardown(fn: () => unknown): void }, env: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  const dir = tempDir('pushgate-state-');
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return { ...env, STATE_DIRECTORY: dir };
}

/** Start a gateway for a test; close it with `gateway.close()` (e.g. in `t.teardown`). */
export async function startTestGateway(opts: TestGatewayOptions = {}): Promise<Gateway> {
  const input = opts.config ?? {};
  const config = parseConfig({ ...input, listen: { host: '127.0.0.1', port: 0, ...input.listen } });
  const own = opts.stateDir === undefined ? tempDir('pushgate-state-') : undefined;
  const gw = await startGateway({
    config,
    stateDir: opts.stateDir ?? own!,
    directory: opts.directory ?? new FileDirectory(testDirectoryData()),
    logger: opts.logger ?? silentLogger(),
    ...(opts.httpRoutes ? { httpRoutes: opts.httpRoutes } : {}),
  });
  if (own === undefined) return gw;
  const close = gw.close;
  return Object.assign(gw, { close: () => close().finally(() => rmSync(own, { recursive: true, force: true })) });
}

/** Wait for `emitter` to emit `event`, rejecting after `ms`. */
export function once<T = unknown>(emitter: NodeJS.EventEmitter, event: string, ms = WAIT_MS): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      emitter.off(event, on);
      reject(new Error(`timed out after ${ms} ms waiting for "${event}"`));
    }, ms);
    const on = (...args: unknown[]): void => {
      clearTimeout(timer);
      resolve((args.length <= 1 ? args[0] : args) as T);
    };
    emitter.once(event, on);
  });
}

/** A WebSocket client that queues every text frame it receives. */
export class TestClient {
  readonly ws: WebSocket;
  readonly #frames: string[] = [];
  readonly #waiters: ((frame: string) => void)[] = [];
  /** Resolves with the close code and reason once the socket closes. */
  readonly closed: Promise<{ code: number; reason: string }>;

  constructor(ws: WebSocket) {
    this.ws = ws;
    ws.on('message', (data, isBinary) => {
      const text = isBinary ? `<binary ${(data as Buffer).length}>` : (data as Buffer).toString('utf8');
      const w = this.#waiters.shift();
      if (w) w(text);
      else this.#frames.push(text);
    });
    this.closed = new Promise((resolve) => ws.once('close', (code, reason) => resolve({ code, reason: reason.toString() })));
  }

  /** The next text frame, waiting at most `ms`. */
  next(ms = WAIT_MS): Promise<string> {
    const f = this.#frames.shift();
    if (f !== undefined) return Promise.resolve(f);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        const i = this.#waiters.indexOf(waiter);
        if (i !== -1) this.#waiters.splice(i, 1);
        reject(new Error(`no frame within ${ms} ms`));
      }, ms);
      const waiter = (frame: string): void => {
        clearTimeout(timer);
        resolve(frame);
      };
      this.#waiters.push(waiter);
    });
  }

  /** The next frame parsed as JSON. */
  async nextJson(ms = WAIT_MS): Promise<{ type: string; message: string; payload: unknown }> {
    return JSON.parse(await this.next(ms));
  }

  /** Frames received and not yet taken by next(). */
  get pending(): number {
    return this.#frames.length;
  }

  /** Send an envelope (or a raw string as is). */
  send(msg: unknown): void {
    this.ws.send(typeof msg === 'string' ? msg : JSON.stringify(msg));
  }

  /** Close and wait for the close to complete (bounded). */
  async close(): Promise<void> {
    if (this.ws.readyState === WebSocket.CLOSED) return;
    this.ws.close();
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([this.closed, new Promise((r) => { timer = setTimeout(r, WAIT_MS); })]);
    clearTimeout(timer);
    if ((this.ws.readyState as number) !== WebSocket.CLOSED) this.ws.terminate();
  }
}

/** Options of {@link openClient}. */
export interface ClientOptions {
  userId?: number | string;
  browserUuid?: string;
  apiKey?: string;
  /** Answer server pings (default true); false makes a silent client. */
  autoPong?: boolean;
  /** Also wait for and consume `ConnectionEstablished` (default true). */
  skipGreeting?: boolean;
  /** Path of the WebSocket URL (default `/`). */
  path?: string;
}

/** WebSocket URL of a gateway for a user and browser. */
export function wsUrl(gw: Pick<Gateway, 'url'>, userId: number | string, browserUuid: string, path = '/'): string {
  return `${gw.url.replace(/^http/, 'ws')}${path}?userId=${encodeURIComponent(String(userId))}&browserUuid=${encodeURIComponent(browserUuid)}`;
}

/** Open an authenticated client (user 1, browser `b1` by default) and wait for it to open. */
export async function openClient(gw: Pick<Gateway, 'url'>, opts: ClientOptions = {}): Promise<TestClient> {
  const ws = new WebSocket(wsUrl(gw, opts.userId ?? 1, opts.browserUuid ?? 'b1', opts.path), ['access_token', opts.apiKey ?? TEST_API_KEY], {
    autoPong: opts.autoPong ?? true,
  });
  const client = new TestClient(ws);
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('websocket did not open in time')), WAIT_MS);
    ws.once('open', () => { clearTimeout(timer); resolve(); });
    ws.once('error', (err) => { clearTimeout(timer); reject(err); });
  });
  if (opts.skipGreeting ?? true) await client.next();
  return client;
}

/** Open a client, register it (RegisterBrowserPushNotification) and wait until the gateway saw it. */
export async function openRegisteredClient(gw: Pick<Gateway, 'url'>, opts: ClientOptions = {}): Promise<TestClient> {
  const client = await openClient(gw, opts);
  client.send({ type: 'RegisterBrowserPushNotification', message: '', payload: { userId: opts.userId ?? 1, clientUuid: '', browserUuid: opts.browserUuid ?? 'b1' } });
  // A KeepAlive round trip proves the register frame was processed (frames are handled in order).
  client.send({ type: 'KeepAlive', message: '', payload: null });
  await client.next();
  return client;
}

/** An HTTP answer: status, headers and body text. */
export interface HttpAnswer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** Plain HTTP request with a bounded wait. */
export function httpRequest(url: string, opts: { method?: string; headers?: Record<string, string>; body?: string | Buffer } = {}): Promise<HttpAnswer> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: opts.method ?? 'GET', headers: opts.headers, timeout: WAIT_MS }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`no answer within ${WAIT_MS} ms`)));
    req.on('error', reject);
    req.end(opts.body);
  });
}

/**
 * `POST /message` with the test API key (`X-Api-Key`). `body` objects are
 * JSON-encoded, strings sent as is; `apiKey: null` sends no key.
 */
export function postMessage(gw: Pick<Gateway, 'url'>, body: unknown, opts: { apiKey?: string | null; method?: string; headers?: Record<string, string> } = {}): Promise<HttpAnswer> {
  const headers: Record<string, string> = { 'Content-Type': 'application/json', ...opts.headers };
  const key = opts.apiKey === undefined ? TEST_API_KEY : opts.apiKey;
  if (key !== null) headers['X-Api-Key'] = key;
  return httpRequest(`${gw.url}/message`, {
    method: opts.method ?? 'POST',
    headers,
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
}

/** A `/message` body for a host notification to user 1, timestamped now. */
export function hostMessage(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    timestamp: Math.floor(Date.now() / 1000),
    userId: 1,
    type: 'host',
    hostUuid: HOST_UUID,
    serviceUuid: '',
    icon: '',
    state: 1,
    notificationtype: 'PROBLEM',
    output: 'CRITICAL - host unreachable',
    ackauthor: '',
    ackcomment: '',
    ...extra,
  };
}

/**
 * Attempt a WebSocket handshake with raw headers (`extraHeaders`: Cookie,
 * Origin, Host...) and return the HTTP answer (status and body) the server
 * gave instead of upgrading, or status 101.
 */
export function tryHandshake(gw: Gateway, path: string, protocolHeader?: string, extraHeaders: Record<string, string> = {}): Promise<HttpAnswer> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = {
      Connection: 'Upgrade',
      Upgrade: 'websocket',
      'Sec-WebSocket-Version': '13',
      'Sec-WebSocket-Key': 'dGhlIHNhbXBsZSBub25jZQ==',
      ...extraHeaders,
    };
    if (protocolHeader !== undefined) headers['Sec-WebSocket-Protocol'] = protocolHeader;
    const req = request(`${gw.url}${path}`, { headers, timeout: WAIT_MS });
    req.on('upgrade', (res, socket) => {
      socket.destroy();
      resolve({ status: res.statusCode ?? 0, headers: res.headers, body: '' });
    });
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
    });
    req.on('timeout', () => req.destroy(new Error(`no answer within ${WAIT_MS} ms`)));
    req.on('error', reject);
    req.end();
  });
}

/** Wait until `cond()` holds, checking every few ms, rejecting after `ms`. */
export async function waitFor(cond: () => boolean | Promise<boolean>, ms = WAIT_MS, what = 'condition'): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`${what} not met within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 5));
  }
}
