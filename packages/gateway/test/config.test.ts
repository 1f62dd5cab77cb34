import t from 'tap';
import { parseConfig } from '../src/config.js';

function configError(input: unknown): string {
  try {
    parseConfig(input, 'pushgate.yaml');
  } catch (err) {
    t.equal((err as { code?: string }).code, 'GW_ERR_CONFIG');
    return (err as Error).message;
  }
  throw new Error('expected a config error');
}

t.test('an empty config gives the openITCOCKPIT defaults, frozen', async (t) => {
  const c = parseConfig({});
  t.equal(c.listen.port, 8083);
  t.equal(c.websocket.pingIntervalMs, 54_000);
  t.equal(c.websocket.pongTimeoutMs, 60_000);
  t.equal(c.websocket.maxPayloadBytes, 8192);
  t.equal(c.message.maxAgeSeconds, 300);
  t.ok(Object.isFrozen(c.websocket), 'nested sections are frozen');
});

t.test('errors name the file, the key path and the offending value', async (t) => {
  t.match(configError({ listen: { port: '80a' } }), 'invalid configuration in pushgate.yaml:\n  listen.port: expected integer, got "80a"');
  t.match(configError({ lisen: {} }), '(root): unknown key(s) "lisen"');
});

t.test('a ping interval at or above the pong timeout is refused: it would drop healthy clients', async (t) => {
  t.match(
    configError({ websocket: { pingIntervalMs: 60_000, pongTimeoutMs: 60_000 } }),
    'websocket.pingIntervalMs: must be below websocket.pongTimeoutMs',
  );
  t.match(configError({ websocket: { pongTimeoutMs: 1000 } }), 'websocket.pingIntervalMs: must be below');
  t.equal(parseConfig({ websocket: { pingIntervalMs: 40, pongTimeoutMs: 150 } }).websocket.pingIntervalMs, 40);
});

t.test('a range error says the range, not "expected integer"', async (t) => {
  t.match(configError({ listen: { port: -1 } }), '  listen.port: Too small: expected number to be >=0');
  t.match(configError({ listen: { port: 1.5 } }), '  listen.port: expected integer, got 1.5');
});

t.test('a bad notification channel is reported like any other key: GW_ERR_CONFIG naming its path under notifications', async (t) => {
  t.equal(
    configError({ notifications: { channels: { po: { type: 'pushover', token: 'short', user: 'uQiRzpo4DXghDmr9QzzfQu27cmVRsG' } } } }),
    'invalid configuration in pushgate.yaml:\n  notifications.channels.po.token: expected 30 letters and digits',
  );
  t.match(configError({ notifications: { channels: { po: { type: 'pigeon' } } } }), /^ {2}notifications\.channels\.po\.type: Invalid discriminator value/m);
  t.match(configError({ notifications: { channels: {}, defaultChannels: ['nope'] } }), '  notifications.defaultChannels.0: no channel named "nope"');
  t.match(configError({ notifications: { outbox: { maxPending: '10' } } }), '  notifications.outbox.maxPending: expected integer, got "10"');
  t.match(configError({ notifications: { outbx: {} } }), '  notifications: unknown key(s) "outbx"');
  t.match(
    configError({ notifications: { channels: { 'mobile-push': { type: 'webhook', url: 'http://127.0.0.1:9/x' } } } }),
    '  notifications.channels.mobile-push: the name is reserved for mobile push (relay section)',
  );
  t.match(
    configError({ notifications: { channels: { 'web-push': { type: 'webhook', url: 'http://127.0.0.1:9/x' } } } }),
    '  notifications.channels.web-push: the name is reserved for Web Push (webPush section)',
  );
  t.match(
    configError({ notifications: { channels: { m: { type: 'email', host: 'smtp.example.com', from: 'a@example.com', to: ['ops@example.com'], username: 'u' } } } }),
    '  notifications.channels.m.password: username and password go together',
  );
});

t.test('a valid notifications section comes out with its defaults, frozen; no section stays absent', async (t) => {
  const c = parseConfig({ notifications: { channels: { hook: { type: 'webhook', url: 'http://127.0.0.1:9/x' } } } });
  t.same(c.notifications?.channels.hook, { type: 'webhook', url: 'http://127.0.0.1:9/x', headers: {} });
  t.equal(c.notifications?.outbox.maxPending, 10_000);
  t.ok(Object.isFrozen(c.notifications?.channels.hook), 'frozen with the rest');
  t.equal(parseConfig({}).notifications, undefined);
});

t.test('webPush: enabled without a subject fails naming webPush.subject; the subject must be mailto: or https:; defaults', async (t) => {
  t.match(configError({ webPush: { enabled: true } }), '  webPush.subject: webPush.enabled needs webPush.subject (mailto:you@example.com or an https: URL)');
  t.match(configError({ webPush: { enabled: true, subject: 'http://example.com' } }), '  webPush.subject: expected a mailto: address or an https: URL');
  t.match(configError({ webPush: { subject: 'ops@example.com' } }), '  webPush.subject: expected a mailto: address or an https: URL');
  t.match(configError({ webPush: { appPath: '/app' } }), '  webPush.appPath: expected an absolute path ending in /, e.g. /app/');
  t.match(configError({ webPush: { when: 'sometimes' } }), /^ {2}webPush\.when: /m);
  const c = parseConfig({ webPush: { enabled: true, subject: 'https://example.com/contact' } }).webPush;
  t.match(c, { when: 'no-live-browser', ttlSeconds: 86_400, appPath: '/app/', maxSubscriptionsPerUser: 10, enrolTtlMs: 600_000, allowHosts: [] });
  t.equal(parseConfig({}).webPush.enabled, false, 'off by default');
});
