import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import t, { type Test } from 'tap';
import { receiver } from './receiver.js';
import { WebhookChannel } from '../src/channels/webhook.js';
import { Outbox, type OutboxOptions, type Outcome } from '../src/outbox.js';
import { TimerWheel } from '../src/timer-wheel.js';

const silent = pino({ level: 'silent' });

async function tempDir(t: Test): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'pushgate-outbox-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

async function openOutbox(t: Test, url: string, opts: Partial<OutboxOptions> & { concurrency?: number; minRetryDelayMs?: number } = {}) {
  const dir = opts.dir ?? (await tempDir(t));
  const channel = new WebhookChannel({ name: 'hook', url, headers: { authorization: 'Bearer s3cret' }, concurrency: opts.concurrency ?? 4, minRetryDelayMs: opts.minRetryDelayMs ?? 0, timeoutMs: 5000 });
  const outcomes: Outcome[] = [];
  const outbox = await Outbox.open({ logger: silent, retryBaseMs: 10, maxRetryDelayMs: 100, onSettled: (_d, o) => outcomes.push(o), ...opts, dir, channels: [channel] });
  t.teardown(async () => {
    await outbox.close();
    await channel.close();
  });
  return { outbox, dir, outcomes };
}

/** Bounded wait: every wait in these tests has a ceiling so a bug fails instead of hanging. */
function within<T>(ms: number, p: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise<T>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
    }),
  ]);
}

async function deadLetters(dir: string): Promise<Array<{ reason: string; attempts: number; delivery: { id: string } }>> {
  const text = await readFile(join(dir, 'dead-letter.jsonl'), 'utf8');
  return text.trim().split('\n').map((l) => JSON.parse(l));
}

t.test('an accepted delivery is journaled before enqueue resolves, then POSTed once with its idempotency key', async (t) => {
  const rx = await receiver(t, (_s, _n, res) => res.end('ok'));
  const { outbox, dir, outcomes } = await openOutbox(t, rx.url);
  await outbox.enqueue({ id: 'n1:hook', channel: 'hook', title: 'DOWN web01', message: 'PING CRITICAL', url: 'https://oitc/hosts/1', priority: 1 });
  const journal = await readFile(join(dir, 'journal.jsonl'), 'utf8');
  t.match(journal, /^\{"t":"a","d":\{"id":"n1:hook","channel":"hook","title":"DOWN web01","message":"PING CRITICAL","url":"https:\/\/oitc\/hosts\/1","priority":1,"createdAt":\d+,"expiresAt":\d+\},"n":0,"at":\d+\}\n/);
  await within(5000, outbox.idle(), 'idle');
  t.equal(rx.seen.length, 1);
  const req = rx.seen[0]!;
  t.equal(req.method, 'POST');
  t.equal(req.url, '/hook');
  t.equal(req.headers['content-type'], 'application/json');
  t.equal(req.headers['idempotency-key'], 'n1:hook');
  t.equal(req.headers.authorization, 'Bearer s3cret');
  const created = new Date(JSON.parse(journal.split('\n')[0]!).d.createdAt).toISOString();
  t.equal(req.body, `{"id":"n1:hook","title":"DOWN web01","message":"PING CRITICAL","url":"https://oitc/hosts/1","priority":1,"created_at":"${created}"}`);
  t.same(outcomes, [{ kind: 'sent', attempts: 1 }]);
  t.equal(outbox.stats.sent, 1);
});

t.test('enqueues arriving together share fsyncs: 100 concurrent deliveries, at most 2 journal writes', async (t) => {
  const rx = await receiver(t, (_s, _n, res) => res.end());
  const { outbox } = await openOutbox(t, rx.url);
  const before = outbox.stats.fsyncs;
  await Promise.all(Array.from({ length: 100 }, (_, i) => outbox.enqueue({ id: `b${i}`, channel: 'hook', title: 't', message: 'm' })));
  t.ok(outbox.stats.fsyncs - before <= 2, `${outbox.stats.fsyncs - before} fsyncs for 100 enqueues`);
  await within(10_000, outbox.idle(), 'idle');
  t.same(outbox.byChannel.get('hook'), { sent: 100, retried: 0, dead: 0 });
});

