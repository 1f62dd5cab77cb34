import { execFileSync } from 'node:child_process';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import t, { type Test } from 'tap';
import { parseConfig } from '../../src/config.js';
import type { Directory } from '../../src/directory/directory.js';
import { parseMyCnf } from '../../src/directory/mycnf.js';
import { TtlCache } from '../../src/directory/ttl-cache.js';
import { createOpenItcockpitDirectory, type OpenItcockpitDirectoryConfig } from '../../src/directory/openitcockpit.js';
import { GatewayError } from '../../src/errors.js';
import { createOitcFixture, mariadbSkip, OITC, type OitcFixture } from '../fixtures/openitcockpit.js';
import { capturedLogger, hostMessage, httpRequest, openClient, openRegisteredClient, postMessage, startTestGateway, type TestClient, waitFor } from '../helpers.js';
import { startTcpProxy } from '../tcp-proxy.js';

/** A directory config with test-sized timings; `over` replaces any key. */
function oitcConfig(over: Record<string, unknown>): OpenItcockpitDirectoryConfig {
  const d = parseConfig({
    directory: { type: 'openitcockpit', queryTimeoutMs: 3000, reconnectMinMs: 20, reconnectMaxMs: 200, ...over },
  }).directory;
  if (d.type !== 'openitcockpit') throw new Error('unreachable');
  return d;
}

/** Take frames until one of `type` (and, if given, `payload`) arrives; bounded by the client's wait. */
async function nextOfType(c: TestClient, type: string, payload?: unknown): Promise<{ type: string; message: string; payload: unknown }> {
  for (let i = 0; i < 500; i++) {
    const m = await c.nextJson();
    if (m.type === type && (payload === undefined || JSON.stringify(m.payload) === JSON.stringify(payload))) return m;
  }
  throw new Error(`no ${type} frame among 500`);
}

const isUnavailable = (err: unknown): boolean => err instanceof GatewayError && err.code === 'GW_ERR_DIRECTORY_UNAVAILABLE';

t.test('my.cnf [client] section is read the way openITCOCKPIT writes it', async (t) => {
  const c = parseMyCnf([
    '# openITCOCKPIT',
    '[mysqld]', 'port = 1',
    '[client]',
    'host = "db.example"', "port=3307", 'user = openitcockpit', "password = 's3cr#t'", 'database = openitcockpit  # main db',
    'default-character-set = utf8mb4',
  ].join('\n'), 'x.cnf');
  t.same(c, { host: 'db.example', port: 3307, user: 'openitcockpit', password: 's3cr#t', database: 'openitcockpit' });
  const s = parseMyCnf('[client]\nsocket=/run/mysqld/mysqld.sock\nuser=u\npassword=\ndatabase=d\n', 'y.cnf');
  t.same(s, { host: 'localhost', port: 3306, user: 'u', password: '', database: 'd', socket: '/run/mysqld/mysqld.sock' });
});

t.test('a my.cnf without the file, the [client] section or a key fails naming the file and key', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'pushgate-cnf-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const { logger } = capturedLogger();
  const missing = join(dir, 'absent.cnf');
  await t.rejects(createOpenItcockpitDirectory(oitcConfig({ mysqlCnf: missing }), { logger, env: {} }), {
    code: 'GW_ERR_DIRECTORY_CONFIG',
    message: new RegExp(`cannot read MySQL config ${missing}`),
  });
  const noSection = join(dir, 'nosection.cnf');
  await writeFile(noSection, '[mysqld]\nuser=x\n');
  await t.rejects(createOpenItcockpitDirectory(oitcConfig({ mysqlCnf: '/nonexistent' }), { logger, env: { OITC_MYSQL_CNF: noSection } }), {
    code: 'GW_ERR_DIRECTORY_CONFIG',
    message: `MySQL config ${noSection}: section [client] is missing`,
  }, 'OITC_MYSQL_CNF overrides the configured path');
  t.throws(() => parseMyCnf('[client]\nhost=h\nuser=u\ndatabase=d\n', 'f.cnf'), {
    code: 'GW_ERR_DIRECTORY_CONFIG',
    message: 'MySQL config f.cnf: key "password" is missing in section [client]',
  });
  t.throws(() => parseMyCnf('[client]\nuser=u\npassword=p\ndatabase=d\n', 'f.cnf'), { message: /key "host" is missing/ });
  t.throws(() => parseMyCnf('[client]\nhost=h\nport=80a\nuser=u\npassword=p\ndatabase=d\n', 'f.cnf'), { message: /key "port" .* not a port number: "80a"/ });
});

