#!/usr/bin/env node
// web-push: Web Push sends per second and CPU per push, pushgate against a
// push-service stand-in (an HTTPS server on loopback answering 201), next to
// a baseline measured in the same run: the `web-push` package's own
// sendNotification in a process of its own (it signs a VAPID JWT per push,
// where pushgate reuses one per push service for an hour).
//
// pushgate: `users` users with one subscription each (real P-256 keys, so
// every push is a real ECDH + aes128gcm encryption), no tab open, `pushes`
// POST /message closed-loop with 16 in flight; measured from the first POST
// until the stand-in has every push; CPU of the gateway process alone
// (/proc), so the CPU includes /message intake, the journal and the outbox.
// One JSON line per target. `--smoke`: 20 pushes; `--pushes N` for another count.
import { execFileSync, spawn } from 'node:child_process';
import { createECDH, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { API_KEY, SMOKE, emit, flag, nowNs, progress, round, withCleanup } from '../lib/common.mjs';
import { Poster } from '../lib/poster.mjs';
import { startTarget } from '../lib/targets.mjs';

const PUSHES = Number(flag('pushes', SMOKE ? 20 : 5000));
const USERS = SMOKE ? 5 : 200;

// The stand-in: answers 201 to every push and counts them (no checks: the tests verify; here only pushgate's cost counts).
const dir = mkdtempSync(join(tmpdir(), 'pushgate-bench-push-'));
execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-subj', '/CN=push.test',
  '-addext', 'subjectAltName=IP:127.0.0.1', '-days', '1', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem')], { stdio: 'ignore' });
let received = 0;
let onPush = () => {};
const service = createServer({ key: readFileSync(join(dir, 'key.pem')), cert: readFileSync(join(dir, 'cert.pem')) }, (req, res) => {
  req.resume();
  req.on('end', () => {
    received++;
    onPush();
    res.writeHead(201).end();
  });
});
await new Promise((r) => service.listen(0, '127.0.0.1', r));
const origin = `https://127.0.0.1:${service.address().port}`;

function subscription(i) {
  const ecdh = createECDH('prime256v1');
  ecdh.generateKeys();
  return { endpoint: `${origin}/push/${i}`, keys: { p256dh: ecdh.getPublicKey().toString('base64url'), auth: randomBytes(16).toString('base64url') } };
}

function waitReceived(n, ms) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${received} of ${n} pushes within ${ms} ms`)), ms);
    onPush = () => { if (received >= n) { clearTimeout(timer); resolve(); } };
    onPush();
  });
}

await withCleanup(async () => {
  // pushgate
  const target = await startTarget('pushgate', {
    config: { webPush: { enabled: true, subject: 'mailto:bench@example.com', allowHosts: ['127.0.0.1'], caFile: join(dir, 'cert.pem'), maxSubscriptionsPerUser: 10 } },
  });
  await withCleanup(async () => {
    for (let u = 1; u <= USERS; u++) {
      const res = await fetch(`${target.url}/app/api/subscription`, { method: 'POST', headers: { Authorization: `Bearer ${API_KEY}`, 'Content-Type': 'application/json' }, body: JSON.stringify({ userId: u, subscription: subscription(u) }) });
      if (res.status !== 201) throw new Error(`subscription refused: ${res.status} ${await res.text()}`);
    }
    const poster = new Poster(target.port, 16);
    await poster.opened();
    received = 0;
    const cpu0 = target.cpuMs();
    const t0 = nowNs();
    const done = waitReceived(PUSHES, 120_000);
    let next = 0;
    const worker = async () => {
      while (next < PUSHES) {
        next++;
        const status = await poster.post(1 + (next % USERS));
        if (status !== 200) throw new Error(`/message answered ${status}`);
      }
    };
    await Promise.all(Array.from({ length: 16 }, worker));
    await done;
    const seconds = (nowNs() - t0) / 1e9;
    const cpuMs = target.cpuMs() - cpu0;
    poster.close();
    const line = { scenario: 'web-push', target: 'pushgate', pushes: PUSHES, users: USERS, seconds: round(seconds, 2), pushesPerS: round(PUSHES / seconds, 0), cpuUsPerPush: round((cpuMs * 1000) / PUSHES, 0) };
    progress('web-push', `pushgate: ${line.pushesPerS} pushes/s, ${line.cpuUsPerPush} µs CPU per push (incl. /message, journal, outbox)`);
    emit(line);
  }, () => target.stop());

  // Baseline: web-push's sendNotification, 16 in flight, in its own process.
  const code = `
    import { createRequire } from 'node:module';
    import { Agent } from 'node:https';
    import { readFileSync } from 'node:fs';
    const require = createRequire(process.env.GW_PKG);
    const webPush = require('web-push');
    const subs = JSON.parse(process.env.SUBS);
    const keys = webPush.generateVAPIDKeys();
    const agent = new Agent({ ca: readFileSync(process.env.CA), keepAlive: true });
    const opts = { vapidDetails: { subject: 'mailto:bench@example.com', publicKey: keys.publicKey, privateKey: keys.privateKey }, agent, TTL: 60 };
    const n = Number(process.env.PUSHES);
    const payload = JSON.stringify({ v: 1, id: 1, key: 'host', kind: 'PROBLEM', title: 'PROBLEM: bench-host is DOWN!', body: 'BENCH', ts: 0 });
    const c0 = process.cpuUsage();
    const t0 = process.hrtime.bigint();
    let next = 0;
    await Promise.all(Array.from({ length: 16 }, async () => { while (next < n) { const i = next++; await webPush.sendNotification(subs[i % subs.length], payload, opts); } }));
    const c = process.cpuUsage(c0);
    console.log(JSON.stringify({ seconds: Number(process.hrtime.bigint() - t0) / 1e9, cpuUs: c.user + c.system }));
    agent.destroy();
  `;
  const subs = Array.from({ length: USERS }, (_, i) => subscription(i));
  received = 0;
  const out = await new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--input-type=module', '-e', code], {
      env: { ...process.env, GW_PKG: new URL('../../packages/gateway/package.json', import.meta.url).pathname, SUBS: JSON.stringify(subs), CA: join(dir, 'cert.pem'), PUSHES: String(PUSHES) },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let text = '';
    child.stdout.on('data', (d) => { text += d; });
    child.on('close', (c) => (c === 0 ? resolve(JSON.parse(text)) : reject(new Error(`baseline exited with ${c}`))));
  });
  const line = { scenario: 'web-push', target: 'web-push-sendNotification', pushes: PUSHES, seconds: round(out.seconds, 2), pushesPerS: round(PUSHES / out.seconds, 0), cpuUsPerPush: round(out.cpuUs / PUSHES, 0) };
  progress('web-push', `baseline web-push sendNotification: ${line.pushesPerS} pushes/s, ${line.cpuUsPerPush} µs CPU per push (encrypt + sign + send only)`);
  emit(line);
}, async () => {
  service.close();
  rmSync(dir, { recursive: true, force: true });
});
