import type { IncomingMessage } from 'node:http';

/** The request body was larger than the limit (the caller answers 413). */
export class BodyTooLarge extends Error {}

/**
 * Read a request body, refusing more than `limit` bytes: at once when
 * `Content-Length` says so, else as soon as the stream passes it (the rest
 * is drained, not kept). Rejects with {@link BodyTooLarge}, or the request's error.
 */
export function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers['content-length']);
    if (declared > limit) {
      reject(new BodyTooLarge());
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        req.removeAllListeners('data');
        req.resume();
        reject(new BodyTooLarge());
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks, size)));
    req.on('error', reject);
  });
}

/** What {@link readJsonBody} came to. */
export type JsonBody =
  | { ok: true; value: unknown }
  | { ok: false; reason: 'too-large' | 'invalid-json' | 'aborted'; detail: string };

/**
 * Read and parse a small JSON body (`POST /receipts`, `POST /acknowledge`),
 * at most `limit` bytes. Never rejects: a body over the limit, one that is
 * not JSON, or a request that broke off is a value with a detail for the answer.
 */
export async function readJsonBody(req: IncomingMessage, limit: number): Promise<JsonBody> {
  let raw: Buffer;
  try {
    raw = await readBody(req, limit);
  } catch (err) {
    if (err instanceof BodyTooLarge) {
      req.resume();
      return { ok: false, reason: 'too-large', detail: `body over ${limit} bytes` };
    }
    return { ok: false, reason: 'aborted', detail: (err as Error).message };
  }
  try {
    return { ok: true, value: JSON.parse(raw.toString('utf8')) as unknown };
  } catch (err) {
    return { ok: false, reason: 'invalid-json', detail: `body is not JSON: ${(err as Error).message}` };
  }
}
