import { spawn, type ChildProcess } from 'node:child_process';
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import t, { type Test } from 'tap';
import type { Gateway } from '../../src/gateway.js';
import type { Directory } from '../../src/directory/directory.js';
import type { OpenOutbox } from '../../src/targets/outbox.js';
import {
  hostMessage, HOST_NAME, HOST_UUID, httpRequest, openRegisteredClient, postMessage, silentLogger, startTestGateway,
  stateEnv, testDirectoryData, TEST_API_KEY, waitFor, WAIT_MS,
} from '../helpers.js';
import { FileDirectory } from '../../src/directory/file.js';
import { objectTag } from '../../src/targets/channel.js';

const MAIN = fileURLToPath(new URL('../../dist/main.js', import.meta.url));
const DB_UUID = '0f9c3c52-5b1e-4d55-9d0a-3a4c0f1b2c3d';
const LAB_UUID = '5d0e7f0a-8a47-4a59-b0c1-6f2e9d8c7b6a';

interface Received {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  body: string;
}

/** A real HTTP server standing in for a webhook receiver; records every request. */
async function receiver(t: Test, answer: (req: IncomingMessage, res: ServerResponse, body: string) => void = (_q, s) => s.end('ok'), port = 0): Promise<{ server: Server; url: string; port: number; got: Received[] }> {
  const got: Received[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      got.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body });
      answer(req, res, body);
    });
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }));
  const p = (server.address() as AddressInfo).port;
  return { server, url: `http://127.0.0.1:${p}`, port: p, got };
}

async function tmp(t: Test): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'pushgate-channels-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** A gateway whose config has the `notifications` section `section`; its outbox is `ch`. */
async function channelsFor(t: Test, section: Record<string, unknown>, dir: Directory): Promise<{ gw: Gateway; ch: OpenOutbox }> {
  const gw = await startTestGateway({ config: { notifications: section }, directory: dir });
  t.teardown(() => gw.close());
  return { gw, ch: gw.outbox! };
}

function directory(): FileDirectory {
  return new FileDirectory(testDirectoryData({ hosts: { [HOST_UUID]: HOST_NAME, [DB_UUID]: 'db-01', [LAB_UUID]: 'lab-01' } }));
}

t.test('/message answers 200 only once the delivery is journaled, and the webhook receives the exact request', async (t) => {
  const rx = await receiver(t);
  const dir = await tmp(t);
  const { gw, ch } = await channelsFor(t, { channels: { hook: { type: 'webhook', url: `${rx.url}/alerts`, headers: { Authorization: 'Bearer s3cret' } } }, defaultChannels: ['hook'], outbox: { dir } }, directory());

  // Nobody registered and no mobile relay: the channel alone makes the user reachable.
  const res = await postMessage(gw, hostMessage());
  t.equal(res.status, 200);
  t.equal(res.body, 'ok');
  const journal = await readFile(join(dir, 'journal.jsonl'), 'utf8');
  const added = journal.split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as { t: string; d?: { id: string; channel: string; title: string; message: string; createdAt: number } }).find((r) => r.t === 'a');
  t.ok(added, 'the journal holds the accepted delivery when 200 arrives');
  const d = added!.d!;
  t.match(d.id, /^[A-Za-z0-9_-]{22}:hook$/);
  t.equal(d.channel, 'hook');
  t.equal(d.title, 'PROBLEM: web-01 is DOWN!');
  t.equal(d.message, 'CRITICAL - host unreachable');

  await waitFor(() => rx.got.length === 1, WAIT_MS, 'webhook request');
  const r = rx.got[0]!;
  t.equal(r.method, 'POST');
  t.equal(r.url, '/alerts');
  t.equal(r.headers['content-type'], 'application/json');
  t.equal(r.headers['idempotency-key'], d.id);
  t.equal(r.headers.authorization, 'Bearer s3cret');
  t.equal(r.body, `{"id":"${d.id}","title":"PROBLEM: web-01 is DOWN!","message":"CRITICAL - host unreachable","priority":0,"created_at":"${new Date(d.createdAt).toISOString()}"}`);
  await ch.outbox.idle();
  t.equal(ch.outbox.stats.sent, 1);
});

