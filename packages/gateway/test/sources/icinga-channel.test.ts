/**
 * `POST /icinga/notifications` (src/sources/icinga-channel.ts) on a real
 * gateway, spoken to over HTTP as the channel plugin does: configuration,
 * authentication, every refusal with its exact status and text, and the
 * notification the pipeline gets. The plugin's own end: packages/icinga-channel/test.
 */
import t from 'tap';
import { parseConfig } from '../../src/config.js';
import type { Gateway } from '../../src/gateway.js';
import { channelNotification as notification, icingaObjectName } from '../../src/sources/icinga-channel.js';
import { httpRequest, openRegisteredClient, startTestGateway, type HttpAnswer } from '../helpers.js';

const TOKEN = 'icinga-intake-token-0123456789';
const OLD_TOKEN = 'icinga-intake-token-rotated-out';

function body(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    channel_type: 'pushgate',
    contact: { full_name: 'Operator Seven', addresses: [{ type: 'pushgate', address: '7' }] },
    object: { name: 'web-01!HTTP', url: 'http://localhost/icingaweb2/icingadb/service?name=HTTP&host.name=web-01', tags: { host: 'web-01', service: 'HTTP' } },
    incident: { id: 12, url: 'http://localhost/icingaweb2/notifications/incident?id=12', severity: 'crit' },
    event: { time: '2026-12-02T12:00:00.445439055Z', message: 'HTTP CRITICAL - 500' },
    ...extra,
  };
}

function post(gw: Gateway, payload: unknown, opts: { token?: string | null; method?: string; raw?: string } = {}): Promise<HttpAnswer> {
  const headers: Record<string, string> = { 'Content-Type': 'application/json' };
  const token = opts.token === undefined ? TOKEN : opts.token;
  if (token !== null) headers.Authorization = `Bearer ${token}`;
  return httpRequest(`${gw.url}/icinga/notifications`, { method: opts.method ?? 'POST', headers, body: opts.raw ?? JSON.stringify(payload) });
}

t.test('icinga.channel: off by default; enabled needs a token; tokens need 16 printable characters', async (t) => {
  t.same(parseConfig({}).icinga.channel, { enabled: false, tokens: [], maxBodyBytes: 262144 });
  t.throws(() => parseConfig({ icinga: { channel: { enabled: true } } }), { code: 'GW_ERR_CONFIG', message: /icinga\.channel\.tokens: icinga\.channel\.enabled needs at least one token/ });
  t.throws(() => parseConfig({ icinga: { channel: { tokens: ['short'] } } }), { code: 'GW_ERR_CONFIG', message: /icinga\.channel\.tokens\.0: an intake token needs at least 16 printable characters/ });
  t.throws(() => parseConfig({ icinga: { channel: { tokens: ['with a space in it, long enough'] } } }), { code: 'GW_ERR_CONFIG' });
});

t.test('the intake is not mounted unless enabled', async (t) => {
  const gw = await startTestGateway();
  t.teardown(() => gw.close());
  const r = await post(gw, body());
  t.equal(r.status, 426, 'the path is the WebSocket endpoint as any other');
});

