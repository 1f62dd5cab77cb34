/**
 * The channel plugin as the Icinga Notifications daemon runs it (driver.ts),
 * against a real gateway: the protocol (GetInfo, SetConfig, SendNotification,
 * errors, garbage, SIGTERM) and the notification's way through pushgate to a
 * WebSocket browser, an SSE browser (`/events`) and a named channel (a real
 * HTTP server standing in for a webhook receiver).
 */
import { readFileSync } from 'node:fs';
import { createServer as createHttpsServer } from 'node:https';
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import t, { type Test } from 'tap';
import type { Gateway } from '../../gateway/src/gateway.js';
import { openRegisteredClient, startTestGateway, tempDir, TEST_API_KEY, waitFor, WAIT_MS } from '../../gateway/test/helpers.js';
import { subscribe } from '../../gateway/test/sse-client.js';
import { CODE, CONFIG_TYPES, Daemon, METHOD, notificationRequest, type Info } from './driver.js';

const TOKEN = 'icinga-intake-token-0123456789';
const T0 = Date.UTC(2026, 11, 2, 12, 0, 0, 445);

interface Received { url: string; headers: IncomingHttpHeaders; body: string }

/** A real HTTP server; records every request and answers with `answer`. */
async function standIn(t: Test, answer: (req: IncomingMessage, res: ServerResponse) => void = (_q, s) => s.end('ok')): Promise<{ server: Server; url: string; got: Received[] }> {
  const got: Received[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      got.push({ url: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks).toString('utf8') });
      answer(req, res);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, got };
}

/** A plugin process, stopped (as the daemon stops it) at the end of the test; no protocol violation allowed. */
function daemon(t: Test, type?: string): Daemon {
  const d = new Daemon(type);
  t.teardown(async () => {
    const status = await d.stop();
    // Assertions are over once the test ended: a failure here is thrown, which fails the test.
    if (d.violations.length > 0) throw new Error(`protocol violations:\n${d.violations.join('\n')}`);
    if (status.code !== 0) throw new Error(`the plugin exited with ${JSON.stringify(status)}; stderr: ${d.stderr}`);
  });
  return d;
}

/** A gateway with the channel intake and a webhook channel `hook` every notification goes to. */
async function gateway(t: Test, hookUrl: string): Promise<Gateway> {
  const gw = await startTestGateway({
    config: {
      icinga: { channel: { enabled: true, tokens: [TOKEN] } },
      events: { enabled: true },
      notifications: { channels: { hook: { type: 'webhook', url: `${hookUrl}/hook` } }, defaultChannels: ['hook'], outbox: { dir: tempDir('pushgate-outbox-') } },
    },
  });
  t.teardown(() => gw.close());
  return gw;
}

t.test('GetInfo answers request id 0 with the Info upstream defines: four attributes, the token a secret', async (t) => {
  const d = daemon(t);
  const r = await d.call(METHOD.getInfo);
  t.equal(r.id, 0, 'the daemon counts ids from 0, and 0 is answered');
  t.notOk('error' in r);
  const info = r.result as Info;
  t.same(Object.keys(info), ['name', 'version', 'author', 'config_attrs']);
  t.equal(info.name, 'pushgate');
  const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };
  t.equal(info.version, pkg.version, 'the version is the package\'s');
  t.same(info.config_attrs.map((a) => [a.name, a.type, a.required ?? false]), [
    ['url', 'string', true], ['token', 'secret', true], ['ca_file', 'string', false], ['timeout_ms', 'number', false],
  ]);
  for (const a of info.config_attrs) {
    t.ok(CONFIG_TYPES.includes(a.type), `${a.name}: an upstream type`);
    t.type(a.label.en_US, 'string', `${a.name}: an en_US label, the fallback upstream requires`);
    t.type(a.help?.en_US, 'string', `${a.name}: en_US help`);
    t.ok('min' in a && 'max' in a, `${a.name}: min and max present, as Go writes types.Int`);
    // Upstream: a default is a bool for checkboxes, a string for everything else.
    if (a.default !== undefined) t.type(a.default, 'string', `${a.name}: default is a string`);
  }
  const timeout = info.config_attrs.find((a) => a.name === 'timeout_ms')!;
  t.same([timeout.default, timeout.min, timeout.max], ['10000', 100, 300000]);
  t.equal(d.lines[0], JSON.stringify({ id: 0, result: info, jsonrpc: '2.0' }), 'one line, keys in the order jsonrpc2 writes a response');
});

