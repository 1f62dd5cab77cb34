import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import t, { type Test } from 'tap';
import { WebSocket } from 'ws';
import { httpRequest, stateEnv, TestClient, TEST_API_KEY, WAIT_MS } from './helpers.js';

const MAIN = fileURLToPath(new URL('../dist/main.js', import.meta.url));

interface Run {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  exited: Promise<number | null>;
}

function run(t: Test, args: string[], env: NodeJS.ProcessEnv = {}): Run {
  const child = spawn(process.execPath, [MAIN, ...args], { env: { ...stateEnv(t), ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout!.on('data', (c: Buffer) => { out += c.toString(); child.emit('output'); });
  child.stderr!.on('data', (c: Buffer) => { err += c.toString(); child.emit('output'); });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  t.teardown(() => { if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL'); });
  return { child, stdout: () => out, stderr: () => err, exited };
}

/** Wait until `pick` finds something in the output so far, bounded. */
function waitOutput<T>(r: Run, pick: () => T | undefined, ms = WAIT_MS * 2): Promise<T> {
  return new Promise((resolve, reject) => {
    const check = (): void => {
      const v = pick();
      if (v !== undefined) {
        cleanup();
        resolve(v);
      }
    };
    const timer = setTimeout(() => { cleanup(); reject(new Error(`output not seen in time:\n${r.stdout()}\n${r.stderr()}`)); }, ms);
    const onExit = (): void => { cleanup(); reject(new Error(`process exited early:\n${r.stdout()}\n${r.stderr()}`)); };
    const cleanup = (): void => {
      clearTimeout(timer);
      r.child.off('output', check);
      r.child.off('exit', onExit);
    };
    r.child.on('output', check);
    r.child.once('exit', onExit);
    check();
  });
}

function listeningPort(r: Run): number | undefined {
  for (const line of r.stdout().split('\n')) {
    if (!line.includes('"pushgate listening"')) continue;
    return (JSON.parse(line) as { port: number }).port;
  }
  return undefined;
}

function bounded<T>(p: Promise<T>, what: string, ms = WAIT_MS * 2): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([p, new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new Error(`${what}: timed out`)), ms); })])
    .finally(() => clearTimeout(timer));
}

async function tmp(t: Test): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'pushgate-main-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

async function connect(port: number, key: string): Promise<TestClient> {
  const ws = new WebSocket(`ws://127.0.0.1:${port}/?userId=1&browserUuid=b`, ['access_token', key]);
  const client = new TestClient(ws);
  t.equal(JSON.parse(await client.next()).type, 'ConnectionEstablished');
  return client;
}

t.test('SIGTERM closes clients with 1001 and exits 0; the file directory path is relative to the config', async (t) => {
  const dir = await tmp(t);
  await writeFile(join(dir, 'directory.yaml'), `apiKeys: ["${TEST_API_KEY}"]\nhosts: {}\n`);
  await writeFile(join(dir, 'pushgate.yaml'), 'listen:\n  port: 0\ndirectory:\n  type: file\n  path: directory.yaml\nlog:\n  level: debug\nshutdownTimeoutMs: 3000\n');
  const r = run(t, ['serve', '--config', join(dir, 'pushgate.yaml')]);
  const port = await waitOutput(r, () => listeningPort(r));
  const client = await connect(port, TEST_API_KEY);
  r.child.kill('SIGTERM');
  const closed = await bounded(client.closed, 'client close');
  t.equal(closed.code, 1001);
  t.equal(await bounded(r.exited, 'exit'), 0);
  t.match(r.stdout(), /"msg":"shutting down"/);
  t.notMatch(r.stdout(), TEST_API_KEY, 'the API key never reaches the log');
});

t.test('an invalid config file stops startup with the key path and reason on stderr', async (t) => {
  const dir = await tmp(t);
  await writeFile(join(dir, 'bad.yaml'), 'listen:\n  port: "80a"\nwebsocket:\n  pingIntervalMS: 5\n');
  const r = run(t, ['serve', '--config', join(dir, 'bad.yaml')]);
  const code = await bounded(r.exited, 'exit');
  t.not(code, 0);
  t.match(r.stderr(), 'listen.port: expected integer, got "80a"');
  t.match(r.stderr(), 'websocket: unknown key(s) "pingIntervalMS"');
  t.equal(r.stdout(), '', 'nothing was started');
});

t.test('a bad notification channel stops pushgate serve --config with its key path, before anything starts', async (t) => {
  const dir = await tmp(t);
  const file = join(dir, 'channels.yaml');
  await writeFile(file, 'listen:\n  port: 0\nnotifications:\n  channels:\n    po:\n      type: pushover\n      token: short\n      user: uQiRzpo4DXghDmr9QzzfQu27cmVRsG\n');
  const r = run(t, ['serve', '--config', file]);
  t.equal(await bounded(r.exited, 'exit'), 1);
  t.equal(r.stderr(), `pushgate: invalid configuration in ${file}:\n  notifications.channels.po.token: expected 30 letters and digits\n`);
  t.equal(r.stdout(), '', 'nothing was started');
});

t.test('an unreadable relay.caFile stops startup with a coded one-line error, not a stack trace', async (t) => {
  const dir = await tmp(t);
  await writeFile(join(dir, 'ca.yaml'), 'listen:\n  port: 0\nrelay:\n  caFile: missing-ca.pem\n');
  const r = run(t, ['serve', '--config', join(dir, 'ca.yaml')]);
  t.equal(await bounded(r.exited, 'exit'), 1);
  t.match(r.stderr(), `pushgate: RELAY_ERR_CA_FILE: `);
  t.match(r.stderr(), join(dir, 'missing-ca.pem'), 'names the resolved path');
  t.notMatch(r.stderr(), /\n\s+at /, 'no stack trace');
});

