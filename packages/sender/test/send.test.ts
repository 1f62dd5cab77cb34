import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer as createHttpsServer } from 'node:https';
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import t, { type Test } from 'tap';
// The real gateway and its shared test helpers (packages/gateway/test/helpers.ts).
import {
  HOST_UUID, openRegisteredClient, SERVICE_UUID, startTestGateway, TEST_API_KEY, WAIT_MS,
} from '../../gateway/test/helpers.js';
import { SenderError, SenderErrorCodes } from '../src/errors.js';
import { USAGE } from '../src/flags.js';
import { buildBody, resolveTarget, send } from '../src/send.js';

const pkg = fileURLToPath(new URL('..', import.meta.url));
const bin = join(pkg, 'dist', 'send_push_notification.mjs');

// The tests run the bundled binary, the file Naemon executes. Rebuild it with
// the package's own `bundle` script when it is missing or older than a source.
function ensureBundle(): void {
  const built = (() => { try { return statSync(bin).mtimeMs; } catch { return 0; } })();
  const src = join(pkg, 'src');
  const newest = Math.max(...readdirSync(src).map((f) => statSync(join(src, f)).mtimeMs));
  if (built > newest) return;
  const script = (JSON.parse(readFileSync(join(pkg, 'package.json'), 'utf8')) as { scripts: { bundle: string } }).scripts.bundle;
  const r = spawnSync('sh', ['-c', script], {
    cwd: pkg, encoding: 'utf8', timeout: 60_000,
    env: { ...process.env, PATH: `${join(pkg, 'node_modules', '.bin')}:${process.env.PATH ?? ''}` },
  });
  if (r.status !== 0) throw new Error(`bundling the sender failed: ${r.stderr}`);
}
ensureBundle();

interface Run { code: number | null; stdout: string; stderr: string }

/** Run the bundled sender with a clean environment (only PATH and `env`). */
function run(args: string[], env: Record<string, string> = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [bin, ...args], { env: { PATH: process.env.PATH ?? '', ...env } });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (s: string) => { stdout += s; });
    child.stderr.setEncoding('utf8').on('data', (s: string) => { stderr += s; });
    // Bound the wait: the sender's own timeout is 10 s; anything past 30 s is a hang.
    const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`sender hung: ${args.join(' ')}`)); }, 30_000);
    child.on('error', reject);
    child.on('close', (code) => { clearTimeout(timer); resolve({ code, stdout, stderr }); });
  });
}

interface Seen { method: string; url: string; headers: IncomingHttpHeaders; body: string }

