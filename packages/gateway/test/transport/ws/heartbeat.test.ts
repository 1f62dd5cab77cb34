import { connect, type Socket } from 'node:net';
import t from 'tap';
import { once, openClient, startTestGateway, waitFor, TEST_API_KEY, WAIT_MS } from '../../helpers.js';

const fast = { websocket: { pingIntervalMs: 40, pongTimeoutMs: 150, writeTimeoutMs: 1000 } };

t.test('a client that answers no ping and sends nothing is dropped after websocket.pongTimeoutMs', async (t) => {
  // A pong timeout the answering client meets even on a loaded, shared machine (150 ms was missed there).
  const gw = await startTestGateway({ config: { websocket: { ...fast.websocket, pongTimeoutMs: 600 } } });
  t.teardown(() => gw.close());
  const silent = await openClient(gw, { autoPong: false, browserUuid: 'silent' });
  // Counted from the start: on a loaded machine the first ping can come while the second client opens.
  let pings = 0;
  silent.ws.on('ping', () => pings++);
  const alive = await openClient(gw, { browserUuid: 'alive' });
  t.teardown(() => alive.close());
  const closed = await Promise.race([
    silent.closed,
    new Promise<never>((_, reject) => setTimeout(() => reject(new Error('silent client not dropped')), WAIT_MS).unref()),
  ]);
  t.equal(closed.code, 1006, 'terminated: no close frame for a dead peer');
  t.ok(pings >= 1, 'it was pinged first');
  await waitFor(() => gw.registry.size === 1, WAIT_MS, 'server-side close');
  t.equal(gw.stats.closes['pong-timeout'], 1);
  t.equal(gw.registry.size, 1, 'the client answering pings stays');
  t.equal(alive.ws.readyState, alive.ws.OPEN);
});

const slow = { websocket: { pingIntervalMs: 40, pongTimeoutMs: 600, writeTimeoutMs: 1000 } };

t.test('frames from the client count as liveness even without pongs', async (t) => {
  const gw = await startTestGateway({ config: slow });
  t.teardown(() => gw.close());
  const client = await openClient(gw, { autoPong: false });
  t.teardown(() => client.close());
  // KeepAlives every ~10 ms, far inside the pong timeout, for three pong timeouts.
  const until = Date.now() + 3 * slow.websocket.pongTimeoutMs;
  while (Date.now() < until) {
    client.send({ type: 'KeepAlive', message: '', payload: null });
    await client.next();
    await new Promise((r) => setTimeout(r, 10));
  }
  t.equal(client.ws.readyState, client.ws.OPEN);
  t.equal(gw.stats.closes['pong-timeout'], undefined);
});

/**
 * A WebSocket client that completes the handshake and then never reads, so
 * the server's writes pile up: first in the kernel, then in `bufferedAmount`.
 */
async function stalledClient(port: number): Promise<Socket> {
  const sock = connect(port, '127.0.0.1');
  await once(sock, 'connect');
  sock.write(
    'GET /?userId=1&browserUuid=stalled HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n' +
    `Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Protocol: access_token, ${TEST_API_KEY}\r\n\r\n`,
  );
  let head = '';
  while (!head.includes('\r\n\r\n')) head += String(await once(sock, 'data'));
  if (!head.startsWith('HTTP/1.1 101')) throw new Error(`handshake failed: ${head}`);
  sock.pause();
  sock.on('error', () => undefined);
  return sock;
}

const MEGABYTE_FRAME = Buffer.alloc(1 << 20, 'x');

t.test('a client whose send buffer exceeds websocket.maxBufferedBytes is cut and counted as slow-consumer', async (t) => {
  const gw = await startTestGateway({ config: { websocket: { maxBufferedBytes: 1024 } } });
  t.teardown(() => gw.close());
  const sock = await stalledClient(gw.port);
  t.teardown(() => sock.destroy());
  await waitFor(() => gw.registry.size === 1);
  const conn = [...gw.registry.all()][0]!;
  let sent = 0;
  // Bounded: loopback kernel buffers hold a few MB at most.
  while (conn.readyState === conn.OPEN && sent < 256) {
    conn.sendFrame(MEGABYTE_FRAME);
    sent++;
    await new Promise((r) => setImmediate(r));
  }
  await waitFor(() => gw.registry.size === 0, WAIT_MS, 'slow consumer closed');
  t.equal(gw.stats.closes['slow-consumer'], 1);
  t.ok(sent < 256, `cut after ${sent} MB`);
});

t.test('broadcasts (framed once, written straight to each socket) obey websocket.maxBufferedBytes too', async (t) => {
  const gw = await startTestGateway({ config: { websocket: { maxBufferedBytes: 1024 } } });
  t.teardown(() => gw.close());
  const sock = await stalledClient(gw.port);
  t.teardown(() => sock.destroy());
  await waitFor(() => gw.registry.size === 1);
  const stalled = [...gw.registry.all()][0]!;
  let sent = 0;
  while (stalled.readyState === stalled.OPEN && sent < 256) {
    gw.registry.broadcast(MEGABYTE_FRAME);
    sent++;
    await new Promise((r) => setImmediate(r));
  }
  await waitFor(() => gw.registry.size === 0, WAIT_MS, 'slow consumer closed');
  t.equal(gw.stats.closes['slow-consumer'], 1, 'counted as slow-consumer');
  t.ok(sent < 256, `cut after ${sent} MB`);
});

t.test('a write that does not drain within websocket.writeTimeoutMs closes the socket as write-timeout', async (t) => {
  const gw = await startTestGateway({ config: { websocket: { maxBufferedBytes: 512 * 1024 * 1024, writeTimeoutMs: 100 } } });
  t.teardown(() => gw.close());
  const sock = await stalledClient(gw.port);
  t.teardown(() => sock.destroy());
  await waitFor(() => gw.registry.size === 1);
  const conn = [...gw.registry.all()][0]!;
  let sent = 0;
  while (conn.bufferedAmount === 0 && sent < 256) {
    conn.sendFrame(MEGABYTE_FRAME);
    sent++;
    await new Promise((r) => setImmediate(r));
  }
  t.ok(conn.bufferedAmount > 0, 'the kernel buffers are full');
  await waitFor(() => gw.registry.size === 0, WAIT_MS, 'write timeout close');
  t.equal(gw.stats.closes['write-timeout'], 1);
});
