/**
 * The Icinga Notifications daemon's side of the channel plugin protocol, for
 * tests: it starts the plugin and speaks to it exactly as the daemon does.
 * Everything upstream defines lives here, so a change upstream is a change
 * in this one file. Read from:
 *
 * - github.com/Icinga/icinga-notifications @ 7509b2e6f406d513d648f2b20035510e8d0f2edc
 *   - internal/channel/plugin.go: the plugin is `exec.Command(<ChannelsDir>/<type>)`
 *     without arguments, stdin and stdout are the JSON-RPC connection, stderr
 *     is captured and logged as an error; `Stop` closes the connection, sends
 *     SIGTERM and kills after 5 s; a `channel::Log` request with an id is
 *     refused, log levels are debug/info/warn/error and the message must not
 *     be empty.
 *   - internal/channel/channel.go `Notify`: how a NotificationRequest is filled.
 *   - doc/10-Channels.md: framing, ids, notifications without an id, GetInfo,
 *     SetConfig (defaults left out), SendNotification, channel::Log.
 * - github.com/Icinga/icinga-go-library @ 6a599e1601c7fea70831f94c2dda98b57797a269
 *   (branch `jsonrpc`, the package the daemon's go.mod pins at a later
 *   pseudo-version, 142f198227ad, not in our mirror)
 *   - notifications/plugin/plugin.go: Info, ConfigOption and its types,
 *     NotificationRequest, Contact, Address, Object, Incident, Event; the
 *     method names; the error codes a Go plugin answers with.
 *   - notifications/jsonrpc/jsonrpc.go: the JSON-RPC endpoint over
 *     jsonrpc2.NewPlainObjectStream, LogParams.
 *   - notifications/event/severity.go: the severity words.
 * - github.com/sourcegraph/jsonrpc2 @ ef3ea8b2ea04744e4806bd2de8e9fdb2de1b2a73
 *   (stream.go, request.go, response.go, jsonrpc2.go, conn.go): each message is
 *   one json.Encoder value ending in `\n`; request ids are uint64 counting from
 *   0; a request is written as a Go map, keys sorted (`id`, `jsonrpc`,
 *   `method`, `params`); a response carries `result` or `error` {code, message}.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The bundle `pnpm build` writes (packages/icinga-channel/dist/pushgate.mjs). */
export const BUNDLE = fileURLToPath(new URL('../dist/pushgate.mjs', import.meta.url));

/** Bound of every wait, ms. */
export const DRIVER_WAIT_MS = 10_000;

/** Upstream method names (plugin.MethodGetInfo, …) and the daemon's log method. */
export const METHOD = { getInfo: 'GetInfo', setConfig: 'SetConfig', sendNotification: 'SendNotification', log: 'channel::Log' } as const;

/** JSON-RPC 2.0 error codes (jsonrpc.CodeParseError, …). */
export const CODE = { parseError: -32700, invalidRequest: -32600, methodNotFound: -32601, invalidParams: -32602, internalError: -32603 } as const;

/** ConfigOption.type values upstream defines. */
export const CONFIG_TYPES = ['string', 'number', 'bool', 'option', 'options', 'secret', 'text'] as const;

/** event.Severity words, as JSON. */
export const SEVERITIES = ['ok', 'debug', 'info', 'notice', 'warning', 'err', 'crit', 'alert', 'emerg'] as const;
export type SeverityWord = (typeof SEVERITIES)[number];

/** plugin.ConfigOption as JSON. */
export interface ConfigOption {
  name: string;
  type: (typeof CONFIG_TYPES)[number];
  label: Record<string, string>;
  help?: Record<string, string>;
  default?: unknown;
  required?: boolean;
  options?: Record<string, string>;
  min: number | null;
  max: number | null;
}

/** plugin.Info as JSON (its Type is `json:"-"`). */
export interface Info {
  name: string;
  version: string;
  author: string;
  config_attrs: ConfigOption[];
}

/** plugin.NotificationRequest as JSON. */
export interface NotificationRequest {
  contact: { full_name: string; addresses: { type: string; address: string }[] | null };
  object: { name: string; url: string; tags: Record<string, string> | null };
  incident: { id: number; url: string; severity: SeverityWord } | null;
  event: { time: string; message: string };
}

/** jsonrpc.LogParams as JSON (zapcore.Level as its text). */
export interface LogParams {
  level: 'debug' | 'info' | 'warn' | 'error';
  message: string;
  fields?: unknown[];
}

