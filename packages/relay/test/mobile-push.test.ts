import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import t, { type Test } from 'tap';
import {
  MOBILE_PUSH_CHANNEL, MobilePushChannel, Outbox, mobilePushDelivery, readCaFile,
  type DeviceDirectory, type MobilePushChannelOptions, type OutboxOptions, type Outcome, type PushJob, type RelaySettings,
} from '../src/index.js';

// Mobile push has one path: one durable outbox delivery per device
// (`mobilePushDelivery`), sent by `MobilePushChannel`. Every test here drives
// a real `Outbox` (journal in a temp dir) with that channel against a real
// HTTPS server standing in for the openITCOCKPIT push gateway.
//
// Where the tests of the removed in-memory `MobilePush` engine went (its
// `stats` are now the outbox's per-channel counters and settled outcomes):
// - headers and body bytes, keep-alive pool, untrusted certificate, 410,
//   503 then 200, 400, Retry-After (seconds, HTTP-date, cap, unparsable),
//   bounded attempts, refused connection, timeoutMs, rejecting directory,
//   disabled relay, invalid address, CA file: ported below, one test each,
//   through the outbox. What `MobilePush` logged under RELAY_ERR_NETWORK,
//   RELAY_ERR_HTTP_STATUS and RELAY_ERR_DIRECTORY (codes now retired,
//   docs/errors.md) is the retry reason or the dead-letter reason.
// - "the queue is bounded": the outbox's `maxPending` (RELAY_ERR_OUTBOX_FULL),
//   asserted below for mobile push deliveries and in outbox.test.ts
//   ("a full outbox rejects with RELAY_ERR_OUTBOX_FULL …").
// - "a long queue is worked through in FIFO order": below, the outbox's
//   per-channel order of first attempts (300 deliveries; the old 3000 only
//   exercised the in-memory queue's array compaction, which is gone).
// - "a user without devices sends nothing": the gateway creates one delivery
//   per device, so none for a user without devices (the gateway's
//   mobile push target); "devices() rejects": likewise gateway side, the
//   channel never lists devices. A disabled relay at send time is below.
// - "close() drops queued jobs, cuts a backoff wait short, refuses new
//   jobs": the outbox drops nothing: a delivery waiting to retry stays
//   journaled and is sent after reopening (below); refusing after close is
//   RELAY_ERR_OUTBOX_CLOSED in outbox.test.ts ("enqueue rejects for an
//   unknown channel and after close").
// - "close() lets a request in flight finish within closeGraceMs": below,
//   the outbox's close waits for the attempt in flight.
// - "close() aborts a request still in flight after closeGraceMs": the outbox
//   waits for it, bounded by the channel's timeoutMs, and keeps the delivery
//   journaled for the next open instead of counting it failed (below).

