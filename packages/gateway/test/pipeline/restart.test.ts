/**
 * What the journal guarantees across a restart, with real gateway processes
 * killed with SIGKILL: every phone notification answered 200 is delivered
 * by the next process (no channel configured: mobile push alone), and a
 * browser that reconnects with `?since=` after the restart gets what it
 * missed, without a ReplayGap. Plus the in-process forms of the resume
 * window: a graceful restart, and a slow reader cut at its send buffer
 * getting back what the cut discarded.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { stringify } from 'yaml';
import { WebSocket } from 'ws';
import type { Gateway } from '../../src/gateway.js';
import { clusterDir, startGatewayProcess } from '../gateway-process.js';
import {
  hostMessage, HOST_NAME, HOST_UUID, openClient, openRegisteredClient, postMessage, startTestGateway, tempDir, TestClient,
  TEST_API_KEY, WAIT_MS, waitFor, wsUrl,
} from '../helpers.js';

/** The helpers take a Gateway; of a process they only need its URL. */
const at = (url: string): Gateway => ({ url }) as Gateway;

/**
 * A stand-in openITCOCKPIT push gateway: answers `status()` (0: never
 * answers, the request hangs) and records each request it answered 200.
 */
async function pushGateway(t: Test, status: () => number): Promise<{ port: number; delivered: { token: string; body: string }[]; hanging: () => number }> {
  const delivered: { token: string; body: string }[] = [];
  let hanging = 0;
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const code = status();
      if (code === 0) {
        hanging++;
        return;
      }
      if (code === 200) {
        const body = Buffer.concat(chunks).toString('utf8');
        delivered.push({ token: (JSON.parse(body) as { token: string }).token, body });
      }
      res.writeHead(code, { 'Content-Type': 'application/json' });
      res.end('{}');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); }));
  return { port: (server.address() as AddressInfo).port, delivered, hanging: () => hanging };
}

/** Open a client resuming after `since`; consumes the greeting. */
async function resume(gw: Pick<Gateway, 'url'>, since: number, browserUuid = 'b1'): Promise<TestClient> {
  const ws = new WebSocket(`${wsUrl(gw, 1, browserUuid)}&since=${since}`, ['access_token', TEST_API_KEY]);
  const client = new TestClient(ws);
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  const greeting = await client.nextJson();
  if (greeting.type !== 'ConnectionEstablished') throw new Error(`expected the greeting, got ${greeting.type}`);
  return client;
}

/** A KeepAlive round trip: every frame written before it has arrived; returns those frames. */
async function drain(c: TestClient): Promise<{ type: string; payload: { id?: number; message?: string } }[]> {
  c.send({ type: 'KeepAlive', message: '', payload: null });
  const frames: { type: string; payload: { id?: number; message?: string } }[] = [];
  for (;;) {
    const f = await c.nextJson(WAIT_MS * 2);
    if (f.type === 'KeepAlive') return frames;
    frames.push(f as (typeof frames)[number]);
  }
}

t.test('kill -9 with mobile pushes in flight and no channel configured loses none of them', async (t) => {
  // The push gateway takes the first process's requests and never answers them.
  let answer = 0;
  const pg = await pushGateway(t, () => answer);
  const dir = await clusterDir(t);
  await writeFile(join(dir, 'directory.yaml'), stringify({
    apiKeys: [TEST_API_KEY],
    hosts: { [HOST_UUID]: HOST_NAME },
    devices: { '5': ['tok-1', 'tok-2'] },
    relay: { address: 'http://127.0.0.1', port: pg.port, authKey: 'relay-key-0123456789', enabled: true },
  }));
  const config = { state: { dir: 'state' } };
  const first = await startGatewayProcess(t, dir, config);
  const outputs = Array.from({ length: 10 }, (_, i) => `down ${i}`);
  for (const output of outputs) {
    const res = await postMessage(at(first.url), hostMessage({ userId: 5, output }));
    t.same([res.status, res.body], [200, 'ok'], `${output}: accepted for the phones, no browser open`);
  }
  // Up to the channel's concurrency (16) are in flight, the rest wait in the outbox: both kinds die with the process.
  await waitFor(() => pg.hanging() >= 16, WAIT_MS * 2, 'deliveries in flight');
  t.equal(pg.delivered.length, 0, 'none answered yet');
  await first.stop('SIGKILL');

  answer = 200;
  const second = await startGatewayProcess(t, dir, config);
  await waitFor(() => pg.delivered.length >= outputs.length * 2, WAIT_MS * 6, 'every phone notification');
  const got = pg.delivered.map((d) => `${d.token} ${(JSON.parse(d.body) as { body: string }).body}`).sort();
  const want = outputs.flatMap((o) => [`tok-1 ${o}`, `tok-2 ${o}`]).sort();
  t.same(got, want, 'each notification reached each device exactly once after the restart');
  await second.stop();
});

