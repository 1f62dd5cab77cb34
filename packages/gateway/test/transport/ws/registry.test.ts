import t from 'tap';
import { hostMessage, openClient, openRegisteredClient, postMessage, startTestGateway, waitFor, type TestClient } from '../../helpers.js';

const KEEPALIVE = { type: 'KeepAlive', message: '', payload: null };
const PONG = '{"type":"KeepAlive","message":"Pong","payload":null}';

/**
 * Frames a client received before a KeepAlive round trip: frames arrive in
 * order, so everything before the Pong is what was delivered.
 */
async function drain(client: TestClient): Promise<string[]> {
  client.send(KEEPALIVE);
  const frames: string[] = [];
  for (;;) {
    const f = await client.next();
    if (f === PONG) return frames;
    frames.push(f);
  }
}

t.test('with 3 tabs across 2 browsers a notification reaches exactly one tab per browser', async (t) => {
  const gw = await startTestGateway();
  t.teardown(() => gw.close());
  const a1 = await openRegisteredClient(gw, { browserUuid: 'browser-a' });
  const a2 = await openClient(gw, { browserUuid: 'browser-a' });
  const b1 = await openClient(gw, { browserUuid: 'browser-b' });
  const other = await openClient(gw, { userId: 2, browserUuid: 'browser-a' });
  t.teardown(() => Promise.all([a1, a2, b1, other].map((c) => c.close())));
  t.equal(gw.registry.countUser(1), 3);

  const ts = Math.floor(Date.now() / 1000);
  const res = await postMessage(gw, hostMessage({ timestamp: ts }));
  t.equal(res.status, 200);
  const expected = `{"type":"ProcessPushNotification","message":"CRITICAL - host unreachable","payload":{"timestamp":${ts},"userId":1,"title":"PROBLEM: web-01 is DOWN!","message":"CRITICAL - host unreachable","type":"host","hostUuid":"c36b8048-93ce-4385-ac19-ab5c90574b77","icon":"/img/push_notifications/wh/HostPushIconDOWN.png","id":${gw.ids.lastId}}}`;
  // a1 registered (it sent frames), so it is browser-a's most recently active tab.
  t.same(await drain(a1), [expected], 'browser-a: the active tab');
  t.same(await drain(a2), [], 'browser-a: the other tab gets nothing');
  t.same(await drain(b1), [expected], 'browser-b: its only tab');
  t.same(await drain(other), [], 'another user gets nothing');
});

t.test('one-per-browser prefers the tab that last sent something, else the newest tab', async (t) => {
  const gw = await startTestGateway();
  t.teardown(() => gw.close());
  const older = await openClient(gw, { browserUuid: 'b' });
  const newer = await openClient(gw, { browserUuid: 'b' });
  t.teardown(() => Promise.all([older, newer].map((c) => c.close())));
  t.same(gw.registry.toUserOnePerBrowser(1).map((c) => c.clientUuid), [gw.registry.toUser(1).at(-1)!.clientUuid], 'no activity: the newest');
  t.same(await drain(older), []);
  const picked = gw.registry.toUserOnePerBrowser(1);
  t.equal(picked.length, 1);
  t.equal(picked[0], gw.registry.toUser(1)[0], 'the tab that sent a KeepAlive last');
  t.same(await drain(newer), []);
  t.equal(gw.registry.toUserOnePerBrowser(1)[0], gw.registry.toUser(1)[1], 'activity moves the choice');
});

t.test('registration holds while any connection of the user is open and clears with the last one', async (t) => {
  const gw = await startTestGateway();
  t.teardown(() => gw.close());
  const first = await openRegisteredClient(gw, { browserUuid: 'x' });
  const second = await openClient(gw, { browserUuid: 'y' });
  t.ok(gw.registry.isRegistered(1));
  await first.close();
  await waitFor(() => gw.registry.countUser(1) === 1);
  t.ok(gw.registry.isRegistered(1), 'still registered with one connection left');
  const delivered = await postMessage(gw, hostMessage());
  t.equal(delivered.status, 200);
  t.equal(JSON.parse(await second.next()).type, 'ProcessPushNotification', 'delivered to the unregistered tab too (openITCOCKPIT semantics)');
  await second.close();
  await waitFor(() => gw.registry.size === 0);
  t.notOk(gw.registry.isRegistered(1));
  t.equal(gw.registry.userCount, 0);
  const res = await postMessage(gw, hostMessage());
  t.equal(res.status, 202);
  t.equal(res.body, 'User is not registered for push notifications');
});
