/**
 * A real Server-Sent Events client for tests: node:http GET over its own
 * socket (no agent pooling), keeping the raw body text so wire bytes can be
 * asserted exactly, with bounded waits.
 */
import { request, type IncomingHttpHeaders, type OutgoingHttpHeaders } from 'node:http';

/** Default bound for every wait, ms. */
export const SSE_WAIT_MS = 5000;

/** An open (or refused) subscription. */
export interface SseClient {
  status: number;
  headers: IncomingHttpHeaders;
  /** Raw response headers, as sent (name, value, name, value, ...). */
  rawHeaders: string[];
  /** Every body byte received so far, as UTF-8 text. */
  text: string;
  /** `[ms since the request was made, chunk]` per received chunk. */
  chunks: Array<[number, string]>;
  /** Resolves when the response ended or the socket closed. */
  ended: Promise<void>;
  /** Wait until `pred(text)` holds; rejects after `ms` naming what was received. */
  waitFor(pred: (text: string) => boolean, what: string, ms?: number): Promise<void>;
  /** Close the socket. */
  close(): void;
  /** Stop reading from the socket (to make the server's buffer grow). */
  pause(): void;
}

/** GET `url` with `headers` and resolve once the status line and headers arrived. */
export function subscribe(url: string, headers: OutgoingHttpHeaders = {}, method = 'GET'): Promise<SseClient> {
  return new Promise((resolve, reject) => {
    const start = performance.now();
    const req = request(url, { method, headers, agent: false });
    const timer = setTimeout(() => {
      req.destroy();
      reject(new Error(`no response from ${url} within ${SSE_WAIT_MS} ms`));
    }, SSE_WAIT_MS);
    req.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    req.on('response', (res) => {
      clearTimeout(timer);
      const waiters = new Set<() => void>();
      let endedResolve!: () => void;
      const ended = new Promise<void>((r) => { endedResolve = r; });
      const client: SseClient = {
        status: res.statusCode ?? 0,
        headers: res.headers,
        rawHeaders: res.rawHeaders,
        text: '',
        chunks: [],
        ended,
        waitFor(pred, what, ms = SSE_WAIT_MS) {
          if (pred(client.text)) return Promise.resolve();
          return new Promise<void>((ok, fail) => {
            const check = (): void => {
              if (!pred(client.text)) return;
              waiters.delete(check);
              clearTimeout(t);
              ok();
            };
            const t = setTimeout(() => {
              waiters.delete(check);
              fail(new Error(`timed out after ${ms} ms waiting for ${what}; received ${JSON.stringify(client.text)}`));
            }, ms);
            waiters.add(check);
          });
        },
        close() {
          req.destroy();
        },
        pause() {
          res.pause();
        },
      };
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        client.text += chunk;
        client.chunks.push([performance.now() - start, chunk]);
        for (const w of [...waiters]) w();
      });
      res.on('end', endedResolve);
      res.on('close', endedResolve);
      res.on('error', endedResolve);
      resolve(client);
    });
    req.end();
  });
}

/** Resolve once `cond()` holds, polling every 5 ms; reject after `ms`. */
export async function until(cond: () => boolean, what: string, ms = SSE_WAIT_MS): Promise<void> {
  const deadline = performance.now() + ms;
  while (!cond()) {
    if (performance.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}