/** A response line. */
export interface Response {
  id: number | string | null;
  result?: unknown;
  error?: { code: number; message: string; data?: unknown };
  jsonrpc: '2.0';
}

/** Go's time.Time JSON (RFC 3339 with nanoseconds, `Z`). */
export function goTime(ms: number): string {
  return new Date(ms).toISOString().replace(/\.(\d{3})Z$/, '.$1000000Z');
}

/**
 * A NotificationRequest filled the way `Channel.Notify` fills it for an
 * Icinga 2 service: object name `<host>!<service>`, tags host and service,
 * incident URL `<icingaweb2>/notifications/incident?id=<id>`.
 */
export function notificationRequest(o: {
  fullName?: string; addresses: { type: string; address: string }[]; host: string; service?: string;
  incidentId: number; severity: SeverityWord; time: number; message: string; icingaweb?: string;
}): NotificationRequest {
  const web = o.icingaweb ?? 'http://localhost/icingaweb2';
  const name = o.service === undefined ? o.host : `${o.host}!${o.service}`;
  const tags: Record<string, string> = o.service === undefined ? { host: o.host } : { host: o.host, service: o.service };
  const q = o.service === undefined ? `host?name=${encodeURIComponent(o.host)}` : `service?name=${encodeURIComponent(o.service)}&host.name=${encodeURIComponent(o.host)}`;
  return {
    contact: { full_name: o.fullName ?? 'Icinga Admin', addresses: o.addresses },
    object: { name, url: `${web}/icingadb/${q}`, tags },
    incident: { id: o.incidentId, url: `${web}/notifications/incident?id=${o.incidentId}`, severity: o.severity },
    event: { time: goTime(o.time), message: o.message },
  };
}

/** The plugin, started as the daemon starts it, and the daemon's end of the connection. */
export class Daemon {
  readonly child: ChildProcess;
  /** Every stdout line, in order. */
  readonly lines: string[] = [];
  /** Every valid `channel::Log` notification. */
  readonly logs: LogParams[] = [];
  /** Lines that break the protocol (not JSON, a Log the daemon would refuse, a request to the daemon, an unknown response id). */
  readonly violations: string[] = [];
  /** What the plugin wrote to stderr (the daemon logs it as an error). */
  stderr = '';
  /** Resolves with the exit status. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  #seq = 0;
  #pending = new Map<string, (r: Response) => void>();
  /** Responses with id null (answers to lines whose id could not be read), in order. */
  readonly nullIdResponses: Response[] = [];
  #nullWaiters: ((r: Response) => void)[] = [];
  #buffer = '';
  readonly #dir: string;

