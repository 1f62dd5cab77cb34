import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import t, { type Test } from 'tap';
import { parse } from 'yaml';
import { createChannels, parseNotificationsConfig } from '../src/channels-config.js';
import { Outbox } from '../src/outbox.js';
import { channelsFor, dispatch, isWatched, testChannel } from '../src/routing.js';

const docsPath = join(import.meta.dirname, '..', '..', '..', 'docs', 'channels.md');

async function docsExample(): Promise<unknown> {
  const md = await readFile(docsPath, 'utf8');
  const block = /```yaml\n([\s\S]*?)```/.exec(md);
  return (parse(block![1]!) as { notifications: unknown }).notifications;
}

function configError(input: unknown): string {
  try {
    parseNotificationsConfig(input);
  } catch (err) {
    return `${(err as { code: string }).code}\n${(err as Error).message}`;
  }
  return 'no error';
}

const PO = { type: 'pushover', token: 'azGDORePK8gMaC0QOYAMyEEuzJnyUi', user: 'uQiRzpo4DXghDmr9QzzfQu27cmVRsG' };

t.test('the complete example in docs/channels.md validates and builds one channel per type', async (t) => {
  const cfg = parseNotificationsConfig(await docsExample());
  t.same(Object.values(cfg.channels).map((c) => c.type).sort(), ['email', 'mattermost', 'pushover', 'signal', 'webhook']);
  t.ok(Object.isFrozen(cfg.channels), 'the result is frozen');
  // caFile is read at build time; the example's paths do not exist here, so point them at the test CA.
  const ca = join(import.meta.dirname, 'fixtures', 'localhost-cert.pem');
  const local = Object.fromEntries(Object.entries(cfg.channels).map(([name, c]) => [name, 'caFile' in c && c.caFile !== undefined ? { ...c, caFile: ca } : c]));
  const channels = createChannels({ ...cfg, channels: local });
  t.same([...channels.values()].map((c) => `${c.name}:${c.type}:${c.concurrency}`).sort(), [
    'email_ops:email:2',
    'oncall_signal:signal:1',
    'ops_chat:mattermost:4',
    'pushover_urgent:pushover:2',
    'ticket_hook:webhook:4',
  ]);
  for (const c of channels.values()) await c.close();
  t.match(configError({ channels: { m: { type: 'email', host: 'h', caFile: '/nonexistent.pem', from: 'p@example.com', to: ['ops@example.com'] } } }), 'no error');
  t.throws(() => createChannels(parseNotificationsConfig({ channels: { w: { type: 'webhook', url: 'https://h/', caFile: docsPath } } })), {
    code: 'RELAY_ERR_CHANNEL_CONFIG',
    message: `channels.w.caFile: ${docsPath} holds no PEM certificate`,
  });
  t.throws(() => createChannels(parseNotificationsConfig({ channels: { m: { type: 'email', host: 'h', caFile: '/nonexistent.pem', from: 'p@example.com', to: ['ops@example.com'] } } })), {
    code: 'RELAY_ERR_CHANNEL_CONFIG',
    message: 'channels.m.caFile: cannot read /nonexistent.pem',
  });
});

t.test('config errors carry RELAY_ERR_CHANNEL_CONFIG and name the key path', async (t) => {
  t.match(configError({ channels: { po: { ...PO, token: 'short' } } }), /^RELAY_ERR_CHANNEL_CONFIG\n[\s\S]*expected 30 letters and digits\n\s+→ at channels\.po\.token/);
  t.match(configError({ channels: { mail: { type: 'email', host: 'smtp', to: ['a@example.com'] } } }), /→ at channels\.mail\.from/);
  t.match(configError({ channels: { po: { ...PO, tokn: 'x' } } }), /Unrecognized key: "tokn"\n\s+→ at channels\.po/);
  t.match(configError({ channels: { x: { type: 'sms' } } }), /→ at channels\.x\.type/);
  t.match(configError({ channels: { po: PO }, defaultChannels: ['po', 'nope'] }), /no channel named "nope"\n\s+→ at defaultChannels\[1\]/);
  t.match(configError({ channels: { po: PO }, hosts: { web01: { channels: ['gone'] } } }), /→ at hosts\.web01\.channels\[0\]/);
  t.match(configError({ channels: { s: { type: 'signal', account: '4915100000001', recipients: [] } } }), /→ at channels\.s\.account[\s\S]*→ at channels\.s\.recipients/);
  t.match(configError({ channels: { p: { ...PO, expireSec: 20_000 } } }), /→ at channels\.p\.expireSec/);
  t.match(configError({ channels: { m: { type: 'mattermost', url: 'https://chat/x' } } }), /\/hooks\/<token>\n\s+→ at channels\.m\.url/);
  t.match(configError({ channels: { e: { type: 'email', host: 'h', from: 'p@example.com', to: ['ops@example.com'], username: 'u' } } }), /username and password go together\n\s+→ at channels\.e\.password/);
});

