import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { FileDirectory } from '../../src/directory/file.js';
import { HOST_UUID, httpRequest, openClient, openRegisteredClient, startTestGateway, TEST_API_KEY, testDirectoryData, WAIT_MS } from '../helpers.js';

const MAIN = fileURLToPath(new URL('../../dist/main.js', import.meta.url));

interface Exit {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Run `pushgate <args>` to completion (bounded), without PUSHGATE_API_KEY from the outer environment. */
function pushgate(args: string[], env: NodeJS.ProcessEnv = {}): Promise<Exit> {
  const base = { ...process.env };
  delete base.PUSHGATE_API_KEY;
  const child = spawn(process.execPath, [MAIN, ...args], { env: { ...base, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c: Buffer) => { stdout += c.toString(); });
  child.stderr.on('data', (c: Buffer) => { stderr += c.toString(); });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`pushgate ${args[0]} did not exit in time:\n${stdout}\n${stderr}`)); }, WAIT_MS * 4);
    child.once('exit', (code) => { clearTimeout(timer); resolve({ code, stdout, stderr }); });
  });
}

/** A directory whose host lookup takes `delayMs`: the stand-in for a slow database. */
class SlowDirectory extends FileDirectory {
  constructor(readonly delayMs: number) {
    super(testDirectoryData());
  }

  override async hostName(uuid: string): Promise<string | undefined> {
    await new Promise((r) => setTimeout(r, this.delayMs));
    return super.hostName(uuid);
  }
}

const LINE = /^PUSHGATE OK - notification delivered in (\d+) ms \| latency=\1ms;500;2000;0\n$/;

t.test('check against a healthy gateway prints one OK line with latency perfdata and exits 0', async (t) => {
  const gw = await startTestGateway();
  t.teardown(() => gw.close());
  const r = await pushgate(['check', '--url', gw.url, '--host-uuid', HOST_UUID], { PUSHGATE_API_KEY: TEST_API_KEY });
  t.match(r.stdout, LINE);
  t.equal(r.code, 0);
  t.notOk(r.stdout.includes(TEST_API_KEY) || r.stderr.includes(TEST_API_KEY), 'the key is never printed');
  t.equal(gw.registry.size, 0, 'the synthetic connection is gone afterwards');
});

t.test('check against a closed port is CRITICAL (exit 2)', async (t) => {
  const srv = createServer();
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', () => resolve()));
  const port = (srv.address() as { port: number }).port;
  await new Promise<void>((resolve) => srv.close(() => resolve()));
  const r = await pushgate(['check', '--url', `http://127.0.0.1:${port}`, '--key', TEST_API_KEY, '--timeout', '5000']);
  t.match(r.stdout, /^PUSHGATE CRITICAL - cannot connect to 127\.0\.0\.1:\d+: ECONNREFUSED\n$/);
  t.equal(r.code, 2);
});

t.test('check with a wrong key is CRITICAL (exit 2) and names the HTTP status', async (t) => {
  const gw = await startTestGateway();
  t.teardown(() => gw.close());
  const wrong = 'wrong-key-0123456789abcdef0123456789abcdef';
  const r = await pushgate(['check', '--url', gw.url, '--key', wrong, '--host-uuid', HOST_UUID]);
  t.equal(r.stdout, 'PUSHGATE CRITICAL - WebSocket handshake rejected: HTTP 401\n');
  t.equal(r.code, 2);
  t.notOk(r.stdout.includes(wrong), 'the key is never printed');
});

t.test('check against a gateway with a slow directory is WARNING (exit 1) above --warning', async (t) => {
  const gw = await startTestGateway({ directory: new SlowDirectory(400) });
  t.teardown(() => gw.close());
  const r = await pushgate(['check', '--url', gw.url, '--key', TEST_API_KEY, '--host-uuid', HOST_UUID, '--warning', '200', '--critical', '60000']);
  t.match(r.stdout, /^PUSHGATE WARNING - notification delivered in \d+ ms \| latency=\d+ms;200;60000;0\n$/);
  t.equal(r.code, 1);
});

t.test('check with an unknown host uuid is CRITICAL: the gateway rejects the message', async (t) => {
  const gw = await startTestGateway();
  t.teardown(() => gw.close());
  const r = await pushgate(['check', '--url', gw.url, '--key', TEST_API_KEY, '--host-uuid', '00000000-0000-0000-0000-000000000000']);
  t.match(r.stdout, /^PUSHGATE CRITICAL - POST \/message rejected: HTTP \d+/);
  t.equal(r.code, 2);
});