/** A real HTTP server on loopback port 0 standing in for the gateway; records every request. */
async function standIn(t: Test, answer: (req: IncomingMessage, res: ServerResponse) => void):
Promise<{ url: string; seen: Seen[]; server: Server }> {
  const seen: Seen[] = [];
  const server = createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8').on('data', (s: string) => { body += s; });
    req.on('end', () => {
      seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body });
      answer(req, res);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/message`, seen, server };
}

const okAnswer = (_req: IncomingMessage, res: ServerResponse): void => { res.writeHead(200, { 'Content-Type': 'text/plain' }).end('ok'); };

// A port nothing listens on: bind port 0, note it, close it.
async function closedPort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  const { port } = s.address() as AddressInfo;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}

const problemArgs = ['-t', 'host', '-notificationtype', 'PROBLEM', '-hostuuid', 'c36b8048-93ce-4385-ac19-ab5c90574b77',
  '-state', '1', '-output', 'PING CRITICAL - Packet loss = 100%', '-user-id', '1'];

t.test('a 200 answer prints status and body, exits 0, after posting the exact §2 body with the key', async (t) => {
  const gw = await standIn(t, okAnswer);
  const before = Math.floor(Date.now() / 1000);
  const r = await run(problemArgs, { PUSHGATE_URL: gw.url, PUSHGATE_API_KEY: 'k'.repeat(160) });
  const after = Math.floor(Date.now() / 1000);
  t.same(r, { code: 0, stdout: 'Response status: 200 OK\nok\n', stderr: '' });
  t.equal(gw.seen.length, 1);
  const req = gw.seen[0]!;
  t.equal(req.method, 'POST');
  t.equal(req.url, '/message');
  t.equal(req.headers['content-type'], 'application/json');
  t.equal(req.headers['x-api-key'], 'k'.repeat(160));
  const body = JSON.parse(req.body) as { timestamp: number };
  t.ok(body.timestamp >= before && body.timestamp <= after, 'timestamp is now in unix seconds');
  t.equal(req.body, JSON.stringify({
    timestamp: body.timestamp, userId: 1, type: 'host', hostUuid: 'c36b8048-93ce-4385-ac19-ab5c90574b77', serviceUuid: '',
    icon: '', state: 1, notificationtype: 'PROBLEM', output: 'PING CRITICAL - Packet loss = 100%', ackauthor: '', ackcomment: '',
  }));
});

t.test('each of Go\'s flag forms reaches the wire the same way', async (t) => {
  const gw = await standIn(t, okAnswer);
  const forms = [
    ['-type', 'service', '-serviceuuid', 's-1', '-ackauthor', 'alice', '-user-id', '7'],
    ['--type', 'service', '--serviceuuid', 's-1', '--ackauthor', 'alice', '--user-id', '7'],
    ['-type=service', '-serviceuuid=s-1', '-ackauthor=alice', '-user-id=7'],
    ['--type=service', '--serviceuuid=s-1', '--ackauthor=alice', '--user-id=7'],
    ['-t', 'service', '--serviceuuid=s-1', '-ackauthor', 'alice', '--user-id', '7'],
  ];
  for (const args of forms) {
    t.same(await run([...args, '-url', gw.url]), { code: 0, stdout: 'Response status: 200 OK\nok\n', stderr: '' }, args.join(' '));
  }
  const bodies = gw.seen.map((s) => JSON.parse(s.body) as Record<string, unknown>).map(({ timestamp: _, ...rest }) => rest);
  const expected = { userId: 7, type: 'service', hostUuid: '', serviceUuid: 's-1', icon: '', state: 0, notificationtype: '', output: '', ackauthor: 'alice', ackcomment: '' };
  t.same(bodies, forms.map(() => expected));
});

t.test('the API key comes from -api-key-file, else PUSHGATE_API_KEY, else PUSHGATE_API_KEY_FILE; none sends no header', async (t) => {
  const gw = await standIn(t, okAnswer);
  const dir = mkdtempSync(join(tmpdir(), 'sender-key-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'flag'), '  from-flag-file  \nsecond line ignored\n');
  writeFileSync(join(dir, 'env'), 'from-env-file\n');
  writeFileSync(join(dir, 'empty'), '\nkey on the second line does not count\n');
  const url = { PUSHGATE_URL: gw.url };
  t.equal((await run(['-user-id', '1', '-api-key-file', join(dir, 'flag')], { ...url, PUSHGATE_API_KEY: 'from-env', PUSHGATE_API_KEY_FILE: join(dir, 'env') })).code, 0);
  t.equal((await run(['-user-id', '1'], { ...url, PUSHGATE_API_KEY: 'from-env', PUSHGATE_API_KEY_FILE: join(dir, 'env') })).code, 0);
  t.equal((await run(['-user-id', '1'], { ...url, PUSHGATE_API_KEY_FILE: join(dir, 'env') })).code, 0);
  t.equal((await run(['-user-id', '1'], url)).code, 0);
  t.same(gw.seen.map((s) => s.headers['x-api-key']), ['from-flag-file', 'from-env', 'from-env-file', undefined]);

  t.same(await run(['-user-id', '1', '-api-key-file', join(dir, 'missing')], url),
    { code: 1, stdout: '', stderr: `cannot read API key file ${join(dir, 'missing')}: ENOENT (SEND_ERR_API_KEY_FILE)\n` });
  t.same(await run(['-user-id', '1'], { ...url, PUSHGATE_API_KEY_FILE: join(dir, 'empty') }),
    { code: 1, stdout: '', stderr: `API key file ${join(dir, 'empty')} has an empty first line (SEND_ERR_API_KEY_FILE)\n` });
  t.equal(gw.seen.length, 4, 'nothing is sent without the configured key');
});

t.test('the URL comes from -url, else PUSHGATE_URL, else http://<OITC_ADDRESS or 127.0.0.1>:8083/message', async (t) => {
  const none = { url: '', apiKeyFile: '' };
  t.equal(resolveTarget(none, {}).url.href, 'http://127.0.0.1:8083/message');
  t.equal(resolveTarget(none, { OITC_ADDRESS: '' }).url.href, 'http://127.0.0.1:8083/message');
  t.equal(resolveTarget(none, { OITC_ADDRESS: '10.1.2.3' }).url.href, 'http://10.1.2.3:8083/message');
  t.equal(resolveTarget(none, { OITC_ADDRESS: 'oitc.example.org' }).url.href, 'http://oitc.example.org:8083/message');
  t.equal(resolveTarget(none, { OITC_ADDRESS: '::1' }).url.href, 'http://[::1]:8083/message');
  t.equal(resolveTarget(none, { OITC_ADDRESS: '10.1.2.3', PUSHGATE_URL: 'https://gw.example.org/push/message' }).url.href,
    'https://gw.example.org/push/message');
  t.equal(resolveTarget({ url: 'http://10.9.9.9:9000/message', apiKeyFile: '' }, { PUSHGATE_URL: 'http://x/message' }).url.href,
    'http://10.9.9.9:9000/message');
  t.equal(resolveTarget(none, {}).apiKey, undefined);
  t.equal(resolveTarget(none, { PUSHGATE_API_KEY: ' abc\n' }).apiKey, 'abc');
});

t.test('a bad URL is a usage error naming where it came from, exit 2, nothing sent', async (t) => {
  t.same(await run(['-user-id', '1', '-url', 'localhost:8083']),
    { code: 2, stdout: '', stderr: 'invalid value "localhost:8083" for flag -url: not an http:// or https:// URL\n' });
  t.same(await run(['-user-id', '1'], { PUSHGATE_URL: '127.0.0.1:8083/message' }),
    { code: 2, stdout: '', stderr: 'invalid value "127.0.0.1:8083/message" for PUSHGATE_URL: not a URL\n' });
  t.same(await run(['-user-id', '1'], { OITC_ADDRESS: 'bad host' }),
    { code: 2, stdout: '', stderr: 'invalid value "http://bad host:8083/message" for OITC_ADDRESS: not a URL\n' });
});

t.test('a 5xx answer prints status and body and exits 3, "gateway failing"', async (t) => {
  const gw = await standIn(t, (req, res) => {
    if (req.url === '/503') res.writeHead(503, { 'Content-Type': 'text/plain' }).end('Directory unavailable');
    else res.writeHead(500, 'Kaputt', { 'Content-Type': 'text/plain' }).end('');
  });
  const base = gw.url.replace('/message', '');
  t.same(await run(['-user-id', '1', '-url', `${base}/503`]), {
    code: 3,
    stdout: 'Response status: 503 Service Unavailable\nDirectory unavailable\n',
    stderr: 'gateway failing: 503 Service Unavailable (SEND_ERR_GATEWAY_FAILING)\n',
  });
  t.same(await run(['-user-id', '1', '-url', `${base}/500`]), {
    code: 3,
    stdout: 'Response status: 500 Kaputt\n\n',
    stderr: 'gateway failing: 500 Kaputt (SEND_ERR_GATEWAY_FAILING)\n',
  });
});

t.test('an answer that is neither 200, 4xx nor 5xx exits 1, "not delivered"', async (t) => {
  const gw = await standIn(t, (_req, res) => { res.writeHead(302, { Location: '/elsewhere' }).end('moved'); });
  t.same(await run(['-user-id', '1', '-url', gw.url]), {
    code: 1,
    stdout: 'Response status: 302 Found\nmoved\n',
    stderr: 'gateway did not deliver the notification: 302 Found (SEND_ERR_NOT_DELIVERED)\n',
  });
});

t.test('a closed port exits 4, "gateway unreachable", with nothing on stdout', async (t) => {
  const port = await closedPort();
  t.same(await run(['-user-id', '1', '-url', `http://127.0.0.1:${port}/message?token=secret`]), {
    code: 4,
    stdout: '',
    stderr: `gateway unreachable at http://127.0.0.1:${port}/message: connect ECONNREFUSED 127.0.0.1:${port} (SEND_ERR_UNREACHABLE)\n`,
  });
});

