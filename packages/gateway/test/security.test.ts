import t, { type Test } from 'tap';
import { WebSocket } from 'ws';
import { parseConfig, type ConfigInput } from '../src/config.js';
import { CloseCodes } from '../src/connection.js';
import { FileDirectory } from '../src/directory/file.js';
import { startSseEndpoints } from '../src/sse/mount.js';
import { EVENTS_PATH } from '../src/sse/notifications.js';
import { mintToken } from '../src/token.js';
import {
  hostMessage, openClient, openRegisteredClient, postMessage, silentLogger, startTestGateway, TEST_API_KEY,
  testDirectoryData, TestClient, tryHandshake, WAIT_MS, waitFor, wsUrl,
} from './helpers.js';
import { subscribe } from './sse-client.js';
import type { Gateway } from '../src/server.js';

const SECRET = 'pushgate-test-secret-0123456789abcdef';
const OLD_SECRET = 'pushgate-old-secret-0123456789abcdef';
const nowS = (): number => Math.floor(Date.now() / 1000);
const token = (userId: number, ttlS = 3600, secret = SECRET): string => mintToken(userId, nowS() + ttlS, secret);

async function gateway(t: Test, config: ConfigInput = {}): Promise<Gateway> {
  const gw = await startTestGateway({ config: { auth: { mode: 'both', secrets: [SECRET] }, ...config } });
  t.teardown(() => gw.close());
  return gw;
}

const proto = (key: string): string => `access_token, ${key}`;

t.test('config: auth.mode token without secrets is a config error naming auth.secrets', async (t) => {
  t.throws(() => parseConfig({ auth: { mode: 'token' } }), { code: 'GW_ERR_CONFIG', message: /auth\.secrets/ });
  t.throws(() => parseConfig({ auth: { secrets: ['short'] } }), { code: 'GW_ERR_CONFIG', message: /auth\.secrets\.0/ });
  t.equal(parseConfig({}).auth.mode, 'both', 'default mode keeps openITCOCKPIT frontends working');
});

t.test('a WebSocket with a valid token for its userId opens; forged, expired and other-user tokens get 401', async (t) => {
  const gw = await gateway(t);
  const ok = await tryHandshake(gw, '/?userId=42&browserUuid=b', proto(token(42)));
  t.equal(ok.status, 101);
  const forged = `${token(42).slice(0, -4)}AAAA`;
  const cases: Array<[string, string]> = [
    ['forged', forged],
    ['signed with an unknown secret', token(42, 3600, 'some-other-secret-0123456789abcdef')],
    ['expired', mintToken(42, nowS() - 1, SECRET)],
    ['for another user', token(43)],
    ['intake scope', token(0)],
  ];
  for (const [what, tok] of cases) {
    const r = await tryHandshake(gw, '/?userId=42&browserUuid=b', proto(tok));
    t.equal(r.status, 401, what);
    t.equal(r.body, 'Unauthorized', what);
  }
  t.equal(gw.registry.size, 0);
});

t.test('an old secret still verifies while it is listed (rotation)', async (t) => {
  const gw = await gateway(t, { auth: { mode: 'token', secrets: [SECRET, OLD_SECRET] } });
  t.equal((await tryHandshake(gw, '/?userId=5&browserUuid=b', proto(token(5, 3600, OLD_SECRET)))).status, 101);
  t.equal((await tryHandshake(gw, '/?userId=5&browserUuid=b', proto(token(5)))).status, 101);
});

t.test('auth.mode token refuses the shared API key; shared-key refuses tokens; both accepts either', async (t) => {
  const tok = await gateway(t, { auth: { mode: 'token', secrets: [SECRET] } });
  t.equal((await tryHandshake(tok, '/?userId=1&browserUuid=b', proto(TEST_API_KEY))).status, 401);
  const shared = await gateway(t, { auth: { mode: 'shared-key', secrets: [SECRET] } });
  t.equal((await tryHandshake(shared, '/?userId=1&browserUuid=b', proto(token(1)))).status, 401);
  t.equal((await tryHandshake(shared, '/?userId=1&browserUuid=b', proto(TEST_API_KEY))).status, 101);
  const both = await gateway(t);
  t.equal((await tryHandshake(both, '/?userId=1&browserUuid=b', proto(TEST_API_KEY))).status, 101);
  t.equal((await tryHandshake(both, '/?userId=1&browserUuid=b', proto(token(1)))).status, 101);
});