t.test('check reads the key from --key-file, so it stays out of the process list', async (t) => {
  const gw = await startTestGateway();
  t.teardown(() => gw.close());
  const dir = await mkdtemp(join(tmpdir(), 'pushgate-check-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  await writeFile(join(dir, 'api-key'), `${TEST_API_KEY}\n`);
  const r = await pushgate(['check', '--url', gw.url, '--key-file', join(dir, 'api-key'), '--host-uuid', HOST_UUID]);
  t.match(r.stdout, LINE);
  t.equal(r.code, 0);
  const missing = await pushgate(['check', '--url', gw.url, '--key-file', join(dir, 'absent')]);
  t.equal(missing.stdout, 'PUSHGATE UNKNOWN - cannot read --key-file: ENOENT\n');
  t.equal(missing.code, 3);
});

t.test('check usage errors are UNKNOWN (exit 3)', async (t) => {
  const noUrl = await pushgate(['check', '--key', TEST_API_KEY]);
  t.equal(noUrl.stdout, 'PUSHGATE UNKNOWN - --url is required\n');
  t.equal(noUrl.code, 3);
  const noKey = await pushgate(['check', '--url', 'http://127.0.0.1:1']);
  t.equal(noKey.code, 3);
  t.match(noKey.stdout, /^PUSHGATE UNKNOWN - an API key is required/);
  const bad = await pushgate(['check', '--url', 'http://127.0.0.1:1', '--key', 'k', '--warning', 'soon']);
  t.equal(bad.stdout, 'PUSHGATE UNKNOWN - --warning must be a positive integer\n');
  t.equal(bad.code, 3);
  const url = await pushgate(['check', '--url', 'ftp://example', '--key', 'k']);
  t.equal(url.stdout, 'PUSHGATE UNKNOWN - invalid --url "ftp://example"\n');
  t.equal(url.code, 3);
});

t.test('status prints connections, users and registered users of a gateway with 2 clients', async (t) => {
  const gw = await startTestGateway();
  t.teardown(() => gw.close());
  const a = await openRegisteredClient(gw, { userId: 1, browserUuid: 'b1' });
  const b = await openClient(gw, { userId: 2, browserUuid: 'b2' });
  t.teardown(async () => { await a.close(); await b.close(); });
  const r = await pushgate(['status', '--url', gw.url]);
  t.equal(r.code, 0, r.stderr);
  t.match(r.stdout, new RegExp(`^pushgate at ${gw.url.replace(/\./g, '\\.')}, up \\d+`));
  t.match(r.stdout, /\n {2}connections {8}2 open \(2 users, 1 registered\), 2 since start\n/);
  t.match(r.stdout, /\n {2}outbox {13}none \(no notification channels\)\n/);
  t.match(r.stdout, /\n {2}bus {16}local \(one process\)\n/);
});

t.test('status of a stopped gateway fails with exit 1 and says why on stderr', async (t) => {
  const srv = createServer();
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', () => resolve()));
  const port = (srv.address() as { port: number }).port;
  await new Promise<void>((resolve) => srv.close(() => resolve()));
  const r = await pushgate(['status', '--url', `http://127.0.0.1:${port}`]);
  t.equal(r.code, 1);
  t.equal(r.stdout, '');
  t.match(r.stderr, /cannot reach http:\/\/127\.0\.0\.1:\d+: ECONNREFUSED/);
});

t.test('GET /status answers JSON counts to loopback and 403 to a proxied request', async (t) => {
  const gw = await startTestGateway();
  t.teardown(() => gw.close());
  const c = await openRegisteredClient(gw);
  t.teardown(() => c.close());
  const ok = await httpRequest(`${gw.url}/status`);
  t.equal(ok.status, 200);
  t.equal(ok.headers['content-type'], 'application/json');
  t.match(JSON.parse(ok.body), {
    connections: 1, users: 1, registeredUsers: 1, connectionsOpened: 1, outbox: null, mobilePush: null,
    bus: { type: 'local', up: true, published: 0, received: 0, undelivered: 0 },
  });
  const proxied = await httpRequest(`${gw.url}/status`, { headers: { 'X-Forwarded-For': '203.0.113.9' } });
  t.equal(proxied.status, 403);
  t.equal((await httpRequest(`${gw.url}/status`, { method: 'POST' })).status, 405);
});