t.test('enqueueing an id that is still pending sends it only once', async (t) => {
  const rx = await receiver(t, (_s, _n, res) => setTimeout(() => res.end('ok'), 20));
  const { outbox } = await openOutbox(t, rx.url);
  await Promise.all([outbox.enqueue({ id: 'same', channel: 'hook', title: 't', message: 'm' }), outbox.enqueue({ id: 'same', channel: 'hook', title: 't', message: 'm' })]);
  await within(5000, outbox.idle(), 'idle');
  t.equal(rx.seen.length, 1);
  t.equal(outbox.stats.accepted, 1);
});

t.test('503 and 429 are retried with backoff until the receiver accepts', async (t) => {
  const rx = await receiver(t, (_s, n, res) => {
    res.statusCode = n === 1 ? 503 : n === 2 ? 429 : 200;
    res.end(n < 3 ? 'busy' : 'ok');
  });
  const { outbox, outcomes } = await openOutbox(t, rx.url);
  await outbox.enqueue({ id: 'r1', channel: 'hook', title: 't', message: 'm' });
  await within(5000, outbox.idle(), 'idle');
  t.equal(rx.seen.length, 3);
  t.ok(rx.seen.every((s) => s.headers['idempotency-key'] === 'r1'), 'every attempt carries the same key');
  t.same(outcomes, [{ kind: 'sent', attempts: 3 }]);
  t.equal(outbox.stats.retried, 2);
});

t.test('Retry-After delays the next attempt by at least that many seconds', async (t) => {
  const rx = await receiver(t, (_s, n, res) => {
    if (n === 1) {
      res.statusCode = 503;
      res.setHeader('retry-after', '1');
    }
    res.end();
  });
  const { outbox } = await openOutbox(t, rx.url, { maxRetryDelayMs: 5000 });
  await outbox.enqueue({ channel: 'hook', title: 't', message: 'm' });
  await within(10_000, outbox.idle(), 'idle');
  t.equal(rx.seen.length, 2);
  t.ok(rx.seen[1]!.at - rx.seen[0]!.at >= 950, `second attempt ${rx.seen[1]!.at - rx.seen[0]!.at} ms after the first`);
});

t.test('a channel minRetryDelayMs is a floor under backoff', async (t) => {
  const rx = await receiver(t, (_s, n, res) => {
    res.statusCode = n === 1 ? 500 : 200;
    res.end();
  });
  const { outbox } = await openOutbox(t, rx.url, { minRetryDelayMs: 300 });
  await outbox.enqueue({ channel: 'hook', title: 't', message: 'm' });
  await within(5000, outbox.idle(), 'idle');
  t.ok(rx.seen[1]!.at - rx.seen[0]!.at >= 280, `second attempt ${rx.seen[1]!.at - rx.seen[0]!.at} ms after the first`);
});

t.test('a 4xx is not retried: one request, then a dead letter with status and body, credentials redacted', async (t) => {
  const rx = await receiver(t, (s, _n, res) => {
    res.statusCode = 400;
    res.end(`bad request, you sent ${s.headers.authorization}`);
  });
  const { outbox, dir, outcomes } = await openOutbox(t, rx.url);
  await outbox.enqueue({ id: 'bad', channel: 'hook', title: 't', message: 'm' });
  await within(5000, outbox.idle(), 'idle');
  await outbox.close();
  t.equal(rx.seen.length, 1);
  const dead = await deadLetters(dir);
  t.equal(dead.length, 1);
  t.equal(dead[0]!.delivery.id, 'bad');
  t.equal(dead[0]!.reason, 'refused: 400 bad request, you sent [redacted]');
  t.same(outcomes, [{ kind: 'dead', reason: 'refused: 400 bad request, you sent [redacted]', attempts: 1 }]);
  const journal = await readFile(join(dir, 'journal.jsonl'), 'utf8');
  t.match(journal, /\{"t":"x","id":"bad"\}\n$/, 'the journal records the end after the dead letter');
});

t.test('after maxAttempts network failures the delivery is dead-lettered with the last reason', async (t) => {
  // A port that was just closed refuses connections.
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  const { outbox, dir } = await openOutbox(t, `http://127.0.0.1:${port}/`, { maxAttempts: 3 });
  await outbox.enqueue({ id: 'net', channel: 'hook', title: 't', message: 'm' });
  await within(5000, outbox.idle(), 'idle');
  await outbox.close();
  const dead = await deadLetters(dir);
  t.equal(dead[0]!.attempts, 3);
  t.match(dead[0]!.reason, /^3 attempts failed, last: ECONNREFUSED/);
  t.equal(outbox.stats.retried, 2);
});

