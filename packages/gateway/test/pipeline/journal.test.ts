import { spawn } from 'node:child_process';
import { appendFile, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { Journal, type JournalOptions } from '../../src/pipeline/journal.js';
import type { Notification } from '../../src/pipeline/notification.js';
import { silentLogger, tempDir, WAIT_MS, waitFor } from '../helpers.js';

function dir(t: Test): string {
  const d = tempDir('pushgate-journal-');
  t.teardown(() => rm(d, { recursive: true, force: true }));
  return d;
}

function note(id: number, created: number): Notification {
  return {
    id, objectKey: 'h1', kind: 'PROBLEM', severity: 'critical', title: `t${id}`, body: `b${id}`,
    recipients: [{ kind: 'user', userId: 1 }], source: 'message', created,
  };
}

async function open(d: string, extra: Partial<JournalOptions> = {}, highest = 0) {
  return Journal.open({ dir: d, logger: silentLogger(), restoreAgeMs: 60_000, lastId: () => highest, ...extra });
}

t.test('what was appended is handed back at the next open, oldest first, with the highest id', async (t) => {
  const d = dir(t);
  const first = await open(d);
  t.same(first.restored, { notifications: [], before: undefined, highestId: 0 }, 'a new journal holds nothing');
  const now = Date.now();
  for (const id of [101, 102, 103]) await first.journal.append({ t: 'n', at: now, n: note(id, now), live: { ws: 1 } });
  first.journal.note({ t: 'd', at: now, nid: 101, target: 'mobile-push', to: 'user:1', outcome: 'sent', attempts: 1 });
  await first.journal.close();
  const second = await open(d);
  t.teardown(() => second.journal.close());
  t.same(second.restored.notifications.map((r) => r.n.id), [101, 102, 103]);
  t.equal(second.restored.highestId, 103);
  t.equal(second.restored.before, 0, 'everything after the first segment header (the id clock then) is restored');
  t.equal(first.journal.stats.records.n, 3);
  t.equal(first.journal.stats.records.d, 1);
});

t.test('notifications older than the restore window are not handed back, and bound what can be resumed', async (t) => {
  const d = dir(t);
  let now = 1_000_000_000_000;
  const a = await open(d, { now: () => now }, 50);
  await a.journal.append({ t: 'n', at: now, n: note(60, now), live: {} });
  now += 120_000;
  await a.journal.append({ t: 'n', at: now, n: note(70, now), live: {} });
  await a.journal.close();
  const b = await open(d, { now: () => now + 1000 });
  t.teardown(() => b.journal.close());
  t.same(b.restored.notifications.map((r) => r.n.id), [70], 'only the one within restoreAgeMs');
  t.equal(b.restored.before, 60, 'ids up to the last one left out cannot be resumed');
  t.equal(b.restored.highestId, 70);
});

t.test('a torn last line is skipped silently; a garbled line in the middle is counted', async (t) => {
  const d = dir(t);
  const a = await open(d);
  const now = Date.now();
  await a.journal.append({ t: 'n', at: now, n: note(1, now), live: {} });
  await a.journal.close();
  const [segment] = (await readdir(d)).filter((f) => f.endsWith('.jsonl'));
  await appendFile(join(d, segment!), 'garbage\n' + JSON.stringify({ t: 'n', at: now, n: note(2, now), live: {} }) + '\n{"t":"n","at":');
  const b = await open(d);
  t.teardown(() => b.journal.close());
  t.same(b.restored.notifications.map((r) => r.n.id), [1, 2]);
  t.equal(b.journal.stats.corrupt, 1, 'the torn tail is what a crash leaves, not corruption');
});

t.test('segments roll at segmentBytes and whole segments leave by maxBytes and by age', async (t) => {
  const d = dir(t);
  let now = Date.now();
  const a = await open(d, { segmentBytes: 64 * 1024, maxBytes: 256 * 1024, maxAgeMs: 3_600_000, now: () => now });
  const n = note(1, now);
  const big = { ...n, body: 'x'.repeat(8 * 1024) };
  for (let i = 0; i < 80; i++) await a.journal.append({ t: 'n', at: now, n: { ...big, id: i + 1 }, live: {} });
  t.ok(a.journal.segments >= 2 && a.journal.segments <= 5, `${a.journal.segments} segments`);
  t.ok(a.journal.bytes <= 256 * 1024 + 64 * 1024 + 16 * 1024, `bounded: ${a.journal.bytes} bytes`);
  t.ok(a.journal.stats.compactions > 0, 'old segments were deleted');
  await a.journal.close();
  now += 2 * 3_600_000;
  const b = await open(d, { maxAgeMs: 3_600_000, now: () => now });
  t.teardown(() => b.journal.close());
  t.equal(b.journal.segments, 1, 'every segment past maxAgeMs left at start; a fresh one is open');
  t.same(b.restored.notifications, []);
});

t.test('a second live process cannot open the same journal; a dead owner\'s lock is taken over', async (t) => {
  const d = dir(t);
  const holder = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
  t.teardown(() => { holder.kill('SIGKILL'); });
  await writeFile(join(d, 'lock'), `${holder.pid}\n`);
  await t.rejects(open(d), { name: 'GatewayError', code: 'GW_ERR_STATE', message: new RegExp(`in use by pid ${holder.pid} \\(another pushgate process\\)`) });
  holder.kill('SIGKILL');
  await new Promise((r) => holder.once('exit', r));
  const taken = await open(d);
  t.equal((await readFile(join(d, 'lock'), 'utf8')).trim(), String(process.pid));
  await taken.journal.close();
  t.same((await readdir(d)).filter((f) => f === 'lock'), [], 'the lock leaves with a clean close');
});

t.test('an unwritable directory fails open with GW_ERR_STATE naming it', async (t) => {
  const d = dir(t);
  await writeFile(join(d, 'file'), '');
  await t.rejects(open(join(d, 'file', 'journal')), { code: 'GW_ERR_STATE', message: /journal directory .*file\/journal/ });
});

t.test('a record resolves once written; the fsync follows within syncIntervalMs, and close fsyncs what is left', async (t) => {
  const d = dir(t);
  const a = await open(d, { syncIntervalMs: 60_000 });
  const now = Date.now();
  for (const id of [1, 2, 3]) await a.journal.append({ t: 'n', at: now, n: note(id, now), live: {} });
  const [segment] = (await readdir(d)).filter((f) => f.endsWith('.jsonl'));
  const lines = (await readFile(join(d, segment!), 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as { t: string; n?: { id: number } });
  t.same(lines.filter((l) => l.t === 'n').map((l) => l.n!.id), [1, 2, 3], 'in the file (the page cache) when append resolved');
  t.equal(a.journal.stats.fsyncs, 0, 'no fsync on the answer path');
  await a.journal.close();
  t.equal(a.journal.stats.fsyncs, 1, 'close fsyncs what was written since the last fsync');

  const b = await open(dir(t), { syncIntervalMs: 20 });
  t.teardown(() => b.journal.close());
  await b.journal.append({ t: 'n', at: now, n: note(4, now), live: {} });
  await b.journal.append({ t: 'n', at: now, n: note(5, now), live: {} });
  await waitFor(() => b.journal.stats.fsyncs >= 1, WAIT_MS, 'the interval fsync');
  t.equal(b.journal.stats.fsyncs, 1, 'one fsync for both records');
  await b.journal.append({ t: 'n', at: now, n: note(6, now), live: {} });
  await waitFor(() => b.journal.stats.fsyncs >= 2, WAIT_MS, 'the next interval fsync');
});

t.test('syncIntervalMs 0: every batch is fsynced before its records resolve', async (t) => {
  const d = dir(t);
  const a = await open(d, { syncIntervalMs: 0 });
  t.teardown(() => a.journal.close());
  const now = Date.now();
  for (const id of [1, 2, 3]) {
    await a.journal.append({ t: 'n', at: now, n: note(id, now), live: {} });
    t.equal(a.journal.stats.fsyncs, id, `record ${id} resolved after its own fsync`);
  }
  await Promise.all([4, 5, 6, 7].map((id) => a.journal.append({ t: 'n', at: now, n: note(id, now), live: {} })));
  t.ok(a.journal.stats.fsyncs <= 5, `records arriving during an fsync share the next one (${a.journal.stats.fsyncs} fsyncs for 7)`);
});
