/**
 * Acknowledge from the notification, end to end through a gateway on
 * loopback against real engines from Debian's packages: a PROBLEM's frame
 * carries the user's action token; `POST /acknowledge` with it acknowledges
 * in nagios4 (service put into CRITICAL by a passive check result; the
 * engine's own status shows the acknowledgement by that user) and in
 * Icinga 2 (`acknowledge-problem`). A token used twice, expired, of another
 * user or for another object is refused and changes nothing; an engine that
 * is down gives `unreachable` and changes nothing, and the same token works
 * once it is back. The trail lists it all in order.
 */
import t from 'tap';
import { mintActionToken } from '../../src/auth/action-token.js';
import type { Acknowledged } from '../../src/acknowledge/endpoint.js';
import { FileDirectory } from '../../src/directory/file.js';
import type { Gateway } from '../../src/gateway.js';
import { icinga2Skip, ICINGA2_NODE, startIcinga2 } from '../fixtures/icinga2.js';
import { nagiosSkip, startNagios } from '../fixtures/nagios.js';
import { httpRequest, openRegisteredClient, postMessage, startTestGateway, TEST_API_KEY, testDirectoryData, type TestClient } from '../helpers.js';

const SECRET = 'action-secret-0123456789abcdef0123456789';
const ADMIN_KEY = 'admin-key-0123456789abcdef0123456789abcdef';
const HOST = '5a1f8d9e-2c4b-4f6a-9e3d-1b7c0a2e4f60';
const SERVICE = 'b2e4c6a8-0d1f-4e3a-8c5b-7f9d1e3a5c70';

const NAGIOS_OBJECTS = `
define host {
    use                 generic-host
    host_name           ${HOST}
}
define service {
    use                 generic-service
    host_name           ${HOST}
    service_description ${SERVICE}
    check_command       pushgate-noop
}
`;

interface Payload { id: number; title: string; ackToken?: string; [k: string]: unknown }

async function nextNotification(c: TestClient): Promise<Payload> {
  for (;;) {
    const f = await c.nextJson();
    if (f.type === 'ProcessPushNotification') return f.payload as Payload;
  }
}

function acknowledge(gw: Pick<Gateway, 'url'>, userId: number, body: unknown, key = TEST_API_KEY): Promise<{ status: number; json: { outcome: string; reason: string; token?: string } }> {
  return httpRequest(`${gw.url}/acknowledge?userId=${userId}&browserUuid=laptop`, {
    method: 'POST', headers: { 'Content-Type': 'application/json', 'X-Api-Key': key }, body: JSON.stringify(body),
  }).then((r) => ({ status: r.status, json: r.headers['content-type'] === 'application/json' ? JSON.parse(r.body) : { outcome: '', reason: r.body } }));
}

async function trailOf(gw: Pick<Gateway, 'url'>, id: number): Promise<Record<string, unknown>[]> {
  const r = await httpRequest(`${gw.url}/trail/${id}`, { headers: { Authorization: `Bearer ${ADMIN_KEY}` } });
  return (JSON.parse(r.body) as { events: Record<string, unknown>[] }).events;
}

/** A PROBLEM (or other kind) for the object, as the sender posts it. */
function message(userId: number, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    timestamp: Math.floor(Date.now() / 1000), userId, type: 'service', hostUuid: HOST, serviceUuid: SERVICE, icon: '', state: 2,
    notificationtype: 'PROBLEM', output: 'CRITICAL - down', ackauthor: '', ackcomment: '', ...extra,
  };
}

t.test('without an acknowledge section frames carry no token and /acknowledge answers 404', async (t) => {
  const gw = await startTestGateway();
  t.teardown(() => gw.close());
  const r = await acknowledge(gw, 1, { token: 'a1.x' });
  t.equal(r.status, 404);
  t.equal(r.json.reason, 'Not Found: acknowledge is not configured on this gateway\n');
});

