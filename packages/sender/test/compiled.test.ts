// The compiled sender (dist/send_push_notification, `pnpm --filter
// @pushgate/sender build:compiled`) is a drop-in for the .mjs bundle: each
// case below runs both and expects the same exit code, stdout and stderr,
// and the same request on the wire. send.test.ts covers the bundle in full;
// this is the representative set an operator relies on when swapping one
// for the other.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer as createHttpsServer } from 'node:https';
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import t, { type Test } from 'tap';
import { USAGE } from '../src/flags.js';

const pkg = fileURLToPath(new URL('..', import.meta.url));
const bundle = join(pkg, 'dist', 'send_push_notification.mjs');
const compiled = join(pkg, 'dist', 'send_push_notification');

function mtime(path: string): number {
  try { return statSync(path).mtimeMs; } catch { return 0; }
}

// Build what is missing or older than a source file, as send.test.ts does
// for the bundle. Compiling takes about a second (bun from the `bun`
// devDependency); the bundle is rebuilt by send.test.ts or `pnpm build`.
function ensureCompiled(): string | undefined {
  const src = join(pkg, 'src');
  const newest = Math.max(...readdirSync(src, { recursive: true }).map((f) => statSync(join(src, String(f))).mtimeMs));
  if (mtime(compiled) > newest) return undefined;
  const r = spawnSync(process.execPath, [join(pkg, 'scripts', 'build-compiled.mjs')], { cwd: pkg, encoding: 'utf8', timeout: 120_000 });
  if (r.status === 0) return undefined;
  // Only a platform bun ships no binary for is a reason to skip.
  if (/no bun binary for/.test(r.stderr)) return r.stderr.trim().split('\n').at(-1);
  throw new Error(`building the compiled sender failed (${r.status ?? r.signal}): ${r.stderr}`);
}

const skip = ensureCompiled();
if (skip !== undefined && process.env.CI === 'true') throw new Error(`compiled sender unavailable under CI: ${skip}`);
if (mtime(bundle) === 0) {
  const script = (JSON.parse(readFileSync(join(pkg, 'package.json'), 'utf8')) as { scripts: { bundle: string } }).scripts.bundle;
  const r = spawnSync('sh', ['-c', script], {
    cwd: pkg, encoding: 'utf8', timeout: 60_000,
    env: { ...process.env, PATH: `${join(pkg, 'node_modules', '.bin')}:${process.env.PATH ?? ''}` },
  });
  if (r.status !== 0) throw new Error(`bundling the sender failed: ${r.stderr}`);
}

/** The two builds, as Naemon runs them. */
const builds: ReadonlyArray<readonly [string, readonly string[]]> = [
  ['bundle', [process.execPath, bundle]],
  ['compiled', [compiled]],
];

interface Run { code: number | null; stdout: string; stderr: string }

/** Run one build with a clean environment (only PATH and `env`) in `cwd`. */
function run(cmd: readonly string[], args: string[], env: Record<string, string> = {}, cwd = pkg): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd[0]!, [...cmd.slice(1), ...args], { cwd, env: { PATH: process.env.PATH ?? '', ...env } });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (s: string) => { stdout += s; });
    child.stderr.setEncoding('utf8').on('data', (s: string) => { stderr += s; });
    const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`sender hung: ${args.join(' ')}`)); }, 30_000);
    child.on('error', reject);
    child.on('close', (code) => { clearTimeout(timer); resolve({ code, stdout, stderr }); });
  });
}

interface Seen { url: string; headers: IncomingHttpHeaders; body: string }