t.test('routing: a host list or a user list replaces the defaults, an empty list silences them (202 when nothing else reaches the user)', async (t) => {
  const rx = await receiver(t);
  const dir = await tmp(t);
  const hook = (path: string) => ({ type: 'webhook', url: `${rx.url}${path}` });
  const { gw, ch } = await channelsFor(t, {
    channels: { def: hook('/default'), web: hook('/web'), ops: hook('/user2') },
    defaultChannels: ['def'],
    hosts: { [HOST_NAME]: { channels: ['web'] }, 'lab-01': { channels: [] } },
    users: { '2': { channels: ['ops'] } },
    outbox: { dir },
  }, directory());

  const post = async (hostUuid: string, userId: number, output: string): Promise<void> => {
    const res = await postMessage(gw, hostMessage({ hostUuid, userId, output }));
    t.equal(res.status, 200, `${output}: 200`);
    await ch.outbox.idle();
  };
  await post(DB_UUID, 1, 'default');
  await post(HOST_UUID, 1, 'host list');
  await post(DB_UUID, 2, 'user list');
  await post(HOST_UUID, 2, 'host and user lists');
  const seen = rx.got.map((r) => `${r.url} ${(JSON.parse(r.body) as { message: string }).message}`).sort();
  t.same(seen, ['/default default', '/user2 host and user lists', '/user2 user list', '/web host and user lists', '/web host list'].sort());

  const silenced = await postMessage(gw, hostMessage({ hostUuid: LAB_UUID }));
  t.equal(silenced.status, 202);
  t.equal(silenced.body, 'User is not registered for push notifications');
  t.equal(rx.got.length, 5, 'nothing was sent for the silenced host');
  const unknownHost = await postMessage(gw, hostMessage({ hostUuid: 'nope' }));
  t.equal(unknownHost.status, 400);
  t.equal(unknownHost.body, 'No host found for given UUID');
});

t.test('a full outbox answers 503 with the reason and the browser gets nothing', async (t) => {
  // The receiver fails every attempt, so the first delivery stays pending (retry far in the future).
  const rx = await receiver(t, (_q, s) => { s.statusCode = 500; s.end('down'); });
  const dir = await tmp(t);
  const { gw, ch } = await channelsFor(t, { channels: { hook: { type: 'webhook', url: `${rx.url}/x` } }, defaultChannels: ['hook'], outbox: { dir, maxPending: 1, retryBaseMs: 600_000 } }, directory());
  const client = await openRegisteredClient(gw);
  t.teardown(() => client.close());

  const first = await postMessage(gw, hostMessage({ output: 'first' }));
  t.equal(first.status, 200);
  t.equal((await client.nextJson()).message, 'first');
  await waitFor(() => rx.got.length === 1, WAIT_MS, 'first attempt');

  const second = await postMessage(gw, hostMessage({ output: 'second' }));
  t.equal(second.status, 503);
  t.equal(second.body, 'Notification not accepted: channel hook: outbox full: 1 deliveries pending (maxPending 1)');
  // A KeepAlive round trip proves no notification frame was queued before it.
  client.send({ type: 'KeepAlive', message: '', payload: null });
  t.equal((await client.nextJson()).type, 'KeepAlive', 'the refused notification never reached the browser');
  t.equal(ch.outbox.pending, 1);
});

t.test('with the outbox open, mobile push is journaled per device before 200 and a 410 deletes the device', async (t) => {
  const AUTH = 'relay-auth-key-0123456789';
  // The stand-in push gateway answers 410 Gone for the device token "tok-gone".
  const rx = await receiver(t, (_q, s, body) => {
    s.statusCode = (JSON.parse(body) as { token: string }).token === 'tok-gone' ? 410 : 200;
    s.end();
  });
  const dir = await tmp(t);
  const directory = new FileDirectory(testDirectoryData({
    relay: { address: 'http://127.0.0.1', port: rx.port, authKey: AUTH, enabled: true },
    devices: { '1': ['tok-phone', 'tok-gone'] },
  }));
  const { gw, ch } = await channelsFor(t, { channels: { hook: { type: 'webhook', url: `${rx.url}/hook` } }, hosts: { [HOST_NAME]: { channels: [] } }, outbox: { dir } }, directory);

  const res = await postMessage(gw, hostMessage());
  t.equal(res.status, 200);
  const journal = (await readFile(join(dir, 'journal.jsonl'), 'utf8')).split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as { t: string; d?: { id: string; channel: string; data?: Record<string, unknown> } });
  const adds = journal.filter((r) => r.t === 'a').map((r) => r.d!);
  t.equal(adds.length, 2, 'one journaled delivery per device when 200 arrives');
  for (const d of adds) {
    t.equal(d.channel, 'mobile-push');
    t.match(d.id, /^[A-Za-z0-9_-]{22}:mobile-push:[0-9a-f]{12}$/);
    t.notOk(JSON.stringify(d).includes(AUTH), 'the auth key is not journaled');
  }
  await ch.outbox.idle();
  t.equal(rx.got.length, 2);
  const byToken = new Map(rx.got.map((r) => [(JSON.parse(r.body) as { token: string }).token, r]));
  const phone = byToken.get('tok-phone')!;
  t.equal(phone.method, 'POST');
  t.equal(phone.url, '/notifications/send-notification.json');
  t.equal(phone.headers['content-type'], 'application/json');
  t.equal(phone.headers['x-api-key'], AUTH);
  t.equal(phone.body, `{"title":"PROBLEM: web-01 is DOWN!","body":"CRITICAL - host unreachable","token":"tok-phone","type":"host","notification_type":"PROBLEM","current_state":1,"host_uuid":"${HOST_UUID}","service_uuid":"","user_id":1,"auth_key":"${AUTH}"}`);
  t.same(await directory.devices(1), ['tok-phone'], 'the gone device was deleted');
  t.equal(ch.outbox.stats.sent, 1);
  // The dead letter is written just after the outbox forgets the delivery: poll for it, bounded.
  let dead = '';
  for (const end = Date.now() + WAIT_MS; !dead.includes('410 device gone') && Date.now() < end; await new Promise((r) => setTimeout(r, 10))) {
    dead = await readFile(join(dir, 'dead-letter.jsonl'), 'utf8').catch(() => '');
  }
  t.match(dead, /"reason":"refused: 410 device gone, token deleted"/);
});