t.test('acknowledge needs auth.secrets: a config error naming the key', async (t) => {
  const err = await startTestGateway({ config: { acknowledge: { engine: { type: 'naemon' } } } }).then(() => undefined, (e: unknown) => e);
  t.match(err, { code: 'GW_ERR_CONFIG', message: /acknowledge: acknowledge needs at least one secret in auth\.secrets/ });
});

t.test('through the gateway into nagios4\'s command pipe', { skip: nagiosSkip() }, async (t) => {
  const nagios = await startNagios(t, { objects: NAGIOS_OBJECTS, statusUpdateIntervalS: 1 });
  const acked: Acknowledged[] = [];
  const gw = await startTestGateway({
    config: {
      auth: { secrets: [SECRET], adminKeys: [ADMIN_KEY] },
      acknowledge: { engine: { type: 'naemon', commandFile: nagios.commandFile, statusFile: nagios.statusFile, statusWaitMs: 20_000 }, comment: 'seen on my phone' },
    },
    directory: new FileDirectory(testDirectoryData({ hosts: { [HOST]: 'web-01' }, services: { [SERVICE]: 'HTTP' }, users: { 7: 'Alice Example' } })),
    onAcknowledged: (a) => acked.push(a),
  });
  t.teardown(() => gw.close());
  const alice = await openRegisteredClient(gw, { userId: 7, browserUuid: 'laptop' });
  t.teardown(() => alice.close());
  const bob = await openRegisteredClient(gw, { userId: 8, browserUuid: 'bob-laptop' });
  t.teardown(() => bob.close());

  await nagios.serviceResult(HOST, SERVICE, 2, 'CRITICAL - down');
  await nagios.waitService(HOST, SERVICE, (s) => s.current_state === '2');
  t.equal((await postMessage(gw, message(7))).status, 200);
  t.equal((await postMessage(gw, message(8))).status, 200);
  const n = await nextNotification(alice);
  const forBob = await nextNotification(bob);
  t.match(n.ackToken, /^a1\.acknowledge\./, 'a PROBLEM carries an action token');
  t.same(Object.keys(n), ['timestamp', 'userId', 'title', 'message', 'type', 'hostUuid', 'serviceUuid', 'icon', 'id', 'ackToken'], 'ackToken comes last, after id');
  const token = n.ackToken!;
  const unchanged = async (what: string): Promise<void> => {
    await nagios.freshStatus();
    t.equal((await nagios.service(HOST, SERVICE))?.problem_has_been_acknowledged, '0', what);
  };

  await t.test('a token is refused for another user, another object or notification, forged, or expired; nothing changes', async (t) => {
    const asBob = await acknowledge(gw, 8, { token });
    t.same(asBob, { status: 403, json: { outcome: 'refused', reason: 'this Acknowledge link belongs to another user', token: 'wrong-user' } });
    t.match(await acknowledge(gw, 7, { token, objectKey: `${HOST}/other` }), { status: 403, json: { token: 'wrong-object' } });
    t.match(await acknowledge(gw, 7, { token, notificationId: forBob.id }), { status: 403, json: { token: 'wrong-notification' } });
    t.match(await acknowledge(gw, 7, { token: `${token.slice(0, -2)}AA` }), { status: 403, json: { token: 'bad-signature' } });
    const expired = mintActionToken({ action: 'acknowledge', userId: 7, notificationId: String(n.id), objectKey: `${HOST}/${SERVICE}`, expiresAt: Math.floor(Date.now() / 1000) - 1 }, SECRET);
    t.match(await acknowledge(gw, 7, { token: expired }), { status: 403, json: { token: 'expired', reason: /has expired/ } });
    t.match(await acknowledge(gw, 7, { token }, 'wrong-key-0123456789abcdef'), { status: 401 });
    const bad = await acknowledge(gw, 7, { tokn: token });
    t.equal(bad.status, 400);
    t.match(bad.json.reason, /^Bad Request: .*tokn/);
    await unchanged('not acknowledged by any refused token');
    t.same(acked, []);
  });

  await t.test('the right user\'s token acknowledges in the engine, by that user, once', async (t) => {
    const r = await acknowledge(gw, 7, { token, notificationId: n.id, objectKey: `${HOST}/${SERVICE}` });
    t.equal(r.status, 200);
    t.same(r.json, { outcome: 'done', reason: `ACKNOWLEDGE_SVC_PROBLEM for service "${SERVICE}" on host "${HOST}" written to the engine's command pipe` });
    const s = await nagios.waitService(HOST, SERVICE, (s) => s.problem_has_been_acknowledged === '1');
    t.equal(s.current_state, '2');
    t.match(await nagios.comments(HOST, SERVICE), [{ entry_type: '4', author: 'Alice Example', comment_data: 'seen on my phone' }], 'the engine names the user as the author');
    t.match(acked, [{ notificationId: n.id, objectKey: `${HOST}/${SERVICE}`, userId: 7, author: 'Alice Example' }], 'onAcknowledged told once');
    t.match(await acknowledge(gw, 7, { token }), { status: 403, json: { token: 'used', reason: 'this Acknowledge link was already used' } });
    t.equal((await nagios.comments(HOST, SERVICE)).length, 1, 'still one acknowledgement');
  });

  await t.test('bob\'s own token is refused by the engine: already acknowledged', async (t) => {
    const r = await acknowledge(gw, 8, { token: forBob.ackToken });
    t.same(r, { status: 409, json: { outcome: 'refused', reason: `service "${SERVICE}" on host "${HOST}" (CRITICAL) is already acknowledged` } });
  });

  await t.test('a stopped engine gives unreachable and changes nothing; the same token works once it is back', async (t) => {
    await nagios.hostResult(HOST, 1, 'PING CRITICAL - 100% loss');
    await nagios.waitHost(HOST, (h) => h.current_state === '1');
    t.equal((await postMessage(gw, { ...message(7), type: 'host', serviceUuid: '', state: 1 })).status, 200);
    const down = await nextNotification(alice);
    await nagios.stop();
    const r = await acknowledge(gw, 7, { token: down.ackToken });
    t.equal(r.status, 503);
    t.equal(r.json.outcome, 'unreachable');
    t.match(r.json.reason, /engine is not running/);
    await nagios.start();
    const h = await nagios.waitHost(HOST, (h) => h.current_state === '1');
    t.equal(h.problem_has_been_acknowledged, '0', 'nothing was acknowledged while it was down');
    const again = await acknowledge(gw, 7, { token: down.ackToken });
    t.equal(again.json.outcome, 'done', again.json.reason);
    await nagios.waitHost(HOST, (h) => h.problem_has_been_acknowledged === '1');

    const events = await trailOf(gw, down.id);
    t.same(events.map((e) => [e.type, e.outcome ?? e.target]), [
      ['accepted', undefined], ['delivered', 'ws'], ['acknowledge', 'unreachable'], ['acknowledge', 'done'],
    ], 'the trail: accepted, delivered, the failed try, the acknowledgement');
    t.match(events[3], { userId: 7, author: 'Alice Example', how: 'action-token', engine: 'naemon' });
  });

  await t.test('the trail of the service notification ends with the acknowledgement; metrics count outcomes and refusals', async (t) => {
    const events = await trailOf(gw, n.id);
    t.same(events.map((e) => e.type), ['accepted', 'delivered', 'acknowledge']);
    const m = (await httpRequest(`${gw.url}/metrics`)).body;
    t.match(m, /^pushgate_acknowledgements_total\{outcome="done"\} 2$/m);
    t.match(m, /^pushgate_acknowledgements_total\{outcome="unreachable"\} 1$/m);
    t.match(m, /^pushgate_acknowledge_token_refusals_total\{reason="wrong-user"\} 1$/m);
    t.match(m, /^pushgate_time_to_acknowledge_seconds_count 2$/m);
  });

  await t.test('a RECOVERY carries no token', async (t) => {
    await postMessage(gw, message(7, { notificationtype: 'RECOVERY', state: 0, output: 'OK' }));
    t.notOk('ackToken' in (await nextNotification(alice)));
  });
});

