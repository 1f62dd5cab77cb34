/**
 * The legacy openITCOCKPIT frontend generation on real sockets: the exact
 * frame sequence of the frontend on openITCOCKPIT's default branch against
 * the PHP server's answers (docs/protocol/openitcockpit-legacy.md, written
 * from openITCOCKPIT/openITCOCKPIT@1cbd1ce171df76aadd9e22682c20aafc815056d3
 * PushNotificationsMessageInterface.php and
 * openITCOCKPIT/openITCOCKPIT-frontend-angular@88c55668815091bef9616450f9c22d4bc65d0316
 * push-notifications.service.ts), the shared routing with the newer
 * generation, and the bounds on unregistered sockets.
 */
import t from 'tap';
import { WebSocket } from 'ws';
import { mintToken } from '../../../src/auth/token.js';
import { FileDirectory } from '../../../src/directory/file.js';
import { LegacyCloseCodes, MAX_FRAMES_BEFORE_REGISTER } from '../../../src/transport/ws/legacy.js';
import {
  capturedLogger, HOST_UUID, hostMessage, openClient, openRegisteredClient, postMessage, startTestGateway, TEST_API_KEY, testDirectoryData, tryHandshake, waitFor,
} from '../../helpers.js';
import { openLegacy, openRegisteredLegacy } from '../../legacy-client.js';

const UUID_V4 = '[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}';
const PONG = '{"type":"keepAlive","message":"Pong","data":[]}';
const SECRET = 'legacy-test-secret-0123456789abcdef0123';

/** Resolves with true when `c` receives a frame within `ms`, false otherwise (proves silence without a fixed sleep elsewhere). */
async function receivesWithin(c: { next(ms?: number): Promise<string> }, ms: number): Promise<boolean> {
  try {
    await c.next(ms);
    return true;
  } catch {
    return false;
  }
}

t.test('the legacy frontend\'s frame sequence gets the PHP server\'s frames, byte for byte', async (t) => {
  const gw = await startTestGateway();
  t.teardown(() => gw.close());
  const c = await openLegacy(gw);
  t.teardown(() => c.close());
  t.equal(c.client.ws.protocol, '', 'no subprotocol');
  t.match(c.greeting, new RegExp(`^\\{"type":"connection","message":"Connection established successfully","data":\\{"uuid":"${UUID_V4}"\\}\\}$`));
  t.equal(gw.registry.size, 0, 'not routed before register');

  c.register(7, 'browser-a');
  c.keepAlive();
  t.equal(await c.client.next(), PONG);
  t.equal(gw.registry.toUser(7).length, 1, 'registered as user 7');
  t.ok(gw.registry.isRegistered(7));

  c.testMessage({ title: 'Test', message: 'This is a test message', icon: '/img/push_notifications/wh/ServicePushIconUNKNOWN.png' });
  t.equal(await c.client.next(), '{"type":"message","message":"This is a test message","data":{"title":"Test","message":"This is a test message",'
    + '"icon":"\\/img\\/push_notifications\\/wh\\/ServicePushIconUNKNOWN.png"}}');

  const body = hostMessage({ userId: 7 });
  const res = await postMessage(gw, body);
  t.equal(res.status, 200, 'a registered legacy socket makes the user registered at /message');
  const frame = await c.client.next();
  const id = /"id":(\d+)\}\}$/.exec(frame)?.[1];
  t.ok(id, 'carries the replay id last');
  t.equal(frame, `{"type":"message","message":"CRITICAL - host unreachable","data":{"timestamp":${body.timestamp as number},"userId":7,`
    + `"title":"PROBLEM: web-01 is DOWN!","message":"CRITICAL - host unreachable","type":"host","hostUuid":"${HOST_UUID}","serviceUuid":"",`
    + `"icon":"\\/img\\/push_notifications\\/wh\\/HostPushIconDOWN.png","id":${id}}}`);
  t.equal(gw.stats.legacyRegistered, 1);
});