// A real HTTPS server with a certificate made for this run stands in for the
// push gateway; the channel trusts it only through `ca` (read by readCaFile).
const dir = mkdtempSync(join(tmpdir(), 'pushgate-relay-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
execFileSync('openssl', [
  'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
  '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1', '-days', '1',
  '-keyout', join(dir, 'k.pem'), '-out', join(dir, 'c.pem'),
], { stdio: 'ignore', timeout: 20_000 });
const caFile = join(dir, 'c.pem');
const tlsKey = readFileSync(join(dir, 'k.pem'));
const tlsCert = readFileSync(caFile);
const ca = readCaFile(caFile);

const AUTH_KEY = 'relay-secret-0123456789abcdef';

interface Received {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  rawHeaders: string[];
  body: Buffer;
  remotePort: number;
  at: number;
}

type Reply = { status: number; headers?: Record<string, string>; body?: string } | 'hang';

/** The stand-in gateway: records every request and answers from a script (then 200). */
async function gateway(t: Test, script: Reply[] = []) {
  const received: Received[] = [];
  const hanging: ServerResponse[] = [];
  let waiter: { n: number; resolve: () => void } | undefined;
  const server: Server = createServer({ key: tlsKey, cert: tlsCert }, (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      received.push({
        method: req.method ?? '',
        url: req.url ?? '',
        headers: req.headers,
        rawHeaders: req.rawHeaders,
        body: Buffer.concat(chunks),
        remotePort: req.socket.remotePort ?? 0,
        at: performance.now(),
      });
      if (waiter && received.length >= waiter.n) waiter.resolve();
      const reply = script.shift() ?? { status: 200, body: '{"success":true}' };
      if (reply === 'hang') {
        hanging.push(res);
        return;
      }
      res.writeHead(reply.status, { 'content-type': 'application/json', ...reply.headers });
      res.end(reply.body ?? '');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(async () => {
    for (const res of hanging) res.destroy();
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });
  const port = (server.address() as AddressInfo).port;
  return {
    port,
    received,
    hanging,
    /** Resolves once `n` requests have arrived. */
    requests(n: number): Promise<void> {
      if (received.length >= n) return Promise.resolve();
      return within(10_000, new Promise((resolve) => (waiter = { n, resolve })), `${n} requests`);
    },
    settings(address = 'localhost'): RelaySettings {
      return { address, port, authKey: AUTH_KEY };
    },
  };
}

/** In-memory stand-in for the gateway's directories (the database). */
class MemoryDirectory implements DeviceDirectory {
  deleted: string[] = [];
  constructor(
    public settings: RelaySettings | undefined,
    public devicesByUser: Map<number, string[]>,
    /** `settings`: how many relaySettings() calls reject before they answer again. */
    public fail: { settings?: number; delete?: boolean } = {},
  ) {}
  async relaySettings() {
    if (this.fail.settings !== undefined && this.fail.settings > 0) {
      this.fail.settings--;
      throw new Error('settings table unreachable');
    }
    return this.settings;
  }
  async devices(userId: number) {
    return [...(this.devicesByUser.get(userId) ?? [])];
  }
  async deleteDevice(token: string) {
    if (this.fail.delete) throw new Error('delete failed');
    this.deleted.push(token);
    for (const [user, tokens] of this.devicesByUser) this.devicesByUser.set(user, tokens.filter((x) => x !== token));
  }
}

/** A pino logger writing into an array, so tests can read what was logged. */
function capture() {
  const lines: Array<Record<string, unknown>> = [];
  const raw: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const line of chunk.toString('utf8').split('\n')) {
        if (line === '') continue;
        raw.push(line);
        lines.push(JSON.parse(line) as Record<string, unknown>);
      }
      cb();
    },
  });
  return { logger: pino({ level: 'debug' }, stream), lines, raw };
}

/** Bounded wait: a bug fails the test instead of hanging it. */
function within<T>(ms: number, p: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise<T>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
    }),
  ]);
}

const job: PushJob = {
  userId: 7,
  title: 'PROBLEM: srv01/Ping is CRITICAL!',
  body: 'CRITICAL - 10.0.0.1: rta nan, lost 100% "quoted" ü',
  type: 'service',
  notificationType: 'PROBLEM',
  currentState: 2,
  hostUuid: 'c36b8048-93ce-4385-ac19-ab5c90574b77',
  serviceUuid: '74fd8f59-1348-4e16-85f0-4a5c57c7dd62',
};

interface RelayOptions {
  channel?: Partial<MobilePushChannelOptions>;
  outbox?: Partial<OutboxOptions>;
  /** Journal directory (to reopen one); default a new temp dir. */
  dir?: string;
}