t.test('SetConfig with the defaults left out is answered null and logged through channel::Log; bad values name the attribute and change nothing', async (t) => {
  const hook = await standIn(t);
  const gw = await gateway(t, hook.url);
  const d = daemon(t);
  const early = await d.call(METHOD.sendNotification, notificationRequest({ addresses: [{ type: 'pushgate', address: '7' }], host: 'web-01', incidentId: 1, severity: 'crit', time: T0, message: 'x' }));
  t.same(early.error, { code: CODE.internalError, message: 'not configured: SetConfig has not succeeded yet' });

  const ok = await d.call(METHOD.setConfig, { url: gw.url, token: TOKEN });
  t.same({ result: ok.result, error: ok.error }, { result: null, error: undefined });
  const log = await d.waitForLog((l) => l.message === 'pushgate channel configured', 'configured');
  t.same(log, { level: 'info', message: 'pushgate channel configured', fields: ['intake', `${gw.url}/icinga/notifications`, 'timeout_ms', 10000, 'ca_file', ''] },
    'the timeout default applied; the token is never logged');
  t.notOk(d.lines.some((l) => l.includes(TOKEN)), 'the token appears in no line');

  const cases: [unknown, string][] = [
    [{ token: TOKEN }, 'url: required'],
    [{ url: 'ftp://x', token: TOKEN }, 'url: not an http:// or https:// URL: "ftp://x"'],
    [{ url: gw.url }, 'token: required'],
    [{ url: gw.url, token: TOKEN, timeout_ms: 5 }, 'timeout_ms: expected an integer from 100 to 300000, got 5'],
    [{ url: gw.url, token: TOKEN, ca_file: '/nonexistent/ca.pem' }, 'ca_file: cannot read /nonexistent/ca.pem: ENOENT'],
  ];
  for (const [params, message] of cases) {
    const r = await d.call(METHOD.setConfig, params);
    t.same(r.error, { code: CODE.invalidParams, message }, message);
  }
  t.same((await d.call(METHOD.setConfig)).error, { code: CODE.invalidRequest, message: 'missing required parameter' }, 'no params: -32600 as upstream');
  t.same((await d.call(METHOD.setConfig, { url: gw.url, token: TOKEN, timeout_ms: '2500' })).result, null, 'a number field stored as text is accepted');

  // The refused configurations changed nothing: the last good one still delivers.
  const ws = await openRegisteredClient(gw, { userId: 7 });
  t.teardown(() => ws.close());
  const sent = await d.call(METHOD.sendNotification, notificationRequest({ addresses: [{ type: 'pushgate', address: '7' }], host: 'web-01', incidentId: 1, severity: 'crit', time: T0, message: 'still configured' }));
  t.same(sent.result, null);
  t.equal(((await ws.nextJson()).payload as { message: string }).message, 'still configured');
});

t.test('SendNotification is answered only once pushgate journaled it, and reaches a WebSocket browser, an /events browser and the named channel', async (t) => {
  const hook = await standIn(t);
  const gw = await gateway(t, hook.url);
  const ws = await openRegisteredClient(gw, { userId: 7, browserUuid: 'b7' });
  t.teardown(() => ws.close());
  const sse = await subscribe(`${gw.url}/events?userId=7&browserUuid=s7`, { Authorization: `Bearer ${TEST_API_KEY}` });
  t.teardown(() => sse.close());
  t.equal(sse.status, 200);
  const d = daemon(t);
  t.same((await d.call(METHOD.setConfig, { url: gw.url, token: TOKEN })).result, null);

  const req = notificationRequest({
    fullName: 'Operator Seven', addresses: [{ type: 'email', address: 'seven@example.com' }, { type: 'pushgate', address: '7' }],
    host: 'web-01', service: 'HTTP', incidentId: 1437, severity: 'crit', time: T0, message: 'HTTP CRITICAL - 500',
  });
  const journaledBefore = gw.pipeline.stats.accepted['icinga-channel'] ?? 0;
  const r = await d.call(METHOD.sendNotification, req);
  t.same({ result: r.result, error: r.error }, { result: null, error: undefined });
  t.equal(gw.pipeline.stats.accepted['icinga-channel'], journaledBefore + 1, 'accepted (and so journaled) before the answer');

  const frame = await ws.nextJson();
  t.equal(frame.type, 'ProcessPushNotification');
  t.equal(frame.message, 'HTTP CRITICAL - 500');
  const p = frame.payload as Record<string, unknown>;
  t.same({ timestamp: p.timestamp, userId: p.userId, title: p.title, message: p.message, type: p.type },
    { timestamp: Math.floor(T0 / 1000), userId: 7, title: 'web-01!HTTP', message: 'HTTP CRITICAL - 500', type: 'service' });
  t.notOk('hostUuid' in p, 'no openITCOCKPIT uuid is made up');

  await sse.waitFor((s) => s.includes('HTTP CRITICAL - 500'), 'the /events notification');
  t.match(sse.text, /"title":"web-01!HTTP"/);

  await waitFor(() => hook.got.length === 1, WAIT_MS, 'the webhook delivery');
  const delivered = JSON.parse(hook.got[0]!.body) as Record<string, unknown>;
  t.same({ title: delivered.title, message: delivered.message, url: delivered.url },
    { title: 'web-01!HTTP', message: 'HTTP CRITICAL - 500', url: 'http://localhost/icingaweb2/notifications/incident?id=1437' }, 'the incident page is the link');
  await d.waitForLog((l) => l.level === 'debug' && l.message === 'pushgate channel: notification accepted by pushgate', 'accepted');
});