t.test('an open WebSocket whose token expires is closed with 4401 and counted', async (t) => {
  // A short sweep interval so the heartbeat notices the expiry soon after it passes.
  const gw = await gateway(t, { websocket: { pingIntervalMs: 100, pongTimeoutMs: 60_000, writeTimeoutMs: 10_000 } });
  const keyClient = await openClient(gw, { userId: 9, browserUuid: 'k' });
  t.teardown(() => keyClient.close());
  const ws = new WebSocket(wsUrl(gw, 9, 't'), ['access_token', mintToken(9, nowS() + 1, SECRET)]);
  const client = new TestClient(ws);
  t.equal(JSON.parse(await client.next()).type, 'ConnectionEstablished');
  let timer: NodeJS.Timeout | undefined;
  const closed = await Promise.race([
    client.closed,
    new Promise<never>((_r, reject) => { timer = setTimeout(() => reject(new Error('not closed')), 2000 + WAIT_MS); }),
  ]);
  clearTimeout(timer);
  t.same(closed, { code: CloseCodes.tokenExpired, reason: 'token expired, fetch a new one' });
  await waitFor(() => gw.stats.closes['token-expired'] === 1, WAIT_MS, 'close counted');
  t.equal(keyClient.ws.readyState, WebSocket.OPEN, 'an API-key connection of the same user stays open');
});

t.test('/message accepts an intake token (userId 0) and refuses a user token, a forged one and none with 401', async (t) => {
  const gw = await gateway(t);
  const ws = await openRegisteredClient(gw);
  t.teardown(() => ws.close());
  const bearer = (tok: string): Record<string, string> => ({ Authorization: `Bearer ${tok}` });
  const ok = await postMessage(gw, hostMessage(), { apiKey: null, headers: bearer(token(0)) });
  t.equal(ok.status, 200, ok.body);
  t.equal(JSON.parse(await ws.next()).type, 'ProcessPushNotification');
  for (const [what, headers] of [
    ['user token', bearer(token(1))],
    ['expired intake token', bearer(mintToken(0, nowS() - 1, SECRET))],
    ['forged intake token', bearer(token(0, 3600, 'forger-secret-0123456789abcdef0123'))],
    ['nothing', {}],
  ] as Array<[string, Record<string, string>]>) {
    const r = await postMessage(gw, hostMessage(), { apiKey: null, headers });
    t.equal(r.status, 401, what);
    t.equal(r.body, 'Unauthorized', what);
  }
  t.equal(ws.pending, 0, 'nothing else was delivered');
});

t.test('/events accepts a token for its userId and refuses another user\'s token with 401', async (t) => {
  const config = parseConfig({ events: { enabled: true, keepAliveFirstMs: 60_000 }, auth: { mode: 'token', secrets: [SECRET] } });
  const directory = new FileDirectory(testDirectoryData());
  const sse = await startSseEndpoints(config, directory, silentLogger());
  const gw = await startTestGateway({ directory, httpRoutes: sse.httpRoutes, config: { auth: { mode: 'token', secrets: [SECRET] } } });
  sse.attach(gw.context);
  t.teardown(async () => { await sse.close(); await gw.close(); });
  const url = `${gw.url}${EVENTS_PATH}?userId=3&browserUuid=b`;
  const good = await subscribe(url, { Authorization: `Bearer ${token(3)}` });
  t.teardown(() => good.close());
  t.equal(good.status, 200);
  const bad: Array<[string, string]> = [['other user', token(4)], ['expired', mintToken(3, nowS() - 1, SECRET)], ['API key in token mode', TEST_API_KEY]];
  for (const [what, key] of bad) {
    const refused = await subscribe(url, { Authorization: `Bearer ${key}` });
    t.equal(refused.status, 401, what);
    refused.close();
  }
});
