import { execFile } from 'node:child_process';
import { rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { stringify } from 'yaml';
import { hostMessage, httpRequest, openRegisteredClient, postMessage, tempDir, TEST_API_KEY, tryHandshake } from '../helpers.js';
import { startOitcWeb } from '../fixtures/oitc-web.js';
import { api, eventually, pushSetup, webPushConfig } from './harness.js';
import { startPushService } from '../fixtures/push-service.js';

const MAIN = fileURLToPath(new URL('../../dist/main.js', import.meta.url));

/** Runs `pushgate <args>`; stdout, stderr and the exit code. */
function pushgate(args: string[]): Promise<{ out: string; err: string; code: number }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [MAIN, ...args], { timeout: 20_000 }, (error, out, err) => resolve({ out, err, code: error ? Number((error as { code?: number }).code ?? 1) : 0 }));
  });
}

t.test('pushgate enroll prints a one-time link; the app redeems it once for a device credential that subscribes without the API key', async (t) => {
  const push = await startPushService();
  t.teardown(() => push.close());
  const dir = tempDir('pushgate-enrol-');
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const cfg = { ...webPushConfig(push), state: { dir: join(dir, 'state') } };
  writeFileSync(join(dir, 'config.yaml'), stringify(cfg));
  const conf = join(dir, 'config.yaml');

  const vapid = await pushgate(['vapid', '--config', conf]);
  t.equal(vapid.code, 0, vapid.err);
  t.equal(statSync(join(dir, 'state', 'webpush', 'vapid', 'keys.json')).mode & 0o777, 0o600, 'the key file is 0600');
  const { gw } = await pushSetup(t, {}, { stateDir: join(dir, 'state'), config: { webPush: { caFile: push.caFile } } });
  // The gateway reads the same key: `pushgate vapid` and the server agree.
  t.equal(vapid.out.trim(), gw.webPush!.keys.publicKey);

  const enrol = await pushgate(['enroll', '--user', '7', '--config', conf]);
  t.equal(enrol.code, 0, enrol.err);
  const m = /#enrol=([A-Za-z0-9_-]+)$/.exec(enrol.out.trim());
  t.ok(m, `a link: ${enrol.out.trim()}`);
  t.match(enrol.out, /^http:\/\/127\.0\.0\.1:8083\/app\/#enrol=/);
  const code = m![1]!;

  const first = await api(gw, 'enrol', { code, label: 'Pixel 8' }, undefined);
  t.equal(first.status, 201, first.body);
  const { credential, device, owner } = JSON.parse(first.body) as { credential: string; device: string; owner: string };
  t.equal(owner, 'user:7');
  t.match(credential, /^pgd1\.[0-9a-f]{16}\./);
  const again = await api(gw, 'enrol', { code, label: 'attacker' }, undefined);
  t.equal(again.status, 403);
  t.equal(again.body, 'Forbidden: link unknown or used\n', 'a used link is refused');
  t.equal(gw.webPush!.stats.enrolments.unknown, 1);

  // Only a hash of the secret is stored.
  const stored = await gw.webPush!.store.get('devices', device);
  t.notMatch(stored!, credential.split('.')[2]!, 'the secret is not stored');

  const whoami = await api(gw, 'whoami', {}, credential);
  t.same(JSON.parse(whoami.body), { owner: 'user:7', device });
  const sub = push.subscribe();
  const r = await api(gw, 'subscription', { subscription: { endpoint: sub.endpoint, keys: sub.keys } }, credential);
  t.equal(r.status, 201, r.body);
  await postMessage(gw, hostMessage({ userId: 7 }));
  await push.waitFor(1);

  // The device credential opens a WebSocket of its user only (the app's live connection).
  const live = await openRegisteredClient(gw, { userId: 7, apiKey: credential, browserUuid: 'app' });
  t.teardown(() => live.close());
  t.equal((await tryHandshake(gw, '/?userId=8&browserUuid=x', `access_token, ${credential}`)).status, 401, 'not as another user');
  await live.close();

  const listed = await pushgate(['devices', '--user', '7', '--config', conf]);
  t.match(listed.out, new RegExp(`^${device}\\tuser:7\\t.*\\tPixel 8\\n$`));

  // Revoked: the credential stops at once, its subscriptions get nothing more.
  const revoked = await pushgate(['revoke', device, '--config', conf]);
  t.equal(revoked.code, 0, revoked.err);
  t.match(revoked.out, /1 subscription\(s\) removed/);
  t.equal((await api(gw, 'whoami', {}, credential)).status, 401);
  t.equal((await tryHandshake(gw, '/?userId=7&browserUuid=app', `access_token, ${credential}`)).status, 401, 'nor a WebSocket');
  const resub = await api(gw, 'subscription', { subscription: { endpoint: sub.endpoint, keys: sub.keys } }, credential);
  t.equal(resub.status, 401, 'a revoked device cannot subscribe');
  t.equal(resub.body, 'Unauthorized\n');
  await postMessage(gw, hostMessage({ userId: 7, output: 'after revoke' }));
  t.equal(push.pushes.length, 1, 'nothing reaches the revoked device');
  t.equal((await pushgate(['revoke', device, '--config', conf])).code, 1, 'revoking twice says there is no such device');
});

t.test('an expired link is refused; a device revoked while a push is queued receives nothing', async (t) => {
  const { push, gw } = await pushSetup(t, { enrolTtlMs: 60_000 });
  const devices = gw.webPush!.devices;
  const expired = await devices.createLink({ owner: 'user:3' }, 60_000, Date.now() - 120_000);
  const r = await api(gw, 'enrol', { code: expired }, undefined);
  t.equal(r.status, 403);
  t.equal(r.body, 'Forbidden: link expired\n');
  t.equal(gw.webPush!.stats.enrolments.expired, 1);

  const code = await devices.createLink({ owner: 'user:3' }, 60_000);
  const { credential, device } = JSON.parse((await api(gw, 'enrol', { code }, undefined)).body) as { credential: string; device: string };
  const sub = push.subscribe();
  t.equal((await api(gw, 'subscription', { subscription: { endpoint: sub.endpoint, keys: sub.keys } }, credential)).status, 201);
  // The push service stalls the first push; the device is revoked (device record only) before the retry.
  push.respond(503, { 'Retry-After': '1' });
  await postMessage(gw, hostMessage({ userId: 3 }));
  await push.waitFor(1);
  await devices.revoke(device);
  await eventually(() => gw.webPush!.stats.pushes['device-revoked'] === 1, 'the retry finds the device revoked');
  t.equal(push.pushes.length, 1, 'the retry was not sent');
  t.same(await gw.webPush!.subscriptions.forOwner('user:3'), [], 'and its subscription is gone');
  const forged = await api(gw, 'whoami', {}, `pgd1.${device}.${'A'.repeat(43)}`);
  t.equal(forged.status, 401, 'a forged secret is refused');
});

t.test('the CLI refuses bad flags with the reason', async (t) => {
  const both = await pushgate(['enroll', '--user', '7', '--contact', 'ops']);
  t.equal(both.code, 2);
  t.match(both.err, /enroll needs exactly one of --user <id> and --contact <username>/);
  const none = await pushgate(['revoke']);
  t.match(none.err, /revoke needs a device id/);
  const rot = await pushgate(['enroll', '--user', '1', '--rotate']);
  t.match(rot.err, /--rotate is an option of vapid/);
});

t.test('with session binding the API key subscribes only with that user\'s openITCOCKPIT session cookie', async (t) => {
  const web = await startOitcWeb({ s7: 7 });
  t.teardown(() => web.close());
  const { push, gw } = await pushSetup(t, {}, { config: { auth: { allowedOrigins: ['https://oitc.test'], openitcockpitSession: { enabled: true, baseUrl: web.url, caFile: web.caFile } } } });
  const sub = push.subscribe();
  const body = JSON.stringify({ userId: 7, subscription: { endpoint: sub.endpoint, keys: sub.keys } });
  const post = (cookie?: string) => httpRequest(`${gw.url}/app/api/subscription`, {
    method: 'POST', body,
    headers: { Authorization: `Bearer ${TEST_API_KEY}`, 'Content-Type': 'application/json', ...(cookie !== undefined ? { Cookie: cookie } : {}) },
  });
  t.equal((await post()).status, 401, 'no session');
  t.equal((await post('CAKEPHP=nobody')).status, 401, 'not logged in');
  t.equal((await post('CAKEPHP=s7')).status, 201, 'user 7\'s own session');
  const other = JSON.parse(body) as { userId: number };
  other.userId = 8;
  const r = await httpRequest(`${gw.url}/app/api/subscription`, { method: 'POST', body: JSON.stringify(other), headers: { Authorization: `Bearer ${TEST_API_KEY}`, 'Content-Type': 'application/json', Cookie: 'CAKEPHP=s7' } });
  t.equal(r.status, 401, 'user 7\'s session cannot subscribe user 8');
});

t.test('vapid --rotate replaces the key and says what it breaks; a contact link needs a contact the directory knows', async (t) => {
  const dir = tempDir('pushgate-rotate-');
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const conf = join(dir, 'config.yaml');
  writeFileSync(conf, stringify({ state: { dir: join(dir, 'state') }, webPush: { enabled: true, subject: 'mailto:ops@example.com' } }));
  const before = (await pushgate(['vapid', '--config', conf])).out.trim();
  const rotated = await pushgate(['vapid', '--rotate', '--config', conf]);
  t.equal(rotated.code, 0);
  t.not(rotated.out.trim(), before, 'a new public key');
  t.match(rotated.err, /Every existing browser subscription is now invalid/);
  t.equal((await pushgate(['vapid', '--config', conf])).out.trim(), rotated.out.trim(), 'and it stays');

  const { gw } = await pushSetup(t, {}, { stateDir: join(dir, 'state') });
  const link = await pushgate(['enroll', '--contact', 'alice', '--config', conf]);
  const code = /#enrol=([A-Za-z0-9_-]+)$/.exec(link.out.trim())![1]!;
  // This gateway has no Icinga directory: no contact can be resolved.
  const r = await api(gw, 'enrol', { code }, undefined);
  t.equal(r.status, 403);
  t.equal(r.body, 'Forbidden: no such contact\n');
  t.equal(gw.webPush!.stats.enrolments['no-contact'], 1);
});
