#!/usr/bin/env node
// start: what a process costs before its first client (most installations
// serve tens of users, where this baseline is all that counts).
// - `start` lines: RSS of the real CLI (`pushgate serve`) after two GCs,
//   no client, per directory: the embedded default (demo directory) and the
//   openITCOCKPIT directory on a throwaway MariaDB database loaded from the
//   test fixture schema (skipped with a line when MariaDB is down); the bare
//   `ws` floor in the same run for the ratio.
// - `startDep` lines: each dependency's share: RSS after two GCs of a fresh
//   `node --expose-gc` that imported only that module, minus a bare node's;
//   the gateway modules (`config.js`, `gateway.js`) include what they import.
// `--smoke`: no settling wait (the readings are then the young generation's peak).
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { emit, gatewayRequire, progress, rssOf, sleep, SMOKE, withCleanup } from '../lib/common.mjs';
import { startTarget } from '../lib/targets.mjs';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const MAIN = join(ROOT, 'packages/gateway/dist/main.js');
const GC_PRELOAD = join(ROOT, 'bench/lib/gc-on-signal.mjs');
const MIB = 1024 * 1024;
/**
 * RSS is read once the process has settled: V8 grows the young generation while a start allocates
 * and gives it back only when its memory reducer finds the process idle (~8-10 s after start here),
 * which is what a daemon with no clients looks like from then on. Settled: RSS fell 4 MiB below its
 * peak, or 30 s passed. The floor is read the same way.
 */
async function settled(pid) {
  if (SMOKE) return sleep(500);
  const end = Date.now() + 30_000;
  let peak = 0;
  while (Date.now() < end) {
    const rss = rssOf(pid);
    peak = Math.max(peak, rss);
    if (rss < peak - 4 * MIB) return;
    await sleep(500);
  }
}