/** A real HTTP server on loopback standing in for the gateway; records every request. */
async function standIn(t: Test, answer: (req: IncomingMessage, res: ServerResponse) => void): Promise<{ url: string; seen: Seen[] }> {
  const seen: Seen[] = [];
  const server = createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8').on('data', (s: string) => { body += s; });
    req.on('end', () => {
      seen.push({ url: req.url ?? '', headers: req.headers, body });
      answer(req, res);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/message`, seen };
}

const text = (status: number, body: string, reason?: string) => (_req: IncomingMessage, res: ServerResponse): void => {
  if (reason === undefined) res.writeHead(status, { 'Content-Type': 'text/plain' }).end(body);
  else res.writeHead(status, reason, { 'Content-Type': 'text/plain' }).end(body);
};

const problemArgs = ['-t', 'host', '-notificationtype', 'PROBLEM', '-hostuuid', 'c36b8048-93ce-4385-ac19-ab5c90574b77',
  '-state', '1', '-output', 'PING CRITICAL - Packet loss = 100%', '-user-id', '1'];

/** Run `args` with every build and expect `want` from each. */
async function each(t: Test, args: string[], env: Record<string, string>, want: Run, cwd?: string): Promise<void> {
  for (const [name, cmd] of builds) t.same(await run(cmd, args, env, cwd), want, `${name}: ${args.join(' ')}`);
}

t.test('compiled sender', { skip: skip ?? false }, async (t) => {
  t.test('a 200 answer: exit 0, the answer on stdout, the same request on the wire', async (t) => {
    const gw = await standIn(t, text(200, 'ok'));
    await each(t, problemArgs, { PUSHGATE_URL: gw.url, PUSHGATE_API_KEY: 'k'.repeat(64) },
      { code: 0, stdout: 'Response status: 200 OK\nok\n', stderr: '' });
    await each(t, ['--type=service', '-serviceuuid', 's-1', '-ackcomment=on it', '--user-id', '0x1f', '-url', gw.url], {},
      { code: 0, stdout: 'Response status: 200 OK\nok\n', stderr: '' });
    const requests = gw.seen.map((s) => {
      const { timestamp, ...body } = JSON.parse(s.body) as Record<string, unknown>;
      t.type(timestamp, 'number');
      return { url: s.url, type: s.headers['content-type'], key: s.headers['x-api-key'], length: s.headers['content-length'], body };
    });
    t.equal(requests.length, 4);
    t.same(requests[1], requests[0], 'bundle and compiled send the same request');
    t.same(requests[3], requests[2], 'bundle and compiled send the same request');
    t.same(requests[0]?.body, {
      userId: 1, type: 'host', hostUuid: 'c36b8048-93ce-4385-ac19-ab5c90574b77', serviceUuid: '', icon: '', state: 1,
      notificationtype: 'PROBLEM', output: 'PING CRITICAL - Packet loss = 100%', ackauthor: '', ackcomment: '',
    });
    t.equal(requests[0]?.key, 'k'.repeat(64));
    t.equal(requests[2]?.body.userId, 31);
  });

  t.test('usage errors exit 2 with Go\'s line, a missing user id exits 1, -h exits 0 with the usage', async (t) => {
    await each(t, ['-user-id', '1', '-foo', 'x'], {}, { code: 2, stdout: '', stderr: 'flag provided but not defined: -foo\n' });
    await each(t, ['-user-id', '1', '-state', 'DOWN'], {}, { code: 2, stdout: '', stderr: 'invalid value "DOWN" for flag -state: parse error\n' });
    await each(t, ['-user-id', '1', '-output'], {}, { code: 2, stdout: '', stderr: 'flag needs an argument: -output\n' });
    await each(t, ['-user-id', '1', '-url', 'localhost:8083'], {},
      { code: 2, stdout: '', stderr: 'invalid value "localhost:8083" for flag -url: not an http:// or https:// URL\n' });
    await each(t, ['-t', 'host'], {}, { code: 1, stdout: '', stderr: 'user-id is required and must be > 0\n' });
    await each(t, ['-h'], {}, { code: 0, stdout: '', stderr: USAGE });
    const { version } = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string };
    await each(t, ['-version'], {}, { code: 0, stdout: `send_push_notification ${version}\n`, stderr: '' });
  });

  t.test('gateway answers: 5xx exits 3, 4xx and 202 exit 1, each with the answer on stdout', async (t) => {
    const gw = await standIn(t, (req, res) => {
      if (req.url === '/503') text(503, 'Directory unavailable')(req, res);
      else if (req.url === '/500') text(500, '', 'Kaputt')(req, res);
      else if (req.url === '/401') text(401, 'Unauthorized')(req, res);
      else text(202, 'User is not registered for push notifications')(req, res);
    });
    const at = (path: string) => ['-user-id', '1', '-url', gw.url.replace('/message', path)];
    await each(t, at('/503'), {}, {
      code: 3, stdout: 'Response status: 503 Service Unavailable\nDirectory unavailable\n',
      stderr: 'gateway failing: 503 Service Unavailable (SEND_ERR_GATEWAY_FAILING)\n',
    });
    await each(t, at('/500'), {}, { code: 3, stdout: 'Response status: 500 Kaputt\n\n', stderr: 'gateway failing: 500 Kaputt (SEND_ERR_GATEWAY_FAILING)\n' });
    await each(t, at('/401'), {}, {
      code: 1, stdout: 'Response status: 401 Unauthorized\nUnauthorized\n',
      stderr: 'gateway rejected the notification: 401 Unauthorized (SEND_ERR_REJECTED)\n',
    });
    await each(t, at('/message'), {}, {
      code: 1, stdout: 'Response status: 202 Accepted\nUser is not registered for push notifications\n',
      stderr: 'gateway did not deliver the notification: 202 Accepted (SEND_ERR_NOT_DELIVERED)\n',
    });
  });

  t.test('an unreachable gateway or a dropped connection exits 4', async (t) => {
    const s = createServer();
    await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
    const { port } = s.address() as AddressInfo;
    await new Promise<void>((resolve) => s.close(() => resolve()));
    await each(t, ['-user-id', '1', '-url', `http://127.0.0.1:${port}/message`], {}, {
      code: 4, stdout: '', stderr: `gateway unreachable at http://127.0.0.1:${port}/message: connect ECONNREFUSED 127.0.0.1:${port} (SEND_ERR_UNREACHABLE)\n`,
    });
    const hangUp = await standIn(t, (req) => { req.socket.destroy(); });
    await each(t, ['-user-id', '1', '-url', hangUp.url], {}, {
      code: 4, stdout: '', stderr: `gateway unreachable at ${hangUp.url}: socket hang up (SEND_ERR_UNREACHABLE)\n`,
    });
    const midAnswer = await standIn(t, (_req, res) => {
      res.writeHead(200, { 'Content-Length': '10' });
      res.write('o', () => res.socket?.destroy());
    });
    await each(t, ['-user-id', '1', '-url', midAnswer.url], {}, {
      code: 4, stdout: '', stderr: `gateway closed the connection before the whole answer at ${midAnswer.url} (SEND_ERR_UNREACHABLE)\n`,
    });
  });

  t.test('the key file is read the same way; an unreadable one exits 1; a .env in the working directory is ignored', async (t) => {
    const gw = await standIn(t, text(200, 'ok'));
    const dir = mkdtempSync(join(tmpdir(), 'sender-compiled-'));
    t.teardown(() => rmSync(dir, { recursive: true, force: true }));
    writeFileSync(join(dir, 'key'), '  from-file  \nsecond line\n');
    // bun's compiled programs would load these by default (build-compiled.mjs turns that off).
    writeFileSync(join(dir, '.env'), 'PUSHGATE_API_KEY=from-dotenv\nPUSHGATE_URL=http://127.0.0.1:1/message\n');
    writeFileSync(join(dir, 'bunfig.toml'), 'preload = ["./nothing.ts"]\n');
    await each(t, ['-user-id', '1', '-api-key-file', join(dir, 'key'), '-url', gw.url], {},
      { code: 0, stdout: 'Response status: 200 OK\nok\n', stderr: '' }, dir);
    await each(t, ['-user-id', '1'], { PUSHGATE_URL: gw.url }, { code: 0, stdout: 'Response status: 200 OK\nok\n', stderr: '' }, dir);
    t.same(gw.seen.map((s) => s.headers['x-api-key']), ['from-file', 'from-file', undefined, undefined]);
    await each(t, ['-user-id', '1', '-api-key-file', join(dir, 'missing'), '-url', gw.url], {},
      { code: 1, stdout: '', stderr: `cannot read API key file ${join(dir, 'missing')}: ENOENT (SEND_ERR_API_KEY_FILE)\n` });
  });

  t.test('https:// with NODE_EXTRA_CA_CERTS works; an untrusted certificate exits 4', async (t) => {
    const fixtures = join(pkg, 'test', 'fixtures');
    const cert = join(fixtures, 'localhost-cert.pem');
    const server = createHttpsServer({ cert: readFileSync(cert), key: readFileSync(join(fixtures, 'localhost-key.pem')) }, (req, res) => {
      req.resume();
      req.on('end', () => res.writeHead(200).end('ok'));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    t.teardown(() => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }));
    const url = `https://127.0.0.1:${(server.address() as AddressInfo).port}/message`;
    await each(t, ['-user-id', '1', '-url', url], { NODE_EXTRA_CA_CERTS: cert }, { code: 0, stdout: 'Response status: 200 OK\nok\n', stderr: '' });
    // The one known difference in text: bun's TLS (BoringSSL) says "self
    // signed certificate" where Node's OpenSSL says "self-signed certificate".
    for (const [name, cmd] of builds) {
      const r = await run(cmd, ['-user-id', '1', '-url', url]);
      t.same({ code: r.code, stdout: r.stdout }, { code: 4, stdout: '' }, name);
      t.match(r.stderr, new RegExp(`^gateway unreachable at ${url.replaceAll('.', '\\.')}: self[- ]signed certificate \\(SEND_ERR_UNREACHABLE\\)\\n$`), name);
    }
  });
});