t.test('a delivery that would expire before its next attempt is dead-lettered as expiring', async (t) => {
  const rx = await receiver(t, (_s, _n, res) => {
    res.statusCode = 503;
    res.setHeader('retry-after', '30');
    res.end();
  });
  const { outbox, dir } = await openOutbox(t, rx.url, { maxRetryDelayMs: 60_000 });
  await outbox.enqueue({ channel: 'hook', title: 't', message: 'm', ttlMs: 1000 });
  await within(5000, outbox.idle(), 'idle');
  await outbox.close();
  t.equal(rx.seen.length, 1);
  t.equal((await deadLetters(dir))[0]!.reason, 'expires before the next attempt, last: 503');
});

t.test('retry waits sit on the timer wheel it is given; close cancels only its own and leaves the wheel running', async (t) => {
  const wheel = new TimerWheel({ tickMs: 20, unref: false });
  t.teardown(() => wheel.close());
  const rx = await receiver(t, (_s, n, res) => {
    res.statusCode = n <= 2 ? 503 : 200;
    if (n === 2) res.setHeader('retry-after', '30');
    res.end();
  });
  const { outbox } = await openOutbox(t, rx.url, { timers: wheel, maxRetryDelayMs: 60_000 });
  const other = wheel.schedule(60_000, () => {}, null);
  await outbox.enqueue({ id: 'w1', channel: 'hook', title: 't', message: 'm' });
  await within(5000, (async () => { while (rx.seen.length < 2) await new Promise((r) => setTimeout(r, 5)); })(), 'the second attempt');
  await within(5000, (async () => { while (wheel.size < 2) await new Promise((r) => setTimeout(r, 5)); })(), 'the 30 s retry wait on the wheel');
  t.equal(outbox.pending, 1);
  await outbox.close();
  t.equal(wheel.size, 1, 'the retry wait was cancelled, the other item of the wheel was not');
  t.equal(other.pending, true);
  t.equal(outbox.pending, 1, 'the delivery stays journaled for the next open');
});

t.test('per-channel concurrency bounds the requests in flight', async (t) => {
  const rx = await receiver(t, (_s, _n, res) => setTimeout(() => res.end(), 30));
  const { outbox } = await openOutbox(t, rx.url, { concurrency: 2 });
  await Promise.all(Array.from({ length: 8 }, (_, i) => outbox.enqueue({ id: `c${i}`, channel: 'hook', title: 't', message: 'm' })));
  await within(10_000, outbox.idle(), 'idle');
  t.equal(rx.seen.length, 8);
  t.equal(rx.state.maxInFlight, 2);
});

t.test('a full outbox rejects with RELAY_ERR_OUTBOX_FULL, by count and by journal bytes', async (t) => {
  const hold: ServerResponse[] = [];
  let released = false;
  const rx = await receiver(t, (_s, _n, res) => (released ? res.end() : hold.push(res)));
  const byCount = await openOutbox(t, rx.url, { maxPending: 2 });
  await byCount.outbox.enqueue({ channel: 'hook', title: 't', message: 'm' });
  await byCount.outbox.enqueue({ channel: 'hook', title: 't', message: 'm' });
  await t.rejects(byCount.outbox.enqueue({ channel: 'hook', title: 't', message: 'm' }), { code: 'RELAY_ERR_OUTBOX_FULL', message: 'outbox full: 2 deliveries pending (maxPending 2)' });
  const byBytes = await openOutbox(t, rx.url, { maxJournalBytes: 400 });
  await byBytes.outbox.enqueue({ channel: 'hook', title: 't', message: 'x'.repeat(100) });
  await t.rejects(byBytes.outbox.enqueue({ channel: 'hook', title: 't', message: 'x'.repeat(200) }), { code: 'RELAY_ERR_OUTBOX_FULL', message: /maxJournalBytes 400/ });
  t.equal(byCount.outbox.stats.rejected + byBytes.outbox.stats.rejected, 2);
  released = true;
  for (const res of hold) res.end();
});

