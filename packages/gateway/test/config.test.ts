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