  /**
   * Start the plugin as `<channels dir>/<type>`: a fresh channels directory
   * holding `type` as a symlink to the bundle, the way it is installed.
   */
  constructor(type = 'pushgate') {
    if (!existsSync(BUNDLE)) throw new Error(`${BUNDLE} is missing: run pnpm build first`);
    this.#dir = mkdtempSync(join(tmpdir(), 'pushgate-channels-'));
    const file = join(this.#dir, type);
    symlinkSync(BUNDLE, file);
    this.child = spawn(file, [], { stdio: ['pipe', 'pipe', 'pipe'] });
    this.exited = new Promise((resolve) => this.child.once('exit', (code, signal) => {
      rmSync(this.#dir, { recursive: true, force: true });
      resolve({ code, signal });
    }));
    this.child.stdout!.setEncoding('utf8');
    this.child.stdout!.on('data', (s: string) => this.#read(s));
    this.child.stderr!.setEncoding('utf8');
    this.child.stderr!.on('data', (s: string) => { this.stderr += s; });
    // The plugin may exit while a test still writes (e.g. after SIGTERM).
    this.child.stdin!.on('error', () => {});
  }

  #read(s: string): void {
    this.#buffer += s;
    for (let nl = this.#buffer.indexOf('\n'); nl !== -1; nl = this.#buffer.indexOf('\n')) {
      const line = this.#buffer.slice(0, nl);
      this.#buffer = this.#buffer.slice(nl + 1);
      this.lines.push(line);
      this.#message(line);
    }
  }

  #message(line: string): void {
    let m: Record<string, unknown>;
    try {
      m = JSON.parse(line) as Record<string, unknown>;
    } catch {
      this.violations.push(`not JSON: ${line}`);
      return;
    }
    if (m.jsonrpc !== '2.0') this.violations.push(`no "jsonrpc":"2.0": ${line}`);
    if (typeof m.method === 'string') {
      const p = m.params as Partial<LogParams> | undefined;
      if (m.method !== METHOD.log) this.violations.push(`request to the daemon, which knows only ${METHOD.log}: ${line}`);
      else if (Object.hasOwn(m, 'id')) this.violations.push(`${METHOD.log} with an id (the daemon answers it with an error): ${line}`);
      else if (!p || !['debug', 'info', 'warn', 'error'].includes(p.level as string)) this.violations.push(`log level the daemon drops: ${line}`);
      else if (typeof p.message !== 'string' || p.message === '') this.violations.push(`empty log message: ${line}`);
      else if (p.fields !== undefined && (!Array.isArray(p.fields) || p.fields.length % 2 !== 0)) this.violations.push(`log fields not key/value pairs: ${line}`);
      else this.logs.push(p as LogParams);
      return;
    }
    const r = m as unknown as Response;
    if (Object.hasOwn(r, 'result') === Object.hasOwn(r, 'error')) this.violations.push(`response needs exactly one of result and error: ${line}`);
    if (r.id === null) {
      const w = this.#nullWaiters.shift();
      if (w) w(r);
      else this.nullIdResponses.push(r);
      return;
    }
    const waiter = this.#pending.get(JSON.stringify(r.id));
    if (!waiter) {
      this.violations.push(`response to no pending request: ${line}`);
      return;
    }
    this.#pending.delete(JSON.stringify(r.id));
    waiter(r);
  }

  /** Write raw bytes to the plugin's stdin. */
  write(text: string): void {
    this.child.stdin!.write(text);
  }

  /** The line jsonrpc2 writes for a request: a Go map, keys sorted, then `\n`. */
  static requestLine(id: number | undefined, method: string, params?: unknown): string {
    const m: Record<string, unknown> = {};
    if (id !== undefined) m.id = id;
    m.jsonrpc = '2.0';
    m.method = method;
    if (params !== undefined) m.params = params;
    return `${JSON.stringify(m)}\n`;
  }

  /** Call `method` with the next id (0, 1, …) and wait for its answer. */
  call(method: string, params?: unknown, ms = DRIVER_WAIT_MS): Promise<Response> {
    const id = this.#seq++;
    return this.#await(id, ms, () => this.write(Daemon.requestLine(id, method, params)));
  }

  /** Wait for the answer to `id` after `send` wrote the request. */
  #await(id: number | string, ms: number, send: () => void): Promise<Response> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(JSON.stringify(id));
        reject(new Error(`no answer to request ${id} within ${ms} ms; stdout so far:\n${this.lines.join('\n')}\nstderr:\n${this.stderr}`));
      }, ms);
      this.#pending.set(JSON.stringify(id), (r) => {
        clearTimeout(timer);
        resolve(r);
      });
      send();
    });
  }

  /** Send a raw line that carries `id`, and wait for its answer. */
  raw(line: string, id: number | string, ms = DRIVER_WAIT_MS): Promise<Response> {
    return this.#await(id, ms, () => this.write(line.endsWith('\n') ? line : `${line}\n`));
  }

  /** A JSON-RPC notification (no id): never answered. */
  notify(method: string, params?: unknown): void {
    this.write(Daemon.requestLine(undefined, method, params));
  }

  /** The next answer with id null (to a line whose id could not be read). */
  nextNullIdResponse(ms = DRIVER_WAIT_MS): Promise<Response> {
    const r = this.nullIdResponses.shift();
    if (r) return Promise.resolve(r);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no id-null answer within ${ms} ms`)), ms);
      this.#nullWaiters.push((x) => {
        clearTimeout(timer);
        resolve(x);
      });
    });
  }

  /** Wait until a log line matches. */
  async waitForLog(match: (l: LogParams) => boolean, what: string, ms = DRIVER_WAIT_MS): Promise<LogParams> {
    const deadline = Date.now() + ms;
    for (;;) {
      const l = this.logs.find(match);
      if (l) return l;
      if (Date.now() > deadline) throw new Error(`no log line ${what} within ${ms} ms; logs: ${JSON.stringify(this.logs)}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  /** Stop as `pluginSupervisor.Stop` does: close the connection, SIGTERM, SIGKILL after 5 s. */
  async stop(): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    this.child.stdin!.end();
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 5000);
    const status = await this.exited;
    clearTimeout(timer);
    return status;
  }

  /** SIGTERM only, the connection left open (a daemon stopping with the plugin mid-request). */
  async terminate(): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 5000);
    const status = await this.exited;
    clearTimeout(timer);
    return status;
  }
}