/** An outbox with the mobile push channel, closed at teardown. */
async function relay(t: Test, directory: DeviceDirectory, opts: RelayOptions = {}) {
  const log = capture();
  let outboxDir = opts.dir;
  if (outboxDir === undefined) {
    const made = await mkdtemp(join(tmpdir(), 'pushgate-mobile-outbox-'));
    t.teardown(() => rm(made, { recursive: true, force: true }));
    outboxDir = made;
  }
  const channel = new MobilePushChannel({ directory, ca, timeoutMs: 5000, ...opts.channel });
  const outcomes: Array<Outcome & { id: string }> = [];
  const outbox = await Outbox.open({
    dir: outboxDir,
    channels: [channel],
    logger: log.logger,
    retryBaseMs: 5,
    onSettled: (d, o) => outcomes.push({ id: d.id, ...o }),
    ...opts.outbox,
  });
  t.teardown(async () => {
    await outbox.close();
    await channel.close();
  });
  const dirPath = outboxDir;
  return {
    outbox,
    log,
    outcomes,
    dir: dirPath,
    /** What the gateway does for a notification: one delivery per device token, each journaled before this resolves. */
    push: (id: string, j: PushJob, tokens: string[]) => Promise.all(tokens.map((token) => outbox.enqueue(mobilePushDelivery(id, j, token)))),
    idle: () => within(10_000, outbox.idle(), 'outbox idle'),
    counts: () => outbox.byChannel.get(MOBILE_PUSH_CHANNEL),
    deadLetters: async (): Promise<Array<{ reason: string; attempts: number; delivery: { id: string } }>> => {
      const text = await readFile(join(dirPath, 'dead-letter.jsonl'), 'utf8');
      return text.trim().split('\n').map((l) => JSON.parse(l));
    },
  };
}

/** Exactly one delivery settled, and it matches `pattern`. */
function settledOnce(t: Test, outcomes: Outcome[], pattern: Record<string, unknown>, message = 'the one outcome'): void {
  t.equal(outcomes.length, 1, 'one delivery settled');
  t.match(outcomes[0], pattern, message);
}

/** An outcome as `[kind, attempts, reason]` (reason `''` when sent). */
function summary(o: Outcome): [string, number, string] {
  return [o.kind, o.attempts, o.kind === 'dead' ? o.reason : ''];
}

function tokenHash(token: string): string {
  return createHash('sha256').update(token).digest('hex').slice(0, 12);
}

t.test('one POST per device carries exactly the headers and body bytes of docs/mobile-push.md', async (t) => {
  const gw = await gateway(t);
  const dir = new MemoryDirectory(gw.settings(), new Map([[7, ['tok-A', 'tok-B']]]));
  const { push, idle, log, outcomes, counts, dir: outboxDir } = await relay(t, dir);
  await push('n1', job, ['tok-A', 'tok-B']);
  const journal = await readFile(join(outboxDir, 'journal.jsonl'), 'utf8');
  await idle();

  t.equal(gw.received.length, 2);
  const byToken = new Map(gw.received.map((r) => [JSON.parse(r.body.toString()).token as string, r]));
  for (const token of ['tok-A', 'tok-B']) {
    const r = byToken.get(token)!;
    t.equal(r.method, 'POST');
    t.equal(r.url, '/notifications/send-notification.json');
    t.equal(r.headers['content-type'], 'application/json');
    t.equal(r.headers['x-api-key'], AUTH_KEY);
    const names = r.rawHeaders.filter((_, i) => i % 2 === 0);
    t.ok(names.includes('Content-Type') && names.includes('X-Api-Key'), `header names spelled as the original sends them (${names.join(', ')})`);
    const expected =
      '{"title":"PROBLEM: srv01/Ping is CRITICAL!","body":"CRITICAL - 10.0.0.1: rta nan, lost 100% \\"quoted\\" ü",' +
      `"token":"${token}","type":"service","notification_type":"PROBLEM","current_state":2,` +
      '"host_uuid":"c36b8048-93ce-4385-ac19-ab5c90574b77","service_uuid":"74fd8f59-1348-4e16-85f0-4a5c57c7dd62",' +
      `"user_id":7,"auth_key":"${AUTH_KEY}"}`;
    t.equal(r.body.toString('utf8'), expected, `body of ${token}, byte for byte`);
    t.equal(r.headers['content-length'], String(Buffer.byteLength(expected)));
  }
  t.same(
    outcomes.map((o) => o.id).sort(),
    [`n1:mobile-push:${tokenHash('tok-A')}`, `n1:mobile-push:${tokenHash('tok-B')}`].sort(),
    'one delivery per device, keyed by notification id and a token hash',
  );
  t.ok(outcomes.every((o) => o.kind === 'sent' && o.attempts === 1), 'both sent at the first attempt');
  t.same(counts(), { sent: 2, retried: 0, dead: 0 });
  t.match(journal, /"token":"tok-A"/, 'the device token is journaled (the delivery needs it after a restart)');
  t.notOk(journal.includes(AUTH_KEY), 'the auth key is never journaled');
  t.notOk(log.raw.some((l) => l.includes(AUTH_KEY)), 'the auth key is never logged');
  t.notOk(log.raw.some((l) => l.includes('tok-A')), 'device tokens are logged only as a hash');
});

