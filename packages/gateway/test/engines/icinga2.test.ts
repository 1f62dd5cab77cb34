/**
 * The Icinga 2 adapter (src/engines/icinga2.ts) against a real Icinga 2,
 * Debian's icinga2 with its API on a temp directory (fixtures/icinga2.ts):
 * after `acknowledge` the engine's own object state shows the
 * acknowledgement and its comment names the API call's author; the engine's
 * refusals come back as `refused` with its words; TLS is verified against
 * the node's CA only; a stopped engine gives `unreachable` and changes nothing.
 */
import { createServer, type Socket } from 'node:net';
import t from 'tap';
import type { AcknowledgeRequest } from '../../src/engines/engine.js';
import { GatewayError } from '../../src/errors.js';
import { acknowledgeBody, Icinga2Engine, Icinga2EngineSchema, interpret } from '../../src/engines/icinga2.js';
import { icinga2Skip, ICINGA2_NODE, otherIcinga2Ca, startIcinga2 } from '../fixtures/icinga2.js';

const ACK_USER = { name: 'pushgate', password: 'pushgate-api-password-123', permissions: ['actions/acknowledge-problem'] };
const READ_ONLY = { name: 'viewer', password: 'viewer-api-password-1234', permissions: ['objects/query/*'] };

const OBJECTS = `
template Host "passive-host" {
  check_command = "dummy"
  enable_active_checks = false
  max_check_attempts = 1
}
template Service "passive-service" {
  check_command = "dummy"
  enable_active_checks = false
  max_check_attempts = 1
}
object Host "web-01" { import "passive-host" }
object Host "db-01" { import "passive-host" }
object Service "HTTP" { import "passive-service"; host_name = "web-01" }
object Service "disk /" { import "passive-service"; host_name = "web-01" }
object Service "SSH" { import "passive-service"; host_name = "web-01" }
object Service "HTTPS" { import "passive-service"; host_name = "web-01" }
`;

function ack(objectKey: string, extra: Partial<AcknowledgeRequest> = {}): AcknowledgeRequest {
  return { objectKey, author: 'alice', comment: 'on it', sticky: true, notify: false, persistent: false, ...extra };
}

t.test('the request names the object through filter_vars, never inside the filter', async (t) => {
  t.same(acknowledgeBody({ host: 'web-01', service: 'disk /' }, ack('web-01/disk /', { comment: '" || true' }), 1800000000), {
    type: 'Service',
    filter: 'host.name == pushgate_host && service.name == pushgate_service',
    filter_vars: { pushgate_host: 'web-01', pushgate_service: 'disk /' },
    author: 'alice', comment: '" || true', sticky: true, notify: false, persistent: false, expiry: 1800000000,
  });
  t.same(acknowledgeBody({ host: 'h"' }, ack('h"'), undefined).filter_vars, { pushgate_host: 'h"' });
});

t.test('Icinga answers map to outcomes with Icinga\'s own words', async (t) => {
  const o = { host: 'web-01', service: 'HTTP' };
  // Icinga 2.14 and later: a filter without match is 404 "No objects found." (lib/remote/actionshandler.cpp, 81f7bce3).
  t.same(interpret(o, 404, '{"error":404,"status":"No objects found."}'), { outcome: 'refused', reason: 'Icinga 2 API answered HTTP 404: No objects found.' });
  t.same(interpret(o, 503, '{"results":[{"code":503,"status":"Icinga is reloading."}]}'), { outcome: 'unreachable', reason: 'Icinga 2: Icinga is reloading.' });
  t.same(interpret(o, 502, '<html>Bad Gateway</html>'), { outcome: 'unreachable', reason: 'Icinga 2 API answered HTTP 502: <html>Bad Gateway</html>' });
  t.same(interpret(o, 500, '{"results":[]}'), { outcome: 'refused', reason: 'Icinga 2 has no service "HTTP" on host "web-01"' });
  t.same(interpret(o, 200, '{"results":[{"code":200,"status":"ok"},{"code":200,"status":"ok too"}]}'), { outcome: 'done', reason: 'Icinga 2: ok' });
});

