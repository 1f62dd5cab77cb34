import t from 'tap';
import { RelayError, sendNotificationUrl } from '../src/index.js';

const PATH = '/notifications/send-notification.json';

t.test('an address without a scheme gets https:// and the port only when it is not 443', async (t) => {
  t.equal(sendNotificationUrl('push.example.com', 443), `https://push.example.com${PATH}`);
  t.equal(sendNotificationUrl('push.example.com', 8443), `https://push.example.com:8443${PATH}`);
  t.equal(sendNotificationUrl('push.example.com', 80), `https://push.example.com:80${PATH}`);
  t.equal(sendNotificationUrl('10.1.2.3', 8080), `https://10.1.2.3:8080${PATH}`);
  t.equal(sendNotificationUrl('[::1]', 8443), `https://[::1]:8443${PATH}`);
  t.equal(sendNotificationUrl('fd00::1', 8443), `https://[fd00::1]:8443${PATH}`, 'a bare IPv6 literal gets brackets');
  t.equal(sendNotificationUrl('::ffff:10.0.0.1', 443), `https://[::ffff:a00:1]${PATH}`);
});

t.test('an address with a scheme keeps it, and the port is left out when it is that scheme\'s default', async (t) => {
  t.equal(sendNotificationUrl('https://push.example.com', 443), `https://push.example.com${PATH}`);
  t.equal(sendNotificationUrl('https://push.example.com', 80), `https://push.example.com:80${PATH}`);
  t.equal(sendNotificationUrl('http://push.example.com', 80), `http://push.example.com${PATH}`);
  t.equal(sendNotificationUrl('http://push.example.com', 443), `http://push.example.com:443${PATH}`);
  t.equal(sendNotificationUrl('HTTPS://Push.Example.COM', 443), `https://push.example.com${PATH}`);
});

t.test('surrounding blanks, a trailing slash or path on the address are dropped; the webhook path is absolute', async (t) => {
  t.equal(sendNotificationUrl('  push.example.com \n', 443), `https://push.example.com${PATH}`);
  t.equal(sendNotificationUrl('push.example.com/', 443), `https://push.example.com${PATH}`);
  t.equal(sendNotificationUrl('https://push.example.com/api/', 8443), `https://push.example.com:8443${PATH}`);
});

t.test('port 0 (unset) keeps the port written in the address; a configured port overrides it', async (t) => {
  t.equal(sendNotificationUrl('push.example.com:9000', 0), `https://push.example.com:9000${PATH}`);
  t.equal(sendNotificationUrl('push.example.com', 0), `https://push.example.com${PATH}`);
  t.equal(sendNotificationUrl('push.example.com:9000', 9443), `https://push.example.com:9443${PATH}`);
  t.equal(sendNotificationUrl('push.example.com:9000', 443), `https://push.example.com${PATH}`);
});

t.test('an address or port that cannot form an http(s) URL throws RELAY_ERR_ENDPOINT', async (t) => {
  for (const [address, port] of [
    ['', 443],
    ['https://', 443],
    ['ftp://push.example.com', 21],
    ['push example com', 443],
    ['push.example.com', 70000],
    ['push.example.com', -1],
    ['push.example.com', 44.3],
  ] as const) {
    t.throws(() => sendNotificationUrl(address, port), { name: 'RelayError', code: 'RELAY_ERR_ENDPOINT' }, `${JSON.stringify(address)}:${port}`);
  }
  try {
    sendNotificationUrl('ftp://push.example.com', 21);
  } catch (err) {
    t.ok(err instanceof RelayError, 'is a RelayError');
    t.match((err as Error).message, 'ftp://push.example.com', 'the message names the address');
  }
});