t.test('requests share keep-alive connections, at most the channel concurrency of them', async (t) => {
  const gw = await gateway(t);
  const dir = new MemoryDirectory(gw.settings('127.0.0.1'), new Map([[7, ['tok-A', 'tok-B', 'tok-C']]]));
  const one = await relay(t, dir, { channel: { concurrency: 1 } });
  for (let i = 0; i < 2; i++) {
    await one.push(`n${i}`, job, ['tok-A', 'tok-B', 'tok-C']);
    await one.idle();
  }
  t.equal(gw.received.length, 6);
  t.equal(new Set(gw.received.map((r) => r.remotePort)).size, 1, 'one client port for all six requests');

  const gw2 = await gateway(t);
  const two = await relay(t, new MemoryDirectory(gw2.settings('127.0.0.1'), new Map()), { channel: { concurrency: 2 } });
  await two.push('burst', job, ['t1', 't2', 't3', 't4', 't5', 't6']);
  await two.idle();
  t.equal(gw2.received.length, 6);
  t.ok(new Set(gw2.received.map((r) => r.remotePort)).size <= 2, 'six deliveries at once open at most two sockets');
});

t.test('without the CA the self-signed gateway is not trusted: nothing is sent, the delivery is dead-lettered at once', async (t) => {
  const gw = await gateway(t);
  const dir = new MemoryDirectory(gw.settings(), new Map([[7, ['tok-A']]]));
  const { push, idle, log, outcomes, counts } = await relay(t, dir, { channel: { ca: undefined } });
  await push('n1', job, ['tok-A']);
  await idle();
  t.equal(gw.received.length, 0, 'the gateway received no request');
  t.same(counts(), { sent: 0, retried: 0, dead: 1 }, 'not retried (maxAttempts 8)');
  t.equal(outcomes.length, 1);
  t.match(outcomes[0], { kind: 'dead', attempts: 1, reason: /^refused: .*(self[- ]signed|certificate)/i });
  t.match(log.lines.find((l) => l.msg === 'delivery dead-lettered'), { level: 50, channel: 'mobile-push', err: { code: 'RELAY_ERR_DEAD_LETTER' } });
});

t.test('410 Gone deletes the device from the directory and ends the delivery, not retried', async (t) => {
  const gw = await gateway(t, [{ status: 410, body: '{"error":"gone"}' }]);
  const dir = new MemoryDirectory(gw.settings(), new Map([[7, ['dead-token']]]));
  const { push, idle, outcomes, counts, outbox, deadLetters } = await relay(t, dir);
  await push('n1', job, ['dead-token']);
  await idle();
  t.equal(gw.received.length, 1);
  t.same(dir.deleted, ['dead-token']);
  t.same(dir.devicesByUser.get(7), []);
  t.same(outcomes.map(summary), [['dead', 1, 'refused: 410 device gone, token deleted']]);
  t.same(counts(), { sent: 0, retried: 0, dead: 1 });
  await outbox.close();
  t.equal((await deadLetters())[0]!.reason, 'refused: 410 device gone, token deleted', 'recorded in dead-letter.jsonl');
});

t.test('503 then 200 delivers once after one retry', async (t) => {
  const gw = await gateway(t, [{ status: 503, body: 'maintenance' }, { status: 200 }]);
  const dir = new MemoryDirectory(gw.settings(), new Map([[7, ['tok-A']]]));
  const { push, idle, log, outcomes, counts } = await relay(t, dir);
  await push('n1', job, ['tok-A']);
  await idle();
  t.equal(gw.received.length, 2);
  t.equal(gw.received[0]!.body.toString(), gw.received[1]!.body.toString(), 'the retry repeats the same body');
  settledOnce(t, outcomes, { kind: 'sent', attempts: 2 });
  t.same(counts(), { sent: 1, retried: 1, dead: 0 });
  t.match(log.lines.find((l) => l.msg === 'delivery attempt failed, retrying'), { level: 40, channel: 'mobile-push', attempt: 1, reason: '503 maintenance' });
});

