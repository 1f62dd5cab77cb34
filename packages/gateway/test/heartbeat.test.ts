import t from 'tap';
import { openClient, startTestGateway, waitFor, WAIT_MS } from './helpers.js';

const fast = { websocket: { pingIntervalMs: 40, pongTimeoutMs: 150, writeTimeoutMs: 1000 } };

t.test('a client that answers no ping and sends nothing is dropped after websocket.pongTimeoutMs', async (t) => {
  const gw = await startTestGateway({ config: fast });
  t.teardown(() => gw.close());
  const silent = await openClient(gw, { autoPong: false, browserUuid: 'silent' });
  const alive = await openClient(gw, { browserUuid: 'alive' });
  t.teardown(() => alive.close());
  let pings = 0;
  silent.ws.on('ping', () => pings++);
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
