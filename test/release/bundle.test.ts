/**
 * The release tree (`pnpm release`) runs with nothing but `node`: copied into
 * an empty folder with no node_modules above it and a PATH holding only node,
 * the bundled gateway serves the embedded demo directory and the demo page's
 * client, and the bundled sender delivers a notification to a WebSocket
 * client through it.
 */
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import t from 'tap';
import { httpRequest, openRegisteredClient } from '../../packages/gateway/test/helpers.js';
import { buildRelease, rootVersion, serve } from './build.js';

t.setTimeout(120_000);

t.test('the bundles run from an empty folder with only node on the PATH', async (t) => {
  const made = buildRelease(t, { deb: false });
  const base = mkdtempSync(join(tmpdir(), 'pushgate-empty-'));
  t.teardown(() => rmSync(base, { recursive: true, force: true }));
  for (let d = base; d !== dirname(d); d = dirname(d)) t.notOk(existsSync(join(d, 'node_modules')), `no node_modules in ${d}`);
  const app = join(base, 'pushgate');
  cpSync(made.tree, app, { recursive: true });
  const bin = join(base, 'bin');
  mkdirSync(bin);
  symlinkSync(process.execPath, join(bin, 'node'));
  const env = { PATH: bin, HOME: base };
  const opts = { cwd: base, env, encoding: 'utf8' as const };
  const version = await rootVersion();

  // `#!/usr/bin/env node` finds node on the PATH; env itself is at /usr/bin/env.
  const gw = spawnSync(join(app, 'gateway/pushgate.mjs'), ['--version'], opts);
  t.equal(gw.stdout, `pushgate ${version}\n`, 'pushgate --version prints the root package.json version');
  t.equal(gw.status, 0);
  const sender = spawnSync('node', [join(app, 'sender/send_push_notification.mjs'), '-version'], opts);
  t.equal(sender.stdout, `send_push_notification ${version}\n`, 'send_push_notification -version prints it too');
  t.equal(sender.status, 0);
  // The Icinga daemon starts a plugin by its channel type, the file name: here through a link named `pushgate`.
  mkdirSync(join(base, 'channels'));
  symlinkSync(join(app, 'icinga-channel/pushgate.mjs'), join(base, 'channels/pushgate'));
  const plugin = spawnSync(join(base, 'channels/pushgate'), [], { ...opts, input: '{"jsonrpc":"2.0","method":"GetInfo","id":0}\n' });
  t.equal(plugin.status, 0, `the bundled Icinga channel plugin ends with its input: ${plugin.stderr}`);
  t.match(JSON.parse(plugin.stdout.split('\n')[0] as string), { jsonrpc: '2.0', id: 0, result: { name: String, version } },
    'and answers GetInfo with the release version');

  writeFileSync(join(base, 'pushgate.yaml'), 'listen:\n  port: 0\ndemo:\n  enabled: true\nwebPush:\n  enabled: true\n  subject: mailto:ops@example.com\n');
  const served = await serve('node', [join(app, 'gateway/pushgate.mjs'), 'serve', '--config', join(base, 'pushgate.yaml')], { cwd: base, env });
  t.teardown(() => (served.child.exitCode === null ? served.stop() : undefined));
  const url = `http://127.0.0.1:${served.port}`;
  t.match(served.output(), `PUSHGATE_API_KEY=${served.key} ${join(app, 'sender/send_push_notification.mjs')} -type host`, 'the banner names the sender of the release');
  t.notMatch(served.output(), 'scripts/ws-listen.mjs', 'and nothing of the source tree');
  t.equal((await httpRequest(`${url}/readyz`)).body, 'ok');
  const client = await httpRequest(`${url}/demo/pushgate-client.js`);
  t.equal(client.status, 200, 'the demo page gets the client from the release tree');
  t.match(client.body, 'PushgateClient');
  // Web Push: the bundled web-push package, and the app and its service worker from the release tree.
  t.match((await httpRequest(`${url}/app/`)).body, 'manifest.webmanifest', 'the Web Push app page');
  t.equal((await httpRequest(`${url}/app/sw.js`)).status, 200, 'its service worker');
  t.match(JSON.parse((await httpRequest(`${url}/app/api/config`)).body), { vapidPublicKey: /^[A-Za-z0-9_-]{87}$/ });

  const ws = await openRegisteredClient({ url }, { apiKey: served.key });
  t.teardown(() => ws.close());
  const sent = spawnSync('node', [join(app, 'sender/send_push_notification.mjs'),
    '-type', 'host', '-hostuuid', 'c36b8048-93ce-4385-ac19-ab5c90574b77', '-state', '1',
    '-notificationtype', 'PROBLEM', '-output', 'from the bundle', '-user-id', '1'],
  { ...opts, env: { ...env, PUSHGATE_URL: `${url}/message`, PUSHGATE_API_KEY: served.key } });
  t.equal(sent.status, 0, `the bundled sender succeeds: ${sent.stderr}`);
  t.match(sent.stdout, 'Response status: 200 OK');
  const frame = await ws.nextJson();
  t.equal(frame.type, 'ProcessPushNotification');
  t.match(JSON.stringify(frame.payload), 'from the bundle');
  await ws.close();
  t.equal(await served.stop(), 0, 'the gateway stops cleanly on SIGTERM');
});