t.test('400 is not retried; the dead letter carries the status and a body excerpt, the auth key redacted', async (t) => {
  const echo = `bad request: auth_key ${AUTH_KEY} rejected; ` + 'x'.repeat(1000);
  const gw = await gateway(t, [{ status: 400, body: echo }]);
  const dir = new MemoryDirectory(gw.settings(), new Map([[7, ['tok-A']]]));
  const { push, idle, log, counts, outbox, deadLetters, dir: outboxDir } = await relay(t, dir, { outbox: { maxAttempts: 5 } });
  await push('n1', job, ['tok-A']);
  await idle();
  await outbox.close();
  t.equal(gw.received.length, 1, 'one attempt only');
  t.same(counts(), { sent: 0, retried: 0, dead: 1 });
  const dead = await deadLetters();
  t.equal(dead.length, 1);
  t.match(dead[0]!.reason, /^refused: 400 bad request: auth_key \[redacted\] rejected; xxx/);
  t.ok(dead[0]!.reason.length < 300, `the excerpt is short (${dead[0]!.reason.length} characters)`);
  t.match(log.lines.find((l) => l.msg === 'delivery dead-lettered'), { err: { code: 'RELAY_ERR_DEAD_LETTER', message: /refused: 400 bad request/ } });
  t.notOk(log.raw.some((l) => l.includes(AUTH_KEY)), 'the auth key is never logged');
  const files = (await readFile(join(outboxDir, 'dead-letter.jsonl'), 'utf8')) + (await readFile(join(outboxDir, 'journal.jsonl'), 'utf8'));
  t.notOk(files.includes(AUTH_KEY), 'nor written to the journal or the dead letters');
});

t.test('Retry-After seconds on a 429 are waited out before the retry', async (t) => {
  const gw = await gateway(t, [{ status: 429, headers: { 'retry-after': '1' } }, { status: 200 }]);
  const dir = new MemoryDirectory(gw.settings(), new Map([[7, ['tok-A']]]));
  const { push, idle, log, counts } = await relay(t, dir, { outbox: { retryBaseMs: 1 } });
  await push('n1', job, ['tok-A']);
  await idle();
  t.equal(gw.received.length, 2);
  const gap = gw.received[1]!.at - gw.received[0]!.at;
  // A timer never fires early (give 50 ms for clock granularity); retryBaseMs 1 alone would retry within ms.
  t.ok(gap >= 950, `waited ${Math.round(gap)} ms ≥ 1 s before retrying`);
  t.match(log.lines.find((l) => l.msg === 'delivery attempt failed, retrying'), { retryInMs: 1000 });
  t.same(counts(), { sent: 1, retried: 1, dead: 0 });
});

t.test('Retry-After as an HTTP-date is honoured, a large one is capped at maxRetryDelayMs, an unparsable one falls back to backoff', async (t) => {
  const past = new Date(Date.now() - 60_000).toUTCString();
  const gw = await gateway(t, [
    { status: 503, headers: { 'retry-after': past } }, { status: 200 },
    { status: 429, headers: { 'retry-after': '3600' } }, { status: 200 },
    { status: 503, headers: { 'retry-after': 'soon' } }, { status: 200 },
  ]);
  const dir = new MemoryDirectory(gw.settings(), new Map([[7, ['tok-A']]]));
  const { push, idle, log, counts } = await relay(t, dir, { outbox: { retryBaseMs: 8, maxRetryDelayMs: 20 } });
  for (let i = 0; i < 3; i++) {
    await push(`n${i}`, job, ['tok-A']);
    await idle();
  }
  const waits = log.lines.filter((l) => l.msg === 'delivery attempt failed, retrying').map((l) => l.retryInMs as number);
  t.equal(waits.length, 3);
  t.equal(waits[0], 0, 'a date in the past: retry at once');
  t.equal(waits[1], 20, '3600 s capped at maxRetryDelayMs');
  t.ok(waits[2]! >= 4 && waits[2]! <= 8, `unparsable: jittered backoff 4..8 ms (got ${waits[2]})`);
  t.same(counts(), { sent: 3, retried: 3, dead: 0 });
});