t.test('a connection dropped before the answer exits 4, "gateway unreachable"', async (t) => {
  const gw = await standIn(t, (req) => { req.socket.destroy(); });
  t.same(await run(['-user-id', '1', '-url', gw.url]), {
    code: 4,
    stdout: '',
    stderr: `gateway unreachable at ${gw.url}: socket hang up (SEND_ERR_UNREACHABLE)\n`,
  });
});

t.test('a connection dropped in the middle of the answer exits 4 at once, not after the timeout', async (t) => {
  const gw = await standIn(t, (_req, res) => {
    res.writeHead(200, { 'Content-Length': '10' });
    res.write('o', () => res.socket?.destroy());
  });
  t.same(await run(['-user-id', '1', '-url', gw.url]), {
    code: 4,
    stdout: '',
    stderr: `gateway closed the connection before the whole answer at ${gw.url} (SEND_ERR_UNREACHABLE)\n`,
  });
});

t.test('an answer not complete within the timeout fails with SEND_ERR_TIMEOUT (exit 4)', async (t) => {
  // In-process with a short timeout: the binary's 10 s would make the test slow.
  const silent = await standIn(t, () => { /* never answers */ });
  const trickle = await standIn(t, (_req, res) => { res.writeHead(200); res.write('o'); /* never ends */ });
  const target = (url: string) => ({ url: new URL(url), apiKey: undefined });
  const flags = { type: 'host', notificationtype: '', hostuuid: '', serviceuuid: '', state: 0, output: '', ackauthor: '', ackcomment: '', userId: 1, url: '', apiKeyFile: '' };
  for (const gw of [silent, trickle]) {
    const err = await send(buildBody(flags, 0), target(gw.url), { timeoutMs: 200 }).then(() => undefined, (e: unknown) => e);
    t.ok(err instanceof SenderError);
    t.same({ code: (err as SenderError).code, exitCode: (err as SenderError).exitCode, message: (err as SenderError).message },
      { code: 'SEND_ERR_TIMEOUT', exitCode: 4, message: `gateway did not answer within 200 ms at ${gw.url}` });
  }
});