t.test('pushgate down, a wrong token, a refusal and a timeout are JSON-RPC errors naming the reason', async (t) => {
  const hook = await standIn(t);
  const gw = await gateway(t, hook.url);
  const d = daemon(t);
  const req = notificationRequest({ addresses: [{ type: 'pushgate', address: '7' }], host: 'web-01', incidentId: 2, severity: 'warning', time: T0, message: 'slow' });

  await d.call(METHOD.setConfig, { url: gw.url, token: 'wrong-token-0123456789abcdef' });
  t.same((await d.call(METHOD.sendNotification, req)).error,
    { code: CODE.internalError, message: 'pushgate refused the notification: 401 Unauthorized: Unauthorized: missing or unknown intake token' });
  await d.waitForLog((l) => l.level === 'warn' && l.fields?.[1] === 2 && l.fields?.[3] === 'CHAN_ERR_REFUSED', 'the refusal as a warning');

  await d.call(METHOD.setConfig, { url: gw.url, token: TOKEN });
  const noAddress = { ...req, contact: { full_name: 'Nobody', addresses: [{ type: 'email', address: 'n@example.com' }] } };
  t.same((await d.call(METHOD.sendNotification, noAddress)).error,
    { code: CODE.internalError, message: 'pushgate refused the notification: 400 Bad Request: Invalid notification: contact.addresses: "Nobody" has no address of type pushgate' });
  const contact = { ...req, contact: { full_name: 'Bob', addresses: [{ type: 'pushgate', address: 'bob' }] } };
  t.same((await d.call(METHOD.sendNotification, contact)).error,
    { code: CODE.internalError, message: 'pushgate refused the notification: 422 Unprocessable Entity: Recipient not resolved: the address "bob" is an Icinga contact username, which needs icinga.enabled' });

  const silent = await standIn(t, () => { /* never answers */ });
  await d.call(METHOD.setConfig, { url: silent.url, token: TOKEN, timeout_ms: 200 });
  t.same((await d.call(METHOD.sendNotification, req)).error, { code: CODE.internalError, message: `pushgate did not answer within 200 ms at ${silent.url}/icinga/notifications` });

  // Down: the gateway closed, nothing listens on its port any more.
  const url = gw.url;
  await gw.close();
  await d.call(METHOD.setConfig, { url, token: TOKEN });
  const down = await d.call(METHOD.sendNotification, req);
  t.same(down.error, { code: CODE.internalError, message: `pushgate unreachable at ${url}/icinga/notifications: ECONNREFUSED` });
});

t.test('garbage, invalid requests and unknown methods get error answers, notifications none, and the plugin keeps serving', async (t) => {
  const d = daemon(t);
  d.write('this is not json\n');
  t.same(await d.nextNullIdResponse(), { id: null, error: { code: CODE.parseError, message: 'parse error: Unexpected token \'h\', "this is not json" is not valid JSON' }, jsonrpc: '2.0' });
  d.write('[1,2]\n');
  t.same((await d.nextNullIdResponse()).error, { code: CODE.invalidRequest, message: 'invalid request: expected a JSON object' });
  t.same((await d.raw('{"id":41,"method":"GetInfo"}', 41)).error, { code: CODE.invalidRequest, message: 'invalid request: jsonrpc must be "2.0"' });
  t.same((await d.raw('{"id":"x","jsonrpc":"2.0"}', 'x')).error, { code: CODE.invalidRequest, message: 'invalid request: missing method' }, 'a string id is answered with it');
  t.same((await d.call('Frobnicate')).error, { code: CODE.methodNotFound, message: 'method not found' });
  t.same((await d.call(METHOD.sendNotification, [1])).error, { code: CODE.invalidParams, message: 'params must be a JSON object' });
  d.write('{"id":7,"jsonrpc":"2.0","method":"GetInfo"'); // a value split across writes
  const split = d.raw('}', 7);
  t.equal(((await split).result as Info).name, 'pushgate', 'a line split across writes is one request');
  d.notify(METHOD.getInfo);
  d.notify('Whatever', { a: 1 });
  d.write('\n\n');
  const after = await d.call(METHOD.getInfo);
  t.equal((after.result as Info).name, 'pushgate', 'still serving');
  t.same(d.nullIdResponses, [], 'notifications and blank lines were not answered');
  await d.waitForLog((l) => l.level === 'warn' && l.message.startsWith('pushgate channel: malformed line'), 'the malformed line logged');
  t.equal(d.stderr, '', 'nothing on stderr (the daemon logs stderr as errors)');
});

