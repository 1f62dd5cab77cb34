import t from 'tap';
import { DEFAULT_PUSH_HOSTS, EndpointPolicy, isNonPublicAddress } from '../../src/webpush/endpoint-policy.js';

t.test('non-public addresses: loopback, private, link-local, CGNAT, multicast, IPv6 ULA and mapped forms', async (t) => {
  for (const a of ['127.0.0.1', '10.1.2.3', '172.16.0.1', '172.31.255.255', '192.168.1.1', '169.254.169.254', '100.64.0.1', '0.0.0.0', '224.0.0.1',
    '::1', '::', 'fe80::1', 'fd00::1', 'fc12::1', '::ffff:127.0.0.1', '::ffff:7f00:1', '::ffff:10.0.0.1', '64:ff9b::a9fe:a9fe', 'FE80::1%eth0', 'not-an-ip']) {
    t.ok(isNonPublicAddress(a), a);
  }
  for (const a of ['142.250.185.74', '8.8.8.8', '172.32.0.1', '2a00:1450:4001:82a::200a', '::ffff:8.8.8.8']) t.notOk(isNonPublicAddress(a), a);
});

t.test('the allow-list: the big push services by default, more by config; https only, no credentials, port 443 unless listed', async (t) => {
  const p = new EndpointPolicy(['push.example.org', '*.up.example.net', '10.0.0.5']);
  t.equal(p.check('https://fcm.googleapis.com/fcm/send/abc'), undefined);
  t.equal(p.check('https://updates.push.services.mozilla.com/wpush/v2/x'), undefined);
  t.equal(p.check('https://web.push.apple.com/QO'), undefined);
  t.equal(p.check('https://wns2-par02p.notify.windows.com/w/?token=x'), undefined);
  t.equal(p.check('https://push.example.org:8443/up/x'), undefined, 'a listed host, any port');
  t.equal(p.check('https://a.up.example.net/x'), undefined, 'a listed wildcard');
  t.equal(p.check('https://10.0.0.5/x'), undefined, 'a listed private address');
  t.match(p.check('https://up.example.net/x'), /not on the push service allow-list/, 'the wildcard needs a label');
  t.match(p.check('http://fcm.googleapis.com/x'), /https:/);
  t.match(p.check('https://u:p@fcm.googleapis.com/x'), /credentials/);
  t.match(p.check('https://fcm.googleapis.com:444/x'), /port 444/);
  t.match(p.check('https://push.apple.com/x'), /allow-list/, '*.push.apple.com needs a subdomain');
  t.match(p.check('https://fcm.googleapis.com.evil.example/x'), /allow-list/);
  t.match(p.check('not a url'), /not a URL/);
  t.ok(DEFAULT_PUSH_HOSTS.includes('fcm.googleapis.com'));
});

t.test('a host on the list that resolves to a private address is refused at subscription and when a push dials it (DNS rebinding)', async (t) => {
  // `localhost` stands in for a listed push-service name whose DNS answer turned private.
  const p = new EndpointPolicy([], ['localhost']);
  t.equal(p.check('https://localhost/x'), undefined, 'syntactically fine');
  t.match(await p.checkResolved('https://localhost/x'), /resolves to the non-public address (127\.0\.0\.1|::1)/);
  const err = await new Promise<NodeJS.ErrnoException | null>((resolve) => p.lookup('localhost', {}, (e) => resolve(e)));
  t.equal(err?.code, 'EWEBPUSHPRIVATE', 'the connection\'s own lookup refuses it');
  // Listed explicitly, the same host is accepted.
  const listed = new EndpointPolicy(['localhost']);
  t.equal(await listed.checkResolved('https://localhost/x'), undefined);
  const ok = await new Promise<string>((resolve) => listed.lookup('localhost', {}, (e, a) => resolve(e ? e.message : String(a))));
  t.match(ok, /^(127\.0\.0\.1|::1)$/);
});