t.test('a missing config file and unknown commands are clear errors', async (t) => {
  const missing = run(t, ['serve', '--config', '/nonexistent/pushgate.yaml']);
  t.equal(await bounded(missing.exited, 'exit'), 1);
  t.match(missing.stderr(), 'cannot read config file /nonexistent/pushgate.yaml');
  const unknown = run(t, ['frobnicate']);
  t.equal(await bounded(unknown.exited, 'exit'), 2);
  t.match(unknown.stderr(), 'unknown command frobnicate');
  t.match(unknown.stderr(), 'usage: pushgate serve [--config <file>]');
});

t.test('pushgate --version prints the root package.json version on stdout', async (t) => {
  const { version } = JSON.parse(await readFile(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string };
  for (const arg of ['--version', 'version']) {
    const r = run(t, [arg]);
    t.equal(await bounded(r.exited, 'exit'), 0);
    t.equal(r.stdout(), `pushgate ${version}\n`, arg);
  }
});

t.test('the demo directory prints its API key and a ready-to-run sender example', async (t) => {
  const dir = await tmp(t);
  await writeFile(join(dir, 'demo.yaml'), 'listen:\n  port: 0\n');
  const r = run(t, ['serve', '--config', join(dir, 'demo.yaml')]);
  const key = await waitOutput(r, () => /demo API key: ([0-9a-f]{160})\n/.exec(r.stderr())?.[1]);
  const port = await waitOutput(r, () => listeningPort(r));
  await waitOutput(r, () => (r.stderr().includes('send_push_notification.mjs') ? true : undefined));
  t.match(r.stderr(), `PUSHGATE_URL=http://127.0.0.1:${port}/message PUSHGATE_API_KEY=${key} node packages/sender/dist/send_push_notification.mjs -type host -hostuuid c36b8048-93ce-4385-ac19-ab5c90574b77 -state 1 -notificationtype PROBLEM -output "demo" -user-id 1`);
  const client = await connect(port, key);
  t.teardown(() => client.close());
  t.notMatch(r.stdout(), key, 'the key is on stderr for the operator, never in the log');
  r.child.kill('SIGINT');
  t.equal(await bounded(r.exited, 'exit'), 0);
});

t.test('IS_CONTAINER=1 binds all addresses when listen.host is not configured', async (t) => {
  const dir = await tmp(t);
  await writeFile(join(dir, 'container.yaml'), 'listen:\n  port: 0\n');
  const r = run(t, ['serve', '--config', join(dir, 'container.yaml')], { IS_CONTAINER: '1' });
  const port = await waitOutput(r, () => listeningPort(r));
  const line = r.stdout().split('\n').find((l) => l.includes('"pushgate listening"'))!;
  t.equal(JSON.parse(line).host, '0.0.0.0');
  r.child.kill('SIGTERM');
  t.equal(await bounded(r.exited, 'exit'), 0);
  t.ok(port > 0);
});

t.test('the demo page carries the key only on the demo directory, and is off unless demo.enabled', async (t) => {
  const dir = await tmp(t);
  await writeFile(join(dir, 'demo.yaml'), 'listen:\n  port: 0\ndemo:\n  enabled: true\n');
  const demo = run(t, ['serve', '--config', join(dir, 'demo.yaml')]);
  const key = await waitOutput(demo, () => /demo API key: ([0-9a-f]{160})\n/.exec(demo.stderr())?.[1]);
  const port = await waitOutput(demo, () => listeningPort(demo));
  await waitOutput(demo, () => (demo.stderr().includes('/demo\n') ? true : undefined));
  t.match(demo.stderr(), `Or open the demo page in a browser: http://127.0.0.1:${port}/demo`);
  const page = await httpRequest(`http://127.0.0.1:${port}/demo`);
  t.equal(page.status, 200);
  t.match(page.body, `"apiKey":"${key}"`, 'the embedded demo page is given the demo key');
  t.equal((await httpRequest(`http://127.0.0.1:${port}/demo/pushgate-client.js`)).status, 200, 'the client bundle is served');
  demo.child.kill('SIGTERM');
  t.equal(await bounded(demo.exited, 'exit'), 0);

  await writeFile(join(dir, 'directory.yaml'), `apiKeys: ["${TEST_API_KEY}"]\nhosts: {}\n`);
  await writeFile(join(dir, 'file.yaml'), 'listen:\n  port: 0\ndirectory:\n  type: file\n  path: directory.yaml\ndemo:\n  enabled: true\n');
  const configured = run(t, ['serve', '--config', join(dir, 'file.yaml')]);
  const p2 = await waitOutput(configured, () => listeningPort(configured));
  const form = await httpRequest(`http://127.0.0.1:${p2}/demo`);
  t.equal(form.status, 200);
  t.notMatch(form.body, TEST_API_KEY, 'a configured deployment\'s page never carries a key');
  t.match(form.body, '{"demo":false}');
  configured.child.kill('SIGTERM');
  t.equal(await bounded(configured.exited, 'exit'), 0);

  await writeFile(join(dir, 'off.yaml'), 'listen:\n  port: 0\n');
  const off = run(t, ['serve', '--config', join(dir, 'off.yaml')]);
  const p3 = await waitOutput(off, () => listeningPort(off));
  t.equal((await httpRequest(`http://127.0.0.1:${p3}/demo`)).status, 426, 'off by default in a config file: /demo is just the WebSocket endpoint');
  off.child.kill('SIGTERM');
  t.equal(await bounded(off.exited, 'exit'), 0);
});
