import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import t from 'tap';
import { FileDirectory } from '../../../src/directory/file.js';
import { EVENTS_PATH, PushSse } from '../../../src/transport/sse/events.js';
import { frameEvent, parseLastEventId, SseHub, type SseHubOptions } from '../../../src/transport/sse/stream.js';
import { parseConfig } from '../../../src/config.js';
import { hostMessage, openRegisteredClient, postMessage, silentLogger, startTestGateway, TEST_API_KEY, testDirectoryData } from '../../helpers.js';
import { subscribe, until } from '../../sse-client.js';

/** A real HTTP server whose every request opens a stream on `hub`: topic from `X-Topic`, browser from User-Agent. */
async function serve(t: { teardown(fn: () => unknown): void }, opts: Partial<SseHubOptions> = {}): Promise<{ hub: SseHub; url: string }> {
  const hub = new SseHub({
    keepAliveFirstMs: 60_000,
    keepAliveMs: 60_000,
    maxStreamsPerBrowser: 2,
    replay: { maxEvents: 100, maxAgeMs: 60_000 },
    ...opts,
  });
  const server: Server = createServer((req, res) => {
    const topic = String(req.headers['x-topic'] ?? 'alice');
    const stream = hub.open(res, topic, req.headers['user-agent'] ?? '', parseLastEventId(req.headers['last-event-id']));
    if (!stream) {
      res.writeHead(204);
      res.end();
    }
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => {
    hub.close();
    server.closeAllConnections();
    return new Promise<void>((r) => server.close(() => r()));
  });
  return { hub, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/` };
}

const ev = (id: number): Buffer => frameEvent('icinga2.notification', `{"n":${id}}`, id, 3000);
const evText = (id: number): string => ev(id).toString();

t.test('an event frame is event, data, id, retry in that order and ends with a blank line', async (t) => {
  t.equal(
    frameEvent('icinga2.notification', '{"a":1}', 42, 3000).toString('latin1'),
    'event: icinga2.notification\ndata: {"a":1}\nid: 42\nretry: 3000\n\n',
  );
  t.equal(frameEvent('x', '1').toString('latin1'), 'event: x\ndata: 1\n\n', 'id and retry are optional');
  t.equal(frameEvent(undefined, '1', 2).toString('latin1'), 'data: 1\nid: 2\n\n', 'without event: a plain message');
});

t.test('Last-Event-ID is read as a non-negative integer and anything else is ignored', async (t) => {
  t.equal(parseLastEventId(' 17 '), 17);
  t.equal(parseLastEventId(['5', '6']), 5);
  t.equal(parseLastEventId(undefined), undefined);
  t.equal(parseLastEventId('-1'), undefined);
  t.equal(parseLastEventId('abc'), undefined);
  t.equal(parseLastEventId('1e3'), undefined);
});

t.test('a stream answers 200 with exactly the four SSE headers and sends nothing before its first keep-alive', async (t) => {
  const { url } = await serve(t);
  const c = await subscribe(url, { 'User-Agent': 'UA' });
  t.teardown(() => c.close());
  t.equal(c.status, 200);
  t.equal(c.headers['content-type'], 'text/event-stream; charset=utf-8');
  t.equal(c.headers['cache-control'], 'no-cache');
  t.equal(c.headers['connection'], 'keep-alive');
  t.equal(c.headers['x-accel-buffering'], 'no');
  t.equal(c.text, '');
});

t.test('keep-alive comments come no sooner than keepAliveFirstMs after opening and keepAliveMs apart', async (t) => {
  const first = 60;
  const every = 150;
  const { url } = await serve(t, { keepAliveFirstMs: first, keepAliveMs: every });
  const c = await subscribe(url, { 'User-Agent': 'UA' });
  t.teardown(() => c.close());
  await c.waitFor((s) => s === ':\n\n:\n\n:\n\n', 'three keep-alive comments');
  t.equal(c.text, ':\n\n:\n\n:\n\n', 'each keep-alive is a bare comment line and a blank line');
  // Lower bounds from before the request was sent (late is fine on a loaded machine); 2 ms for timer rounding.
  const at = c.chunks.map(([ms]) => ms);
  t.ok(at[0]! >= first - 2, `first keep-alive ${at[0]!.toFixed(0)} ms after the request >= ${first} ms`);
  t.ok(at[at.length - 1]! >= first + 2 * every - 2, `third keep-alive ${at[at.length - 1]!.toFixed(0)} ms after the request >= ${first + 2 * every} ms`);
});

t.test('the keep-alive schedule follows the configured intervals exactly on the hub clock', async (t) => {
  let now = 0;
  const { hub, url } = await serve(t, { keepAliveFirstMs: 1000, keepAliveMs: 30_000, now: () => now });
  const c = await subscribe(url, { 'User-Agent': 'UA' });
  t.teardown(() => c.close());
  await until(() => hub.size() === 1, 'the stream');
  now = 999;
  hub.sweep();
  now = 1000;
  hub.sweep();
  await c.waitFor((s) => s.length > 0, 'the first comment');
  t.equal(c.text, ':\n\n', 'one comment at 1000 ms, none at 999 ms');
  now = 30_999;
  hub.sweep();
  hub.publish('alice', 1, ev(1));
  now = 31_000;
  hub.sweep();
  await c.waitFor((s) => s.length > ':\n\n'.length + evText(1).length, 'the second comment');
  t.equal(c.text, ':\n\n' + evText(1) + ':\n\n', 'the next comment 30000 ms after the first, not at 30999 ms');
});

t.test('a third stream of one browser gets 204; events go to the first stream and fail over to the standby when it closes', async (t) => {
  const { hub, url } = await serve(t);
  const ua = { 'User-Agent': 'Firefox' };
  const a = await subscribe(url, ua);
  const b = await subscribe(url, ua);
  t.teardown(() => { a.close(); b.close(); });
  t.equal(a.status, 200);
  t.equal(b.status, 200);
  const c = await subscribe(url, ua);
  t.equal(c.status, 204, 'the third stream is refused with 204 so EventSource stops');
  await c.ended;
  t.equal(c.text, '');
  const other = await subscribe(url, { 'User-Agent': 'Chrome' });
  t.teardown(() => other.close());
  t.equal(other.status, 200, 'another browser of the same contact has its own limit');

  t.equal(hub.publish('alice', 1, ev(1)), 2, 'one stream per browser');
  await a.waitFor((s) => s === evText(1), 'event 1 on the first stream');
  await other.waitFor((s) => s === evText(1), 'event 1 on the other browser');

  a.close();
  await until(() => hub.size('alice') === 2, 'the server to notice the first stream closed');
  hub.publish('alice', 2, ev(2));
  await b.waitFor((s) => s.length > 0, 'event 2 on the standby');
  t.equal(b.text, evText(2), 'the standby got only the event after the failover');
  await other.waitFor((s) => s === evText(1) + evText(2), 'event 2 on the other browser');

  const d = await subscribe(url, ua);
  t.teardown(() => d.close());
  t.equal(d.status, 200, 'with one stream left, a new one is accepted again');
});

t.test('events of one topic never reach another topic', async (t) => {
  const { hub, url } = await serve(t);
  const alice = await subscribe(url, { 'User-Agent': 'UA', 'X-Topic': 'alice' });
  const bob = await subscribe(url, { 'User-Agent': 'UA', 'X-Topic': 'bob' });
  t.teardown(() => { alice.close(); bob.close(); });
  hub.publish('alice', 1, ev(1));
  hub.publish('bob', 2, ev(2));
  await alice.waitFor((s) => s === evText(1), 'alice event');
  await bob.waitFor((s) => s === evText(2), 'bob event');
  hub.publish('carol', 3, ev(3));
  t.equal(hub.publish('alice', 4, ev(4)), 1);
  await alice.waitFor((s) => s === evText(1) + evText(4), 'alice second event');
  t.equal(bob.text, evText(2));
});

t.test('a reconnect with Last-Event-ID replays what was missed in publish order', async (t) => {
  const { hub, url } = await serve(t);
  // 12 before 11: a pending row sent after a higher one.
  hub.publish('alice', 10, ev(10));
  hub.publish('alice', 12, ev(12));
  hub.publish('bob', 13, ev(13));
  hub.publish('alice', 11, ev(11));

  const r1 = await subscribe(url, { 'User-Agent': 'A', 'Last-Event-ID': '10' });
  await r1.waitFor((s) => s === evText(12) + evText(11), 'replay after 10');
  r1.close();
  const r2 = await subscribe(url, { 'User-Agent': 'B', 'Last-Event-ID': '12' });
  await r2.waitFor((s) => s === evText(11), 'replay after 12');
  r2.close();
  const r3 = await subscribe(url, { 'User-Agent': 'C', 'Last-Event-ID': '11' });
  const r4 = await subscribe(url, { 'User-Agent': 'D', 'Last-Event-ID': '5' });
  await r4.waitFor((s) => s === evText(10) + evText(12) + evText(11), 'an id no longer kept replays every higher id');
  const r5 = await subscribe(url, { 'User-Agent': 'E' });
  t.teardown(() => { r3.close(); r4.close(); r5.close(); });
  hub.publish('alice', 14, ev(14));
  await r3.waitFor((s) => s === evText(14), 'nothing replayed after the newest id, then live events');
  await r5.waitFor((s) => s === evText(14), 'no Last-Event-ID: no replay');
});

t.test('replay skips what the browser already got on its other stream', async (t) => {
  const { hub, url } = await serve(t);
  const ua = { 'User-Agent': 'UA' };
  const a = await subscribe(url, ua);
  t.teardown(() => a.close());
  hub.publish('alice', 1, ev(1));
  hub.publish('alice', 2, ev(2));
  await a.waitFor((s) => s === evText(1) + evText(2), 'two events');
  // The standby tab last saw event 1 (say) and reconnects: event 2 was shown already.
  const b = await subscribe(url, { ...ua, 'Last-Event-ID': '1' });
  t.teardown(() => b.close());
  hub.publish('alice', 3, ev(3));
  await a.waitFor((s) => s.endsWith(evText(3)), 'event 3 on the first stream');
  t.equal(b.text, '', 'nothing replayed or delivered to the standby');
});

t.test('the replay window keeps at most maxEvents events and none older than maxAgeMs', async (t) => {
  let now = 1_000_000;
  const { hub, url } = await serve(t, { replay: { maxEvents: 2, maxAgeMs: 1000 }, now: () => now });
  hub.publish('alice', 1, ev(1));
  hub.publish('alice', 2, ev(2));
  hub.publish('alice', 3, ev(3));
  const a = await subscribe(url, { 'User-Agent': 'A', 'Last-Event-ID': '0' });
  await a.waitFor((s) => s === evText(2) + evText(3), 'the two newest');
  a.close();
  now += 1001;
  hub.publish('alice', 4, ev(4));
  const b = await subscribe(url, { 'User-Agent': 'B', 'Last-Event-ID': '0' });
  t.teardown(() => b.close());
  await b.waitFor((s) => s === evText(4), 'only the event younger than maxAgeMs');
});

t.test('close() ends every stream and later opens are refused', async (t) => {
  const { hub, url } = await serve(t);
  const a = await subscribe(url, { 'User-Agent': 'A' });
  hub.close();
  await a.ended;
  t.equal(hub.size(), 0);
  const b = await subscribe(url, { 'User-Agent': 'A' });
  t.equal(b.status, 204);
});

t.test('own notifications: a key in a header subscribes a user; each event is the WebSocket envelope as a plain message with an id', async (t) => {
  const directory = new FileDirectory(testDirectoryData());
  const sse = new PushSse({ verifyApiKey: (k) => directory.verifyApiKey(k), logger: silentLogger(), keepAliveFirstMs: 60_000, now: () => 1_700_000_000_000 });
  const server = createServer((req, res) => void sse.route.handler(req, res));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => { sse.close(); server.closeAllConnections(); return new Promise<void>((r) => server.close(() => r())); });
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}${EVENTS_PATH}`;
  const url = `${base}?userId=1&browserUuid=b-1`;

  const refused: Array<[string, string, Record<string, string>, number, string | undefined]> = [
    ['no key', url, {}, 401, 'Unauthorized\n'],
    ['a wrong key', url, { Authorization: 'Bearer wrong-key-0123456789' }, 401, 'Unauthorized\n'],
    ['a key in the URL', `${url}&apiKey=${TEST_API_KEY}`, { 'X-Api-Key': TEST_API_KEY }, 400,
      'Bad Request: send the API key in the Authorization or X-Api-Key header, never in the URL\n'],
    ['no userId', `${base}?browserUuid=b-1`, { 'X-Api-Key': TEST_API_KEY }, 400, 'Bad Request: userId must be an integer > 0\n'],
    ['no browserUuid', `${base}?userId=1`, { 'X-Api-Key': TEST_API_KEY }, 400, 'Bad Request: browserUuid is missing or empty\n'],
  ];
  for (const [what, u, headers, status, body] of refused) {
    const c = await subscribe(u, headers);
    await c.ended;
    t.equal(c.status, status, what);
    t.equal(c.text, body, `${what}: body`);
  }

  const a = await subscribe(url, { Authorization: `Bearer ${TEST_API_KEY}` });
  const other = await subscribe(`${base}?userId=2&browserUuid=b-2`, { 'X-Api-Key': TEST_API_KEY });
  t.teardown(() => { a.close(); other.close(); });
  t.equal(a.status, 200);
  t.equal(a.headers['content-type'], 'text/event-stream; charset=utf-8');
  await until(() => sse.hub.size() === 2, 'two streams');
  const envelope = '{"type":"ProcessPushNotification","message":"m","payload":{"userId":1}}';
  t.equal(sse.publish(1, Buffer.from(envelope)), 1);
  const expected = `data: ${envelope}\nid: 1700000000001\nretry: 3000\n\n`;
  await a.waitFor((s) => s === expected, 'the envelope');
  t.equal(a.text, expected);
  t.equal(other.text, '', 'another user gets nothing');

  a.close();
  await until(() => sse.hub.size('1') === 0, 'the close');
  sse.publish(1, envelope.replace('"m"', '"m2"'));
  const again = await subscribe(url, { Authorization: `Bearer ${TEST_API_KEY}`, 'Last-Event-ID': '1700000000001' });
  t.teardown(() => again.close());
  await again.waitFor((s) => s.includes('id: 1700000000002'), 'the replayed event');
  t.equal(again.text, `data: ${envelope.replace('"m"', '"m2"')}\nid: 1700000000002\nretry: 3000\n\n`);
});

t.test('own notifications: a notification POSTed to /message reaches an SSE-only user as the WebSocket envelope', async (t) => {
  const directory = new FileDirectory(testDirectoryData());
  const gw = await startTestGateway({ directory, config: { events: { enabled: true, keepAliveFirstMs: 60_000 } } });
  const sse = { icinga: gw.icinga, events: gw.events };
  t.equal(sse.icinga, undefined, 'icinga is off by default');
  t.teardown(() => gw.close());

  const c = await subscribe(`${gw.url}${EVENTS_PATH}?userId=1&browserUuid=b-1`, { 'X-Api-Key': TEST_API_KEY });
  t.teardown(() => c.close());
  t.equal(c.status, 200);
  await until(() => sse.events!.has(1), 'the stream');
  const ws = await openRegisteredClient(gw);
  t.teardown(() => ws.close());
  const ts = Math.floor(Date.now() / 1000);
  const res = await postMessage(gw, hostMessage({ timestamp: ts }));
  t.equal(res.status, 200);
  const wsFrame = await ws.next();
  await c.waitFor((s) => s.endsWith('\n\n'), 'the event');
  t.match(c.text, /^data: (.*)\nid: \d+\nretry: 3000\n\n$/);
  t.equal(/^data: (.*)\n/.exec(c.text)![1], wsFrame, 'the same bytes as the WebSocket frame');

  const only = await postMessage(gw, hostMessage({ timestamp: ts, userId: 1 }));
  t.equal(only.status, 200);
  ws.close();
  await until(() => gw.registry.size === 0, 'the WebSocket client to leave');
  const sseOnly = await postMessage(gw, hostMessage({ timestamp: ts }));
  t.equal(sseOnly.status, 200, 'an SSE subscriber alone counts as registered');
  await c.waitFor((s) => s.split('\n\n').length === 4, 'three events');
});

t.test('a stream that stops reading is closed as a slow consumer and its standby takes over', async (t) => {
  const drops: string[] = [];
  const { hub, url } = await serve(t, { maxBufferedBytes: 64 * 1024, replay: { maxEvents: 1, maxAgeMs: 60_000 }, onDrop: (r) => drops.push(r) });
  const ua = { 'User-Agent': 'UA' };
  const slow = await subscribe(url, ua);
  const standby = await subscribe(url, ua);
  t.teardown(() => { slow.close(); standby.close(); });
  await until(() => hub.size('alice') === 2, 'two streams');
  // Stop reading: the kernel buffers fill, then the server-side buffer grows past the limit.
  slow.pause();
  const big = frameEvent('x', 'y'.repeat(64 * 1024), 1);
  let n = 0;
  while (drops.length === 0 && n < 2000) {
    hub.publish('alice', ++n, big);
    await new Promise((r) => setImmediate(r));
  }
  t.same(drops, ['slow-consumer']);
  t.equal(hub.size('alice'), 1);
  await standby.waitFor((s) => s === big.toString(), 'the event that found the first stream full, on the standby');
  hub.publish('alice', 999_999, ev(999_999));
  await standby.waitFor((s) => s === big.toString() + evText(999_999), 'the next event on the standby');
});
