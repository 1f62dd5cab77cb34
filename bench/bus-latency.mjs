#!/usr/bin/env node
// /message → WebSocket receipt latency through the bus, gateway processes on
// loopback (pnpm build first; Redis on 127.0.0.1:6379, or REDIS_URL):
//   local        one process, in-process bus (the default)
//   redis-same   Redis bus, the client on the node that took the POST
//   redis-cross  Redis bus, the client on another node (pub/sub hop)
//   redis-shared Redis bus, one browser with a tab on the posting node and one on another
//   redis-claim  Redis bus, that browser, posted on a third node (the two holders claim it)
// Rounds are interleaved (one of each per round) so machine noise hits all alike.
//   node bench/bus-latency.mjs            ROUNDS=500 by default
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { Agent, request } from 'node:http';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const require = createRequire(new URL('../packages/gateway/package.json', import.meta.url));
const { WebSocket } = require('ws');
const { Redis } = require('ioredis');

const MAIN = fileURLToPath(new URL('../packages/gateway/dist/main.js', import.meta.url));
const KEY = 'bench-key-0123456789abcdef0123456789';
const HOST = 'c36b8048-93ce-4385-ac19-ab5c90574b77';
const ROUNDS = Number(process.env.ROUNDS ?? 500);
const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const prefix = `pushgate_bench_${randomBytes(4).toString('hex')}:`;

const dir = await mkdtemp(join(tmpdir(), 'pushgate-bench-'));
await writeFile(join(dir, 'directory.yaml'), `apiKeys: ["${KEY}"]\nhosts: {"${HOST}": web-01}\n`);
const children = [];

async function node(name, bus) {
  const file = join(dir, `${name}.yaml`);
  await writeFile(file, JSON.stringify({ listen: { host: '127.0.0.1', port: 0 }, directory: { type: 'file', path: 'directory.yaml' }, log: { level: 'info' }, bus }));
  const child = spawn(process.execPath, [MAIN, 'serve', '--config', file], { stdio: ['ignore', 'pipe', 'inherit'] });
  children.push(child);
  let out = '';
  const port = await new Promise((resolve, reject) => {
    child.stdout.on('data', (c) => {
      out += c;
      const m = /"port":(\d+).*"pushgate listening"|"pushgate listening".*"port":(\d+)/.exec(out);
      if (m) resolve(Number(m[1] ?? m[2]));
    });
    child.once('exit', () => reject(new Error(`${name} exited:\n${out}`)));
  });
  child.stdout.resume();
  return { name, url: `http://127.0.0.1:${port}`, agent: new Agent({ keepAlive: true, maxSockets: 1 }) };
}

function post(n, userId, seq) {
  const body = JSON.stringify({ timestamp: Math.floor(Date.now() / 1000), userId, type: 'host', hostUuid: HOST, serviceUuid: '', icon: '', state: 1, notificationtype: 'PROBLEM', output: `bench ${seq}`, ackauthor: '', ackcomment: '' });
  return new Promise((resolve, reject) => {
    const req = request(`${n.url}/message`, { method: 'POST', agent: n.agent, headers: { 'X-Api-Key': KEY, 'Content-Type': 'application/json' } }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode));
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** A registered client; `waiter` resolves on the next ProcessPushNotification. */
async function client(n, userId, browserUuid) {
  const ws = new WebSocket(`${n.url.replace('http', 'ws')}/?userId=${userId}&browserUuid=${browserUuid}`, ['access_token', KEY]);
  await new Promise((resolve, reject) => { ws.once('message', resolve); ws.once('error', reject); });
  const c = { ws, resolve: undefined };
  ws.on('message', (d) => {
    if (d.includes('ProcessPushNotification') && c.resolve) { const r = c.resolve; c.resolve = undefined; r(); }
  });
  ws.send(JSON.stringify({ type: 'RegisterBrowserPushNotification', message: '', payload: { userId, clientUuid: '', browserUuid } }));
  return c;
}

/** Time from POST to the first of `clients` receiving the frame, ms. */
async function once(n, userId, clients, seq) {
  const got = Promise.race(clients.map((c) => new Promise((r) => { c.resolve = r; })));
  const t0 = performance.now();
  const status = await Promise.all([post(n, userId, seq), got]).then(([s]) => s);
  const ms = performance.now() - t0;
  if (status !== 200) throw new Error(`POST answered ${status}`);
  for (const c of clients) c.resolve = undefined;
  return ms;
}

const local = await node('local', { type: 'local' });
const bus = { type: 'redis', url: REDIS_URL, prefix };
const a = await node('a', bus);
const b = await node('b', bus);
const c = await node('c', bus);

const onLocal = await client(local, 1, 'L');
const onA = await client(a, 1, 'A');
const onB = await client(b, 2, 'B');
const sharedA = await client(a, 3, 'S');
const sharedB = await client(b, 3, 'S');
await new Promise((r) => setTimeout(r, 500)); // registrations and the shared browser announced

const cases = {
  local: (i) => once(local, 1, [onLocal], i),
  'redis-same': (i) => once(a, 1, [onA], i),
  'redis-cross': (i) => once(a, 2, [onB], i),
  'redis-shared': (i) => once(a, 3, [sharedA, sharedB], i),
  'redis-claim': (i) => once(c, 3, [sharedA, sharedB], i),
};
const samples = Object.fromEntries(Object.keys(cases).map((k) => [k, []]));
for (let i = 0; i < 50; i++) for (const run of Object.values(cases)) await run(-i); // warm-up
for (let i = 0; i < ROUNDS; i++) for (const [k, run] of Object.entries(cases)) samples[k].push(await run(i));

const pct = (xs, p) => xs.slice().sort((x, y) => x - y)[Math.min(xs.length - 1, Math.floor(xs.length * p))];
console.log(`${ROUNDS} rounds, ms from POST /message sent to the WebSocket frame received (and the 200 read)`);
console.log('case           p50     p90     p99');
for (const [k, xs] of Object.entries(samples)) {
  console.log(`${k.padEnd(13)} ${pct(xs, 0.5).toFixed(3).padStart(6)}  ${pct(xs, 0.9).toFixed(3).padStart(6)}  ${pct(xs, 0.99).toFixed(3).padStart(6)}`);
}

for (const c of [onLocal, onA, onB, sharedA, sharedB]) c.ws.close();
for (const child of children) child.kill('SIGTERM');
await Promise.all(children.map((c) => new Promise((r) => (c.exitCode !== null ? r() : c.once('exit', r)))));
const redis = new Redis(REDIS_URL);
const keys = await redis.keys(`${prefix}*`);
if (keys.length) await redis.del(...keys);
redis.disconnect();
await rm(dir, { recursive: true, force: true });
