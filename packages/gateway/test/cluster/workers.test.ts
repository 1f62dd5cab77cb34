/**
 * `pushgate serve --workers N` (node:cluster): the workers share one port,
 * a /message reaches users on either worker (through the Redis bus), a
 * crashed worker is restarted, SIGTERM stops them all and the primary exits
 * 0. Without the Redis bus N > 1 is refused with exit code 2.
 *
 * Nothing here races the processes: log lines and Redis writes are waited
 * for (bounded by START_MS, generous, as several process starts on a loaded
 * machine need), never read once and hoped to be there already.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import t from 'tap';
import type { Gateway } from '../../src/gateway.js';
import { clusterDir, startGatewayProcess } from '../gateway-process.js';
import { redisSkip, redisUrl, testPrefix } from '../fixtures/redis.js';
import { hostMessage, httpRequest, openRegisteredClient, postMessage, stateEnv, WAIT_MS, waitFor } from '../helpers.js';

const skip = await redisSkip();

/**
 * Bound for what needs a process start (the primary and its workers each load the whole gateway):
 * on a loaded machine that takes many times WAIT_MS, and a bound only decides when a hung start
 * counts as failed, never what passes.
 */
const START_MS = WAIT_MS * 12;

/** A loopback port P with P + 1 free as well (checked by binding both, then releasing them). */
async function twoFreePorts(): Promise<number> {
  const { createServer } = await import('node:net');
  const bind = (port: number): Promise<import('node:net').Server | undefined> => new Promise((resolve) => {
    const s = createServer();
    s.once('error', () => resolve(undefined));
    s.listen(port, '127.0.0.1', () => resolve(s));
  });
  for (;;) {
    const first = await bind(0);
    const port = (first!.address() as { port: number }).port;
    const second = port < 65535 ? await bind(port + 1) : undefined;
    await Promise.all([first, second].map((s) => new Promise<void>((resolve) => (s ? s.close(() => resolve()) : resolve()))));
    if (second) return port;
  }
}
const MAIN = fileURLToPath(new URL('../../dist/main.js', import.meta.url));