t.test('the config schema is strict, TLS only, and a missing CA file is a config error naming the key', async (t) => {
  const good = { type: 'icinga2', url: 'https://icinga.example.com:5665', user: 'pushgate', password: 'x', caFile: '/nonexistent/ca.crt' };
  t.match(Icinga2EngineSchema.parse(good), { timeoutMs: 10_000, expirySeconds: 0 });
  t.notOk(Icinga2EngineSchema.safeParse({ ...good, url: 'http://icinga.example.com:5665' }).success, 'http:// is refused');
  t.notOk(Icinga2EngineSchema.safeParse({ ...good, pasword: 'x' }).success, 'a misspelt key is an error');
  const err = await Icinga2Engine.fromConfig(Icinga2EngineSchema.parse(good), 'engines.icinga').then(() => undefined, (e: unknown) => e);
  t.ok(err instanceof GatewayError, 'a GatewayError');
  t.match(err, { code: 'GW_ERR_CONFIG', message: /^engines\.icinga\.caFile: cannot read \/nonexistent\/ca\.crt: ENOENT/ });
});

t.test('an engine that accepts and never answers gives unreachable within the timeout', async (t) => {
  const sockets: Socket[] = [];
  const silent = createServer((s) => { sockets.push(s); });
  await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
  t.teardown(() => { for (const s of sockets) s.destroy(); silent.close(); });
  const port = (silent.address() as { port: number }).port;
  const engine = new Icinga2Engine({ url: `https://127.0.0.1:${port}`, user: 'u', password: 'p', ca: '', timeoutMs: 300 });
  t.teardown(() => engine.close());
  const r = await engine.acknowledge(ack('web-01/HTTP'));
  t.equal(r.outcome, 'unreachable');
  t.match(r.reason, new RegExp(`^the Icinga 2 API at https://127\\.0\\.0\\.1:${port} is unreachable: `));
});