t.test('attempts are bounded: an always-failing gateway is tried maxAttempts times, then dead-lettered with the last status', async (t) => {
  const gw = await gateway(t, [{ status: 500 }, { status: 502 }, { status: 500 }, { status: 200 }]);
  const dir = new MemoryDirectory(gw.settings(), new Map([[7, ['tok-A']]]));
  const { push, idle, outcomes, counts } = await relay(t, dir, { outbox: { maxAttempts: 3 } });
  await push('n1', job, ['tok-A']);
  await idle();
  t.equal(gw.received.length, 3);
  t.same(counts(), { sent: 0, retried: 2, dead: 1 });
  settledOnce(t, outcomes, { kind: 'dead', attempts: 3, reason: '3 attempts failed, last: 500' });
});

t.test('a refused connection is retried with backoff, then dead-lettered; the relay settings are read again at every attempt', async (t) => {
  const gw = await gateway(t);
  const closed = createServer();
  await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
  const deadPort = (closed.address() as AddressInfo).port;
  await new Promise((resolve) => closed.close(resolve));
  const dir = new MemoryDirectory({ address: '127.0.0.1', port: deadPort, authKey: AUTH_KEY }, new Map([[7, ['tok-A']]]));
  const { push, idle, outcomes, counts } = await relay(t, dir, { outbox: { maxAttempts: 2 } });
  await push('n1', job, ['tok-A']);
  await idle();
  t.same(counts(), { sent: 0, retried: 1, dead: 1 });
  settledOnce(t, outcomes, { kind: 'dead', attempts: 2, reason: /^2 attempts failed, last: ECONNREFUSED/ });

  // The same outbox delivers once the gateway is back.
  dir.settings = gw.settings('127.0.0.1');
  await push('n2', job, ['tok-A']);
  await idle();
  t.equal(counts()!.sent, 1);

  // A delivery refused at its first attempt reaches the gateway the settings name by its retry.
  let lookups = 0;
  const moving: DeviceDirectory = {
    relaySettings: async () => (lookups++ === 0 ? { address: '127.0.0.1', port: deadPort, authKey: AUTH_KEY } : gw.settings('127.0.0.1')),
    devices: async () => ['tok-A'],
    deleteDevice: async () => {},
  };
  const again = await relay(t, moving);
  await again.push('n3', job, ['tok-A']);
  await again.idle();
  settledOnce(t, again.outcomes, { kind: 'sent', attempts: 2 });
  t.equal(gw.received.length, 2);
});

t.test('a gateway that never answers fails the attempt after timeoutMs', async (t) => {
  const gw = await gateway(t, ['hang']);
  const dir = new MemoryDirectory(gw.settings(), new Map([[7, ['tok-A']]]));
  const { push, idle, outcomes, counts } = await relay(t, dir, { channel: { timeoutMs: 300 }, outbox: { maxAttempts: 1 } });
  await push('n1', job, ['tok-A']);
  await idle();
  t.equal(gw.received.length, 1);
  t.same(counts(), { sent: 0, retried: 0, dead: 1 });
  settledOnce(t, outcomes, { kind: 'dead', attempts: 1, reason: /^1 attempts failed, last: .*timeout/i });
});

