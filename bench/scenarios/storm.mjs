#!/usr/bin/env node
// storm: a notification storm as Naemon makes it. 5k connections (2 tabs
// per user, 2,500 users) stay open on pushgate while 2,000 notifications for
// users 1–500 are sent, each by starting one sender process, 8 at a time
// (Naemon's worker processes each run one notification command at a time).
// Per sender build (the bundle, the compiled binary when built), for `curl`
// posting the same JSON body and for curl posting it form-encoded
// (`--data-urlencode`, docs/protocol/extensions.md): wall time from the first start until
// the last browser has its notification, total CPU of the senders (their
// rusage, reaped by this process) plus the gateway's, per notification, and
// the notifications lost. The gateway runs in the usual bench server
// (servers/pushgate.mjs: the journal on).
// `--notifications N` for a shorter storm (the default 2000); `--smoke`:
// 40 connections, 16 notifications.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { API_KEY, HOST_UUID, SMOKE, emit, flag, nowNs, progress, round, sleep, withCleanup } from '../lib/common.mjs';
import { deliveryReport, expectedPerMessage } from '../lib/delivery.mjs';
import { Fleet, clientList } from '../lib/fleet.mjs';
import { startTarget } from '../lib/targets.mjs';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const SENDER = join(ROOT, 'packages/sender/dist/');
const CONNECTIONS = SMOKE ? 40 : 5000;
const TABS = 2;
const NOTIFICATIONS = Number(flag('notifications', SMOKE ? 16 : 2000));
const STORM_USERS = SMOKE ? 10 : 500;
const PARALLEL = 8;
const TICKS_PER_S = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim() || 100);

/** CPU of this process's reaped children (cutime + cstime), ms: the senders, as long as fleet and server live. */
function childrenCpuMs() {
  const stat = readFileSync('/proc/self/stat', 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(fields[13]) + Number(fields[14])) * 1000) / TICKS_PER_S;
}

function body(seq, userId, sentNs = nowNs()) {
  return {
    timestamp: Math.floor(Date.now() / 1000), userId, type: 'host', hostUuid: HOST_UUID, serviceUuid: '', icon: '',
    state: 1, notificationtype: 'PROBLEM', output: `BENCH${seq}.${sentNs}. PING CRITICAL - Packet loss = 100%`, ackauthor: '', ackcomment: '',
  };
}

/** The variants: the command that sends notification `seq` to `userId` at `url`. */
function variants(keyFile) {
  const senderArgs = (b, url) => ['-t', 'host', '-notificationtype', b.notificationtype, '-hostuuid', b.hostUuid, '-state', String(b.state),
    '-output', b.output, '-user-id', String(b.userId), '-url', url, '-api-key-file', keyFile];
  const all = [
    { name: 'bundle', file: `${SENDER}send_push_notification.mjs`, build: 'pnpm build', argv: (b, url) => [process.execPath, `${SENDER}send_push_notification.mjs`, ...senderArgs(b, url)] },
    { name: 'compiled', file: `${SENDER}send_push_notification`, build: 'pnpm --filter @pushgate/sender build:compiled', argv: (b, url) => [`${SENDER}send_push_notification`, ...senderArgs(b, url)] },
    {
      name: 'curl', file: undefined, build: 'apt-get install curl',
      argv: (b, url) => ['curl', '-sS', '-o', '/dev/null', '-w', '%{http_code}', '-H', 'Content-Type: application/json', '-H', `X-Api-Key: ${API_KEY}`, '--data-binary', JSON.stringify(b), url],
    },
    {
      // The form-encoded /message (docs/protocol/extensions.md), as a Naemon command would post it.
      name: 'curl-form', file: undefined, build: 'apt-get install curl',
      argv: (b, url) => ['curl', '-sS', '-o', '/dev/null', '-w', '%{http_code}', '-H', `X-Api-Key: ${API_KEY}`,
        ...Object.entries(b).flatMap(([k, v]) => ['--data-urlencode', `${k}=${v}`]), url],
    },
  ];
  const only = flag('only', undefined)?.split(',');
  return all.filter((v) => only === undefined || only.includes(v.name));
}

