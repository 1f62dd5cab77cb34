/**
 * Property test (fast-check) of the sender's command line: random and
 * mutated argv either parse or throw a SenderError with a usage or user-id
 * code, never anything else. `FUZZ_RUNS` (scripts/fuzz) raises the case count.
 */
import fc from 'fast-check';
import t from 'tap';
import { SenderError } from '../src/errors.js';
import { parseFlags } from '../src/flags.js';

const RUNS = Number(process.env.FUZZ_RUNS ?? '') || 200;
const FLAGS = ['-type', '-t', '-notificationtype', '-hostuuid', '-serviceuuid', '-state', '-output', '-ackauthor', '-ackcomment', '-user-id', '-url', '-api-key-file', '-h', '--help', '--', '-', '-x'];

t.test('random and mutated sender argv parse or throw SEND_ERR_USAGE / SEND_ERR_USER_ID', async (t) => {
  const token = fc.oneof(
    fc.constantFrom(...FLAGS),
    fc.constantFrom(...FLAGS).chain((f) => fc.string({ maxLength: 8 }).map((v) => `${f}=${v}`)),
    fc.string({ maxLength: 12 }),
    fc.integer().map(String),
  );
  const valid = ['-type', 'host', '-hostuuid', 'h', '-state', '1', '-notificationtype', 'PROBLEM', '-output', 'o', '-user-id', '7'];
  const argv = fc.oneof(
    fc.array(token, { maxLength: 12 }),
    fc.tuple(fc.nat(), token).map(([i, tok]) => valid.map((v, j) => (j === i % valid.length ? tok : v))),
  );
  fc.assert(fc.property(argv, (args) => {
    try {
      const r = parseFlags(args);
      return r.help || r.flags.userId > 0;
    } catch (err) {
      return err instanceof SenderError && (err.code === 'SEND_ERR_USAGE' || err.code === 'SEND_ERR_USER_ID') && err.message.length > 0;
    }
  }), { numRuns: RUNS });
  t.pass('no counterexample');
});
