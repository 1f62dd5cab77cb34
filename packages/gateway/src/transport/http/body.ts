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
