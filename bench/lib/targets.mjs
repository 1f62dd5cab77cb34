// Start a server under benchmark in its own process: `pushgate`, the `floor`
// (ws + node:http, the least that speaks the wire protocol) or `socketio`
// (room per user), each forked with IPC (servers/*.mjs); or the real CLI,
// `pushgate serve --workers N`, for the multi-process scenarios.
import { fork, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { API_KEY, HOST_UUID, cpuMsOf, ipcAsker, rssOf, sleep, treeCpuMs, treeRss } from './common.mjs';

const SERVERS = fileURLToPath(new URL('../servers/', import.meta.url));
const MAIN = fileURLToPath(new URL('../../packages/gateway/dist/main.js', import.meta.url));

/** The bench directory file: one key, one host. */
export const DIRECTORY = { apiKeys: [API_KEY], hosts: { [HOST_UUID]: 'bench-host' }, services: {}, devices: {} };

/**
 * pushgate config for the bench: per-IP limits off, because the load
 * generators connect from 127.0.0.2… (the default exemption is only
 * 127.0.0.1/::1) and one address carries thousands of sockets.
 */
export const PUSHGATE_CONFIG = {
  limits: { maxConnectionsPerIp: 0, maxFailedHandshakesPerIp: 0 },
};

/**
 * Fork servers/<kind>.mjs and wait for its port. The returned handle asks it
 * for `gc` (then reads RSS), `broadcast` and `stats` over IPC, and reads its
 * RSS and CPU from /proc.
 */
export async function startTarget(kind, { config = {} } = {}) {
  const env = { ...process.env };
  if (kind === 'pushgate') {
    env.BENCH_CONFIG = JSON.stringify({ ...PUSHGATE_CONFIG, ...config });
    env.BENCH_DIRECTORY = JSON.stringify(DIRECTORY);
  }
  const child = fork(join(SERVERS, `${kind}.mjs`), [], {
    // BENCH_SERVER_NODE_ARGS, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof", profiles the servers.
    execArgv: ['--expose-gc', ...(process.env.BENCH_SERVER_NODE_ARGS ?? '').split(' ').filter(Boolean)],
    env,
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
  });
  const askFor = ipcAsker(child, `${kind} server`, 30_000);
  const ask = (op) => askFor({ op });
  const exited = new Promise((resolve) => child.once('exit', resolve));
  const ready = await Promise.race([ask('ready'), exited.then((code) => { throw new Error(`${kind} server exited with ${code} before listening`); })]);
  return {
    kind,
    pid: child.pid,
    port: ready.port,
    url: `http://127.0.0.1:${ready.port}`,
    /** RSS in bytes after two full GCs. */
    async rssAfterGc() {
      await ask('gc');
      await sleep(200);
      return rssOf(child.pid);
    },
    rss: () => rssOf(child.pid),
    cpuMs: () => cpuMsOf(child.pid),
    /** Trigger one broadcast; resolves with the server's monotonic start time (ns) and its connection count. */
    broadcast: () => ask('broadcast'),
    stats: () => ask('stats'),
    async stop() {
      if (child.exitCode !== null) return;
      child.send({ op: 'stop' });
      const t = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(t);
    },
  };
}

/** True when this build's `pushgate serve` knows `--workers` (the Redis bus branch). */
export function workersSupported() {
  // The usage text goes to stderr.
  const r = spawnSync(process.execPath, [MAIN, '--help'], { encoding: 'utf8', timeout: 20_000 });
  return `${r.stdout ?? ''}${r.stderr ?? ''}`.includes('--workers');
}

function get(url) {
  return new Promise((resolve) => {
    const req = request(url, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode));
    });
    req.on('error', () => resolve(0));
    req.end();
  });
}

/**
 * The real CLI, `pushgate serve --workers <n>`, with a Redis bus under a
 * fresh key prefix (the bus is shared with other users of the machine's
 * Redis: never flushed). RSS and CPU are summed over the process tree.
 */
export async function startWorkers(workers, { port, config = {} } = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'pushgate-bench-'));
  const prefix = `pushgate-bench-${process.pid}-${Date.now()}:`;
  writeFileSync(join(dir, 'directory.yaml'), JSON.stringify(DIRECTORY));
  const cfg = {
    ...PUSHGATE_CONFIG,
    listen: { host: '127.0.0.1', port },
    directory: { type: 'file', path: 'directory.yaml' },
    bus: { type: 'redis', url: 'redis://127.0.0.1:6379', prefix },
    log: { level: 'warn' },
    state: { dir: 'state' },
    ...config,
  };
  // JSON is YAML.
  writeFileSync(join(dir, 'config.yaml'), JSON.stringify(cfg));
  const child = spawn(process.execPath, [MAIN, 'serve', '--workers', String(workers), '--config', join(dir, 'config.yaml')], {
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const exited = new Promise((resolve) => child.once('exit', resolve));
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 30_000;
  while ((await get(`${url}/healthz`)) !== 200) {
    if (child.exitCode !== null || Date.now() > deadline) {
      child.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
      throw new Error(`pushgate serve --workers ${workers} did not come up on ${url}`);
    }
    await sleep(200);
  }
  // Workers may come up one after the other: give them a moment after the first answers.
  await sleep(1000);
  return {
    kind: `pushgate-workers${workers}`,
    pid: child.pid,
    port,
    url,
    rss: () => treeRss(child.pid).total,
    rssEach: () => treeRss(child.pid).each,
    rssAfterGc: async () => treeRss(child.pid).total,
    cpuMs: () => treeCpuMs(child.pid),
    async stop() {
      if (child.exitCode === null) {
        child.kill('SIGTERM');
        const t = setTimeout(() => child.kill('SIGKILL'), 10_000);
        await exited;
        clearTimeout(t);
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A free TCP port on loopback (for the CLI, which takes a fixed port). */
export async function freePort() {
  const { createServer } = await import('node:net');
  return new Promise((resolve) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}