t.test('acknowledgements through a real Icinga 2 API', { skip: icinga2Skip() }, async (t) => {
  const icinga = await startIcinga2(t, { objects: OBJECTS, apiUsers: [ACK_USER, READ_ONLY] });
  const engine = (opts: { user?: typeof ACK_USER; ca?: string; serverName?: string | null; expirySeconds?: number } = {}): Icinga2Engine => {
    const user = opts.user ?? ACK_USER;
    const e = new Icinga2Engine({
      url: icinga.url, user: user.name, password: user.password, ca: opts.ca ?? icinga.ca,
      ...(opts.serverName === null ? {} : { serverName: opts.serverName ?? ICINGA2_NODE }),
      ...(opts.expirySeconds ? { expirySeconds: opts.expirySeconds } : {}),
    });
    t.teardown(() => e.close());
    return e;
  };
  const pushgate = engine();
  for (const h of ['web-01', 'db-01']) await icinga.checkResult('Host', h, 0, 'PING OK');
  await icinga.checkResult('Service', 'web-01!SSH', 0, 'SSH OK');

  await t.test('a CRITICAL service is acknowledged, and Icinga shows it with the comment by that author', async (t) => {
    await icinga.checkResult('Service', 'web-01!HTTP', 2, 'CRITICAL - down');
    t.same(await pushgate.acknowledge(ack('web-01/HTTP')), { outcome: 'done', reason: 'Icinga 2: Successfully acknowledged problem for object \'web-01!HTTP\'.' });
    t.match(await icinga.object('services', 'web-01!HTTP'), { state: 2, acknowledgement: 2, acknowledgement_expiry: 0 }, 'sticky acknowledgement (2)');
    t.match(await icinga.comments('web-01!HTTP'), [{ entry_type: 4, author: 'alice', text: 'on it', persistent: false }]);
  });

  await t.test('a service whose name has a "/" is acknowledged, with an expiry when configured', async (t) => {
    await icinga.checkResult('Service', 'web-01!disk /', 1, 'DISK WARNING - 91% used');
    const before = Date.now() / 1000;
    const r = await engine({ expirySeconds: 3600 }).acknowledge(ack('web-01/disk /', { sticky: false }));
    t.equal(r.outcome, 'done', r.reason);
    const attrs = await icinga.object('services', 'web-01!disk /') as { acknowledgement: number; acknowledgement_expiry: number };
    t.equal(attrs.acknowledgement, 1, 'normal, not sticky');
    t.ok(attrs.acknowledgement_expiry >= Math.floor(before) + 3600 && attrs.acknowledgement_expiry <= before + 3602, 'expires in an hour');
  });

  await t.test('a DOWN host is acknowledged', async (t) => {
    await icinga.checkResult('Host', 'db-01', 1, 'PING CRITICAL - 100% loss');
    const r = await pushgate.acknowledge(ack('db-01', { author: 'carol', comment: 'power cut', notify: true, persistent: true }));
    t.same(r, { outcome: 'done', reason: 'Icinga 2: Successfully acknowledged problem for object \'db-01\'.' });
    t.match(await icinga.object('hosts', 'db-01'), { state: 1, acknowledgement: 2 });
    t.match(await icinga.comments('db-01'), [{ entry_type: 4, author: 'carol', text: 'power cut', persistent: true }]);
  });

  await t.test('Icinga\'s refusals come back as refused with its reason, and change nothing', async (t) => {
    t.same(await pushgate.acknowledge(ack('web-01/HTTP', { author: 'bob' })), { outcome: 'refused', reason: 'Icinga 2: Service web-01!HTTP is already acknowledged.' });
    t.equal((await icinga.comments('web-01!HTTP')).length, 1, 'no second comment');
    t.same(await pushgate.acknowledge(ack('web-01/SSH')), { outcome: 'refused', reason: 'Icinga 2: Service web-01!SSH is OK.' });
    t.match(await icinga.object('services', 'web-01!SSH'), { state: 0, acknowledgement: 0 });
    const unknown = await pushgate.acknowledge(ack('web-01/no-such-service'));
    t.equal(unknown.outcome, 'refused');
    // 2.13 answers 500 with no results, later versions 404 "No objects found."
    t.match(unknown.reason, /^(Icinga 2 has no service "no-such-service" on host "web-01"|Icinga 2 API answered HTTP 404: No objects found\.)$/);
    t.match(await pushgate.acknowledge(ack('no-such-host')), { outcome: 'refused', reason: /no host "no-such-host"|No objects found/ });
    t.same(await icinga.comments('web-01!SSH'), []);
  });

  await t.test('a wrong password or a user without the permission is refused with Icinga\'s answer', async (t) => {
    const wrong = await engine({ user: { ...ACK_USER, password: 'not-the-password' } }).acknowledge(ack('web-01/HTTPS'));
    t.same(wrong, { outcome: 'refused', reason: 'Icinga 2 API answered HTTP 401: Unauthorized. Please check your user credentials.' });
    await icinga.checkResult('Service', 'web-01!HTTPS', 2, 'CRITICAL - certificate expired');
    const viewer = await engine({ user: READ_ONLY }).acknowledge(ack('web-01/HTTPS'));
    t.equal(viewer.outcome, 'refused');
    t.match(viewer.reason, /^Icinga 2 API answered HTTP 40[34]: /);
    t.match(await icinga.object('services', 'web-01!HTTPS'), { state: 2, acknowledgement: 0 }, 'not acknowledged');
  });

  await t.test('TLS is verified against the configured CA and the node\'s name', async (t) => {
    const otherCa = await engine({ ca: await otherIcinga2Ca(t) }).acknowledge(ack('web-01/HTTPS'));
    t.equal(otherCa.outcome, 'unreachable', 'another Icinga CA: no connection');
    t.match(otherCa.reason, /certificate/i, otherCa.reason);
    const wrongName = await engine({ serverName: 'icinga.example.com' }).acknowledge(ack('web-01/HTTPS'));
    t.equal(wrongName.outcome, 'unreachable');
    t.match(wrongName.reason, /altnames|does not match/i, wrongName.reason);
    const byAddress = await engine({ serverName: null }).acknowledge(ack('web-01/HTTPS'));
    t.match(byAddress, { outcome: 'unreachable', reason: /127\.0\.0\.1/ }, 'the address is not the certificate\'s name');
    t.match(await icinga.object('services', 'web-01!HTTPS'), { acknowledgement: 0 }, 'nothing acknowledged');
  });

  await t.test('a stopped engine gives unreachable and changes nothing', async (t) => {
    await icinga.stop();
    const r = await pushgate.acknowledge(ack('web-01/HTTPS'));
    t.equal(r.outcome, 'unreachable');
    t.match(r.reason, /ECONNREFUSED/);
    await icinga.start();
    t.match(await icinga.object('services', 'web-01!HTTPS'), { state: 2, acknowledgement: 0 }, 'still CRITICAL, not acknowledged after the restart');
    t.same(await icinga.comments('web-01!HTTPS'), []);
    t.equal((await pushgate.acknowledge(ack('web-01/HTTPS'))).outcome, 'done', 'the same adapter works again once Icinga is back');
  });
});
