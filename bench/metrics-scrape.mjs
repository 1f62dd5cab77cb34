#!/usr/bin/env node
// GET /metrics cost at scale: the gateway collects every metric at scrape time
// from counters it keeps anyway, so a scrape should cost the same with 15,000
// clients as with one. Measures scrape round trips with 1 and with CLIENTS
// (default 15000) WebSocket clients connected, one user each, as medians of
// ROUNDS scrapes, next to GET /healthz round trips of the same run. The
// clients live in a child process (the per-process fd limit holds only one
// side of 15,000 sockets).
//   pnpm build && node bench/metrics-scrape.mjs
import { fork } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'node:http';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const CLIENTS = Number(process.env.CLIENTS ?? 15_000);
const ROUNDS = Number(process.env.ROUNDS ?? 200);
const KEY = 'bench-key-0123456789abcdef0123456789';

if (process.argv[2] === 'clients') {
  // Child: open `count` clients against `url`, report, then hold them until killed.
  const require = createRequire(new URL('../packages/gateway/package.json', import.meta.url));
  const { WebSocket } = require('ws');
  const [, , , url, from, count] = process.argv;
  const sockets = [];
  const open = (userId) => new Promise((resolve, reject) => {
    const ws = new WebSocket(`${url.replace('http', 'ws')}/?userId=${userId}&browserUuid=b`, ['access_token', KEY]);
    ws.once('message', () => resolve(ws));
    ws.once('error', reject);
  });
  // 200 handshakes in flight at a time.
  for (let i = 0; i < Number(count); i += 200) {
    const batch = [];
    for (let j = i; j < Math.min(Number(count), i + 200); j++) batch.push(open(Number(from) + j));
    sockets.push(...await Promise.all(batch));
  }
  process.send(sockets.length);
  process.on('disconnect', () => process.exit(0));
} else {
  const require = createRequire(new URL('../packages/gateway/package.json', import.meta.url));
  const { pino } = require('pino');
  const gw = await import('../packages/gateway/dist/index.js');
  const directory = new gw.FileDirectory({ apiKeys: [KEY], hosts: {}, services: {}, devices: {} });
  const config = gw.parseConfig({ listen: { host: '127.0.0.1', port: 0 }, limits: { maxConnectionsPerIp: 0 } });
  const gateway = await gw.startGateway({ config, directory, logger: pino({ level: 'silent' }), stateDir: mkdtempSync(join(tmpdir(), 'pushgate-bench-')) });
  const agent = new (await import('node:http')).Agent({ keepAlive: true, maxSockets: 1 });

  const get = (path) => new Promise((resolve, reject) => {
    const req = request(`${gateway.url}${path}`, { agent }, (res) => {
      let bytes = 0;
      res.on('data', (c) => { bytes += c.length; });
      res.on('end', () => resolve(bytes));
    });
    req.on('error', reject);
    req.end();
  });
  const median = async (path) => {
    for (let i = 0; i < 20; i++) await get(path);
    const us = [];
    let bytes = 0;
    for (let i = 0; i < ROUNDS; i++) {
      const start = process.hrtime.bigint();
      bytes = await get(path);
      us.push(Number(process.hrtime.bigint() - start) / 1e3);
    }
    us.sort((a, b) => a - b);
    return { us: us[Math.floor(us.length / 2)], bytes };
  };
  const clients = (from, count) => new Promise((resolve, reject) => {
    const child = fork(fileURLToPath(import.meta.url), ['clients', gateway.url, String(from), String(count)]);
    child.once('message', () => resolve(child));
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`client process exited ${code}`)));
  });

  const rows = [];
  const one = await clients(1, 1);
  rows.push([gateway.registry.size, await median('/healthz'), await median('/metrics')]);
  const many = await clients(2, CLIENTS - 1);
  rows.push([gateway.registry.size, await median('/healthz'), await median('/metrics')]);
  console.log(`rounds: ${ROUNDS} per row (medians)`);
  for (const [n, h, m] of rows) {
    console.log(`${String(n).padStart(6)} clients: GET /healthz ${h.us.toFixed(0)} µs, GET /metrics ${m.us.toFixed(0)} µs (${(m.us / h.us).toFixed(1)}x healthz, ${m.bytes} bytes)`);
  }
  one.kill();
  many.kill();
  agent.destroy();
  await gateway.close();
}
