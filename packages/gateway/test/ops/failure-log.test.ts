import t from 'tap';
import { FailureLog } from '../../src/ops/failure-log.js';
import { capturedLogger } from '../helpers.js';

t.test('an outage is logged when it starts, then once per repeatMs with a count, and its end once', async (t) => {
  const { logger, lines } = capturedLogger();
  let now = 0;
  const log = new FailureLog({ logger, what: 'export status query', repeatMs: 60_000, now: () => now });
  log.succeeded();
  t.equal(lines.length, 0, 'a success while healthy logs nothing');
  // A failure every 3 s for five minutes.
  for (; now <= 300_000; now += 3000) log.failed(new Error('database down'));
  t.ok(log.failing);
  const msgs = lines.map((l) => [l.level, l.msg, l.failures]);
  t.same(msgs[0], [40, 'export status query failed', undefined], 'the first failure, as a warning with the error');
  t.match(lines[0], { err: { message: 'database down' } });
  t.same(msgs.slice(1), Array.from({ length: 5 }, () => [40, 'export status query still failing', 20]), 'then one line a minute, each counting the 20 failures since the last');
  log.succeeded();
  t.same(lines.at(-1), { ...lines.at(-1), level: 30, msg: 'export status query works again', failures: 101 });
  t.notOk(log.failing);
  log.succeeded();
  log.failed(new Error('again'));
  t.equal(lines.at(-1)!.msg, 'export status query failed', 'a new outage starts with a new first line');
  t.equal(lines.length, 8);
});
