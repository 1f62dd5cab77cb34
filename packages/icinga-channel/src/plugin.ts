import { ChannelError } from './errors.js';
import { info } from './info.js';
import { errorLine, logLine, parseLine, resultLine, RpcCodes, type LogLevel, type RpcId } from './rpc.js';
import { Sender } from './send.js';
import { parseSettings, type Settings } from './settings.js';

/** The methods the daemon calls (upstream `plugin.MethodGetInfo` …). */
export const Methods = { getInfo: 'GetInfo', setConfig: 'SetConfig', sendNotification: 'SendNotification' } as const;

/** Options of {@link ChannelPlugin}. */
export interface ChannelPluginOptions {
  /**
   * The channel type: the plugin's file name in the channels directory, the
   * `type` of the contact addresses it serves (upstream `Address.Type`).
   */
  type: string;
  /** Writes one line to the daemon (stdout). */
  write: (line: string) => void;
}

/**
 * The channel plugin (docs/protocol/icinga-channel.md): answers the daemon's
 * requests line by line. `SendNotification`s run concurrently (each answer
 * carries its id); GetInfo and SetConfig are answered at once, so a
 * SetConfig applies to every SendNotification read after it.
 */
export class ChannelPlugin {
  readonly #type: string;
  readonly #write: (line: string) => void;
  readonly #sender = new Sender();
  readonly #inflight = new Set<Promise<void>>();
  #settings: Settings | undefined;
  #closing = false;

  constructor(opts: ChannelPluginOptions) {
    this.#type = opts.type;
    this.#write = opts.write;
  }

  /** Log through the protocol (`channel::Log`): the daemon's log shows it with the channel's name and the plugin's pid. */
  log(level: LogLevel, message: string, fields?: Readonly<Record<string, string | number | boolean>>): void {
    this.#write(logLine(level, message, fields));
  }

  /** Handle one line from the daemon. Never throws: whatever the line, the plugin keeps serving. */
  handleLine(line: string): void {
    const m = parseLine(line);
    switch (m.kind) {
      case 'blank':
      case 'response':
        return;
      case 'invalid':
        this.log('warn', 'pushgate channel: malformed line from the daemon answered with an error', { code: m.code, reason: m.message });
        this.#write(errorLine(m.id, m.code, m.message));
        return;
      case 'notification':
        // No id: never answered (JSON-RPC §4.1); the daemon sends none to plugins today.
        this.log('debug', 'pushgate channel: ignored a notification from the daemon', { method: m.method });
        return;
      case 'request':
        this.#request(m.id, m.method, m.params);
    }
  }

  /** A line longer than the limit was skipped: answered like unparsable JSON. */
  overlong(maxBytes: number): void {
    const message = `parse error: line longer than ${maxBytes} bytes`;
    this.log('warn', 'pushgate channel: overlong line from the daemon skipped', { max_bytes: maxBytes });
    this.#write(errorLine(null, RpcCodes.parseError, message));
  }

  #request(id: RpcId, method: string, params: unknown): void {
    if (this.#closing) {
      this.#fail(id, RpcCodes.internalError, new ChannelError('CHAN_ERR_SHUTTING_DOWN', 'the pushgate channel plugin is shutting down'));
      return;
    }
    switch (method) {
      case Methods.getInfo:
        this.#write(resultLine(id, info()));
        return;
      case Methods.setConfig:
        this.#setConfig(id, params);
        return;
      case Methods.sendNotification: {
        const p = this.#sendNotification(id, params)
          .catch((err: unknown) => {
            // A bug, not a delivery failure: still one answer, and the plugin keeps serving.
            this.log('error', `pushgate channel: internal error: ${(err as Error)?.stack ?? String(err)}`);
            this.#write(errorLine(id, RpcCodes.internalError, `internal error in the pushgate channel plugin: ${(err as Error)?.message ?? String(err)}`));
          })
          .finally(() => this.#inflight.delete(p));
        this.#inflight.add(p);
        return;
      }
      default:
        // The daemon's jsonrpc package answers exactly this for an unknown method.
        this.#write(errorLine(id, RpcCodes.methodNotFound, 'method not found'));
    }
  }

  /** Missing params: -32600, as upstream's handler answers; params that are no object: -32602. */
  #checkParams(id: RpcId, params: unknown): params is Record<string, unknown> {
    if (params === undefined || params === null) {
      this.#fail(id, RpcCodes.invalidRequest, new ChannelError('CHAN_ERR_PARAMS', 'missing required parameter'));
      return false;
    }
    if (typeof params !== 'object' || Array.isArray(params)) {
      this.#fail(id, RpcCodes.invalidParams, new ChannelError('CHAN_ERR_PARAMS', 'params must be a JSON object'));
      return false;
    }
    return true;
  }

  #setConfig(id: RpcId, params: unknown): void {
    if (!this.#checkParams(id, params)) return;
    let settings: Settings;
    try {
      settings = parseSettings(params);
    } catch (err) {
      if (!(err instanceof ChannelError)) throw err;
      this.log('error', `pushgate channel: configuration refused: ${err.message}`);
      this.#fail(id, RpcCodes.invalidParams, err);
      return;
    }
    this.#settings = settings;
    this.log('info', 'pushgate channel configured', {
      intake: `${settings.intake.origin}${settings.intake.pathname}`,
      timeout_ms: settings.timeoutMs,
      ca_file: settings.caFile ?? '',
    });
    this.#write(resultLine(id, null));
  }

  async #sendNotification(id: RpcId, params: unknown): Promise<void> {
    if (!this.#checkParams(id, params)) return;
    const settings = this.#settings;
    if (settings === undefined) {
      this.#fail(id, RpcCodes.internalError, new ChannelError('CHAN_ERR_NOT_CONFIGURED', 'not configured: SetConfig has not succeeded yet'));
      return;
    }
    const incident = (params.incident as { id?: unknown } | null | undefined)?.id;
    const fields: Record<string, number> = typeof incident === 'number' ? { incident } : {};
    try {
      // The request as the daemon sent it, plus which address type is ours: pushgate picks the recipient.
      await this.#sender.send(settings, { channel_type: this.#type, ...params });
    } catch (err) {
      if (!(err instanceof ChannelError)) throw err;
      this.log('warn', `pushgate channel: notification not accepted: ${err.message}`, { ...fields, code: err.code });
      this.#fail(id, RpcCodes.internalError, err);
      return;
    }
    this.log('debug', 'pushgate channel: notification accepted by pushgate', fields);
    this.#write(resultLine(id, null));
  }

  #fail(id: RpcId, code: number, err: ChannelError): void {
    this.#write(errorLine(id, code, err.message));
  }

  /**
   * Stop taking requests (later ones are answered `CHAN_ERR_SHUTTING_DOWN`)
   * and wait for the notifications in flight: each ends within its timeout.
   */
  async drain(): Promise<void> {
    this.#closing = true;
    while (this.#inflight.size > 0) await Promise.allSettled([...this.#inflight]);
    this.#sender.close();
  }
}
