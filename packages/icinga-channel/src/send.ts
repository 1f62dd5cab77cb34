import { Agent as HttpAgent, request as httpRequest, type IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { ChannelError } from './errors.js';
import type { Settings } from './settings.js';

/** Longest part of pushgate's answer body quoted in an error, characters. */
const MAX_REASON_CHARS = 300;

/**
 * Posts notifications to pushgate's intake (`POST <url>/icinga/notifications`,
 * docs/protocol/icinga-channel.md "Intake"). The plugin lives as long as the
 * daemon, so connections are kept alive between notifications.
 */
export class Sender {
  readonly #http = new HttpAgent({ keepAlive: true, maxSockets: 8 });
  readonly #https = new Map<string, HttpsAgent>();

  /**
   * POST `body` as JSON; resolves once pushgate answered 200, which it does
   * only after it journaled the notification.
   *
   * @throws {ChannelError} `CHAN_ERR_REFUSED` for any other status (with
   *   pushgate's reason), `CHAN_ERR_TIMEOUT`, `CHAN_ERR_UNREACHABLE`.
   */
  send(settings: Settings, body: unknown): Promise<void> {
    const payload = Buffer.from(JSON.stringify(body));
    const url = settings.intake;
    const where = `${url.origin}${url.pathname}`;
    const https = url.protocol === 'https:';
    const agent = https ? this.#httpsAgent(settings.ca) : this.#http;
    const request = https ? httpsRequest : httpRequest;
    return new Promise<void>((resolve, reject) => {
      let settled = false;
      const done = (err?: ChannelError): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        if (err === undefined) resolve();
        else reject(err);
      };
      const req = request(url, {
        method: 'POST',
        agent,
        headers: {
          'Content-Type': 'application/json',
          'Content-Length': payload.length,
          Authorization: `Bearer ${settings.token}`,
        },
      }, (res: IncomingMessage) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (c: Buffer) => {
          // Only the start of the answer is quoted; the rest is read and dropped.
          if (size < 4096) chunks.push(c);
          size += c.length;
        });
        res.on('error', () => { /* reported by 'close' */ });
        res.on('close', () => {
          if (!res.complete) done(new ChannelError('CHAN_ERR_UNREACHABLE', `pushgate closed the connection before the whole answer at ${where}`));
        });
        res.on('end', () => {
          const status = res.statusCode ?? 0;
          if (status === 200) return done();
          let reason = Buffer.concat(chunks).toString('utf8').trim().replace(/\s+/g, ' ');
          if (reason.length > MAX_REASON_CHARS) reason = `${reason.slice(0, MAX_REASON_CHARS)}…`;
          done(new ChannelError('CHAN_ERR_REFUSED', `pushgate refused the notification: ${status} ${res.statusMessage ?? ''}`.trimEnd() + (reason === '' ? '' : `: ${reason}`)));
        });
      });
      const timer = setTimeout(() => {
        done(new ChannelError('CHAN_ERR_TIMEOUT', `pushgate did not answer within ${settings.timeoutMs} ms at ${where}`));
        req.destroy();
      }, settings.timeoutMs);
      req.on('error', (cause: NodeJS.ErrnoException) => {
        done(new ChannelError('CHAN_ERR_UNREACHABLE', `pushgate unreachable at ${where}: ${cause.code ?? cause.message}${cause.code && cause.message && !cause.message.includes(cause.code) ? ` (${cause.message})` : ''}`, { cause }));
      });
      req.end(payload);
    });
  }

  /** One keep-alive agent per CA (SetConfig may change it). */
  #httpsAgent(ca: string | undefined): HttpsAgent {
    const key = ca ?? '';
    let agent = this.#https.get(key);
    if (agent === undefined) {
      for (const old of this.#https.values()) old.destroy();
      this.#https.clear();
      agent = new HttpsAgent({ keepAlive: true, maxSockets: 8, ...(ca !== undefined ? { ca } : {}) });
      this.#https.set(key, agent);
    }
    return agent;
  }

  /** Close kept-alive connections. */
  close(): void {
    this.#http.destroy();
    for (const a of this.#https.values()) a.destroy();
    this.#https.clear();
  }
}
