import t from 'tap';
import { WebSocket } from 'ws';
import { IdClock } from '../../src/cluster/ids.js';
import { parseSince, ReplayLog } from '../../src/pipeline/replay.js';
import {
  hostMessage, openClient, openRegisteredClient, postMessage, startTestGateway, TEST_API_KEY, TestClient, WAIT_MS, wsUrl,
  type ClientOptions,
} from '../helpers.js';
import type { Gateway } from '../../src/gateway.js';

/** Open a client that resumes after `since` (raw `?since=` on the URL), consuming the greeting. */
async function resumeClient(gw: Gateway, since: number | string, opts: ClientOptions = {}): Promise<TestClient> {
  const url = `${wsUrl(gw, opts.userId ?? 1, opts.browserUuid ?? 'b1')}&since=${since}`;
  const ws = new WebSocket(url, ['access_token', TEST_API_KEY]);
  const client = new TestClient(ws);
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('websocket did not open in time')), WAIT_MS);
    ws.once('open', () => { clearTimeout(timer); resolve(); });
    ws.once('error', (err) => { clearTimeout(timer); reject(err); });
  });
  t.equal(JSON.parse(await client.next()).type, 'ConnectionEstablished');
  return client;
}

/** Post `n` notifications to user 1 (`<output> <i>`), each answered 200. */
async function postMany(gw: Gateway, n: number, output = 'out'): Promise<void> {
  for (let i = 0; i < n; i++) {
    const res = await postMessage(gw, hostMessage({ output: `${output} ${i}` }));
    if (res.status !== 200) throw new Error(`POST /message answered ${res.status} ${res.body}`);
  }
}

/** A KeepAlive round trip: every frame the gateway wrote before it has arrived. */
async function settle(c: TestClient): Promise<void> {
  c.send({ type: 'KeepAlive', message: '', payload: null });
  const frames: string[] = [];
  for (;;) {
    const f = await c.next();
    if (f === '{"type":"KeepAlive","message":"Pong","payload":null}') break;
    frames.push(f);
  }
  if (frames.length) throw new Error(`unexpected frames before Pong: ${frames.join(' | ')}`);
}

t.test('every ProcessPushNotification carries an id that increases per user', async (t) => {
  const gw = await startTestGateway();
  t.teardown(() => gw.close());
  const c = await openRegisteredClient(gw);
  t.teardown(() => c.close());
  await postMany(gw, 3);
  const parsed: number[] = [];
  for (let i = 0; i < 3; i++) parsed.push(((await c.nextJson()).payload as { id: number }).id);
  t.ok(parsed.every((id) => Number.isSafeInteger(id)), 'ids are integers');
  t.ok(parsed[0]! < parsed[1]! && parsed[1]! < parsed[2]!, `increasing: ${parsed.join(', ')}`);
  t.equal(parsed[2], gw.ids.lastId);
});

t.test('a client reconnecting with since receives what it missed, in order, then live notifications, each once', async (t) => {
  const gw = await startTestGateway();
  t.teardown(() => gw.close());
  const first = await openRegisteredClient(gw);
  await postMany(gw, 2, 'seen');
  const seen = [(await first.nextJson()).payload, (await first.nextJson()).payload] as { id: number; message: string }[];
  await first.close();

  // A second browser keeps the user registered while the first is away.
  const other = await openRegisteredClient(gw, { browserUuid: 'b2' });
  t.teardown(() => other.close());
  await postMany(gw, 3, 'missed');

  const back = await resumeClient(gw, seen[1]!.id);
  t.teardown(() => back.close());
  const replayed = [await back.nextJson(), await back.nextJson(), await back.nextJson()];
  t.same(replayed.map((m) => m.type), ['ProcessPushNotification', 'ProcessPushNotification', 'ProcessPushNotification']);
  t.same(replayed.map((m) => (m.payload as { message: string }).message), ['missed 0', 'missed 1', 'missed 2'], 'in order');
  const ids = replayed.map((m) => (m.payload as { id: number }).id);
  t.ok(ids.every((id) => id > seen[1]!.id), 'only ids after since');
  await settle(back);

  await postMany(gw, 1, 'live');
  const live = await back.nextJson();
  t.equal((live.payload as { message: string }).message, 'live 0');
  t.ok((live.payload as { id: number }).id > ids[2]!, 'the live id follows the replayed ones');
  await settle(back);
});

t.test('the replayed frame is byte for byte the frame live clients received', async (t) => {
  const gw = await startTestGateway();
  t.teardown(() => gw.close());
  const live = await openRegisteredClient(gw);
  t.teardown(() => live.close());
  const before = gw.ids.lastId;
  await postMany(gw, 1);
  const frame = await live.next();
  const back = await resumeClient(gw, before, { browserUuid: 'b9' });
  t.teardown(() => back.close());
  t.equal(await back.next(), frame);
  await settle(back);
});

t.test('resuming at the newest id replays nothing and reports no gap', async (t) => {
  const gw = await startTestGateway();
  t.teardown(() => gw.close());
  const live = await openRegisteredClient(gw);
  t.teardown(() => live.close());
  await postMany(gw, 2);
  const back = await resumeClient(gw, gw.ids.lastId, { browserUuid: 'b2' });
  t.teardown(() => back.close());
  await settle(back);
});

