import { readFile } from 'node:fs/promises';
import { Agent, request } from 'undici';
import { GatewayError } from '../errors.js';
import type { Icinga2EngineConfig } from './config.js';
import { describeObject, errorReason, parseObjectKey, type AcknowledgeRequest, type AcknowledgeResult, type Engine, type EngineObject } from './engine.js';

/**
 * Icinga 2 through its REST API: `POST /v1/actions/acknowledge-problem`
 * over TLS, verified against the Icinga node's own CA, as an ApiUser
 * (docs/acknowledge.md). The object is chosen with a filter whose values
 * travel as `filter_vars`, never spliced into the expression.
 *
 * What Icinga answers (lib/icinga/apiactions.cpp and
 * lib/remote/actionshandler.cpp, Icinga/icinga2 v2.13.6 and 81f7bce3):
 * `{"results":[{"code":200,"status":"Successfully acknowledged problem for object 'h!s'."}]}`;
 * per object 409 `Service h!s is OK.` / `… is already acknowledged.`, 400
 * for a missing author or comment, 503 `Icinga is reloading.`; a filter that
 * matches nothing gives 404 `No objects found.` (2.14 and later) or 500 with
 * `"results":[]` (2.13); a wrong user or password 401, a missing permission
 * 403 or 404.
 */

export { Icinga2EngineSchema, type Icinga2EngineConfig } from './config.js';

/** Settings of an {@link Icinga2Engine}: the config with the CA's PEM text instead of its file. */
export interface Icinga2EngineOptions {
  url: string;
  user: string;
  password: string;
  /** PEM of the trusted CA. */
  ca: string;
  serverName?: string;
  /** Default 10000. */
  timeoutMs?: number;
  /** Default 0 (no expiry). */
  expirySeconds?: number;
}

/** Largest answer read, bytes; Icinga's answers to one action are far smaller. */
const MAX_BODY_BYTES = 64 * 1024;

interface IcingaResult {
  code?: unknown;
  status?: unknown;
}

interface IcingaAnswer {
  results?: unknown;
  error?: unknown;
  status?: unknown;
}

/** The body of an acknowledge-problem request (Icinga's parameter names). */
export function acknowledgeBody(o: EngineObject, request: AcknowledgeRequest, expiryS: number | undefined): Record<string, unknown> {
  const body: Record<string, unknown> = o.service === undefined
    ? { type: 'Host', filter: 'host.name == pushgate_host', filter_vars: { pushgate_host: o.host } }
    : { type: 'Service', filter: 'host.name == pushgate_host && service.name == pushgate_service', filter_vars: { pushgate_host: o.host, pushgate_service: o.service } };
  body.author = request.author;
  body.comment = request.comment;
  body.sticky = request.sticky;
  body.notify = request.notify;
  body.persistent = request.persistent;
  if (expiryS !== undefined) body.expiry = expiryS;
  return body;
}

/** Acknowledgements through the Icinga 2 REST API. */
export class Icinga2Engine implements Engine {
  readonly type = 'icinga2';
  readonly #endpoint: URL;
  readonly #auth: string;
  readonly #timeoutMs: number;
  readonly #expirySeconds: number;
  readonly #agent: Agent;