t.test('a missing or non-positive -user-id prints the original text, exits 1 and sends nothing', async (t) => {
  const gw = await standIn(t, okAnswer);
  for (const args of [[], ['-t', 'host', '-hostuuid', 'h'], ['-user-id', '0'], ['--user-id=-3']]) {
    t.same(await run(args, { PUSHGATE_URL: gw.url }), { code: 1, stdout: '', stderr: 'user-id is required and must be > 0\n' }, args.join(' '));
  }
  t.equal(gw.seen.length, 0);
});

t.test('a usage error prints Go\'s one line naming the flag and exits 2; -h prints the usage and exits 0', async (t) => {
  t.same(await run(['-user-id', '1', '-foo', 'x']), { code: 2, stdout: '', stderr: 'flag provided but not defined: -foo\n' });
  t.same(await run(['-user-id', '1', '-state', 'DOWN']), { code: 2, stdout: '', stderr: 'invalid value "DOWN" for flag -state: parse error\n' });
  t.same(await run(['-user-id', '1', '-output']), { code: 2, stdout: '', stderr: 'flag needs an argument: -output\n' });
  t.same(await run(['-h']), { code: 0, stdout: '', stderr: USAGE });
});

t.test('docs/errors.md lists exactly the sender\'s error codes', async (t) => {
  const doc = readFileSync(join(pkg, '..', '..', 'docs', 'errors.md'), 'utf8');
  const section = /^## sender\n([\s\S]*?)(?=^## )/m.exec(doc)?.[1] ?? '';
  const listed = [...section.matchAll(/^\| `(SEND_ERR_[A-Z_]+)` \|/gm)].map((m) => m[1]);
  t.same(listed.sort(), Object.keys(SenderErrorCodes).sort());
});