t.test('through the gateway into Icinga 2\'s acknowledge-problem', { skip: icinga2Skip() }, async (t) => {
  const user = { name: 'pushgate', password: 'pushgate-api-password-123', permissions: ['actions/acknowledge-problem'] };
  const icinga = await startIcinga2(t, {
    objects: `
template Host "passive-host" { check_command = "dummy"; enable_active_checks = false; max_check_attempts = 1 }
template Service "passive-service" { check_command = "dummy"; enable_active_checks = false; max_check_attempts = 1 }
object Host "web-01" { import "passive-host" }
object Service "HTTP" { import "passive-service"; host_name = "web-01" }
`,
    apiUsers: [user],
  });
  const gw = await startTestGateway({
    config: {
      auth: { secrets: [SECRET], adminKeys: [ADMIN_KEY] },
      acknowledge: { engine: { type: 'icinga2', url: icinga.url, user: user.name, password: user.password, caFile: icinga.caFile, serverName: ICINGA2_NODE }, notify: false },
    },
    // Icinga names its objects by name: the notification command posts the names as the "uuids".
    directory: new FileDirectory(testDirectoryData({ hosts: { 'web-01': 'web-01' }, services: { HTTP: 'HTTP' }, users: { 3: 'carol' } })),
  });
  t.teardown(() => gw.close());
  const carol = await openRegisteredClient(gw, { userId: 3, browserUuid: 'laptop' });
  t.teardown(() => carol.close());
  await icinga.checkResult('Host', 'web-01', 0, 'PING OK');
  await icinga.checkResult('Service', 'web-01!HTTP', 2, 'CRITICAL - down');
  t.equal((await postMessage(gw, message(3, { hostUuid: 'web-01', serviceUuid: 'HTTP' }))).status, 200);
  const n = await nextNotification(carol);
  t.match(n.ackToken, /^a1\./);

  t.match(await acknowledge(gw, 4, { token: n.ackToken }), { status: 403, json: { token: 'wrong-user' } });
  t.match(await icinga.object('services', 'web-01!HTTP'), { acknowledgement: 0 }, 'a refused token changes nothing');
  const r = await acknowledge(gw, 3, { token: n.ackToken });
  t.same(r, { status: 200, json: { outcome: 'done', reason: 'Icinga 2: Successfully acknowledged problem for object \'web-01!HTTP\'.' } });
  t.match(await icinga.object('services', 'web-01!HTTP'), { state: 2, acknowledgement: 2 });
  t.match(await icinga.comments('web-01!HTTP'), [{ entry_type: 4, author: 'carol', text: 'Acknowledged from a pushgate notification' }]);
  t.match(await acknowledge(gw, 3, { token: n.ackToken }), { status: 403, json: { token: 'used' } });

  await icinga.stop();
  await icinga.checkResult('Service', 'web-01!HTTP', 2, 'still down').catch(() => undefined);
  t.equal((await postMessage(gw, message(3, { hostUuid: 'web-01', serviceUuid: 'HTTP', output: 'again' }))).status, 200);
  const second = await nextNotification(carol);
  const down = await acknowledge(gw, 3, { token: second.ackToken });
  t.equal(down.status, 503);
  t.equal(down.json.outcome, 'unreachable');
  t.match(down.json.reason, /unreachable: .*ECONNREFUSED/);
  t.same((await trailOf(gw, second.id)).map((e) => [e.type, e.outcome]), [['accepted', undefined], ['delivered', undefined], ['acknowledge', 'unreachable']]);
});