t.test('the outbox is bounded: with maxPending deliveries pending, the next mobile push is refused, logged and counted', async (t) => {
  const gw = await gateway(t, ['hang', 'hang']);
  const dir = new MemoryDirectory(gw.settings(), new Map([[7, ['tok-A']]]));
  const { push, idle, log, counts, outbox } = await relay(t, dir, { channel: { concurrency: 1 }, outbox: { maxPending: 2 } });
  await push('n1', job, ['tok-A']);
  await push('n2', job, ['tok-A']);
  await t.rejects(push('n3', job, ['tok-A']), { code: 'RELAY_ERR_OUTBOX_FULL', message: 'outbox full: 2 deliveries pending (maxPending 2)' });
  t.equal(outbox.stats.rejected, 1);
  t.match(log.lines.find((l) => l.msg === 'delivery refused'), { level: 40, err: { code: 'RELAY_ERR_OUTBOX_FULL' } });

  await gw.requests(1);
  t.equal(gw.received.length, 1, 'concurrency 1: the second delivery waits');
  gw.hanging.shift()!.writeHead(200).end();
  await gw.requests(2);
  gw.hanging.shift()!.writeHead(200).end();
  await idle();
  t.same(counts(), { sent: 2, retried: 0, dead: 0 });

  await push('n3', job, ['tok-A']); // room again once the outbox drained
  await idle();
  t.equal(counts()!.sent, 3);
});

t.test('deliveries accepted together are first attempted in the order accepted, every one exactly once', async (t) => {
  const gw = await gateway(t);
  const dir = new MemoryDirectory(gw.settings(), new Map());
  const { outbox, idle, counts } = await relay(t, dir, { channel: { concurrency: 1 } });
  const n = 300;
  await Promise.all(Array.from({ length: n }, (_, i) => outbox.enqueue(mobilePushDelivery(`n${i + 1}`, { ...job, userId: i + 1 }, 'tok-A'))));
  await idle();
  const users = gw.received.map((r) => JSON.parse(r.body.toString()).user_id as number);
  t.equal(users.length, n);
  t.ok(users.every((userId, i) => userId === i + 1), 'in the order enqueued');
  t.same(counts(), { sent: n, retried: 0, dead: 0 });
});

t.test('a rejecting directory is a retry (or, deleting a gone device, a dead letter), never an unhandled rejection', async (t) => {
  const gw = await gateway(t, [{ status: 410 }]);
  const dir = new MemoryDirectory(gw.settings(), new Map([[7, ['tok-A']]]));
  const unhandled: unknown[] = [];
  const onUnhandled = (reason: unknown) => unhandled.push(reason);
  process.on('unhandledRejection', onUnhandled);
  t.teardown(() => process.off('unhandledRejection', onUnhandled));
  const { push, idle, log, outcomes, counts } = await relay(t, dir);

  dir.fail = { settings: 1, delete: true };
  await push('n1', job, ['tok-A']); // relaySettings() rejects once, then 410 and deleteDevice() rejects
  await idle();
  await push('n2', job, ['tok-A']); // relaySettings() answers, the gateway 200
  await idle();
  await new Promise((resolve) => setImmediate(resolve));

  t.same(unhandled, []);
  t.match(log.lines.find((l) => l.msg === 'delivery attempt failed, retrying'), { attempt: 1, reason: 'directory: settings table unreachable' }, 'the cause rides along');
  t.same(outcomes.map(summary), [
    ['dead', 2, 'refused: 410 device gone, deleting the token failed: delete failed'],
    ['sent', 1, ''],
  ]);
  t.same(counts(), { sent: 1, retried: 1, dead: 1 });
});

t.test('a disabled relay sends nothing and dead-letters the delivery', async (t) => {
  const gw = await gateway(t);
  const dir = new MemoryDirectory(undefined, new Map([[7, ['tok-A']]]));
  const { push, idle, outcomes, counts } = await relay(t, dir);
  await push('n1', job, ['tok-A']);
  await idle();
  t.equal(gw.received.length, 0);
  settledOnce(t, outcomes, { kind: 'dead', attempts: 1, reason: 'refused: mobile push relay disabled' });
  t.same(counts(), { sent: 0, retried: 0, dead: 1 });
});

t.test('an invalid gateway address dead-letters each device at once with RELAY_ERR_ENDPOINT in the reason', async (t) => {
  const dir = new MemoryDirectory({ address: 'ftp://push.example.com', port: 21, authKey: AUTH_KEY }, new Map([[7, ['a', 'b']]]));
  const { push, idle, outcomes, counts } = await relay(t, dir);
  await push('n1', job, ['a', 'b']);
  await idle();
  t.same(counts(), { sent: 0, retried: 0, dead: 2 });
  const reason = 'refused: RELAY_ERR_ENDPOINT: push gateway address "ftp://push.example.com" must be an http(s) host';
  t.same(outcomes.map(summary), [['dead', 1, reason], ['dead', 1, reason]]);
});