t.test('enqueue rejects for an unknown channel and after close', async (t) => {
  const rx = await receiver(t, (_s, _n, res) => res.end());
  const { outbox } = await openOutbox(t, rx.url);
  await t.rejects(outbox.enqueue({ channel: 'nope', title: 't', message: 'm' }), { code: 'RELAY_ERR_CHANNEL_CONFIG' });
  await outbox.close();
  await t.rejects(outbox.enqueue({ channel: 'hook', title: 't', message: 'm' }), { code: 'RELAY_ERR_OUTBOX_CLOSED' });
});

t.test('finished entries are compacted away and a reopened journal has nothing to replay', async (t) => {
  const rx = await receiver(t, (_s, _n, res) => res.end());
  const dir = await tempDir(t);
  const first = await openOutbox(t, rx.url, { dir, compactAtBytes: 2000 });
  for (let i = 0; i < 40; i++) await first.outbox.enqueue({ channel: 'hook', title: 't', message: `m${i}` });
  await within(10_000, first.outbox.idle(), 'idle');
  await first.outbox.close();
  t.ok(first.outbox.stats.compactions >= 2, `compacted ${first.outbox.stats.compactions} times`);
  t.ok(first.outbox.journalBytes < 2000 + 400, `journal ${first.outbox.journalBytes} bytes`);
  const again = await openOutbox(t, rx.url, { dir });
  t.equal(again.outbox.stats.replayed, 0);
  t.equal(again.outbox.journalBytes, 0);
  t.equal(rx.seen.length, 40);
});

t.test('a torn last line is ignored and a pending delivery with a scheduled retry is replayed', async (t) => {
  const rx = await receiver(t, (_s, _n, res) => res.end());
  const dir = await tempDir(t);
  const d = { id: 'p1', channel: 'hook', title: 't', message: 'm', createdAt: Date.now(), expiresAt: Date.now() + 60_000 };
  await writeFile(
    join(dir, 'journal.jsonl'),
    `{"t":"a","d":${JSON.stringify(d)},"n":0,"at":0}\n{"t":"r","id":"p1","n":2,"at":0}\n{"t":"a","d":{"id":"p2","chan`,
  );
  const { outbox, outcomes } = await openOutbox(t, rx.url, { dir });
  t.equal(outbox.stats.replayed, 1);
  t.equal(outbox.stats.corrupt, 0);
  await within(5000, outbox.idle(), 'idle');
  t.equal(rx.seen.length, 1);
  t.equal(rx.seen[0]!.headers['idempotency-key'], 'p1');
  t.same(outcomes, [{ kind: 'sent', attempts: 3 }], 'attempts continue from the journal');
});

t.test('a replayed delivery whose channel is gone is dead-lettered', async (t) => {
  const rx = await receiver(t, (_s, _n, res) => res.end());
  const dir = await tempDir(t);
  const d = { id: 'orphan', channel: 'removed', title: 't', message: 'm', createdAt: Date.now(), expiresAt: Date.now() + 60_000 };
  await writeFile(join(dir, 'journal.jsonl'), `{"t":"a","d":${JSON.stringify(d)},"n":0,"at":0}\n`);
  const { outbox } = await openOutbox(t, rx.url, { dir });
  await within(5000, outbox.idle(), 'idle');
  await outbox.close();
  t.equal((await deadLetters(dir))[0]!.reason, 'no channel named "removed" is configured');
});

t.test('a replayed delivery past its expiry is dead-lettered without an attempt', async (t) => {
  const rx = await receiver(t, (_s, _n, res) => res.end());
  const dir = await tempDir(t);
  const d = { id: 'old', channel: 'hook', title: 't', message: 'm', createdAt: 1000, expiresAt: 2000 };
  await writeFile(join(dir, 'journal.jsonl'), `{"t":"a","d":${JSON.stringify(d)},"n":0,"at":0}\n`);
  const { outbox } = await openOutbox(t, rx.url, { dir });
  await within(5000, outbox.idle(), 'idle');
  await outbox.close();
  t.equal(rx.seen.length, 0);
  t.equal((await deadLetters(dir))[0]!.reason, 'expired after 0 attempts');
});

t.test('an outbox directory that cannot be created fails open with RELAY_ERR_JOURNAL', async (t) => {
  const dir = await tempDir(t);
  await writeFile(join(dir, 'file'), '');
  await t.rejects(Outbox.open({ dir: join(dir, 'file', 'outbox'), channels: [], logger: silent }), { code: 'RELAY_ERR_JOURNAL', message: /cannot create outbox directory/ });
});