t.test('SIGTERM: a notification in flight is still answered, then the plugin exits 0; stopped as the daemon stops it, it exits 0', async (t) => {
  let release: (() => void) | undefined;
  const slow = await standIn(t, (_q, res) => { release = () => res.end('ok'); });
  const d = new Daemon();
  t.teardown(() => { if (d.child.exitCode === null) d.child.kill('SIGKILL'); });
  await d.call(METHOD.setConfig, { url: slow.url, token: TOKEN });
  const pending = d.call(METHOD.sendNotification, notificationRequest({ addresses: [{ type: 'pushgate', address: '7' }], host: 'h', incidentId: 3, severity: 'ok', time: T0, message: 'up' }));
  await waitFor(() => slow.got.length === 1, WAIT_MS, 'the request at the intake');
  const intake = slow.got[0]!;
  t.equal(intake.url, '/icinga/notifications');
  t.equal(intake.headers.authorization, `Bearer ${TOKEN}`);
  const body = JSON.parse(intake.body) as Record<string, unknown>;
  t.equal(body.channel_type, 'pushgate', 'the channel type is the file name the daemon started');
  const exited = d.terminate();
  await new Promise((r) => setTimeout(r, 100));
  t.equal(d.child.exitCode, null, 'still running while the notification is in flight');
  release!();
  t.same((await pending).result, null, 'answered before exiting');
  t.same(await exited, { code: 0, signal: null });
  t.same(d.violations, []);

  const d2 = new Daemon('my_pushgate');
  await d2.call(METHOD.getInfo);
  t.same(await d2.stop(), { code: 0, signal: null }, 'connection closed and SIGTERM, as pluginSupervisor.Stop');
  t.equal(d2.stderr, '');
});

t.test('https: pushgate\'s certificate is verified, against ca_file when set', async (t) => {
  const fixtures = new URL('../../relay/test/fixtures/', import.meta.url);
  const certFile = fileURLToPath(new URL('localhost-cert.pem', fixtures));
  const server = createHttpsServer({ cert: readFileSync(certFile), key: readFileSync(new URL('localhost-key.pem', fixtures)) }, (req, res) => {
    req.resume();
    req.on('end', () => res.end('ok'));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }));
  const url = `https://localhost:${(server.address() as AddressInfo).port}`;
  const d = daemon(t);
  const req = notificationRequest({ addresses: [{ type: 'pushgate', address: '7' }], host: 'h', incidentId: 4, severity: 'crit', time: T0, message: 'tls' });
  await d.call(METHOD.setConfig, { url, token: TOKEN });
  const untrusted = await d.call(METHOD.sendNotification, req);
  t.match(untrusted.error, { code: CODE.internalError, message: new RegExp(`^pushgate unreachable at ${url}/icinga/notifications: [A-Z_]+`) }, 'a self-signed certificate is not trusted by default');
  t.same((await d.call(METHOD.setConfig, { url, token: TOKEN, ca_file: certFile })).result, null);
  t.same((await d.call(METHOD.sendNotification, req)).result, null, 'trusted through ca_file');
  const notPem = await d.call(METHOD.setConfig, { url, token: TOKEN, ca_file: fileURLToPath(import.meta.url) });
  t.match(notPem.error, { code: CODE.invalidParams, message: /^ca_file: .* holds no PEM certificate$/ });
});

t.test('a line over 4 MiB is answered as a parse error and skipped; the next request is served', async (t) => {
  const d = daemon(t);
  d.write(`{"id":1,"jsonrpc":"2.0","method":"GetInfo","params":{"x":"${'y'.repeat(5 * 1024 * 1024)}"}}\n`);
  t.same((await d.nextNullIdResponse()).error, { code: CODE.parseError, message: 'parse error: line longer than 4194304 bytes' });
  t.equal(((await d.call(METHOD.getInfo)).result as Info).name, 'pushgate');
});