t.test('a TestPushNotification gets an id and is replayed like any notification', async (t) => {
  const gw = await startTestGateway();
  t.teardown(() => gw.close());
  const c = await openClient(gw, { userId: 4, browserUuid: 'b4' });
  const before = gw.ids.lastId;
  c.send({ type: 'TestPushNotification', message: '', payload: { title: 'Hi', icon: '' } });
  const frame = await c.next();
  t.equal((JSON.parse(frame).payload as { id: number }).id, before + 1);
  await c.close();
  const back = await resumeClient(gw, before, { userId: 4, browserUuid: 'b4' });
  t.teardown(() => back.close());
  t.equal(await back.next(), frame);
  await settle(back);
});

t.test('when missed notifications left the buffer the client gets a ReplayGap first, then what is kept', async (t) => {
  const gw = await startTestGateway({ config: { websocket: { replay: { maxEvents: 2, maxAgeMs: 300_000 } } } });
  t.teardown(() => gw.close());
  const live = await openRegisteredClient(gw, { browserUuid: 'keep' });
  t.teardown(() => live.close());
  const since = gw.ids.lastId;
  await postMany(gw, 4, 'n');
  const liveIds: number[] = [];
  for (let i = 0; i < 4; i++) liveIds.push(((await live.nextJson()).payload as { id: number }).id);

  const back = await resumeClient(gw, since, { browserUuid: 'away' });
  t.teardown(() => back.close());
  t.equal(await back.next(),
    `{"type":"ReplayGap","message":"Notifications after id ${since} may be missing: they are no longer in the replay buffer","payload":{"since":${since},"oldest":${liveIds[2]}}}`);
  t.same([((await back.nextJson()).payload as { message: string }).message, ((await back.nextJson()).payload as { message: string }).message], ['n 2', 'n 3']);
  await settle(back);
});

t.test('a since from before the gateway started, or never issued, is reported as a gap', async (t) => {
  const gw = await startTestGateway();
  t.teardown(() => gw.close());
  const old = await resumeClient(gw, 5);
  t.teardown(() => old.close());
  t.match(await old.nextJson(), { type: 'ReplayGap', payload: { since: 5, oldest: null } });
  await settle(old);
  const future = gw.ids.lastId + 1000;
  const ahead = await resumeClient(gw, future, { browserUuid: 'b2' });
  t.teardown(() => ahead.close());
  t.match(await ahead.nextJson(), { type: 'ReplayGap', payload: { since: future } });
  await settle(ahead);
});

t.test('a garbled since is ignored: the connection works as an original client', async (t) => {
  const gw = await startTestGateway();
  t.teardown(() => gw.close());
  const c = await resumeClient(gw, 'abc');
  t.teardown(() => c.close());
  await settle(c);
});

t.test('the replay log drops frames older than maxAgeMs and counts them as lost', (t) => {
  let now = 1_000_000;
  const ids = new IdClock({ now: () => now });
  const log = new ReplayLog({ maxEvents: 10, maxAgeMs: 1000, now: () => now, ids });
  const a = ids.next();
  log.record(1, a, Buffer.from('a'));
  now += 500;
  const b = ids.next();
  log.record(1, b, Buffer.from('b'));
  now += 600;
  const r = log.resume(1, a - 1);
  t.same(r.frames.map(String), ['b']);
  t.ok(r.gap, 'a expired, so resuming before it is a gap');
  t.notOk(log.resume(1, a).gap, 'resuming after the expired frame is no gap');
  t.same(log.resume(2, b).frames, [], 'another user has nothing');
  t.end();
});

t.test('a user who gets nothing new still loses frames past maxAgeMs, and resuming behind them is a gap', (t) => {
  let now = 1_000_000;
  const ids = new IdClock({ now: () => now });
  const log = new ReplayLog({ maxEvents: 10, maxAgeMs: 1000, now: () => now, ids });
  const quiet = ids.next();
  log.record(1, quiet, Buffer.from('quiet'));
  now += 2000;
  log.record(2, ids.next(), Buffer.from('busy'));
  t.equal(log.userCount, 1, 'user 1\'s log was dropped by the sweep');
  t.ok(log.resume(1, quiet - 1).gap, 'what user 1 missed is gone: gap');
  t.same(log.resume(1, quiet - 1).frames, []);
  t.notOk(log.resume(1, quiet).gap, 'nothing after its last id was lost');
  t.end();
});

t.test('the replay log stays bounded under many notifications and keeps the newest', (t) => {
  const ids = new IdClock({ now: () => 5 });
  const log = new ReplayLog({ maxEvents: 3, maxAgeMs: 60_000, now: () => 5, ids });
  let last = 0;
  for (let i = 0; i < 500; i++) {
    last = ids.next();
    log.record(1, last, Buffer.from(String(i)));
  }
  const r = log.resume(1, last - 3);
  t.same(r.frames.map(String), ['497', '498', '499']);
  t.notOk(r.gap);
  t.ok(log.resume(1, last - 4).gap);
  const offIds = new IdClock();
  const off = new ReplayLog({ maxEvents: 0, maxAgeMs: 1000, ids: offIds });
  const id = offIds.next();
  off.record(1, id, Buffer.from('x'));
  t.same(off.resume(1, id - 1).frames, [], 'maxEvents 0 keeps nothing');
  t.end();
});

t.test('parseSince reads a non-negative integer from the query string only', (t) => {
  t.equal(parseSince('/?userId=1&since=42'), 42);
  t.equal(parseSince('/?since=0'), 0);
  t.equal(parseSince('/?since=-1'), undefined);
  t.equal(parseSince('/?since=1e3'), undefined);
  t.equal(parseSince('/'), undefined);
  t.equal(parseSince(undefined), undefined);
  t.end();
});