interface Run {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  exited: Promise<number | null>;
}

function run(t: Test, args: string[]): Run {
  const child = spawn(process.execPath, [MAIN, ...args], { env: stateEnv(t), stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout!.on('data', (c: Buffer) => { out += c.toString(); });
  child.stderr!.on('data', (c: Buffer) => { err += c.toString(); });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  t.teardown(() => { if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL'); });
  return { child, stdout: () => out, stderr: () => err, exited };
}

function bounded<T>(p: Promise<T>, what: string, ms = WAIT_MS * 4): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([p, new Promise<T>((_r, reject) => { timer = setTimeout(() => reject(new Error(`${what} not within ${ms} ms`)), ms); })]).finally(() => clearTimeout(timer));
}

async function writeConfig(dir: string, notifications: unknown, extra: Record<string, unknown> = {}): Promise<string> {
  const path = join(dir, 'config.json');
  // JSON is YAML: the gateway reads it as its YAML config.
  await writeFile(path, JSON.stringify({ listen: { host: '127.0.0.1', port: 0 }, log: { level: 'info' }, notifications, ...extra }));
  return path;
}

t.test('pushgate test-channel prints sent and exits 0 when the receiver takes the test message', async (t) => {
  const rx = await receiver(t);
  const dir = await tmp(t);
  const config = await writeConfig(dir, { channels: { hook: { type: 'webhook', url: `${rx.url}/test` } } });
  const r = run(t, ['test-channel', 'hook', '--config', config]);
  t.equal(await bounded(r.exited, 'exit'), 0, r.stderr());
  t.equal(r.stdout(), 'sent\n');
  t.equal(rx.got.length, 1);
  t.equal(rx.got[0]!.url, '/test');
  const body = JSON.parse(rx.got[0]!.body) as { id: string; title: string; message: string };
  t.match(body.id, /^test-\d+:hook$/);
  t.equal(body.title, 'pushgate test');
  t.equal(body.message, 'Test message from pushgate through channel "hook" (webhook).');
});

t.test('pushgate test-channel prints failed: and exits 1 when the receiver refuses, and names an unknown channel', async (t) => {
  const rx = await receiver(t, (_q, s) => { s.statusCode = 403; s.end('forbidden'); });
  const dir = await tmp(t);
  const config = await writeConfig(dir, { channels: { hook: { type: 'webhook', url: `${rx.url}/test` } } });
  const r = run(t, ['test-channel', 'hook', '--config', config]);
  t.equal(await bounded(r.exited, 'exit'), 1);
  t.equal(r.stdout(), 'failed: 403 forbidden\n');

  const unknown = run(t, ['test-channel', 'nope', '--config', config]);
  t.equal(await bounded(unknown.exited, 'exit'), 1);
  t.equal(unknown.stderr(), `pushgate: no channel named "nope" in ${config} (configured: hook)\n`);
});

t.test('pushgate serve refuses a bad channel config and an unusable outbox directory with a coded error', async (t) => {
  const dir = await tmp(t);
  const bad = await writeConfig(dir, { channels: { po: { type: 'pushover', token: 'short', user: 'x' } } });
  const r = run(t, ['serve', '--config', bad]);
  t.equal(await bounded(r.exited, 'exit'), 1);
  // The relay's schema is part of the config schema (issue 14 §6): a bad channel is a config error like any other key.
  t.match(r.stderr(), /^pushgate: invalid configuration in .*:\n {2}notifications\.channels\.po\.token: expected 30 letters and digits\n/);

  await writeFile(join(dir, 'a-file'), 'x');
  const unusable = await writeConfig(dir, { channels: { hook: { type: 'webhook', url: 'http://127.0.0.1:9/x' } }, outbox: { dir: join(dir, 'a-file', 'outbox') } });
  const u = run(t, ['serve', '--config', unusable]);
  t.equal(await bounded(u.exited, 'exit'), 1);
  t.match(u.stderr(), /^pushgate: RELAY_ERR_JOURNAL: cannot create outbox directory /);
});

t.test('crash: every notification answered 200 reaches the receiver after kill -9 and restart', async (t) => {
  const N = 20;
  const dir = await tmp(t);
  // Reserve a port for the receiver, then leave it closed: the receiver is down while notifications arrive.
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const port = (probe.address() as AddressInfo).port;
  await new Promise<void>((resolve) => probe.close(() => resolve()));

  await writeFile(join(dir, 'directory.json'), JSON.stringify({ apiKeys: [TEST_API_KEY], hosts: { [HOST_UUID]: HOST_NAME } }));
  const config = await writeConfig(
    dir,
    { channels: { hook: { type: 'webhook', url: `http://127.0.0.1:${port}/crash`, timeoutMs: 2000 } }, defaultChannels: ['hook'], outbox: { dir: 'outbox', retryBaseMs: 100, maxRetryDelayMs: 300 } },
    { directory: { type: 'file', path: 'directory.json' } },
  );

  const listening = async (r: Run): Promise<string> => {
    await waitFor(() => /"pushgate listening"/.test(r.stdout()) || r.child.exitCode !== null, WAIT_MS * 4, `gateway start\n${r.stderr()}`);
    const line = r.stdout().split('\n').find((l) => l.includes('"pushgate listening"'));
    if (line === undefined) throw new Error(`gateway did not start:\n${r.stderr()}`);
    return (JSON.parse(line) as { url: string }).url;
  };

  const first = run(t, ['serve', '--config', config]);
  const url = await listening(first);
  for (let i = 0; i < N; i++) {
    const res = await httpRequest(`${url}/message`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', 'X-Api-Key': TEST_API_KEY },
      body: JSON.stringify(hostMessage({ output: `crash ${i}` })),
    });
    t.equal(res.status, 200, `notification ${i} accepted`);
  }
  first.child.kill('SIGKILL');
  await bounded(first.exited, 'SIGKILL');

  const rx = await receiver(t, undefined, port);
  const second = run(t, ['serve', '--config', config]);
  await listening(second);
  await waitFor(() => new Set(rx.got.map((r) => r.headers['idempotency-key'])).size === N, WAIT_MS * 6, 'all deliveries after restart');
  const messages = new Set(rx.got.map((r) => (JSON.parse(r.body) as { message: string }).message));
  t.same([...messages].sort(), Array.from({ length: N }, (_v, i) => `crash ${i}`).sort(), 'each accepted notification arrived');
  second.child.kill('SIGTERM');
  t.equal(await bounded(second.exited, 'SIGTERM exit'), 0);
});

t.test('a RECOVERY cancels the PROBLEM\'s Pushover emergency re-alerts by the object\'s tag, and comes at normal priority', async (t) => {
  const rx = await receiver(t, (_q, s) => s.end('{"status":1,"request":"r"}'));
  const dir = await tmp(t);
  const token = 'azGDORePK8gMaC0QOYAMyEEuzJnyUi';
  const user = 'uQiRzpo4DXghDmr9QzzfQu27cmVRsG';
  const { gw } = await channelsFor(t, {
    channels: { po: { type: 'pushover', token, user, priority: 2, apiUrl: `${rx.url}/1/messages.json` } }, defaultChannels: ['po'], outbox: { dir },
  }, directory());
  t.equal((await postMessage(gw, hostMessage())).status, 200);
  await waitFor(() => rx.got.length === 1, WAIT_MS, 'the PROBLEM at Pushover');
  const tag = objectTag(HOST_UUID);
  t.match(rx.got[0]!.body, new RegExp(`&priority=2&retry=60&expire=3600&tags=${tag}$`), 'the emergency carries the object\'s tag');
  t.equal((await postMessage(gw, hostMessage({ notificationtype: 'RECOVERY', state: 0, output: 'PING OK' }))).status, 200);
  await waitFor(() => rx.got.length === 3, WAIT_MS, 'the cancel and the RECOVERY at Pushover');
  t.equal(rx.got[1]!.url, `/1/receipts/cancel_by_tag/${tag}.json`);
  t.match(rx.got[2]!.body, /&title=RECOVERY%3A\+web-01\+is\+UP%21&priority=0$/);
});