t.test('default channels apply only where neither host nor user has a list of its own', async (t) => {
  const cfg = parseNotificationsConfig({
    channels: { a: PO, b: PO, c: PO, d: PO },
    defaultChannels: ['a'],
    hosts: { db01: { channels: ['b', 'c'] }, lab: { channels: [], watch: false } },
    users: { alice: { channels: ['c', 'd'] } },
  });
  t.same(channelsFor(cfg, {}), ['a']);
  t.same(channelsFor(cfg, { host: 'web01', user: 'bob' }), ['a']);
  t.same(channelsFor(cfg, { host: 'db01', user: 'bob' }), ['b', 'c']);
  t.same(channelsFor(cfg, { host: 'web01', user: 'alice' }), ['c', 'd']);
  t.same(channelsFor(cfg, { host: 'db01', user: 'alice' }), ['b', 'c', 'd'], 'each channel once');
  t.same(channelsFor(cfg, { host: 'lab' }), [], 'an empty list silences the defaults');
  t.equal(isWatched(cfg, 'lab'), false);
  t.equal(isWatched(cfg, 'db01'), true);
  t.equal(isWatched(cfg, 'unknown'), true);
});

async function receiver(t: Test, status: number) {
  const seen: Array<{ url: string; headers: IncomingMessage['headers'] }> = [];
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      seen.push({ url: req.url ?? '', headers: req.headers });
      res.statusCode = status;
      res.end(status === 200 ? 'ok' : 'unavailable');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => {
    server.closeAllConnections();
    return new Promise<void>((resolve) => server.close(() => resolve()));
  });
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, seen };
}

t.test('dispatch journals one delivery per channel in parallel and reports each result', async (t) => {
  const rx = await receiver(t, 200);
  const cfg = parseNotificationsConfig({
    channels: { hook_a: { type: 'webhook', url: `${rx.url}/a` }, hook_b: { type: 'webhook', url: `${rx.url}/b` } },
    defaultChannels: ['hook_a', 'hook_b'],
  });
  const channels = createChannels(cfg);
  const dir = await mkdtemp(join(tmpdir(), 'pushgate-routing-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const outbox = await Outbox.open({ dir, channels: channels.values(), logger: pino({ level: 'silent' }), maxPending: 3 });
  t.teardown(async () => {
    await outbox.close();
    for (const c of channels.values()) await c.close();
  });
  t.same(await dispatch(cfg, outbox, { id: 'n1', host: 'web01', title: 'DOWN', message: 'down' }), { hook_a: 'queued', hook_b: 'queued' });
  await outbox.idle();
  t.same(rx.seen.map((s) => `${s.url} ${s.headers['idempotency-key']}`).sort(), ['/a n1:hook_a', '/b n1:hook_b']);
  // Hold the outbox at its limit: 3 pending while the receiver is gone.
  const hold = await receiver(t, 503);
  const full = parseNotificationsConfig({ channels: { slow: { type: 'webhook', url: hold.url } }, defaultChannels: ['slow'] });
  const slow = createChannels(full).get('slow')!;
  t.teardown(() => slow.close());
  const dir2 = await mkdtemp(join(tmpdir(), 'pushgate-routing-'));
  t.teardown(() => rm(dir2, { recursive: true, force: true }));
  const small = await Outbox.open({ dir: dir2, channels: [slow], logger: pino({ level: 'silent' }), maxPending: 1, retryBaseMs: 60_000 });
  t.teardown(() => small.close());
  t.same(await dispatch(full, small, { id: 'n2', title: 'x', message: 'y' }), { slow: 'queued' });
  t.same(await dispatch(full, small, { id: 'n3', title: 'x', message: 'y' }), { slow: 'rejected: outbox full: 1 deliveries pending (maxPending 1)' });
});

t.test('testChannel sends one message and prints sent, retrying or failed', async (t) => {
  const ok = await receiver(t, 200);
  const down = await receiver(t, 503);
  const cfg = parseNotificationsConfig({
    channels: {
      good: { type: 'mattermost', url: `${ok.url}/hooks/abc123` },
      busy: { type: 'webhook', url: `${down.url}/x` },
      gone: { type: 'mattermost', url: 'http://127.0.0.1:1/hooks/abc123' },
    },
  });
  const channels = createChannels(cfg);
  t.teardown(async () => {
    for (const c of channels.values()) await c.close();
  });
  t.equal(await testChannel(channels.get('good')!), 'sent');
  t.equal(await testChannel(channels.get('busy')!), 'retrying: 503 unavailable');
  t.match(await testChannel(channels.get('gone')!), /^retrying: ECONNREFUSED/);
});
