/**
 * A real TCP proxy on loopback for fault injection: put it between a client
 * and a server (MariaDB, Redis, a relay), then cut, restore, or slow the path.
 * Tests use it instead of stopping shared services.
 */
import { createServer, type Server, Socket } from 'node:net';

export interface TcpProxy {
  /** Port the proxy listens on (127.0.0.1). */
  readonly port: number;
  /** Reset every open connection and refuse new ones (accept, then reset at once). */
  cut(): void;
  /** Accept and forward again. */
  restore(): void;
  /** Delay every chunk in both directions by `ms` milliseconds (0 = none); order is kept. */
  setDelay(ms: number): void;
  /** Connections accepted so far. */
  readonly accepted: number;
  /** Stop listening and destroy every connection. */
  close(): Promise<void>;
}

/** Start a proxy to `target` on an ephemeral loopback port. */
export async function startTcpProxy(target: { host: string; port: number }): Promise<TcpProxy> {
  const sockets = new Set<Socket>();
  let cut = false;
  let delayMs = 0;
  let accepted = 0;

  const pipe = (from: Socket, to: Socket): void => {
    // Each chunk is released no earlier than the previous one, so a changed
    // delay never reorders bytes.
    let releaseAt = 0;
    from.on('data', (chunk: Buffer) => {
      if (delayMs === 0 && releaseAt <= performance.now()) {
        to.write(chunk);
        return;
      }
      releaseAt = Math.max(performance.now() + delayMs, releaseAt);
      setTimeout(() => {
        if (!to.destroyed) to.write(chunk);
      }, releaseAt - performance.now());
    });
  };

  const server: Server = createServer((client) => {
    accepted++;
    if (cut) {
      client.resetAndDestroy();
      return;
    }
    const upstream = new Socket();
    sockets.add(client);
    sockets.add(upstream);
    const teardown = (): void => {
      sockets.delete(client);
      sockets.delete(upstream);
      if (!client.destroyed) client.destroy();
      if (!upstream.destroyed) upstream.destroy();
    };
    client.on('error', teardown).on('close', teardown);
    upstream.on('error', teardown).on('close', teardown);
    pipe(client, upstream);
    pipe(upstream, client);
    upstream.connect(target.port, target.host);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const address = server.address();
  if (!address || typeof address === 'string') throw new Error('proxy has no TCP address');

  return {
    port: address.port,
    get accepted() {
      return accepted;
    },
    cut() {
      cut = true;
      for (const s of sockets) s.resetAndDestroy();
      sockets.clear();
    },
    restore() {
      cut = false;
    },
    setDelay(ms: number) {
      delayMs = ms;
    },
    async close() {
      for (const s of sockets) s.destroy();
      sockets.clear();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
