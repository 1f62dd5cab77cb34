import t from 'tap';
import { hostMessage, HOST_UUID, openClient, openRegisteredClient, postMessage, startTestGateway, httpRequest } from './helpers.js';

t.test('a registered browser receives the notification POSTed to /message', async (t) => {
  const gw = await startTestGateway();
  t.teardown(() => gw.close());
  const client = await openRegisteredClient(gw);
  t.teardown(() => client.close());
  const ts = Math.floor(Date.now() / 1000);
  const res = await postMessage(gw, hostMessage({ timestamp: ts }));
  t.equal(res.status, 200);
  t.equal(res.body, 'ok');
  t.equal(await client.next(), JSON.stringify({
    type: 'ProcessPushNotification',
    message: 'CRITICAL - host unreachable',
    payload: { timestamp: ts, userId: 1, title: 'PROBLEM: web-01 is DOWN!', message: 'CRITICAL - host unreachable', type: 'host', hostUuid: HOST_UUID, icon: '/img/push_notifications/wh/HostPushIconDOWN.png' },
  }));
});

t.test('GET /healthz answers 200 ok', async (t) => {
  const gw = await startTestGateway();
  t.teardown(() => gw.close());
  const res = await httpRequest(`${gw.url}/healthz`);
  t.equal(res.status, 200);
  t.equal(res.body, 'ok');
  void openClient;
});