function run(argv) {
  return new Promise((resolve) => {
    const child = spawn(argv[0], argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'], env: { PATH: process.env.PATH ?? '/usr/bin:/bin' } });
    let out = '';
    child.stdout.on('data', (c) => { out += c; });
    child.stderr.on('data', (c) => { out += c; });
    child.once('error', (err) => resolve({ code: -1, out: err.message }));
    child.once('close', (code) => resolve({ code, out }));
  });
}

const dir = mkdtempSync(join(tmpdir(), 'pushgate-bench-storm-'));
const keyFile = join(dir, 'api-key');
writeFileSync(keyFile, `${API_KEY}\n`, { mode: 0o600 });
const target = await startTarget('pushgate');
const fleet = new Fleet(SMOKE ? 1 : 2);
await withCleanup(async () => {
  const c = await fleet.connect(target, clientList(CONNECTIONS / TABS, TABS));
  progress('storm', `${c.ok} connected in ${(c.ms / 1000).toFixed(1)} s; ${NOTIFICATIONS} notifications for ${STORM_USERS} users, ${PARALLEL} senders at a time`);
  const url = `${target.url}/message`;
  const expected = expectedPerMessage('pushgate', TABS);
  let seqBase = 0;
  for (const v of variants(keyFile)) {
    if (v.file !== undefined && !existsSync(v.file)) {
      emit({ scenario: 'storm', variant: v.name, skipped: `not built: ${v.file.slice(ROOT.length)} (${v.build})` });
      progress('storm', `${v.name}: not built (${v.build})`);
      continue;
    }
    const probe = await run(v.argv(body(0, 1), url));
    if (probe.code !== 0) {
      emit({ scenario: 'storm', variant: v.name, skipped: `does not run: exit ${probe.code}: ${probe.out.slice(0, 200)}` });
      progress('storm', `${v.name}: does not run (${probe.out.slice(0, 200)})`);
      continue;
    }
    await sleep(200);
    await fleet.reset();
    const statuses = new Map();
    const failures = {};
    const cpuSenders0 = childrenCpuMs();
    const cpuGateway0 = target.cpuMs();
    const t0 = performance.now();
    const startNs = nowNs();
    const sentAt = new Map();
    let next = 0;
    await Promise.all(Array.from({ length: PARALLEL }, async () => {
      while (next < NOTIFICATIONS) {
        const i = next++;
        const seq = seqBase + i + 1;
        const at = nowNs();
        sentAt.set(seq, at);
        const r = await run(v.argv(body(seq, 1 + (i % STORM_USERS), at), url));
        // The sender prints "Response status: 200 OK"; curl its -w code.
        const ok = r.code === 0 && (v.name.startsWith('curl') ? r.out.trim() === '200' : /Response status: 200/.test(r.out));
        statuses.set(seq, ok ? 200 : 0);
        if (!ok) failures[r.out.slice(0, 80)] = (failures[r.out.slice(0, 80)] ?? 0) + 1;
      }
    }));
    const sentMs = performance.now() - t0;
    const accepted = [...statuses.values()].filter((s) => s === 200).length;
    await fleet.waitFor((n) => n.notifications >= accepted * expected, 10_000);
    const received = await fleet.collect();
    // Wall time until the last browser had its notification: each receipt is its send time plus its latency.
    let lastNs = 0;
    received.seqs.forEach((seq, k) => {
      const at = sentAt.get(seq);
      if (at !== undefined) lastNs = Math.max(lastNs, at + received.lats[k] * 1e6);
    });
    const cpuSendersMs = childrenCpuMs() - cpuSenders0;
    const cpuGatewayMs = target.cpuMs() - cpuGateway0;
    const report = deliveryReport(statuses, received, expected);
    seqBase += NOTIFICATIONS;
    const line = {
      scenario: 'storm', variant: v.name, connections: CONNECTIONS, notifications: NOTIFICATIONS, users: STORM_USERS, parallel: PARALLEL,
      fileBytes: v.file !== undefined ? statSync(v.file).size : undefined,
      wallMs: round((lastNs - startNs) / 1e6, 0), sendersDoneMs: round(sentMs, 0), accepted, lost: report.lost, duplicates: report.duplicates, failures,
      senderCpuMs: round(cpuSendersMs, 0), gatewayCpuMs: round(cpuGatewayMs, 0),
      cpuMsPerNotification: round((cpuSendersMs + cpuGatewayMs) / NOTIFICATIONS, 2),
      senderCpuMsPerNotification: round(cpuSendersMs / NOTIFICATIONS, 2),
      latencyMs: report.latencyMs,
    };
    progress('storm', `${v.name}: last browser had the last of ${NOTIFICATIONS} after ${(line.wallMs / 1000).toFixed(1)} s, CPU ${line.cpuMsPerNotification} ms/notification (senders ${line.senderCpuMsPerNotification}), lost ${report.lost}`);
    emit(line);
  }
}, async () => {
  await fleet.close();
  await target.stop();
  rmSync(dir, { recursive: true, force: true });
});
