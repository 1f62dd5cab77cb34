import type { IncomingMessage } from 'node:http';

/**
 * A small JSON request body (`POST /receipts`, `POST /acknowledge`), read
 * with a byte limit: a declared or actual length above it stops reading.
 */

/** What {@link readJsonBody} came to. */
export type JsonBody =
  | { ok: true; value: unknown }
  | { ok: false; reason: 'too-large' | 'invalid-json' | 'aborted'; detail: string };

/** Read and parse the body of `req`, at most `limit` bytes. Never rejects. */
export function readJsonBody(req: IncomingMessage, limit: number): Promise<JsonBody> {
  return new Promise((resolve) => {
    const tooLarge = (): void => resolve({ ok: false, reason: 'too-large', detail: `body over ${limit} bytes` });
    if (Number(req.headers['content-length']) > limit) {
      req.resume();
      tooLarge();
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    let done = false;
    req.on('data', (chunk: Buffer) => {
      if (done) return;
      size += chunk.length;
      if (size > limit) {
        done = true;
        req.resume();
        tooLarge();
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => {
      if (done) return;
      done = true;
      try {
        resolve({ ok: true, value: JSON.parse(Buffer.concat(chunks, size).toString('utf8')) as unknown });
      } catch (err) {
        resolve({ ok: false, reason: 'invalid-json', detail: `body is not JSON: ${(err as Error).message}` });
      }
    });
    req.on('error', (err) => {
      if (done) return;
      done = true;
      resolve({ ok: false, reason: 'aborted', detail: err.message });
    });
  });
}