/** Start `pushgate serve --config <yaml>` and read its RSS after GC, with no client. */
async function cliStartRss(configYaml) {
  const dir = mkdtempSync(join(tmpdir(), 'pushgate-bench-start-'));
  const file = join(dir, 'config.yaml');
  writeFileSync(file, configYaml.replaceAll('$DIR', dir));
  const child = spawn(process.execPath, ['--expose-gc', '--import', GC_PRELOAD, MAIN, 'serve', '--config', file], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (c) => { out += c; });
  child.stderr.on('data', (c) => { err += c; });
  const exited = new Promise((resolve) => child.once('exit', resolve));
  try {
    const deadline = Date.now() + 30_000;
    while (!out.includes('"pushgate listening"')) {
      if (child.exitCode !== null || Date.now() > deadline) throw new Error(`pushgate serve did not start: ${out}${err}`);
      await sleep(50);
    }
    await settled(child.pid);
    const before = err.length;
    child.kill('SIGUSR2');
    while (!/gc-done .*\n/.test(err.slice(before))) await sleep(20);
    const heap = JSON.parse(/gc-done (.*)\n/.exec(err.slice(before))[1]);
    await sleep(200);
    const status = readFileSync(`/proc/${child.pid}/status`, 'utf8');
    const kib = (name) => Number(new RegExp(`${name}:\\s+(\\d+)`).exec(status)[1]) * 1024;
    return { rss: rssOf(child.pid), rssAnonBytes: kib('RssAnon'), rssFileBytes: kib('RssFile'), heapTotalBytes: heap.heapTotal, heapUsedBytes: heap.heapUsed, externalBytes: heap.external, heapSpaces: heap.spaces };
  } finally {
    child.kill('SIGTERM');
    const t = setTimeout(() => child.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(t);
    rmSync(dir, { recursive: true, force: true });
  }
}

/** RSS after two GCs of one fresh node after importing each of `specs` in turn (one reading per spec). */
function importRss(specs) {
  const code = `const fs = await import('node:fs');
    const rss = () => Number(/VmRSS:\\s+(\\d+)/.exec(fs.readFileSync('/proc/self/status', 'utf8'))[1]) * 1024;
    const out = [];
    for (const spec of ${JSON.stringify(specs)}) {
      await import(spec);
      globalThis.gc(); globalThis.gc(); await new Promise((r) => setTimeout(r, 200));
      out.push(rss());
    }
    process.stdout.write(JSON.stringify(out));`;
  // A 1 MiB young generation: V8 grows it (up to 16 MiB) while modules load and keeps it until an idle process's memory
  // reducer runs, which would charge it to whichever module happened to be loading; a settled process does not keep it.
  const r = spawnSync(process.execPath, ['--expose-gc', '--max-semi-space-size=1', '--input-type=module', '-e', code], { encoding: 'utf8', timeout: 60_000 });
  if (r.status !== 0) throw new Error(`import: ${r.stderr}`);
  return JSON.parse(r.stdout);
}

/** A throwaway openITCOCKPIT database (the test fixture's schema and rows), or a reason why not. */
async function oitcDatabase() {
  const mysql = gatewayRequire('mysql2/promise');
  const server = { host: '127.0.0.1', port: 3306, user: 'root', password: '' };
  let admin;
  try {
    admin = await mysql.createConnection({ ...server, multipleStatements: true, connectTimeout: 3000 });
  } catch (e) {
    return { skip: `MariaDB not reachable at 127.0.0.1:3306 (${e.message})` };
  }
  const database = `pushgate_bench_${randomBytes(6).toString('hex')}`;
  const sql = readFileSync(join(ROOT, 'packages/gateway/test/fixtures/openitcockpit.sql'), 'utf8');
  await admin.query(`CREATE DATABASE \`${database}\` CHARACTER SET utf8mb4`);
  await admin.query(`USE \`${database}\`; ${sql}`);
  const dir = mkdtempSync(join(tmpdir(), 'pushgate-bench-oitc-'));
  const cnf = join(dir, 'mysql.cnf');
  writeFileSync(cnf, `[client]\nhost = ${server.host}\nport = ${server.port}\nuser = ${server.user}\npassword = "${server.password}"\ndatabase = ${database}\n`, { mode: 0o600 });
  return {
    cnf,
    async drop() {
      await admin.query(`DROP DATABASE IF EXISTS \`${database}\``).catch(() => undefined);
      await admin.end().catch(() => undefined);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

const LISTEN = 'listen: { host: 127.0.0.1, port: 0 }\nstate: { dir: $DIR/state }\nlog: { level: info }\n';

// The floor in the same run, for the ratio.
const floor = await startTarget('floor');
let floorRss;
await withCleanup(async () => { await settled(floor.pid); floorRss = await floor.rssAfterGc(); }, () => floor.stop());
emit({ scenario: 'start', target: 'floor', rssBytes: floorRss });
progress('start', `floor: ${(floorRss / MIB).toFixed(1)} MiB`);

// The embedded default is `serve` without a config: the demo directory with its page (main.ts); here the same with port 0.
const { rss: embedded, ...embeddedParts } = await cliStartRss(`${LISTEN}demo: { enabled: true }\n`);
emit({ scenario: 'start', target: 'pushgate', directory: 'demo', rssBytes: embedded, floorRssBytes: floorRss, ratio: Math.round((embedded / floorRss) * 100) / 100, ...embeddedParts });
progress('start', `pushgate, embedded default: ${(embedded / MIB).toFixed(1)} MiB (anonymous ${(embeddedParts.rssAnonBytes / MIB).toFixed(1)}, heap used ${(embeddedParts.heapUsedBytes / MIB).toFixed(1)} of ${(embeddedParts.heapTotalBytes / MIB).toFixed(1)})`);

const db = await oitcDatabase();
if (db.skip) {
  emit({ scenario: 'start', target: 'pushgate', directory: 'openitcockpit', skipped: db.skip });
  progress('start', `openITCOCKPIT directory skipped: ${db.skip}`);
} else {
  await withCleanup(async () => {
    const { rss, ...parts } = await cliStartRss(`${LISTEN}directory: { type: openitcockpit, mysqlCnf: ${db.cnf} }\n`);
    emit({ scenario: 'start', target: 'pushgate', directory: 'openitcockpit', rssBytes: rss, floorRssBytes: floorRss, ratio: Math.round((rss / floorRss) * 100) / 100, ...parts });
    progress('start', `pushgate, openITCOCKPIT directory: ${(rss / MIB).toFixed(1)} MiB (anonymous ${(parts.rssAnonBytes / MIB).toFixed(1)}, heap used ${(parts.heapUsedBytes / MIB).toFixed(1)} of ${(parts.heapTotalBytes / MIB).toFixed(1)})`);
  }, () => db.drop());
}

// Each dependency's share: imported one after another in one fresh process, in the order a start
// loads them (the embedded default's graph first, then what the openITCOCKPIT directory adds, then
// what only other configurations load), each reading minus the one before. The first line is node
// importing an empty module (the ESM loader's own cost); a CommonJS package first pays the CJS loader.
const emptyDir = mkdtempSync(join(tmpdir(), 'pushgate-bench-empty-'));
writeFileSync(join(emptyDir, 'empty.mjs'), '');
const gatewayDist = (p) => pathToFileURL(join(ROOT, 'packages/gateway/dist', p)).href;
const dep = (m, path = m) => [m, pathToFileURL(gatewayRequire.resolve(path)).href];
const deps = [
  ['node (an empty module)', pathToFileURL(join(emptyDir, 'empty.mjs')).href],
  dep('zod'), dep('yaml'), dep('pino'), dep('ws'), dep('prom-client'),
  ['gateway config.js (+ @pushgate/relay/config)', gatewayDist('config.js')],
  ['gateway cli/serve.js (the serve graph: gateway.js, transports, pipeline)', gatewayDist('cli/serve.js')],
  dep('mysql2/promise'),
  ['gateway directory/openitcockpit.js', gatewayDist('directory/openitcockpit.js')],
  dep('undici'),
  ['@pushgate/relay (outbox, channels)', pathToFileURL(join(ROOT, 'packages/relay/dist/index.js')).href],
  ['gateway targets/outbox.js, targets/mobile-push.js', gatewayDist('targets/outbox.js')],
  dep('nodemailer', join(ROOT, 'packages/relay/node_modules/nodemailer')),
  dep('ioredis'), dep('pg'),
];
const readings = importRss(deps.map(([, spec]) => spec));
rmSync(emptyDir, { recursive: true, force: true });
deps.forEach(([module], i) => {
  const share = i === 0 ? 0 : readings[i] - readings[i - 1];
  emit({ scenario: 'startDep', module, rssBytes: readings[i], shareBytes: share });
  progress('start', `${module}: ${(readings[i] / MIB).toFixed(1)} MiB (+${(share / MIB).toFixed(1)})`);
});