// ---- the crash test ---------------------------------------------------------

const child = join(import.meta.dirname, 'fixtures', 'outbox-child.ts');
// Only the TypeScript loader tap runs us with, so the child can import .ts sources.
const execArgv = process.execArgv.filter((a) => a.includes('@tapjs/typescript') || a.includes('tapjs+typescript'));

function relay(args: string[]): { proc: ChildProcess; lines: string[]; waitFor: (pred: (lines: string[]) => boolean, ms: number, what: string) => Promise<void> } {
  const proc = spawn(process.execPath, [...execArgv, child, ...args], { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, NODE_OPTIONS: '' } });
  const lines: string[] = [];
  const checks = new Set<() => void>();
  let partial = '';
  proc.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
    const parts = (partial + chunk).split('\n');
    partial = parts.pop() ?? '';
    lines.push(...parts);
    for (const check of checks) check();
  });
  const waitFor = (pred: (lines: string[]) => boolean, ms: number, what: string) =>
    within(
      ms,
      new Promise<void>((resolve, reject) => {
        const check = () => {
          if (pred(lines)) {
            checks.delete(check);
            resolve();
          }
        };
        checks.add(check);
        proc.once('exit', (code, signal) => {
          checks.delete(check);
          if (!pred(lines)) reject(new Error(`relay exited (${code ?? signal}) before ${what}`));
        });
        check();
      }),
      what,
    );
  return { proc, lines, waitFor };
}

function kill9(proc: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (proc.exitCode !== null || proc.signalCode !== null) return resolve();
    proc.once('exit', () => resolve());
    proc.kill('SIGKILL');
  });
}

t.test('a relay killed with SIGKILL mid-flight, twice, delivers every accepted notification after restart', async (t) => {
  const received = new Map<string, number>();
  const rx = await receiver(t, (s, _n, res) => {
    const id = JSON.parse(s.body).id as string;
    received.set(id, (received.get(id) ?? 0) + 1);
    // Slow enough that deliveries are in flight when the kill lands.
    setTimeout(() => res.end('ok'), 5);
  });
  const dir = await tempDir(t);
  const total = 300;
  const acked = (lines: string[]) => lines.filter((l) => l.startsWith('ack ')).map((l) => `d-${l.slice(4)}`);

  // 1. Killed while accepting: some deliveries acknowledged, some sent, some in flight.
  const first = relay(['enqueue', dir, rx.url, String(total)]);
  t.teardown(() => kill9(first.proc));
  await first.waitFor((l) => acked(l).length >= 120, 60_000, '120 acks');
  await kill9(first.proc);
  const accepted = acked(first.lines);
  t.ok(accepted.length >= 120 && accepted.length < total, `${accepted.length} accepted before the first kill`);
  const sentBeforeKill = received.size;

  // 2. Restarted and killed again while replaying.
  const second = relay(['resume', dir, rx.url]);
  t.teardown(() => kill9(second.proc));
  await second.waitFor((l) => l.some((x) => x.startsWith('open ')), 60_000, 'the second open');
  const replayed = Number(second.lines.find((x) => x.startsWith('open '))!.slice(5));
  await within(60_000, (async () => { while (received.size < sentBeforeKill + 5 && received.size < accepted.length) await new Promise((r) => setTimeout(r, 5)); })(), 'replayed deliveries');
  await kill9(second.proc);

  // 3. Restarted to completion.
  const third = relay(['resume', dir, rx.url]);
  t.teardown(() => kill9(third.proc));
  await third.waitFor((l) => l.includes('idle'), 60_000, 'the third relay to finish');
  await new Promise<void>((resolve) => (third.proc.exitCode !== null ? resolve() : third.proc.once('exit', () => resolve())));

  const missing = accepted.filter((id) => !received.has(id));
  t.same(missing, [], 'every acknowledged delivery reached the receiver');
  t.ok(replayed > 0, `${replayed} deliveries replayed after the first kill`);
  const dupes = [...received.values()].filter((n) => n > 1).length;
  t.comment(`accepted ${accepted.length}, received ${received.size} distinct, ${dupes} received more than once (at-least-once)`);
  t.equal(third.proc.exitCode, 0);
});