  constructor(opts: Icinga2EngineOptions) {
    this.#endpoint = new URL('/v1/actions/acknowledge-problem', opts.url);
    this.#auth = `Basic ${Buffer.from(`${opts.user}:${opts.password}`).toString('base64')}`;
    this.#timeoutMs = opts.timeoutMs ?? 10_000;
    this.#expirySeconds = opts.expirySeconds ?? 0;
    this.#agent = new Agent({
      connections: 2,
      headersTimeout: this.#timeoutMs,
      bodyTimeout: this.#timeoutMs,
      // Only the node's CA: the system's public CAs have no say over an Icinga node.
      connect: { ca: opts.ca, rejectUnauthorized: true, timeout: this.#timeoutMs, ...(opts.serverName ? { servername: opts.serverName } : {}) },
    });
  }

  /** An engine from its config: reads the CA file (GW_ERR_CONFIG naming it when it cannot). */
  static async fromConfig(config: Icinga2EngineConfig, where = 'engine'): Promise<Icinga2Engine> {
    let ca: string;
    try {
      ca = await readFile(config.caFile, 'utf8');
    } catch (err) {
      throw new GatewayError('GW_ERR_CONFIG', `${where}.caFile: cannot read ${config.caFile}: ${errorReason(err)}`, { cause: err });
    }
    if (!ca.includes('-----BEGIN CERTIFICATE-----')) throw new GatewayError('GW_ERR_CONFIG', `${where}.caFile: ${config.caFile} holds no PEM certificate`);
    return new Icinga2Engine({ ...config, ca });
  }

  async acknowledge(request: AcknowledgeRequest): Promise<AcknowledgeResult> {
    const o = parseObjectKey(request.objectKey);
    if ('error' in o) return { outcome: 'refused', reason: `not sent: ${o.error}` };
    if (request.author === '') return { outcome: 'refused', reason: 'not sent: the author is empty' };
    if (request.comment === '') return { outcome: 'refused', reason: 'not sent: the comment is empty' };
    const expiry = this.#expirySeconds > 0 ? Math.floor(Date.now() / 1000) + this.#expirySeconds : undefined;
    const body = JSON.stringify(acknowledgeBody(o, request, expiry));

    let status: number;
    let text: string;
    try {
      const res = await postJson(this.#endpoint, this.#agent, this.#auth, body, this.#timeoutMs);
      status = res.status;
      text = res.text;
    } catch (err) {
      const e = err as { name?: string };
      const why = e.name === 'TimeoutError' || e.name === 'AbortError' ? `no answer within ${this.#timeoutMs} ms` : errorReason(err);
      return { outcome: 'unreachable', reason: `the Icinga 2 API at ${this.#endpoint.origin} is unreachable: ${why}` };
    }
    return interpret(o, status, text);
  }

  async close(): Promise<void> {
    await this.#agent.close();
  }
}

/** POST `body`, read at most MAX_BODY_BYTES of the answer. */
async function postJson(url: URL, agent: Agent, auth: string, body: string, timeoutMs: number): Promise<{ status: number; text: string }> {
  const res = await request(url, {
    method: 'POST',
    dispatcher: agent,
    headers: { accept: 'application/json', 'content-type': 'application/json', authorization: auth },
    body,
    signal: AbortSignal.timeout(timeoutMs),
  });
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of res.body as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) break; // leaving the loop destroys the rest
    chunks.push(chunk);
  }
  return { status: res.statusCode, text: Buffer.concat(chunks).toString('utf8') };
}

/** Icinga's answer as an outcome; its own status texts are the reasons. */
export function interpret(o: EngineObject, status: number, text: string): AcknowledgeResult {
  let answer: IcingaAnswer | undefined;
  try {
    const parsed: unknown = JSON.parse(text);
    if (parsed !== null && typeof parsed === 'object') answer = parsed as IcingaAnswer;
  } catch {
    // not JSON: a proxy's error page or a truncated answer; judged by the status below
  }
  if (answer !== undefined && Array.isArray(answer.results)) {
    const results = answer.results as IcingaResult[];
    // Icinga 2.13 answers 500 with no results when the filter matched nothing.
    if (results.length === 0) return { outcome: 'refused', reason: `Icinga 2 has no ${describeObject(o)}` };
    const failed = results.find((r) => !(typeof r.code === 'number' && r.code >= 200 && r.code < 300));
    const first = failed ?? (results[0] as IcingaResult);
    const said = typeof first.status === 'string' ? first.status : `code ${String(first.code)}`;
    if (failed === undefined) return { outcome: 'done', reason: `Icinga 2: ${said}` };
    if (failed.code === 503) return { outcome: 'unreachable', reason: `Icinga 2: ${said}` };
    return { outcome: 'refused', reason: `Icinga 2: ${said}` };
  }
  const said = answer !== undefined && typeof answer.status === 'string' ? answer.status : excerpt(text);
  if (status === 503 || (answer === undefined && status >= 500)) return { outcome: 'unreachable', reason: `Icinga 2 API answered HTTP ${status}: ${said}` };
  return { outcome: 'refused', reason: `Icinga 2 API answered HTTP ${status}: ${said}` };
}

function excerpt(text: string): string {
  const t = text.replace(/\s+/g, ' ').trim();
  return t.length > 200 ? `${t.slice(0, 200)}…` : t || '(empty body)';
}
