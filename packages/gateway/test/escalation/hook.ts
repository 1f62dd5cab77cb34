/**
 * A webhook stand-in for the escalation tests: a real HTTP server on
 * loopback recording every delivery the webhook channel posts (its body and
 * `Idempotency-Key`, the outbox delivery id), answering 200.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Test } from 'tap';

/** One request the stand-in answered. */
export interface HookDelivery {
  /** The `Idempotency-Key` header: the outbox delivery id. */
  readonly id: string;
  readonly body: { title: string; message: string };
  /** When it arrived, ms since the epoch. */
  readonly at: number;
}

/** Start a stand-in; closed at teardown. `url` is the webhook URL to configure. */
export async function hookServer(t: Test): Promise<{ url: string; got: HookDelivery[] }> {
  const got: HookDelivery[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      got.push({ id: String(req.headers['idempotency-key']), body: JSON.parse(Buffer.concat(chunks).toString('utf8')) as HookDelivery['body'], at: Date.now() });
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end('{}');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); }));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`, got };
}

/** Distinct delivery ids in arrival order. */
export function distinct(got: readonly HookDelivery[]): string[] {
  return [...new Set(got.map((d) => d.id))];
}
