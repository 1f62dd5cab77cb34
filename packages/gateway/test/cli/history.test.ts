/**
 * `pushgate history` (src/cli/history.ts) against a real gateway on
 * loopback: the listing, one notification's events in order, `--json`,
 * and the clear errors for a missing or wrong key and bad arguments.
 */
import { createServer, type AddressInfo } from 'node:net';
import { PassThrough } from 'node:stream';
import t from 'tap';
import { historyCommand } from '../../src/cli/history.js';
import { hostMessage, openRegisteredClient, postMessage, startTestGateway } from '../helpers.js';

const ADMIN_KEY = 'admin-key-0123456789abcdef0123456789abcdef';

async function run(argv: string[], envKey?: string): Promise<{ code: number; out: string; err: string }> {
  const out = new PassThrough();
  const err = new PassThrough();
  let o = '';
  let e = '';
  out.on('data', (d: Buffer) => { o += d.toString(); });
  err.on('data', (d: Buffer) => { e += d.toString(); });
  const code = await historyCommand(argv, envKey, out, err);
  return { code, out: o, err: e };
}

t.test('pushgate history lists the trail and shows one notification\'s events in order', async (t) => {
  const gw = await startTestGateway({ config: { auth: { adminKeys: [ADMIN_KEY] } } });
  t.teardown(() => gw.close());
  const tab = await openRegisteredClient(gw, { userId: 1, browserUuid: 'laptop' });
  t.teardown(() => tab.close());
  t.equal((await postMessage(gw, hostMessage({ output: 'PING CRITICAL' }))).status, 200);
  const frame = await tab.nextJson();
  const id = (frame.payload as { id: number }).id;
  tab.send({ type: 'Receipt', message: '', payload: { id, kind: 'shown' } });
  tab.send({ type: 'KeepAlive', message: '', payload: null });
  await tab.next();

  const list = await run(['--url', gw.url, '--user', '1', '--since', '1h'], ADMIN_KEY);
  t.equal(list.code, 0, list.err);
  t.match(list.out, new RegExp(`^\\d{4}-\\d\\d-\\d\\dT[\\d:.]+Z  ${id}  PROBLEM  ${hostMessage().hostUuid as string}  "PROBLEM: web-01 is DOWN!"  user:1  events 3  shown \\+[\\d.]+s  not acknowledged\\n$`));

  const one = await run(['--url', gw.url, '--key', ADMIN_KEY, String(id)]);
  t.equal(one.code, 0, one.err);
  const lines = one.out.trim().split('\n');
  t.equal(lines[0], `notification ${id}`);
  t.same(lines.slice(1).map((l) => l.split(/\s+/)[2]), ['accepted', 'delivered', 'receipt'], 'every event, in order');
  t.match(lines[3], /kind=shown userId=1 device=laptop via=ws/);

  const json = await run(['--url', gw.url, '--json', String(id)], ADMIN_KEY);
  t.match(JSON.parse(json.out), { id, events: [{ type: 'accepted' }, { type: 'delivered' }, { type: 'receipt' }] });
  t.same(await run(['--url', gw.url, '--user', '2'], ADMIN_KEY), { code: 0, out: 'no notifications in the trail\n', err: '' });
});

t.test('pushgate history says what is wrong: no key, a key that is not an admin key, bad arguments, nothing listening', async (t) => {
  const gw = await startTestGateway({ config: { auth: { adminKeys: [ADMIN_KEY] } } });
  t.teardown(() => gw.close());
  const none = await run(['--url', gw.url]);
  t.equal(none.code, 2);
  t.match(none.err, /no admin key: pass --key, --key-file or set PUSHGATE_ADMIN_KEY/);
  const wrong = await run(['--url', gw.url], 'not-the-admin-key-0123456789abcdef');
  t.equal(wrong.code, 1);
  t.match(wrong.err, /^pushgate: history: \/trail answered HTTP 401: Unauthorized/);
  t.match((await run(['--since', 'yesterday'], ADMIN_KEY)).err, /--since yesterday: expected a duration/);
  t.match((await run(['--user', '0'], ADMIN_KEY)).err, /--user 0: expected a user id/);
  t.match((await run(['--bogus'], ADMIN_KEY)), { code: 2, err: /unexpected argument --bogus/ });
  const gone = createServer();
  await new Promise<void>((r) => gone.listen(0, '127.0.0.1', r));
  const port = (gone.address() as AddressInfo).port;
  await new Promise((r) => gone.close(r));
  t.match(await run(['--url', `http://127.0.0.1:${port}`], ADMIN_KEY), { code: 1, err: new RegExp(`cannot reach http://127\\.0\\.0\\.1:${port}: ECONNREFUSED`) });
  t.match(await run(['--url', gw.url, '999'], ADMIN_KEY), { code: 1, err: /answered HTTP 404: Not Found: no trail for notification 999/ });
});
