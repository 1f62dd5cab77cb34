#!/usr/bin/env node
// End-to-end /message fan-out: POST /message → ProcessPushNotification on every
// routed browser, for 1, 10 and 100 browsers of one user, with 1000 other
// users' connections open (delivery must not scale with them). Reported as
// ratios against GET /healthz round trips measured in the same run.
//   pnpm exec tsc -b packages/gateway && node bench/gateway-fanout.mjs
import { mkdtempSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRequire } from 'node:module';

const require = createRequire(new URL('../packages/gateway/package.json', import.meta.url));
const { WebSocket } = require('ws');
const { pino } = require('pino');
const gw = await import('../packages/gateway/dist/index.js');

const KEY = 'bench-key-0123456789abcdef0123456789';
const HOST = 'c36b8048-93ce-4385-ac19-ab5c90574b77';
const ROUNDS = Number(process.env.ROUNDS ?? 200);

const directory = new gw.FileDirectory({ apiKeys: [KEY], hosts: { [HOST]: 'web-01' }, services: {}, devices: {} });
const config = gw.parseConfig({ listen: { host: '127.0.0.1', port: 0 } });
const gateway = await gw.startGateway({ config, directory, logger: pino({ level: 'silent' }), stateDir: mkdtempSync(join(tmpdir(), 'pushgate-bench-')) });
const agent = new (await import('node:http')).Agent({ keepAlive: true, maxSockets: 1 });

function http(method, path, body) {
  return new Promise((resolve, reject) => {
    const req = request(`${gateway.url}${path}`, { method, agent, headers: { 'X-Api-Key': KEY, 'Content-Type': 'application/json' } }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode));
    });
    req.on('error', reject);
    req.end(body);
  });
}

async function open(userId, browserUuid, onFrame) {
  const ws = new WebSocket(`${gateway.url.replace('http', 'ws')}/?userId=${userId}&browserUuid=${browserUuid}`, ['access_token', KEY]);
  // The greeting can arrive in the same chunk as the 101 answer: listen before 'open'.
  await new Promise((resolve, reject) => { ws.once('message', resolve); ws.once('error', reject); });
  if (onFrame) ws.on('message', onFrame);
  return ws;
}

const sockets = [];
for (let u = 1000; u < 2000; u++) sockets.push(await open(u, 'b'));

async function time(fn) {
  for (let i = 0; i < 20; i++) await fn();
  const start = process.hrtime.bigint();
  for (let i = 0; i < ROUNDS; i++) await fn();
  return Number(process.hrtime.bigint() - start) / 1e3 / ROUNDS;
}

const healthz = await time(() => http('GET', '/healthz'));
const results = [];
let browsers = 0;
let pending = 0;
let done;
const onFrame = () => { if (--pending === 0) done(); };
for (const target of [1, 10, 100]) {
  while (browsers < target) sockets.push(await open(1, `browser-${browsers++}`, onFrame));
  if (browsers === 1) {
    const reg = sockets.at(-1);
    reg.send(JSON.stringify({ type: 'RegisterBrowserPushNotification', message: '', payload: {} }));
  }
  const us = await time(async () => {
    const delivered = new Promise((r) => { done = r; });
    pending = target;
    const status = await http('POST', '/message', JSON.stringify({ timestamp: Math.floor(Date.now() / 1000), userId: 1, type: 'host', hostUuid: HOST, state: 1, notificationtype: 'PROBLEM', output: 'bench' }));
    if (status !== 200) throw new Error(`status ${status}`);
    await delivered;
  });
  results.push([target, us]);
}

console.log(`connections open: ${gateway.registry.size}; rounds: ${ROUNDS}`);
console.log(`GET /healthz round trip: ${healthz.toFixed(0)} µs (baseline 1.00x)`);
for (const [n, us] of results) console.log(`POST /message → ${String(n).padStart(3)} browser(s) delivered: ${us.toFixed(0)} µs (${(us / healthz).toFixed(2)}x)`);
for (const ws of sockets) ws.terminate();
agent.destroy();
await gateway.close();