t.test('--workers 2 without the Redis bus: one line, exit 2', async (t) => {
  const child = spawn(process.execPath, [MAIN, 'serve', '--workers', '2'], { env: stateEnv(t), stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  child.stderr!.on('data', (c: Buffer) => { err += c.toString(); });
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  t.equal(code, 2);
  t.equal(err, 'pushgate: --workers 2 needs the Redis bus (bus: { type: redis, url: redis://... } in the config, docs/scale-out.md)\n');
});

t.test('--workers 2: both serve on one port, /message reaches either, a crash restarts, SIGTERM stops all', { skip }, async (t) => {
  const dir = await clusterDir(t);
  const prefix = testPrefix();
  const redis = new Redis(redisUrl());
  t.teardown(async () => {
    const keys = await redis.keys(`${prefix}*`);
    if (keys.length > 0) await redis.del(...keys);
    redis.disconnect();
  });
  const metricsPort = await twoFreePorts();
  const primary = await startGatewayProcess(t, dir, {
    bus: { type: 'redis', url: redisUrl(), prefix }, log: { level: 'debug' }, metrics: { listen: { host: '127.0.0.1', port: metricsPort } },
  }, { args: ['--workers', '2'], listening: 2, startMs: START_MS });
  const listening = primary.logs().filter((l) => l.msg === 'pushgate listening');
  t.same(new Set(listening.map((l) => l.worker)), new Set([0, 1]), 'workers 0 and 1 listen');
  t.equal(new Set(listening.map((l) => l.port)).size, 1, 'on the same port');
  t.equal(new Set(listening.map((l) => l.pid)).size, 2, 'in two processes');

  for (const port of [metricsPort, metricsPort + 1]) {
    const res = await httpRequest(`http://127.0.0.1:${port}/metrics`);
    t.equal(res.status, 200, `a worker serves its own /metrics on metrics.listen.port + index (${port})`);
    t.match(res.body, /^pushgate_bus_up\{type="redis"\} 1$/m);
  }

  const gw = { url: primary.url } as Gateway;
  // The primary hands connections to the workers in turn: four users land on both.
  const clients = [];
  for (let user = 1; user <= 4; user++) clients.push(await openRegisteredClient(gw, { userId: user, browserUuid: `b${user}` }));
  // A worker writes a registration to Redis fire and forget (cluster/redis/bus.ts), after the KeepAlive that
  // openRegisteredClient waits for: the other worker can only count the user as reachable once it is there.
  await waitFor(async () => (await Promise.all([1, 2, 3, 4].map((u) => redis.hexists(`${prefix}u:${u}`, 'r')))).every((r) => r === 1), START_MS, 'the registrations in Redis');
  // The workers' log lines reach the primary's stdout on their own time: wait for them, do not race them.
  const connectedOn = (): Set<unknown> => new Set(primary.logs().filter((l) => l.msg === 'websocket connected').map((l) => l.worker));
  await primary.waitLog(() => connectedOn().size === 2, START_MS).catch(() => undefined);
  t.same(connectedOn(), new Set([0, 1]), 'clients are connected to both workers');
  for (let user = 1; user <= 4; user++) {
    const res = await postMessage(gw, hostMessage({ userId: user, output: `for ${user}` }));
    t.equal(res.status, 200, `/message for user ${user} answers 200 whichever worker takes it`);
    t.match(await clients[user - 1]!.nextJson(START_MS), { type: 'ProcessPushNotification', payload: { userId: user } }, `user ${user} gets it`);
  }

  // A crashed worker is restarted (with a log line) and serves again.
  const victim = listening[0]!.pid as number;
  process.kill(victim, 'SIGKILL');
  await primary.waitLog((l) => l.msg === 'worker died; restarting' && l.pid === victim, START_MS);
  await primary.waitLog((l) => l.msg === 'pushgate listening' && l.pid !== listening[0]!.pid && l.pid !== listening[1]!.pid, START_MS);
  t.pass('the crashed worker was replaced');

  const closes = clients.map((c) => c.closed);
  t.equal(await primary.stop('SIGTERM'), 0, 'SIGTERM: the primary exits 0');
  const codes = await Promise.all(closes);
  t.ok(codes.every((c) => c.code === 1001 || c.code === 1006), 'every client was closed');
  t.ok(primary.logs().some((l) => l.msg === 'all workers stopped'), 'after all workers stopped');
});

t.test('--workers 2 on a port that is taken: the primary stops and exits 1 instead of restarting forever', { skip }, async (t) => {
  const { createServer } = await import('node:net');
  const blocker = createServer();
  await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => blocker.close(() => resolve())));
  const port = (blocker.address() as { port: number }).port;
  const dir = await clusterDir(t);
  const { writeFile } = await import('node:fs/promises');
  const { join } = await import('node:path');
  const file = join(dir, 'taken.yaml');
  await writeFile(file, `listen: { host: 127.0.0.1, port: ${port} }\ndirectory: { type: file, path: directory.yaml }\nbus: { type: redis, url: "${redisUrl()}", prefix: "${testPrefix()}" }\n`);
  const child = spawn(process.execPath, [MAIN, 'serve', '--config', file, '--workers', '2'], { env: stateEnv(t), stdio: ['ignore', 'pipe', 'pipe'] });
  t.teardown(() => { if (child.exitCode === null) child.kill('SIGKILL'); });
  let out = '';
  child.stdout!.on('data', (c: Buffer) => { out += c.toString(); });
  child.stderr!.on('data', (c: Buffer) => { out += c.toString(); });
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  t.equal(code, 1);
  t.match(out, /cannot listen on 127\.0\.0\.1:\d+/, 'the worker says why');
  t.match(out, /a worker failed to start; stopping/);
});
