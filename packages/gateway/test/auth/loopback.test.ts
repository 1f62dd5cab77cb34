import t from 'tap';
import { isLoopback } from '../../src/auth/loopback.js';

t.test('IPv4 127.0.0.0/8 and IPv6 ::1 are loopback, in every spelling a socket or a proxy may give', async (t) => {
  for (const a of [
    '127.0.0.1', '127.0.0.2', '127.255.255.254', '127.1.2.3',
    '::1', '0:0:0:0:0:0:0:1', '0000:0000:0000:0000:0000:0000:0000:0001', '::0:1', '::1%lo',
    '::ffff:127.0.0.1', '::ffff:127.0.0.2', '::FFFF:127.10.0.1', '::ffff:7f00:1', '::ffff:7f00:2', '::ffff:7fff:ffff',
    '0:0:0:0:0:ffff:127.0.0.1', '0:0:0:0:0:ffff:7f00:1',
  ]) t.equal(isLoopback(a), true, a);
});

t.test('everything else is not: other addresses, IPv4-compatible and lookalikes, garbage', async (t) => {
  for (const a of [
    undefined, '', '10.0.0.1', '128.0.0.1', '126.255.255.255', '0.0.0.0', '192.168.127.1',
    '::', '::2', '::1:0', '1::1', 'fe80::1', '::ffff:10.0.0.1', '::ffff:8000:1', '::ffff:7eff:ffff', '::fffe:127.0.0.1',
    // IPv4-compatible (deprecated) is not IPv4-mapped.
    '::127.0.0.1', '::7f00:1',
    // The old intake copy accepted any text starting with 127.
    '127.', '127.0.0', '127.0.0.1.5', '127.0.0.256', '127.foo', 'localhost', '::ffff:127.0.0.999', '::ffff:::1', ':::1', '::1::',
  ]) t.equal(isLoopback(a), false, String(a));
});