t.test('real gateway: each flag form delivers to a registered WebSocket client and exits 0', async (t) => {
  const gw = await startTestGateway();
  t.teardown(() => gw.close());
  const client = await openRegisteredClient(gw, { userId: 3, browserUuid: 'b1' });
  t.teardown(() => client.close());
  const env = { PUSHGATE_URL: `${gw.url}/message`, PUSHGATE_API_KEY: TEST_API_KEY };
  const runs: Array<{ args: string[]; title: string; message: string; extra: Record<string, string> }> = [
    {
      args: ['-t', 'host', '-notificationtype', 'PROBLEM', '-hostuuid', HOST_UUID, '-state', '1', '-output', 'CRITICAL - host unreachable', '-user-id', '3'],
      title: 'PROBLEM: web-01 is DOWN!', message: 'CRITICAL - host unreachable',
      extra: { hostUuid: HOST_UUID, icon: '/img/push_notifications/wh/HostPushIconDOWN.png' },
    },
    {
      args: ['--type', 'service', '--notificationtype', 'RECOVERY', '--hostuuid', HOST_UUID, '--serviceuuid', SERVICE_UUID, '--state', '0', '--output', 'HTTP OK', '--user-id', '3'],
      title: 'RECOVERY: web-01/HTTP is OK!', message: 'HTTP OK',
      extra: { hostUuid: HOST_UUID, serviceUuid: SERVICE_UUID, icon: '/img/push_notifications/wh/ServicePushIconOK.png' },
    },
    {
      args: ['-type=service', '-notificationtype=ACKNOWLEDGEMENT', `-hostuuid=${HOST_UUID}`, `-serviceuuid=${SERVICE_UUID}`, '-state=2', '-ackauthor=alice', '-ackcomment=on it', '-user-id=3'],
      title: 'Acknowledgement for web-01/HTTP (CRITICAL)', message: 'alice: on it',
      extra: { hostUuid: HOST_UUID, serviceUuid: SERVICE_UUID },
    },
    {
      args: ['--t=host', '--notificationtype=DOWNTIMESTART', `--hostuuid=${HOST_UUID}`, '--state=0', '--user-id=3'],
      title: 'Downtime start for web-01', message: 'Host has entered a period of scheduled downtime',
      extra: { hostUuid: HOST_UUID },
    },
  ];
  for (const { args, title, message, extra } of runs) {
    const before = Math.floor(Date.now() / 1000);
    t.same(await run(args, env), { code: 0, stdout: 'Response status: 200 OK\nok\n', stderr: '' }, args.join(' '));
    const frame = await client.next(WAIT_MS);
    const ts = (JSON.parse(frame) as { payload: { timestamp: number } }).payload.timestamp;
    t.ok(ts >= before && ts <= Math.floor(Date.now() / 1000), 'timestamp is the send time');
    const type = args.some((a) => a.endsWith('service')) ? 'service' : 'host';
    t.equal(frame, JSON.stringify({
      type: 'ProcessPushNotification', message,
      payload: { timestamp: ts, userId: 3, title, message, type, ...extra, id: gw.ids.lastId },
    }), title);
  }
  t.equal(client.pending, 0, 'one frame per notification');
});