t.test('readCaFile throws RELAY_ERR_CA_FILE naming the path of a missing or certificate-less CA file', async (t) => {
  const missing = join(dir, 'nope.pem');
  t.throws(() => readCaFile(missing), {
    name: 'RelayError',
    code: 'RELAY_ERR_CA_FILE',
    message: `cannot read CA file ${missing}`,
  });
  const empty = join(dir, 'empty.pem');
  writeFileSync(empty, 'not a certificate\n');
  t.throws(() => readCaFile(empty), { code: 'RELAY_ERR_CA_FILE', message: `CA file ${empty} holds no PEM certificate` });
  t.equal(readCaFile(caFile), tlsCert.toString('utf8'), 'a PEM file is returned as read');
});

t.test('close() does not wait out a retry: the delivery stays journaled and is sent after reopening', async (t) => {
  const gw = await gateway(t, [{ status: 503, headers: { 'retry-after': '3' } }]);
  const dir = new MemoryDirectory(gw.settings(), new Map([[7, ['tok-A']]]));
  const first = await relay(t, dir);
  await first.push('n1', job, ['tok-A']);
  await within(10_000, (async () => {
    while (!first.log.lines.some((l) => l.msg === 'delivery attempt failed, retrying')) await new Promise((r) => setTimeout(r, 5));
  })(), 'the retry to be scheduled');
  // Well under the 3 s Retry-After: close cancels the wait instead of serving it.
  await within(2500, first.outbox.close(), 'close');
  t.equal(gw.received.length, 1, 'no retry after close');
  t.equal(first.outbox.pending, 1, 'nothing dropped');
  t.same(first.outcomes, []);

  const second = await relay(t, dir, { dir: first.dir });
  t.equal(second.outbox.stats.replayed, 1);
  await second.idle();
  t.equal(gw.received.length, 2);
  t.equal(gw.received[1]!.body.toString(), gw.received[0]!.body.toString(), 'the same request, auth key read again from the settings');
  t.ok(gw.received[1]!.at - gw.received[0]!.at >= 2950, 'Retry-After is kept across the restart');
  settledOnce(t, second.outcomes, { kind: 'sent', attempts: 2 }, 'attempts continue from the journal');
});

t.test('close() lets a request in flight finish', async (t) => {
  const gw = await gateway(t, ['hang']);
  const dir = new MemoryDirectory(gw.settings(), new Map([[7, ['tok-A']]]));
  const { push, outbox, outcomes, counts } = await relay(t, dir, { channel: { timeoutMs: 10_000 } });
  await push('n1', job, ['tok-A']);
  await gw.requests(1);
  const closed = outbox.close();
  gw.hanging.shift()!.writeHead(200).end();
  await within(5000, closed, 'close');
  settledOnce(t, outcomes, { kind: 'sent', attempts: 1 });
  t.same(counts(), { sent: 1, retried: 0, dead: 0 });
  t.equal(outbox.pending, 0);
});

t.test('close() with a request that never answers resolves after timeoutMs and keeps the delivery for the next open', async (t) => {
  const gw = await gateway(t, ['hang']);
  const dir = new MemoryDirectory(gw.settings(), new Map([[7, ['tok-A']]]));
  const first = await relay(t, dir, { channel: { timeoutMs: 300 } });
  await first.push('n1', job, ['tok-A']);
  await gw.requests(1);
  await within(5000, first.outbox.close(), 'close');
  t.equal(gw.received.length, 1, 'not retried while closing');
  t.equal(first.outbox.pending, 1);
  t.same(first.outcomes, [], 'neither sent nor dead-lettered');

  const second = await relay(t, dir, { dir: first.dir });
  t.equal(second.outbox.stats.replayed, 1);
  await second.idle();
  t.equal(gw.received.length, 2);
  settledOnce(t, second.outcomes, { kind: 'sent', attempts: 2 });
});