t.test('after kill -9 and a restart, a browser resuming with since gets what it missed, without a gap', async (t) => {
  const dir = await clusterDir(t);
  const config = { state: { dir: 'state' } };
  const first = await startGatewayProcess(t, dir, config);
  // Another browser of the user stays registered, so the notifications are accepted while b1 is away.
  const other = await openRegisteredClient(at(first.url), { browserUuid: 'b2' });
  const away = await openRegisteredClient(at(first.url), { browserUuid: 'b1' });
  t.equal((await postMessage(at(first.url), hostMessage({ output: 'seen' }))).status, 200);
  const seen = ((await away.nextJson()).payload as { id: number }).id;
  await away.close();
  for (const output of ['missed 1', 'missed 2', 'missed 3']) t.equal((await postMessage(at(first.url), hostMessage({ output }))).status, 200, output);
  await first.stop('SIGKILL');
  await other.closed;

  const second = await startGatewayProcess(t, dir, config);
  const back = await resume(at(second.url), seen);
  t.teardown(() => back.close());
  const frames = await drain(back);
  t.same(frames.map((f) => f.type), ['ProcessPushNotification', 'ProcessPushNotification', 'ProcessPushNotification'], 'no ReplayGap');
  t.same(frames.map((f) => f.payload.message), ['missed 1', 'missed 2', 'missed 3'], 'in order');
  const ids = frames.map((f) => f.payload.id!);
  t.ok(ids.every((id, i) => id > (i === 0 ? seen : ids[i - 1]!)), 'ids increase past the one seen');
  await back.close();
  const live = await openRegisteredClient(at(second.url), { browserUuid: 'b1' });
  t.equal((await postMessage(at(second.url), hostMessage({ output: 'after' }))).status, 200);
  const after = (await live.nextJson()).payload as { id: number; message: string };
  t.equal(after.message, 'after');
  t.ok(after.id > ids[2]!, 'the restarted process issues higher ids than the killed one');
  await live.close();
  await second.stop();
});

for (const syncIntervalMs of [60_000, 0]) {
  t.test(`kill -9 right after the 200 loses nothing (state.journal.syncIntervalMs ${syncIntervalMs})`, async (t) => {
    // 60 s: the record was written but never fsynced when the process dies; the page cache keeps it.
    const dir = await clusterDir(t);
    const config = { state: { dir: 'state', journal: { syncIntervalMs } } };
    const first = await startGatewayProcess(t, dir, config);
    const keep = await openRegisteredClient(at(first.url), { browserUuid: 'b2' });
    const before = await postMessage(at(first.url), hostMessage({ output: 'seen' }));
    t.equal(before.status, 200);
    const seen = ((await keep.nextJson()).payload as { id: number }).id;
    const res = await postMessage(at(first.url), hostMessage({ output: 'just answered' }));
    t.same([res.status, res.body], [200, 'ok']);
    first.child.kill('SIGKILL');
    await first.exited;
    await keep.closed;

    const second = await startGatewayProcess(t, dir, config);
    const back = await resume(at(second.url), seen);
    t.teardown(() => back.close());
    t.same((await drain(back)).map((f) => [f.type, f.payload.message]), [['ProcessPushNotification', 'just answered']], 'in the resume window after the restart');
    await back.close();
    await second.stop();
  });
}

t.test('a graceful restart on the same state directory keeps the resume window', async (t) => {
  const stateDir = tempDir();
  const first = await startTestGateway({ stateDir });
  const keep = await openRegisteredClient(first, { browserUuid: 'b2' });
  const since = first.ids.lastId;
  t.equal((await postMessage(first, hostMessage({ output: 'while away' }))).status, 200);
  await keep.close();
  await first.close();
  const second = await startTestGateway({ stateDir });
  t.teardown(() => second.close());
  const back = await resume(second, since);
  t.teardown(() => back.close());
  t.same((await drain(back)).map((f) => [f.type, f.payload.message]), [['ProcessPushNotification', 'while away']]);
  t.equal(second.pipeline.stats.restored, 1);
});

t.test('a slow reader cut at its send buffer gets back on reconnect what the cut discarded', async (t) => {
  const gw = await startTestGateway({ config: { websocket: { maxBufferedBytes: 64 * 1024 } } });
  t.teardown(() => gw.close());
  const keep = await openRegisteredClient(gw, { browserUuid: 'keep' });
  t.teardown(() => keep.close());
  const slow = await openClient(gw, { browserUuid: 'slow' });
  const since = gw.ids.lastId;
  // Stop reading: the kernel buffers fill, then the gateway's buffer passes maxBufferedBytes and it cuts the socket.
  (slow.ws as unknown as { _socket: { pause(): void } })._socket.pause();
  const big = 'x'.repeat(8 * 1024);
  const accepted: string[] = [];
  for (let i = 0; (gw.stats.closes['slow-consumer'] ?? 0) === 0 && i < 4000; i++) {
    const output = `flood ${i} ${big}`;
    if ((await postMessage(gw, hostMessage({ output }))).status === 200) accepted.push(output);
  }
  t.equal(gw.stats.closes['slow-consumer'], 1, 'the slow reader was cut');
  t.ok(accepted.length > 100, `${accepted.length} notifications were accepted meanwhile`);
  slow.ws.terminate();
  await drain(keep);
  const back = await resume(gw, since, 'slow');
  t.teardown(() => back.close());
  const frames = await drain(back);
  t.equal(frames[0]?.type, 'ProcessPushNotification', 'no ReplayGap');
  t.same(frames.map((f) => f.payload.message), accepted, 'every accepted notification, in order');
});
