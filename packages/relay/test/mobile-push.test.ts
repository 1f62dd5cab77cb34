import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import t, { type Test } from 'tap';
import { MobilePush, type DeviceDirectory, type PushJob, type RelaySettings } from '../src/index.js';

// A real HTTPS server with a certificate made for this run stands in for the
// openITCOCKPIT push gateway; the relay trusts it only through `caFile`.
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
    /** Resolves once `n` requests have arrived (bounded by the test timeout). */
    requests(n: number): Promise<void> {
      if (received.length >= n) return Promise.resolve();
      return new Promise((resolve) => (waiter = { n, resolve }));
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
    public fail: { settings?: boolean; devices?: boolean; delete?: boolean } = {},
  ) {}
  async relaySettings() {
    if (this.fail.settings) throw new Error('settings table unreachable');
    return this.settings;
  }
  async devices(userId: number) {
    if (this.fail.devices) throw new Error('devices table unreachable');
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

function relay(t: Test, directory: DeviceDirectory, opts: Partial<ConstructorParameters<typeof MobilePush>[0]> = {}) {
  const log = capture();
  const push = new MobilePush({ directory, logger: log.logger, caFile, timeoutMs: 5000, retryBaseMs: 5, ...opts });
  t.teardown(() => push.close());
  return { push, log };
}

t.test('one POST per device carries exactly the headers and body bytes of PROTOCOL §4', async (t) => {
  const gw = await gateway(t);
  const dir = new MemoryDirectory(gw.settings(), new Map([[7, ['tok-A', 'tok-B']]]));
  const { push, log } = relay(t, dir);
  push.enqueue(job);
  await push.idle();

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
  t.same(push.stats, { sent: 2, failed: 0, retried: 0, gone: 0, dropped: 0 });
  t.notOk(log.raw.some((l) => l.includes(AUTH_KEY)), 'the auth key is never logged');
  t.notOk(log.raw.some((l) => l.includes('tok-A')), 'device tokens are logged only as a hash');
});

t.test('requests share a bounded pool of keep-alive connections', async (t) => {
  const gw = await gateway(t);
  const dir = new MemoryDirectory(gw.settings('127.0.0.1'), new Map([[7, ['tok-A', 'tok-B', 'tok-C']]]));
  const { push } = relay(t, dir, { connections: 1 });
  for (let i = 0; i < 2; i++) {
    push.enqueue(job);
    await push.idle();
  }
  t.equal(gw.received.length, 6);
  t.equal(new Set(gw.received.map((r) => r.remotePort)).size, 1, 'one client port for all six requests');
});

t.test('without caFile the self-signed gateway is not trusted: nothing is sent, the failure is logged, not retried', async (t) => {
  const gw = await gateway(t);
  const dir = new MemoryDirectory(gw.settings(), new Map([[7, ['tok-A']]]));
  const { push, log } = relay(t, dir, { caFile: undefined });
  push.enqueue(job);
  await push.idle();
  t.equal(gw.received.length, 0, 'the gateway received no request');
  t.same(push.stats, { sent: 0, failed: 1, retried: 0, gone: 0, dropped: 0 });
  const failed = log.lines.find((l) => l.msg === 'mobile push failed');
  t.ok(failed, 'the failure is logged');
  t.match(failed, { level: 50, user: 7, err: { code: 'RELAY_ERR_NETWORK' } });
  t.match((failed!.err as { message: string }).message, /self[- ]signed|certificate/i);
});

t.test('410 Gone deletes the device from the directory and is counted, not retried', async (t) => {
  const gw = await gateway(t, [{ status: 410, body: '{"error":"gone"}' }]);
  const dir = new MemoryDirectory(gw.settings(), new Map([[7, ['dead-token']]]));
  const { push, log } = relay(t, dir);
  push.enqueue(job);
  await push.idle();
  t.equal(gw.received.length, 1);
  t.same(dir.deleted, ['dead-token']);
  t.same(dir.devicesByUser.get(7), []);
  t.same(push.stats, { sent: 0, failed: 0, retried: 0, gone: 1, dropped: 0 });
  t.ok(log.lines.some((l) => l.msg === 'mobile push device gone (410), deleting it'), 'logged');
});

t.test('503 then 200 delivers once after one retry', async (t) => {
  const gw = await gateway(t, [{ status: 503, body: 'maintenance' }, { status: 200 }]);
  const dir = new MemoryDirectory(gw.settings(), new Map([[7, ['tok-A']]]));
  const { push, log } = relay(t, dir);
  push.enqueue(job);
  await push.idle();
  t.equal(gw.received.length, 2);
  t.equal(gw.received[0]!.body.toString(), gw.received[1]!.body.toString(), 'the retry repeats the same body');
  t.same(push.stats, { sent: 1, failed: 0, retried: 1, gone: 0, dropped: 0 });
  t.match(log.lines.find((l) => l.msg === 'mobile push attempt failed, retrying'), {
    level: 40,
    attempt: 1,
    err: { code: 'RELAY_ERR_HTTP_STATUS', status: 503 },
  });
});

t.test('400 is not retried; the failure is logged with the status and a body excerpt, the auth key redacted', async (t) => {
  const echo = `bad request: auth_key ${AUTH_KEY} rejected; ` + 'x'.repeat(1000);
  const gw = await gateway(t, [{ status: 400, body: echo }]);
  const dir = new MemoryDirectory(gw.settings(), new Map([[7, ['tok-A']]]));
  const { push, log } = relay(t, dir, { maxAttempts: 5 });
  push.enqueue(job);
  await push.idle();
  t.equal(gw.received.length, 1, 'one attempt only');
  t.same(push.stats, { sent: 0, failed: 1, retried: 0, gone: 0, dropped: 0 });
  const failed = log.lines.find((l) => l.msg === 'mobile push failed') as { err: { code: string; status: number; message: string } };
  t.match(failed, { err: { code: 'RELAY_ERR_HTTP_STATUS', status: 400 } });
  t.match(failed.err.message, 'push gateway answered 400: "bad request: auth_key [redacted] rejected; xxx');
  t.ok(failed.err.message.length < 300, 'the excerpt is short');
  t.notOk(log.raw.some((l) => l.includes(AUTH_KEY)), 'the auth key is never logged');
});

t.test('Retry-After seconds on a 429 are waited out before the retry', async (t) => {
  const gw = await gateway(t, [{ status: 429, headers: { 'retry-after': '1' } }, { status: 200 }]);
  const dir = new MemoryDirectory(gw.settings(), new Map([[7, ['tok-A']]]));
  const { push, log } = relay(t, dir, { retryBaseMs: 1 });
  push.enqueue(job);
  await push.idle();
  t.equal(gw.received.length, 2);
  const gap = gw.received[1]!.at - gw.received[0]!.at;
  // A timer never fires early (give 50 ms for clock granularity); retryBaseMs 1 alone would retry within ms.
  t.ok(gap >= 950, `waited ${Math.round(gap)} ms ≥ 1 s before retrying`);
  t.match(log.lines.find((l) => l.msg === 'mobile push attempt failed, retrying'), { retryInMs: 1000 });
  t.same(push.stats, { sent: 1, failed: 0, retried: 1, gone: 0, dropped: 0 });
});

t.test('Retry-After as an HTTP-date is honoured, a large one is capped at maxRetryDelayMs, an unparsable one falls back to backoff', async (t) => {
  const past = new Date(Date.now() - 60_000).toUTCString();
  const gw = await gateway(t, [
    { status: 503, headers: { 'retry-after': past } }, { status: 200 },
    { status: 429, headers: { 'retry-after': '3600' } }, { status: 200 },
    { status: 503, headers: { 'retry-after': 'soon' } }, { status: 200 },
  ]);
  const dir = new MemoryDirectory(gw.settings(), new Map([[7, ['tok-A']]]));
  const { push, log } = relay(t, dir, { retryBaseMs: 8, maxRetryDelayMs: 20 });
  for (let i = 0; i < 3; i++) {
    push.enqueue(job);
    await push.idle();
  }
  const waits = log.lines.filter((l) => l.msg === 'mobile push attempt failed, retrying').map((l) => l.retryInMs as number);
  t.equal(waits.length, 3);
  t.equal(waits[0], 0, 'a date in the past: retry at once');
  t.equal(waits[1], 20, '3600 s capped at maxRetryDelayMs');
  t.ok(waits[2]! >= 4 && waits[2]! <= 8, `unparsable: jittered backoff 4..8 ms (got ${waits[2]})`);
  t.same(push.stats, { sent: 3, failed: 0, retried: 3, gone: 0, dropped: 0 });
});

t.test('attempts are bounded: an always-failing gateway is tried maxAttempts times, then the failure counted', async (t) => {
  const gw = await gateway(t, [{ status: 500 }, { status: 502 }, { status: 500 }, { status: 200 }]);
  const dir = new MemoryDirectory(gw.settings(), new Map([[7, ['tok-A']]]));
  const { push, log } = relay(t, dir, { maxAttempts: 3 });
  push.enqueue(job);
  await push.idle();
  t.equal(gw.received.length, 3);
  t.same(push.stats, { sent: 0, failed: 1, retried: 2, gone: 0, dropped: 0 });
  t.match(log.lines.find((l) => l.msg === 'mobile push failed'), { attempt: 3, err: { status: 500 } });
});

t.test('a refused connection is retried with backoff, then counted as failed', async (t) => {
  const gw = await gateway(t);
  const port = gw.port;
  const closed = createServer();
  await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
  const deadPort = (closed.address() as AddressInfo).port;
  await new Promise((resolve) => closed.close(resolve));
  const dir = new MemoryDirectory({ address: '127.0.0.1', port: deadPort, authKey: AUTH_KEY }, new Map([[7, ['tok-A']]]));
  const { push, log } = relay(t, dir, { maxAttempts: 2 });
  push.enqueue(job);
  await push.idle();
  t.same(push.stats, { sent: 0, failed: 1, retried: 1, gone: 0, dropped: 0 });
  t.match(log.lines.find((l) => l.msg === 'mobile push failed'), { err: { code: 'RELAY_ERR_NETWORK', message: /ECONNREFUSED/ } });

  // The same relay delivers once the gateway is back (settings are read per job).
  dir.settings = { address: '127.0.0.1', port, authKey: AUTH_KEY };
  push.enqueue(job);
  await push.idle();
  t.equal(push.stats.sent, 1);
});

t.test('a gateway that never answers fails the request after timeoutMs', async (t) => {
  const gw = await gateway(t, ['hang']);
  const dir = new MemoryDirectory(gw.settings(), new Map([[7, ['tok-A']]]));
  const { push, log } = relay(t, dir, { timeoutMs: 300, maxAttempts: 1 });
  push.enqueue(job);
  await push.idle();
  t.equal(gw.received.length, 1);
  t.same(push.stats, { sent: 0, failed: 1, retried: 0, gone: 0, dropped: 0 });
  t.match(log.lines.find((l) => l.msg === 'mobile push failed'), { err: { code: 'RELAY_ERR_NETWORK', message: /timeout/i } });
});

t.test('the queue is bounded: with maxQueue jobs pending, the next is dropped, logged and counted', async (t) => {
  const gw = await gateway(t, ['hang', 'hang']);
  const dir = new MemoryDirectory(gw.settings(), new Map([[7, ['tok-A']]]));
  const { push, log } = relay(t, dir, { maxQueue: 2, concurrency: 1 });
  push.enqueue(job);
  push.enqueue(job);
  push.enqueue(job); // over the bound
  t.equal(push.stats.dropped, 1, 'dropped at once, synchronously');
  t.match(log.lines.find((l) => l.msg === 'mobile push dropped'), { level: 40, user: 7, err: { code: 'RELAY_ERR_QUEUE_FULL' } });

  await gw.requests(1);
  t.equal(gw.received.length, 1, 'concurrency 1: the second job waits in the queue');
  gw.hanging.shift()!.writeHead(200).end();
  await gw.requests(2);
  gw.hanging.shift()!.writeHead(200).end();
  await push.idle();
  t.same(push.stats, { sent: 2, failed: 0, retried: 0, gone: 0, dropped: 1 });

  push.enqueue(job); // room again once the queue drained
  await push.idle();
  t.equal(push.stats.sent, 3);
});

t.test('a long queue is worked through in FIFO order, every job exactly once', async (t) => {
  const looked: number[] = [];
  const directory: DeviceDirectory = {
    relaySettings: async () => ({ address: 'push.invalid', port: 443, authKey: AUTH_KEY }),
    devices: async (userId) => {
      looked.push(userId);
      return [];
    },
    deleteDevice: async () => {},
  };
  const { push } = relay(t, directory, { maxQueue: 5000, concurrency: 1 });
  const n = 3000;
  for (let userId = 1; userId <= n; userId++) push.enqueue({ ...job, userId });
  await push.idle();
  t.equal(looked.length, n);
  t.ok(looked.every((userId, i) => userId === i + 1), 'in the order enqueued');
  t.same(push.stats, { sent: 0, failed: 0, retried: 0, gone: 0, dropped: 0 });
});

t.test('a rejecting directory is logged and counted, never an unhandled rejection', async (t) => {
  const gw = await gateway(t, [{ status: 410 }]);
  const dir = new MemoryDirectory(gw.settings(), new Map([[7, ['tok-A']]]), { settings: true });
  const { push, log } = relay(t, dir);
  const unhandled: unknown[] = [];
  const onUnhandled = (reason: unknown) => unhandled.push(reason);
  process.on('unhandledRejection', onUnhandled);
  t.teardown(() => process.off('unhandledRejection', onUnhandled));

  push.enqueue(job); // relaySettings() rejects
  await push.idle();
  dir.fail = { devices: true };
  push.enqueue(job); // devices() rejects
  await push.idle();
  dir.fail = { delete: true };
  push.enqueue(job); // 410, then deleteDevice() rejects
  await push.idle();
  await new Promise((resolve) => setImmediate(resolve));

  t.same(unhandled, []);
  t.same(push.stats, { sent: 0, failed: 2, retried: 0, gone: 1, dropped: 0 });
  const errors = log.lines.filter((l) => (l.err as { code?: string } | undefined)?.code === 'RELAY_ERR_DIRECTORY');
  t.same(errors.map((l) => l.msg), ['mobile push lookup failed', 'mobile push lookup failed', 'mobile push device delete failed']);
  t.match(errors[0], { err: { message: /settings table unreachable/ } }, 'the cause rides along');
});

t.test('a disabled relay or a user without devices sends nothing and counts nothing', async (t) => {
  const gw = await gateway(t);
  const dir = new MemoryDirectory(undefined, new Map([[7, ['tok-A']]]));
  const { push } = relay(t, dir);
  push.enqueue(job);
  await push.idle();
  dir.settings = gw.settings();
  push.enqueue({ ...job, userId: 8 });
  await push.idle();
  t.equal(gw.received.length, 0);
  t.same(push.stats, { sent: 0, failed: 0, retried: 0, gone: 0, dropped: 0 });
});

t.test('an invalid gateway address is logged as RELAY_ERR_ENDPOINT and counts each device as failed', async (t) => {
  const dir = new MemoryDirectory({ address: 'ftp://push.example.com', port: 21, authKey: AUTH_KEY }, new Map([[7, ['a', 'b']]]));
  const { push, log } = relay(t, dir);
  push.enqueue(job);
  await push.idle();
  t.same(push.stats, { sent: 0, failed: 2, retried: 0, gone: 0, dropped: 0 });
  t.match(log.lines.find((l) => l.msg === 'mobile push endpoint invalid'), { err: { code: 'RELAY_ERR_ENDPOINT' }, devices: 2 });
});

t.test('the constructor throws RELAY_ERR_CA_FILE naming the path of a missing or certificate-less CA file', async (t) => {
  const { logger } = capture();
  const directory = new MemoryDirectory(undefined, new Map());
  const missing = join(dir, 'nope.pem');
  t.throws(() => new MobilePush({ directory, logger, caFile: missing }), {
    name: 'RelayError',
    code: 'RELAY_ERR_CA_FILE',
    message: new RegExp(missing.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')),
  });
  const empty = join(dir, 'empty.pem');
  writeFileSync(empty, 'not a certificate\n');
  t.throws(() => new MobilePush({ directory, logger, caFile: empty }), { code: 'RELAY_ERR_CA_FILE', message: /empty\.pem/ });
});

t.test('close() drops queued jobs, cuts a backoff wait short, refuses new jobs, and resolves', async (t) => {
  const gw = await gateway(t, [{ status: 503 }]);
  const dir = new MemoryDirectory(gw.settings(), new Map([[7, ['tok-A']]]));
  const { push, log } = relay(t, dir, { retryBaseMs: 60_000, maxRetryDelayMs: 60_000, concurrency: 1 });
  push.enqueue(job); // gets 503, then waits ~30–60 s to retry
  push.enqueue(job); // queued behind it (concurrency 1)
  await gw.requests(1);
  await t.resolves(
    (async () => {
      while (!log.lines.some((l) => l.msg === 'mobile push attempt failed, retrying')) await new Promise((r) => setTimeout(r, 5));
    })(),
  );
  await push.close(); // must not wait for the backoff
  t.equal(gw.received.length, 1, 'no retry after close');
  t.same(push.stats, { sent: 0, failed: 1, retried: 0, gone: 0, dropped: 1 });
  push.enqueue(job);
  t.equal(push.stats.dropped, 2, 'jobs after close are dropped');
  t.match(log.lines.at(-1), { msg: 'mobile push dropped', err: { message: 'mobile push dropped: relay closed' } });
  await push.close(); // idempotent
});

t.test('close() lets a request in flight finish within closeGraceMs', async (t) => {
  const gw = await gateway(t, ['hang']);
  const dir = new MemoryDirectory(gw.settings(), new Map([[7, ['tok-A']]]));
  const { push } = relay(t, dir, { closeGraceMs: 10_000 });
  push.enqueue(job);
  await gw.requests(1);
  const closed = push.close();
  gw.hanging.shift()!.writeHead(200).end();
  await closed;
  t.same(push.stats, { sent: 1, failed: 0, retried: 0, gone: 0, dropped: 0 });
});

t.test('close() aborts a request still in flight after closeGraceMs and counts it failed, without retrying', async (t) => {
  const gw = await gateway(t, ['hang']);
  const dir = new MemoryDirectory(gw.settings(), new Map([[7, ['tok-A']]]));
  const { push, log } = relay(t, dir, { closeGraceMs: 50, timeoutMs: 60_000 });
  push.enqueue(job);
  await gw.requests(1);
  await push.close();
  await push.idle();
  t.equal(gw.received.length, 1);
  t.same(push.stats, { sent: 0, failed: 1, retried: 0, gone: 0, dropped: 0 });
  t.ok(log.lines.some((l) => l.msg === 'mobile push close: aborting requests still in flight'), 'the abort is logged');
  t.match(log.lines.find((l) => l.msg === 'mobile push failed'), { err: { code: 'RELAY_ERR_NETWORK' } });
});