t.test('the name cache expires entries after ttlMs and evicts the oldest at maxSize', async (t) => {
  let now = 0;
  const c = new TtlCache<string, string | undefined>(100, 2, () => now);
  c.set('a', 'A');
  c.set('b', undefined);
  t.same(c.get('a'), { value: 'A' });
  t.same(c.get('b'), { value: undefined }, 'a cached miss is distinct from no entry');
  c.set('c', 'C');
  t.equal(c.get('a'), undefined, 'oldest evicted at maxSize');
  t.equal(c.size, 2);
  now = 100;
  t.equal(c.get('c'), undefined, 'expired after ttlMs');
  t.equal(c.size, 1);
  c.clear();
  t.equal(c.size, 0);
});

t.test('against MariaDB', { skip: await mariadbSkip() }, async (t) => {
  const fx: OitcFixture = await createOitcFixture();
  t.teardown(() => fx.drop());

  const open = async (t: Test, over: Record<string, unknown> = {}, env: NodeJS.ProcessEnv = {}) => {
    const cap = capturedLogger();
    const dir = await createOpenItcockpitDirectory(oitcConfig({ mysqlCnf: fx.cnfPath, ...over }), { logger: cap.logger, env });
    t.teardown(() => dir.close());
    return { dir, lines: cap.lines };
  };

  t.test('each lookup answers from the openITCOCKPIT tables', async (t) => {
    const { dir } = await open(t);
    t.same(dir.health(), { ok: true });
    t.equal(dir.kind, 'openitcockpit');
    t.equal(await dir.verifyApiKey(OITC.apiKey), true);
    t.equal(await dir.verifyApiKey(`${OITC.apiKey.slice(0, -1)}1`), false);
    t.equal(await dir.verifyApiKey(''), false);
    t.equal(await dir.hostName(OITC.hosts.web), 'web-01');
    t.equal(await dir.hostName(OITC.hosts.db), 'db-01');
    t.equal(await dir.hostName('00000000-0000-0000-0000-000000000000'), undefined);
    t.equal(await dir.serviceName(OITC.services.named), 'HTTP frontend');
    t.equal(await dir.serviceName('00000000-0000-0000-0000-000000000000'), undefined);
    t.same(await dir.relaySettings(), OITC.relay);
    t.same((await dir.devices(1)).sort(), OITC.devices[1]);
    t.same(await dir.devices(2), OITC.devices[2]);
    t.same(await dir.devices(99), []);
    t.equal(await dir.userName?.(1), 'Alice Example', 'the author openITCOCKPIT writes: firstname lastname');
    t.equal(await dir.userName?.(99), undefined);
  });

  t.test('a service without its own name (NULL, empty, or blank under the collation) takes its template\'s name, not its template_name', async (t) => {
    const { dir } = await open(t);
    t.equal(await dir.serviceName(OITC.services.nullName), 'Ping');
    t.equal(await dir.serviceName(OITC.services.emptyName), 'HTTP');
    t.equal(await dir.serviceName(OITC.services.blankName), 'Ping', "' ' = '' under utf8mb4_uca1400_ai_ci, as the Go service's SQL decides");
  });

  t.test('a service whose template row is missing is no service (the INNER JOIN of the Go service)', async (t) => {
    const { dir } = await open(t);
    t.equal(await dir.serviceName(OITC.services.orphan), undefined);
  });

  t.test('the fixture\'s tables follow openITCOCKPIT\'s migrations (the facts openitcockpit.sql cites)', async (t) => {
    const cols = await fx.query(`SELECT TABLE_NAME AS t, COLUMN_NAME AS c, COLUMN_TYPE AS type, IS_NULLABLE AS nullable, COLUMN_DEFAULT AS dflt
      FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE()`) as Array<Record<string, string | null>>;
    const column = (table: string, name: string): string => {
      const c = cols.find((r) => r.t === table && r.c === name);
      if (!c) return 'missing';
      const dflt = c.dflt === null || c.dflt === 'NULL' ? '' : ` DEFAULT ${String(c.dflt).replace(/^'(.*)'$/, '$1')}`;
      return `${c.type}${c.nullable === 'NO' ? ' NOT NULL' : ''}${dflt}`;
    };
    // From the migrations (Initial.php, CreateMobileDevices.php, PushNotificationsRelay.php).
    const facts: Array<[string, string, string]> = [
      ['systemsettings', 'key', 'varchar(255) NOT NULL'],
      ['systemsettings', 'value', 'varchar(255) NOT NULL'],
      ['hosts', 'uuid', 'varchar(37) NOT NULL'],
      ['hosts', 'name', 'varchar(255) NOT NULL'],
      ['services', 'uuid', 'varchar(37) NOT NULL'],
      ['services', 'name', 'varchar(1500)'],
      ['services', 'servicetemplate_id', 'int(11) NOT NULL'],
      ['servicetemplates', 'template_name', 'varchar(255) NOT NULL'],
      ['servicetemplates', 'name', 'varchar(255) NOT NULL'],
      ['push_notifications_relay', 'address', 'varchar(255) NOT NULL'],
      ['push_notifications_relay', 'port', 'int(5) NOT NULL'],
      ['push_notifications_relay', 'auth_key', 'varchar(255) NOT NULL'],
      ['push_notifications_relay', 'enabled', 'tinyint(1) NOT NULL DEFAULT 1'],
      ['mobile_devices', 'user_id', 'int(11) NOT NULL'],
      ['mobile_devices', 'device_id', 'varchar(255) NOT NULL'],
      ['mobile_devices', 'created', 'datetime NOT NULL'],
      ['mobile_devices', 'modified', 'datetime NOT NULL'],
      ['exports', 'task', 'varchar(255) NOT NULL'],
      ['exports', 'finished', 'int(1) NOT NULL DEFAULT 0'],
      ['users', 'firstname', 'varchar(100) NOT NULL'],
      ['users', 'lastname', 'varchar(100) NOT NULL'],
    ];
    for (const [table, name, expected] of facts) t.equal(column(table, name), expected, `${table}.${name}`);
    const idx = await fx.query(`SELECT TABLE_NAME AS t, INDEX_NAME AS name, NON_UNIQUE AS nonUnique, GROUP_CONCAT(COLUMN_NAME ORDER BY SEQ_IN_INDEX) AS cols
      FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = DATABASE() GROUP BY TABLE_NAME, INDEX_NAME, NON_UNIQUE`) as Array<Record<string, unknown>>;
    const indexes = (table: string): string[] => idx.filter((r) => r.t === table)
      .map((r) => `${Number(r.nonUnique) === 0 ? 'UNIQUE ' : ''}${String(r.name)}(${String(r.cols)})`).sort();
    t.same(indexes('systemsettings'), ['UNIQUE PRIMARY(id)'], 'systemsettings.key is not unique');
    t.same(indexes('push_notifications_relay'), ['UNIQUE PRIMARY(id)']);
    t.same(indexes('mobile_devices'), ['UNIQUE PRIMARY(id)', 'UNIQUE unique_device_user(device_id,user_id)'], 'no index on user_id alone');
    t.same(indexes('servicetemplates'), ['UNIQUE PRIMARY(id)', 'UNIQUE uuid(uuid)']);
    const fks = await fx.query('SELECT COUNT(*) AS n FROM information_schema.REFERENTIAL_CONSTRAINTS WHERE CONSTRAINT_SCHEMA = DATABASE()') as Array<{ n: number }>;
    t.equal(Number(fks[0]!.n), 0, 'no foreign keys: a service can outlive its template row');
  });

  t.test('no enabled relay row means the relay is off', async (t) => {
    await fx.query('UPDATE push_notifications_relay SET enabled = 0');
    t.teardown(() => fx.query('UPDATE push_notifications_relay SET enabled = 1'));
    const { dir } = await open(t);
    t.equal(await dir.relaySettings(), undefined);
  });

  t.test('deleteDevice removes exactly that device row', async (t) => {
    await fx.query("INSERT INTO mobile_devices (user_id, device_id, created, modified) VALUES (7, 'gone-token', NOW(), NOW()), (7, 'kept-token', NOW(), NOW())");
    const { dir } = await open(t);
    t.same((await dir.devices(7)).sort(), ['gone-token', 'kept-token']);
    await dir.deleteDevice('gone-token');
    t.same(await dir.devices(7), ['kept-token']);
    t.same(await fx.query("SELECT device_id FROM mobile_devices WHERE device_id = 'gone-token'"), []);
  });

  t.test('exportRunning follows the newest export_started row and is undefined without one', async (t) => {
    const { dir } = await open(t);
    t.equal(await dir.exportRunning!(), false, 'fixture export finished');
    await fx.query("INSERT INTO exports (task, `text`, finished, created, modified) VALUES ('export_started', 'Export started', 0, NOW(), NOW())");
    t.equal(await dir.exportRunning!(), true, 'a new unfinished export');
    await fx.query("INSERT INTO exports (task, `text`, finished, created, modified) VALUES ('export_sync_satellites', 'Sync', 0, NOW(), NOW())");
    t.equal(await dir.exportRunning!(), true, 'other tasks are ignored');
    await fx.query("UPDATE exports SET finished = 1 WHERE task = 'export_started'");
    t.equal(await dir.exportRunning!(), false, 'finished again');
    const saved = await fx.query('SELECT * FROM exports');
    await fx.query('DELETE FROM exports');
    t.teardown(async () => {
      for (const r of saved as Record<string, unknown>[]) await fx.query('INSERT INTO exports SET ?', [r]);
    });
    t.equal(await dir.exportRunning!(), undefined, 'no export record at all');
  });

  t.test('an SQL error (schema mismatch) rejects the lookup with the code but leaves the directory healthy', async (t) => {
    const { dir, lines } = await open(t);
    await fx.query('RENAME TABLE exports TO exports_moved');
    t.teardown(() => fx.query('RENAME TABLE exports_moved TO exports'));
    await t.rejects(dir.exportRunning!(), { code: 'GW_ERR_DIRECTORY_UNAVAILABLE', message: /^openitcockpit query failed: .*exports/ });
    t.same(dir.health(), { ok: true });
    t.ok(lines.some((l) => l.msg === 'openitcockpit query failed' && l.level === 50), 'logged as an error');
    t.equal(await dir.hostName(OITC.hosts.web), 'web-01');
  });

  t.test('connects with host = localhost and through the Unix socket, as openITCOCKPIT installs write it', async (t) => {
    const viaLocalhost = await fx.writeCnf({ host: 'localhost', port: 3306 });
    const a = await open(t, { mysqlCnf: viaLocalhost });
    t.same(a.dir.health(), { ok: true });
    t.equal(await a.dir.hostName(OITC.hosts.web), 'web-01');
    const socket = '/run/mysqld/mysqld.sock';
    const hasSocket = await stat(socket).then((s) => s.isSocket(), () => false);
    t.test('through the socket', { skip: hasSocket ? false : `no MariaDB socket at ${socket}` }, async (t) => {
      const viaSocket = await fx.writeCnf({ host: 'localhost', port: 3306, socket });
      const b = await open(t, { mysqlCnf: viaSocket });
      t.same(b.dir.health(), { ok: true });
      t.equal(await b.dir.hostName(OITC.hosts.db), 'db-01');
    });
  });

  t.test('a rotated API key works after a miss-triggered refresh and the old key stops working', async (t) => {
    const { dir, lines } = await open(t, { apiKeyMissRefreshMs: 1 }, { MYSQL_DEBUG: '1' });
    const rotated = 'ab'.repeat(80);
    t.equal(await dir.verifyApiKey(OITC.apiKey), true);
    await fx.query("UPDATE systemsettings SET `value` = ? WHERE `key` = 'SUDO_SERVER.API_KEY'", [rotated]);
    t.teardown(() => fx.query("UPDATE systemsettings SET `value` = ? WHERE `key` = 'SUDO_SERVER.API_KEY'", [OITC.apiKey]));
    t.equal(await dir.verifyApiKey(OITC.apiKey), true, 'the cached key still matches until a refresh');
    await new Promise((r) => setTimeout(r, 5));
    t.equal(await dir.verifyApiKey(rotated), true, 'the miss re-read the key');
    t.equal(await dir.verifyApiKey(OITC.apiKey), false, 'the old key is rejected');
    t.ok(lines.some((l) => l.msg === 'API key changed in systemsettings; the new key is in effect'));
  });

  t.test('unknown keys re-read the key at most once per apiKeyMissRefreshMs', async (t) => {
    const { dir, lines } = await open(t, { apiKeyMissRefreshMs: 60_000 }, { MYSQL_DEBUG: '1' });
    const keyReads = () => lines.filter((l) => typeof l.sql === 'string' && l.sql.includes('systemsettings')).length;
    const before = keyReads();
    for (let i = 0; i < 50; i++) t.equal(await dir.verifyApiKey(`bad-key-${i}-0123456789abcdef`), false);
    t.equal(keyReads(), before, 'startup read is within the window: no further reads');
  });

  t.test('the API key is re-read periodically', async (t) => {
    const { dir, lines } = await open(t, { apiKeyRefreshMs: 30 }, { MYSQL_DEBUG: '1' });
    await waitFor(() => lines.filter((l) => typeof l.sql === 'string' && l.sql.includes('systemsettings')).length >= 3, 10_000, 'two periodic key reads');
    t.equal(await dir.verifyApiKey(OITC.apiKey), true);
  });

  t.test('host and service names are cached and concurrent lookups share one query', async (t) => {
    const { dir, lines } = await open(t, {}, { MYSQL_DEBUG: '1' });
    const hostQueries = () => lines.filter((l) => typeof l.sql === 'string' && l.sql.includes('FROM hosts')).length;
    const names = await Promise.all(Array.from({ length: 20 }, () => dir.hostName(OITC.hosts.web)));
    t.same(new Set(names), new Set(['web-01']));
    t.equal(hostQueries(), 1, 'twenty concurrent lookups, one query');
    await fx.query("UPDATE hosts SET name = 'renamed' WHERE uuid = ?", [OITC.hosts.web]);
    t.teardown(() => fx.query("UPDATE hosts SET name = 'web-01' WHERE uuid = ?", [OITC.hosts.web]));
    t.equal(await dir.hostName(OITC.hosts.web), 'web-01', 'served from the cache');
    t.equal(hostQueries(), 1);
    const short = await open(t, { nameCacheTtlMs: 1 });
    await new Promise((r) => setTimeout(r, 5));
    t.equal(await short.dir.hostName(OITC.hosts.web), 'renamed', 'a fresh directory reads the new name');
  });

  t.test('MYSQL_DEBUG=1 logs each SQL statement, never parameter values or secrets', async (t) => {
    const { dir, lines } = await open(t, {}, { MYSQL_DEBUG: '1' });
    await dir.hostName(OITC.hosts.db);
    await dir.devices(2);
    const sql = lines.filter((l) => l.msg === 'MYSQL_DEBUG').map((l) => l.sql);
    t.ok(lines.filter((l) => l.msg === 'MYSQL_DEBUG').every((l) => l.level === 20), 'at debug level, shown although the logger is at info');
    t.same(sql, [
      'SELECT `value` FROM systemsettings WHERE `key` = ?',
      'SELECT name FROM hosts WHERE uuid = ?',
      'SELECT device_id FROM mobile_devices WHERE user_id = ?',
    ]);
    const all = JSON.stringify(lines);
    t.notOk(all.includes(OITC.apiKey), 'the API key never appears');
    t.notOk(all.includes(OITC.hosts.db), 'parameters are not logged');
    const quiet = await open(t);
    await quiet.dir.hostName(OITC.hosts.db);
    t.notOk(quiet.lines.some((l) => l.msg === 'MYSQL_DEBUG'), 'silent without MYSQL_DEBUG');
  });

  t.test('the gateway on the openITCOCKPIT directory', async (t) => {
    const proxy = await startTcpProxy({ host: '127.0.0.1', port: 3306 });
    t.teardown(() => proxy.close());
    const cnf = await fx.writeCnf({ host: '127.0.0.1', port: proxy.port });
    const { dir } = await open(t, { mysqlCnf: cnf });
    const gw = await startTestGateway({ directory: dir, config: { websocket: { exportStatusIntervalMs: 50 } } });
    t.teardown(() => gw.close());
    const key = { apiKey: OITC.apiKey };

    t.test('ExportStatus follows the exports table and a new tab learns it at once', async (t) => {
      const a = await openClient(gw, key);
      t.teardown(() => a.close());
      t.same(await nextOfType(a, 'ExportStatus', false), { type: 'ExportStatus', message: '', payload: false });
      const [{ insertId }] = [await fx.query("INSERT INTO exports (task, `text`, finished, created, modified) VALUES ('export_started', 'Export started', 0, NOW(), NOW())") as { insertId: number }];
      t.teardown(() => fx.query('DELETE FROM exports WHERE id = ?', [insertId]));
      await nextOfType(a, 'ExportStatus', true);
      const b = await openClient(gw, { ...key, browserUuid: 'b2' });
      t.teardown(() => b.close());
      t.same(await b.nextJson(), { type: 'ExportStatus', message: '', payload: true }, 'sent right after ConnectionEstablished');
      await fx.query('UPDATE exports SET finished = 1 WHERE id = ?', [insertId]);
      await nextOfType(a, 'ExportStatus', false);
      await nextOfType(b, 'ExportStatus', false);
    });

    t.test('/message resolves host and template-named service names from MariaDB', async (t) => {
      const c = await openRegisteredClient(gw, key);
      t.teardown(() => c.close());
      const r1 = await postMessage(gw, hostMessage({ hostUuid: OITC.hosts.web }), key);
      t.same([r1.status, r1.body], [200, 'ok']);
      t.match(await nextOfType(c, 'ProcessPushNotification'), { payload: { title: 'PROBLEM: web-01 is DOWN!' } });
      const r2 = await postMessage(gw, hostMessage({ type: 'service', hostUuid: OITC.hosts.db, serviceUuid: OITC.services.nullName, state: 2 }), key);
      t.same([r2.status, r2.body], [200, 'ok']);
      t.match(await nextOfType(c, 'ProcessPushNotification'), { payload: { title: 'PROBLEM: db-01/Ping is CRITICAL!' } });
      const r3 = await postMessage(gw, hostMessage({ hostUuid: '00000000-0000-0000-0000-000000000000' }), key);
      t.same([r3.status, r3.body], [400, 'No host found for given UUID']);
      const blank = await postMessage(gw, hostMessage({ type: 'service', hostUuid: OITC.hosts.web, serviceUuid: OITC.services.blankName, state: 2 }), key);
      t.same([blank.status, blank.body], [200, 'ok']);
      t.match(await nextOfType(c, 'ProcessPushNotification'), { payload: { title: 'PROBLEM: web-01/Ping is CRITICAL!' } }, "a name of ' ' is the template's");
      const orphan = await postMessage(gw, hostMessage({ type: 'service', hostUuid: OITC.hosts.web, serviceUuid: OITC.services.orphan, state: 2 }), key);
      t.same([orphan.status, orphan.body], [400, 'No service found for given UUID'], 'a service whose template row is missing');
      const bad = await postMessage(gw, hostMessage(), { apiKey: 'not-the-key-0123456789' });
      t.equal(bad.status, 401);
    });

    t.test('a device the push gateway answers 410 for is deleted from mobile_devices', async (t) => {
      // A real HTTPS push gateway with a certificate made for this run.
      const tmp = await mkdtemp(join(tmpdir(), 'pushgate-oitc-tls-'));
      t.teardown(() => rm(tmp, { recursive: true, force: true }));
      execFileSync('openssl', [
        'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
        '-subj', '/CN=localhost', '-addext', 'subjectAltName=IP:127.0.0.1', '-days', '1',
        '-keyout', join(tmp, 'k.pem'), '-out', join(tmp, 'c.pem'),
      ], { stdio: 'ignore', timeout: 20_000 });
      const tokens: string[] = [];
      const server = createHttpsServer({ key: await readFile(join(tmp, 'k.pem')), cert: await readFile(join(tmp, 'c.pem')) }, (req, res) => {
        const chunks: Buffer[] = [];
        req.on('data', (c: Buffer) => chunks.push(c));
        req.on('end', () => {
          const token = String((JSON.parse(Buffer.concat(chunks).toString('utf8')) as { token?: unknown }).token);
          tokens.push(token);
          res.writeHead(token === 'device-token-a' ? 410 : 200, { 'Content-Type': 'application/json' });
          res.end('{}');
        });
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      t.teardown(() => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }));
      const relayPort = (server.address() as AddressInfo).port;
      await fx.query("UPDATE push_notifications_relay SET address = '127.0.0.1', port = ?", [relayPort]);
      t.teardown(async () => {
        await fx.query('UPDATE push_notifications_relay SET address = ?, port = ?', [OITC.relay.address, OITC.relay.port]);
        await fx.query("INSERT INTO mobile_devices (user_id, device_id, created, modified) SELECT 1, 'device-token-a', NOW(), NOW() FROM DUAL WHERE NOT EXISTS (SELECT 1 FROM mobile_devices WHERE device_id = 'device-token-a')");
      });
      // A directory opened now, so the relay settings are not the cached ones.
      const { dir: relayDir } = await open(t);
      const gw2 = await startTestGateway({ directory: relayDir, config: { relay: { caFile: join(tmp, 'c.pem') }, notifications: { outbox: { maxAttempts: 1 } } } });
      t.teardown(() => gw2.close());
      const r = await postMessage(gw2, hostMessage({ hostUuid: OITC.hosts.web }), key);
      t.same([r.status, r.body], [200, 'ok'], 'accepted for mobile push although no browser is registered');
      await waitFor(async () =>
        (await fx.query("SELECT id FROM mobile_devices WHERE device_id = 'device-token-a'") as unknown[]).length === 0, 10_000, 'device-token-a deleted');
      // The outbox attempts the devices' deliveries independently: the 200 one may land after the 410 one.
      await waitFor(() => tokens.length >= 2, 10_000, 'both devices attempted');
      t.same(tokens.sort(), ['device-token-a', 'device-token-b'], 'one request per device of user 1');
      t.same(await fx.query('SELECT device_id FROM mobile_devices WHERE user_id = 1'), [{ device_id: 'device-token-b' }], 'the 200 device stays');
    });

    t.test('while the database is cut: /readyz and /message answer 503, connected clients stay, then all recovers', async (t) => {
      const fresh = '1f2e3d4c-5b6a-4798-8a9b-0c1d2e3f4a5b';
      await fx.query("INSERT INTO hosts (uuid, name, created, modified) VALUES (?, 'app-01', NOW(), NOW())", [fresh]);
      t.teardown(() => fx.query('DELETE FROM hosts WHERE uuid = ?', [fresh]));
      const c = await openRegisteredClient(gw, key);
      t.teardown(() => c.close());
      t.same((await httpRequest(`${gw.url}/readyz`)).status, 200);
      proxy.cut();
      t.teardown(() => proxy.restore());
      // A host not cached yet, so the intake has to ask the database.
      const r = await postMessage(gw, hostMessage({ hostUuid: fresh }), key);
      t.same([r.status, r.body], [503, 'Directory unavailable']);
      const ready = await httpRequest(`${gw.url}/readyz`);
      t.equal(ready.status, 503);
      t.match(ready.body, new RegExp(`^directory: openitcockpit database 127\\.0\\.0\\.1:${proxy.port}/${fx.database} unavailable: `));
      c.send({ type: 'KeepAlive', message: '', payload: null });
      t.match(await nextOfType(c, 'KeepAlive'), { message: 'Pong' }, 'the connected browser is still served');
      t.equal(gw.registry.size >= 1, true);
      proxy.restore();
      await waitFor(() => dir.health().ok, 10_000, 'directory recovery');
      t.equal((await httpRequest(`${gw.url}/readyz`)).status, 200);
      const ok = await postMessage(gw, hostMessage({ hostUuid: fresh }), key);
      t.same([ok.status, ok.body], [200, 'ok']);
      t.match(await nextOfType(c, 'ProcessPushNotification'), { payload: { title: 'PROBLEM: app-01 is DOWN!' } }, 'the same connection receives it');
    });
  });

  t.test('faults through a TCP proxy in front of MariaDB', async (t) => {
    const proxy = await startTcpProxy({ host: '127.0.0.1', port: 3306 });
    t.teardown(() => proxy.close());
    const cnf = await fx.writeCnf({ host: '127.0.0.1', port: proxy.port });

    t.test('database down at startup: the factory resolves, health says why, lookups reject, then it recovers', async (t) => {
      proxy.cut();
      const { dir, lines } = await open(t, { mysqlCnf: cnf });
      const h = dir.health();
      t.equal(h.ok, false);
      t.match(h, { reason: new RegExp(`openitcockpit database 127\\.0\\.0\\.1:${proxy.port}/${fx.database} unavailable`) });
      await t.rejects(dir.hostName(OITC.hosts.web), { code: 'GW_ERR_DIRECTORY_UNAVAILABLE' });
      await t.rejects(dir.verifyApiKey(OITC.apiKey), { code: 'GW_ERR_DIRECTORY_UNAVAILABLE' });
      await t.rejects(dir.exportRunning!(), { code: 'GW_ERR_DIRECTORY_UNAVAILABLE' });
      await t.rejects(dir.devices(1), { code: 'GW_ERR_DIRECTORY_UNAVAILABLE' });
      t.ok(lines.some((l) => l.level === 40 && String(l.reason).includes('unavailable')), 'logged a warning');
      const acceptedWhileDown = proxy.accepted;
      await waitFor(() => proxy.accepted >= acceptedWhileDown + 2, 10_000, 'reconnect attempts');
      proxy.restore();
      await waitFor(() => dir.health().ok, 10_000, 'recovery');
      t.equal(await dir.verifyApiKey(OITC.apiKey), true);
      t.equal(await dir.hostName(OITC.hosts.web), 'web-01');
      t.ok(lines.some((l) => l.msg === 'openITCOCKPIT database reachable again'));
    });

    t.test('database lost mid-run: lookups reject with the code, cached answers still work, recovery is automatic', async (t) => {
      proxy.restore();
      const { dir } = await open(t, { mysqlCnf: cnf });
      t.same(dir.health(), { ok: true });
      t.equal(await dir.hostName(OITC.hosts.web), 'web-01');
      proxy.cut();
      // The first query after the cut notices it on its dead pooled connection.
      const err = await dir.hostName(OITC.hosts.db).then(() => undefined, (e: unknown) => e);
      t.ok(isUnavailable(err), 'rejects with GW_ERR_DIRECTORY_UNAVAILABLE');
      t.equal(dir.health().ok, false);
      await t.rejects(dir.serviceName(OITC.services.named), { code: 'GW_ERR_DIRECTORY_UNAVAILABLE' }, 'fails fast while down');
      t.equal(await dir.hostName(OITC.hosts.web), 'web-01', 'cached name still served');
      t.equal(await dir.verifyApiKey(OITC.apiKey), true, 'cached API key still verifies');
      proxy.restore();
      await waitFor(() => dir.health().ok, 10_000, 'recovery');
      t.equal(await dir.hostName(OITC.hosts.db), 'db-01');
    });

    t.test('at most maxPendingQueries queries wait; more are refused at once', async (t) => {
      proxy.restore();
      const { dir } = await open(t, { mysqlCnf: cnf, queryTimeoutMs: 1500, maxPendingQueries: 3 });
      t.same(dir.health(), { ok: true });
      proxy.setDelay(3000);
      t.teardown(() => proxy.setDelay(0));
      const results = await Promise.all(Array.from({ length: 8 }, (_, i) => dir.devices(100 + i).then(() => undefined, (e: unknown) => e)));
      t.ok(results.every(isUnavailable), 'all rejected with GW_ERR_DIRECTORY_UNAVAILABLE');
      t.equal(results.filter((e) => /busy: 3 queries pending/.test((e as Error).message)).length, 5, 'five refused without waiting');
      // The three admitted ones fail on the statement or connect timeout, whichever fires first.
      t.equal(results.filter((e) => /timed out|ETIMEDOUT/.test((e as Error).message)).length, 3, 'three timed out');
      proxy.setDelay(0);
      await waitFor(() => dir.health().ok, 10_000, 'recovery');
    });

    t.test('slow database: a query rejects after queryTimeoutMs instead of waiting, and it recovers', async (t) => {
      proxy.restore();
      const { dir } = await open(t, { mysqlCnf: cnf, queryTimeoutMs: 800, reconnectMinMs: 50 });
      t.same(dir.health(), { ok: true });
      proxy.setDelay(5000);
      t.teardown(() => proxy.setDelay(0));
      const pending = Array.from({ length: 10 }, (_, i) => dir.devices(i + 1).then(() => undefined, (e: unknown) => e));
      const errors = await Promise.all(pending);
      t.ok(errors.every(isUnavailable), 'every query rejected with GW_ERR_DIRECTORY_UNAVAILABLE');
      t.match(errors[0], { message: /timed out after 800 ms/ });
      t.equal(dir.health().ok, false);
      await t.rejects(dir.hostName(OITC.hosts.web), { code: 'GW_ERR_DIRECTORY_UNAVAILABLE' }, 'later queries fail fast, nothing piles up');
      proxy.setDelay(0);
      await waitFor(() => dir.health().ok, 10_000, 'recovery');
      t.equal(await dir.hostName(OITC.hosts.web), 'web-01');
    });
  });
});

// Type-level check: the factory returns the shared Directory interface.
export type _Check = Directory;