t.test('refusals: method, token (any of the configured, constant time), size, JSON, fields, address', async (t) => {
  const gw = await startTestGateway({ config: { icinga: { channel: { enabled: true, tokens: [OLD_TOKEN, TOKEN], maxBodyBytes: 2048 } } } });
  t.teardown(() => gw.close());
  const get = await post(gw, body(), { method: 'GET', raw: '' });
  t.same([get.status, get.headers.allow, get.body], [405, 'POST', 'Method not allowed']);
  for (const token of [null, 'icinga-intake-token-0123456788', `${TOKEN}x`]) {
    const r = await post(gw, body(), { token });
    t.same([r.status, r.headers['www-authenticate'], r.body], [401, 'Bearer', 'Unauthorized: missing or unknown intake token'], `token ${token}`);
  }
  t.equal((await post(gw, body(), { token: OLD_TOKEN })).status, 200, 'every configured token is accepted (rotation)');
  const big = await post(gw, body({ event: { time: '2026-12-02T12:00:00Z', message: 'x'.repeat(4096) } }));
  t.same([big.status, big.body], [413, 'Payload too large']);
  const cases: [string, string][] = [
    ['{', 'Invalid notification: body is not JSON'],
    [JSON.stringify(body({ channel_type: '../x' })), 'Invalid notification: channel_type: expected the channel type, 1-255 of a-z A-Z 0-9 _ -'],
    [JSON.stringify(body({ incident: { id: 1, url: '', severity: 'sev' } })), 'Invalid notification: incident.severity: Invalid option: expected one of "ok"|"debug"|"info"|"notice"|"warning"|"err"|"crit"|"alert"|"emerg"'],
    [JSON.stringify(body({ event: { time: 'yesterday', message: '' } })), 'Invalid notification: event.time: expected an RFC 3339 time'],
    [JSON.stringify(body({ object: null })), 'Invalid notification: object: Invalid input: expected object, received null'],
    [JSON.stringify(body({ contact: { full_name: 'X', addresses: null } })), 'Invalid notification: contact.addresses: "X" has no address of type pushgate'],
    [JSON.stringify(body({ contact: { full_name: 'X', addresses: [{ type: 'pushgate', address: '0' }] } })), 'Invalid notification: contact.addresses: user id 0 must be an integer > 0'],
  ];
  for (const [raw, text] of cases) {
    const r = await post(gw, undefined, { raw });
    t.same([r.status, r.body], [400, text], text);
  }
  const contact = await post(gw, body({ contact: { full_name: 'Bob', addresses: [{ type: 'pushgate', address: 'bob' }] } }));
  t.same([contact.status, contact.body], [422, 'Recipient not resolved: the address "bob" is an Icinga contact username, which needs icinga.enabled']);
  const metrics = await gw.metrics!.registry.getSingleMetricAsString('pushgate_icinga_channel_requests_total');
  t.match(metrics, /outcome="rejected",status="401"\} 3/);
  t.match(metrics, /outcome="accepted",status="200"\} 1/);
});

t.test('an accepted request becomes one notification for the user, kind and severity as the poll maps them, answered 200 ok', async (t) => {
  const gw = await startTestGateway({ config: { icinga: { channel: { enabled: true, tokens: [TOKEN] } } } });
  t.teardown(() => gw.close());
  const ws = await openRegisteredClient(gw, { userId: 7 });
  t.teardown(() => ws.close());
  const r = await post(gw, body({ incident: { id: 12, url: 'http://x/incident?id=12', severity: 'ok' }, event: { time: '2026-12-02T12:00:00Z', message: 'HTTP OK' } }));
  t.same([r.status, r.body], [200, 'ok']);
  const f = await ws.nextJson();
  t.same(f.payload, { timestamp: Date.UTC(2026, 11, 2, 12) / 1000, userId: 7, title: 'web-01!HTTP', message: 'HTTP OK', type: 'service', id: (f.payload as { id: number }).id });
  t.equal(gw.pipeline.stats.accepted['icinga-channel'], 1);
});

t.test('the notification: object key from the tags, host for routing, the incident page as link, openITCOCKPIT state ids', async (t) => {
  const parsed = body() as Parameters<typeof notification>[0];
  const n = notification(parsed, { kind: 'user', userId: 7 }, undefined, 5, 1000);
  t.match(n, {
    id: 5, objectKey: 'icinga:web-01!HTTP', kind: 'PROBLEM', severity: 'critical', title: 'web-01!HTTP', body: 'HTTP CRITICAL - 500',
    source: 'icinga-channel', host: 'web-01', url: 'http://localhost/icingaweb2/notifications/incident?id=12',
    oitc: { timestamp: Date.UTC(2026, 11, 2, 12) / 1000, type: 'service', state: 2, notificationType: 'PROBLEM', hostUuid: '', serviceUuid: '' },
  });
  t.equal(n.icinga, undefined);
  t.equal(icingaObjectName({ name: 'n', url: '', tags: { host: 'h' } }), 'h');
  t.equal(icingaObjectName({ name: 'from-name', url: '', tags: null }), 'from-name', 'a non-Icinga 2 object keeps its name');
  const host = notification({ ...parsed, object: { name: 'db', url: '', tags: { host: 'db' } }, incident: { id: 1, url: '', severity: 'warning' } }, { kind: 'user', userId: 7 }, undefined, 6, 1000);
  t.match(host, { objectKey: 'icinga:db', severity: 'warning', oitc: { type: 'host', state: 1 } });
  t.notOk('url' in host, 'an empty incident URL is no link');
  const row = { id: 40, incidentId: 12, contactId: 2, channelId: 4, eventId: null, time: 999, message: 'm', state: 'pending' as const, severity: 'crit', title: 'web-01!HTTP' };
  const c = notification(parsed, { kind: 'contact', contactId: 2, username: 'bob' }, row, 7, 1000);
  t.same(c.icinga, { historyId: 40, incidentId: 12, severity: 'crit', time: 999, message: 'm' }, 'the SSE event from the contact\'s history row');
  t.equal(c.oitc, undefined);
});