t.test('real gateway: 4xx answers exit 1 "rejected" with the exact status and body', async (t) => {
  const gw = await startTestGateway();
  t.teardown(() => gw.close());
  const client = await openRegisteredClient(gw, { userId: 1 });
  t.teardown(() => client.close());
  const url = { PUSHGATE_URL: `${gw.url}/message` };
  const env = { ...url, PUSHGATE_API_KEY: TEST_API_KEY };
  const rejected = (status: string, body: string) => ({
    code: 1,
    stdout: `Response status: ${status}\n${body}\n`,
    stderr: `gateway rejected the notification: ${status} (SEND_ERR_REJECTED)\n`,
  });
  t.same(await run(['-t', 'host', '-hostuuid', 'no-such-host', '-user-id', '1'], env),
    rejected('400 Bad Request', 'No host found for given UUID'));
  t.same(await run(['-t', 'service', '-hostuuid', HOST_UUID, '-serviceuuid', 'no-such-service', '-user-id', '1'], env),
    rejected('400 Bad Request', 'No service found for given UUID'));
  t.same(await run(['-t', 'host', '-hostuuid', HOST_UUID, '-user-id', '1'], url),
    rejected('401 Unauthorized', 'Unauthorized'));
  t.same(await run(['-t', 'host', '-hostuuid', HOST_UUID, '-user-id', '1'], { ...url, PUSHGATE_API_KEY: 'wrong-key-0123456789abcdef' }),
    rejected('401 Unauthorized', 'Unauthorized'));
  t.equal(client.pending, 0, 'nothing was delivered');
});

t.test('real gateway: a user with no registered browser gets 202, exit 1 "not delivered"', async (t) => {
  const gw = await startTestGateway();
  t.teardown(() => gw.close());
  t.same(await run(['-t', 'host', '-hostuuid', HOST_UUID, '-user-id', '99'], { PUSHGATE_URL: `${gw.url}/message`, PUSHGATE_API_KEY: TEST_API_KEY }), {
    code: 1,
    stdout: 'Response status: 202 Accepted\nUser is not registered for push notifications\n',
    stderr: 'gateway did not deliver the notification: 202 Accepted (SEND_ERR_NOT_DELIVERED)\n',
  });
});

t.test('the bundle is one file that imports only node built-ins', async (t) => {
  const code = readFileSync(bin, 'utf8');
  t.match(code, /^#!\/usr\/bin\/env node\n/);
  const specifiers = [...code.matchAll(/\bfrom\s*"([^"]+)"|\bimport\s*\(\s*"([^"]+)"\s*\)|\bimport\s*"([^"]+)"/g)]
    .map((m) => m[1] ?? m[2] ?? m[3]);
  t.ok(specifiers.length > 0, 'found the imports');
  t.same(specifiers.filter((s) => !s?.startsWith('node:')), []);
  t.notMatch(code, /\brequire\(/, 'no CommonJS require of anything');
});

t.test('https:// URLs are verified against the system CAs plus NODE_EXTRA_CA_CERTS', async (t) => {
  const fixtures = join(pkg, 'test', 'fixtures');
  const cert = join(fixtures, 'localhost-cert.pem');
  const server = createHttpsServer({ cert: readFileSync(cert), key: readFileSync(join(fixtures, 'localhost-key.pem')) }, (req, res) => {
    req.resume();
    req.on('end', () => res.writeHead(200).end('ok'));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }));
  const url = `https://127.0.0.1:${(server.address() as AddressInfo).port}/message`;
  t.same(await run(['-user-id', '1', '-url', url], { NODE_EXTRA_CA_CERTS: cert }), { code: 0, stdout: 'Response status: 200 OK\nok\n', stderr: '' });
  t.same(await run(['-user-id', '1', '-url', url]), {
    code: 4, stdout: '', stderr: `gateway unreachable at ${url}: self-signed certificate (SEND_ERR_UNREACHABLE)\n`,
  }, 'an untrusted certificate is refused');
});