t.test('three tabs of one browser show a notification once; another browser of the user and a newer-generation tab get theirs', async (t) => {
  const gw = await startTestGateway();
  t.teardown(() => gw.close());
  const tabs: Awaited<ReturnType<typeof openRegisteredLegacy>>[] = [];
  for (let i = 0; i < 3; i++) tabs.push(await openRegisteredLegacy(gw, 7, 'browser-a'));
  const other = await openRegisteredLegacy(gw, 7, 'browser-b');
  const modern = await openRegisteredClient(gw, { userId: 7, browserUuid: 'browser-c' });
  const stranger = await openRegisteredLegacy(gw, 8, 'browser-d');
  t.teardown(async () => { for (const c of [...tabs, other, stranger]) await c.close(); await modern.close(); });
  // The second tab was active last: it is the one that shows it (the shared registry's rule).
  tabs[1]!.keepAlive();
  t.equal(await tabs[1]!.client.next(), PONG);

  t.equal((await postMessage(gw, hostMessage({ userId: 7 }))).status, 200);
  t.match(await tabs[1]!.client.next(), /^\{"type":"message",/);
  t.match(await other.client.next(), /^\{"type":"message",/);
  t.equal((await modern.nextJson()).type, 'ProcessPushNotification', 'the newer generation gets its own frame');
  // A frame sent after the notification arrives after it: silence before it proves nothing else came.
  for (const tab of [tabs[0]!, tabs[2]!, stranger]) {
    tab.keepAlive();
    t.equal(await tab.client.next(), PONG, 'nothing before the keepAlive answer');
  }
  t.equal(tabs[1]!.client.pending + other.client.pending + modern.pending, 0, 'one frame each');
});

t.test('a browser on both generations (one browserUuid) gets one notification', async (t) => {
  const gw = await startTestGateway();
  t.teardown(() => gw.close());
  const legacyTab = await openRegisteredLegacy(gw, 7, 'shared-browser');
  const modernTab = await openRegisteredClient(gw, { userId: 7, browserUuid: 'shared-browser' });
  t.teardown(async () => { await legacyTab.close(); await modernTab.close(); });
  t.equal((await postMessage(gw, hostMessage({ userId: 7 }))).status, 200);
  // The newer tab registered last, so it was active last.
  t.equal((await modernTab.nextJson()).type, 'ProcessPushNotification');
  legacyTab.keepAlive();
  t.equal(await legacyTab.client.next(), PONG, 'the legacy tab of the same browser got nothing');
});

t.test('an unregistered legacy socket receives nothing and does not make its user reachable', async (t) => {
  const gw = await startTestGateway();
  t.teardown(() => gw.close());
  const c = await openLegacy(gw);
  t.teardown(() => c.close());
  const res = await postMessage(gw, hostMessage({ userId: 7 }));
  t.equal(res.status, 202);
  t.equal(res.body, 'User is not registered for push notifications');
  c.keepAlive();
  t.notOk(await receivesWithin(c.client, 200), 'keepAlive before register is not answered (only register is processed)');
  t.equal(gw.stats.clientErrors, 1, 'the ignored frame is counted');
});

t.test('ExportStatus broadcasts never reach a legacy socket', async (t) => {
  // A directory with an export running, so one export-status poll broadcasts `true`.
  const directory = Object.assign(new FileDirectory(testDirectoryData()), { exportRunning: async () => true });
  const gw = await startTestGateway({ directory });
  t.teardown(() => gw.close());
  const c = await openRegisteredLegacy(gw, 7, 'b');
  const modern = await openClient(gw, { userId: 9, browserUuid: 'm' });
  t.teardown(async () => { await c.close(); await modern.close(); });
  await gw.exportStatus.poll();
  t.same(await modern.nextJson(), { type: 'ExportStatus', message: '', payload: true });
  c.keepAlive();
  t.equal(await c.client.next(), PONG, 'nothing before the keepAlive answer');
});

t.test('a socket that does not register in time is closed with 4002, counted and logged', async (t) => {
  const { logger, lines } = capturedLogger();
  const gw = await startTestGateway({ logger, config: { websocket: { legacy: { registerTimeoutMs: 200 } } } });
  t.teardown(() => gw.close());
  const c = await openLegacy(gw);
  t.equal(gw.legacy?.unregistered, 1);
  const closed = await c.client.closed;
  t.same(closed, { code: LegacyCloseCodes.registerTimeout, reason: 'register timeout' });
  await waitFor(() => gw.stats.closes['register-timeout'] === 1);
  t.equal(gw.legacy?.unregistered, 0);
  t.ok(lines.some((l) => l.msg === 'websocket dropped' && l.reason === 'register-timeout' && l.code === 4002), 'logged with the reason');
});

t.test('register refusals close with their codes and never route the socket', async (t) => {
  const gw = await startTestGateway({ config: { limits: { maxFailedHandshakesPerIp: 0 } } });
  t.teardown(() => gw.close());
  const cases: [string, (c: Awaited<ReturnType<typeof openLegacy>>) => void, number, string][] = [
    ['wrong key', (c) => c.register(7, 'b', { key: 'wrong-key-0123456789abcdef' }), LegacyCloseCodes.unauthorized, 'register-unauthorized'],
    ['key not a string', (c) => c.register(7, 'b', { key: 12345 }), LegacyCloseCodes.unauthorized, 'register-unauthorized'],
    ['userId missing', (c) => c.register(undefined, 'b'), LegacyCloseCodes.invalidRegister, 'register-invalid'],
    ['userId not a number', (c) => c.register('7abc', 'b'), LegacyCloseCodes.invalidRegister, 'register-invalid'],
    ['userId zero', (c) => c.register(0, 'b'), LegacyCloseCodes.invalidRegister, 'register-invalid'],
    ['browserUuid missing', (c) => c.register(7, undefined), LegacyCloseCodes.invalidRegister, 'register-invalid'],
    ['browserUuid empty', (c) => c.register(7, ''), LegacyCloseCodes.invalidRegister, 'register-invalid'],
    ['another socket\'s uuid', (c) => c.register(7, 'b', { uuid: '00000000-0000-4000-8000-000000000000' }), LegacyCloseCodes.invalidRegister, 'register-invalid'],
  ];
  const expected: Record<string, number> = {};
  for (const [name, send, code, reason] of cases) {
    const c = await openLegacy(gw);
    send(c);
    const closed = await c.client.closed;
    t.equal(closed.code, code, `${name}: close code`);
    t.equal(gw.registry.size, 0, `${name}: not routed`);
    expected[reason] = (expected[reason] ?? 0) + 1;
    // The client may see its close before the server's close listener ran.
    await waitFor(() => gw.stats.closes[reason] === expected[reason], undefined, `${name}: counted as ${reason}`);
  }
  t.equal(gw.stats.legacyRegistered, 0);
});

t.test('a userId given as a string of digits registers (PHP casts it); the frontend sends a number', async (t) => {
  const gw = await startTestGateway();
  t.teardown(() => gw.close());
  const c = await openLegacy(gw);
  t.teardown(() => c.close());
  c.register('12', 'b');
  c.keepAlive();
  t.equal(await c.client.next(), PONG);
  t.equal(gw.registry.toUser(12).length, 1);
});

t.test('after register every frame must carry the same key; a second register as someone else is refused, the same one is a no-op', async (t) => {
  const gw = await startTestGateway();
  t.teardown(() => gw.close());
  const same = await openRegisteredLegacy(gw, 7, 'b');
  same.register(7, 'b');
  same.keepAlive();
  t.equal(await same.client.next(), PONG, 'the same register again changes nothing');
  t.equal(gw.registry.toUser(7).length, 1);

  const rekey = await openRegisteredLegacy(gw, 7, 'c');
  rekey.keepAlive('another-key-0123456789abcdef');
  t.equal((await rekey.client.closed).code, LegacyCloseCodes.unauthorized);

  const switcher = await openRegisteredLegacy(gw, 7, 'd');
  switcher.register(8, 'd');
  t.equal((await switcher.client.closed).code, LegacyCloseCodes.invalidRegister);
  t.equal(gw.registry.toUser(8).length, 0, 'never routed as user 8');
  await same.close();
});

t.test('frames without key, task or uuid, non-JSON frames and unknown tasks are ignored like the PHP server does', async (t) => {
  const gw = await startTestGateway();
  t.teardown(() => gw.close());
  const c = await openRegisteredLegacy(gw, 7, 'b');
  t.teardown(() => c.close());
  c.client.send('not json');
  c.client.send({ task: 'keepAlive', uuid: c.uuid });
  c.client.send({ task: 'keepAlive', key: null, uuid: c.uuid });
  c.client.send({ task: 'dance', key: TEST_API_KEY, uuid: c.uuid });
  c.keepAlive();
  t.equal(await c.client.next(), PONG, 'only the complete keepAlive is answered');
  t.equal(c.client.ws.readyState, WebSocket.OPEN);
});

t.test(`more than ${MAX_FRAMES_BEFORE_REGISTER} frames before registering close the socket with 4004`, async (t) => {
  const gw = await startTestGateway();
  t.teardown(() => gw.close());
  const c = await openLegacy(gw);
  for (let i = 0; i <= MAX_FRAMES_BEFORE_REGISTER; i++) c.keepAlive();
  const closed = await c.client.closed;
  t.same(closed, { code: LegacyCloseCodes.invalidRegister, reason: 'register first' });
});

t.test('at most websocket.legacy.maxUnregistered sockets wait for their register; one more is refused 429', async (t) => {
  const { logger, lines } = capturedLogger();
  const gw = await startTestGateway({ logger, config: { websocket: { legacy: { maxUnregistered: 2 } } } });
  t.teardown(() => gw.close());
  const a = await openLegacy(gw);
  const b = await openLegacy(gw);
  t.teardown(async () => { await a.close(); await b.close(); });
  const third = await tryHandshake(gw, '/push_notifications');
  t.equal(third.status, 429);
  t.equal(third.body, 'Too many unregistered connections');
  t.equal((await tryHandshake(gw, '/push_notifications')).status, 429);
  t.equal(gw.stats.limitRefusals['legacy-unregistered'], 2, 'each refusal counted');
  t.equal(lines.filter((l) => l.level === 40 && /maxUnregistered/.test(l.msg)).length, 1, 'logged once for the run of refusals');
  a.register(7, 'b');
  a.keepAlive();
  t.equal(await a.client.next(), PONG);
  t.equal((await tryHandshake(gw, '/push_notifications')).status, 101, 'a registered socket frees its place');
});

t.test('limits.maxConnectionsPerUser counts legacy and newer sockets together; the register over it closes with 4006', async (t) => {
  const gw = await startTestGateway({ config: { limits: { maxConnectionsPerUser: 2 } } });
  t.teardown(() => gw.close());
  const a = await openRegisteredLegacy(gw, 7, 'a');
  const b = await openClient(gw, { userId: 7, browserUuid: 'b' });
  t.teardown(async () => { await a.close(); await b.close(); });
  const c = await openLegacy(gw);
  c.register(7, 'c');
  t.equal((await c.client.closed).code, LegacyCloseCodes.userConnections);
  t.equal(gw.stats.limitRefusals['user-connections'], 1);
});

t.test('a signed token in key binds the socket to the token\'s user', async (t) => {
  const gw = await startTestGateway({ config: { auth: { mode: 'token', secrets: [SECRET] } } });
  t.teardown(() => gw.close());
  const token = mintToken(5, Math.floor(Date.now() / 1000) + 3600, SECRET);
  const ok = await openLegacy(gw);
  t.teardown(() => ok.close());
  ok.register(5, 'b', { key: token });
  ok.client.send({ task: 'keepAlive', key: token, uuid: ok.uuid });
  t.equal(await ok.client.next(), PONG);
  const other = await openLegacy(gw);
  other.register(6, 'b', { key: token });
  t.equal((await other.client.closed).code, LegacyCloseCodes.unauthorized, 'a token for user 5 cannot register user 6');
  const key = await openLegacy(gw);
  key.register(5, 'b');
  t.equal((await key.client.closed).code, LegacyCloseCodes.unauthorized, 'auth.mode token: the API key is refused');
});

t.test('?since= on the legacy URL replays what the user missed, in legacy frames, right after register', async (t) => {
  const gw = await startTestGateway();
  t.teardown(() => gw.close());
  const first = await openRegisteredLegacy(gw, 7, 'b');
  t.equal((await postMessage(gw, hostMessage({ userId: 7, output: 'one' }))).status, 200);
  const one = await first.client.next();
  const since = Number(/"id":(\d+)\}\}$/.exec(one)?.[1]);
  await first.close();
  // Keep the user registered (so /message delivers) with another browser while the first is away.
  const keeper = await openRegisteredLegacy(gw, 7, 'keeper');
  t.teardown(() => keeper.close());
  t.equal((await postMessage(gw, hostMessage({ userId: 7, output: 'two' }))).status, 200);
  await keeper.client.next();
  const back = await openLegacy(gw, { path: `/push_notifications?since=${since}` });
  t.teardown(() => back.close());
  back.register(7, 'b');
  const replayed = await back.client.next();
  t.match(replayed, /^\{"type":"message","message":"two",/);
});

t.test('with websocket.legacy.enabled false a plain WebSocket is refused 401 like a bad newer handshake', async (t) => {
  const gw = await startTestGateway({ config: { websocket: { legacy: { enabled: false } } } });
  t.teardown(() => gw.close());
  const res = await tryHandshake(gw, '/push_notifications');
  t.equal(res.status, 401);
  t.equal(res.body, 'Unauthorized');
});

t.test('shutdown closes unregistered and registered legacy sockets with 1001', async (t) => {
  const gw = await startTestGateway();
  const waiting = await openLegacy(gw);
  const registered = await openRegisteredLegacy(gw, 7, 'b');
  await gw.close();
  t.equal((await waiting.client.closed).code, 1001);
  t.equal((await registered.client.closed).code, 1001);
});
