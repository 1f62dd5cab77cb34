import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SMTPServer } from 'smtp-server';
import t, { type Test } from 'tap';
import type { Delivery } from '../src/channels/channel.js';
import { EmailChannel, messageId } from '../src/channels/email.js';
import { MattermostChannel } from '../src/channels/mattermost.js';
import { PushoverChannel } from '../src/channels/pushover.js';
import { SignalChannel } from '../src/channels/signal.js';
import { WebhookChannel } from '../src/channels/webhook.js';
import { receiver } from './receiver.js';

function delivery(over: Partial<Delivery> = {}): Delivery {
  return { id: 'n42:chan', channel: 'chan', title: 'DOWN web01', message: 'PING CRITICAL - 100% loss', createdAt: 1_700_000_000_000, expiresAt: 1_800_000_000_000, ...over };
}

const TOKEN = 'azGDORePK8gMaC0QOYAMyEEuzJnyUi';
const USER = 'uQiRzpo4DXghDmr9QzzfQu27cmVRsG';

t.test('pushover', async (t) => {
  t.test('POSTs the exact form Pushover documents, cutting message to 1024 and title to 250 characters', async (t) => {
    const rx = await receiver(t, (_s, _n, res) => res.end('{"status":1,"request":"r"}'));
    const ch = new PushoverChannel({ name: 'po', token: TOKEN, user: USER, sound: 'siren', apiUrl: `${rx.base}/1/messages.json` });
    t.teardown(() => ch.close());
    t.equal(ch.concurrency, 2, 'Pushover asks for at most 2 concurrent requests');
    t.equal(ch.minRetryDelayMs, 5000, 'and no retry sooner than 5 s');
    t.same(await ch.send(delivery({ title: 'T'.repeat(300), message: `${'m'.repeat(1023)}😀tail`, url: 'https://oitc/h/1' })), { kind: 'sent' });
    const req = rx.seen[0]!;
    t.equal(req.method, 'POST');
    t.equal(req.url, '/1/messages.json');
    t.equal(req.headers['content-type'], 'application/x-www-form-urlencoded');
    t.equal(
      req.body,
      `token=${TOKEN}&user=${USER}&message=${'m'.repeat(1023)}%F0%9F%98%80&title=${'T'.repeat(250)}&priority=0&url=https%3A%2F%2Foitc%2Fh%2F1&sound=siren`,
    );
  });

  t.test('emergency priority carries retry >= 30 and expire <= 10800', async (t) => {
    const rx = await receiver(t, (_s, _n, res) => res.end('{"status":1}'));
    const ch = new PushoverChannel({ name: 'po', token: TOKEN, user: USER, retrySec: 5, expireSec: 99_999, apiUrl: `${rx.base}/1/messages.json` });
    t.teardown(() => ch.close());
    await ch.send(delivery({ priority: 2 }));
    t.equal(rx.seen[0]!.body, `token=${TOKEN}&user=${USER}&message=PING+CRITICAL+-+100%25+loss&title=DOWN+web01&priority=2&retry=30&expire=10800`);
  });

  t.test('an emergency message carries its object\'s tag; the RECOVERY cancels its re-alerts by that tag, then comes at normal priority', async (t) => {
    let cancel = 200;
    const rx = await receiver(t, (req, _n, res) => {
      if (req.url?.includes('/receipts/')) res.statusCode = cancel;
      res.end(req.url?.includes('/receipts/') ? '{"status":1,"canceled":1,"request":"c"}' : '{"status":1,"receipt":"rcpt","request":"r"}');
    });
    const ch = new PushoverChannel({ name: 'po', token: TOKEN, user: USER, priority: 2, apiUrl: `${rx.base}/1/messages.json` });
    t.teardown(() => ch.close());
    const tag = 'pg0123456789abcdef0123456789abcdef';
    t.same(await ch.send(delivery({ tag })), { kind: 'sent' });
    t.equal(rx.seen[0]!.body, `token=${TOKEN}&user=${USER}&message=PING+CRITICAL+-+100%25+loss&title=DOWN+web01&priority=2&retry=60&expire=3600&tags=${tag}`);
    t.same(await ch.send(delivery({ title: 'UP web01', message: 'PING OK', tag, ends: true })), { kind: 'sent' });
    t.equal(rx.seen[1]!.method, 'POST');
    t.equal(rx.seen[1]!.url, `/1/receipts/cancel_by_tag/${tag}.json`, 'Pushover\'s cancel by tag');
    t.equal(rx.seen[1]!.body, `token=${TOKEN}`);
    t.equal(rx.seen[2]!.body, `token=${TOKEN}&user=${USER}&message=PING+OK&title=UP+web01&priority=0`, 'the recovery itself is no emergency');

    cancel = 503;
    t.same(await ch.send(delivery({ tag, ends: true })), { kind: 'retry', reason: 'cancelling the emergency re-alerts: 503 {"status":1,"canceled":1,"request":"c"}' }, 'a failing cancel is tried again, message and all');
    t.equal(rx.seen.length, 4, 'the message waits for the cancel');
    cancel = 400;
    t.same(await ch.send(delivery({ tag, ends: true })), { kind: 'sent' }, 'a refused cancel (no such tag) does not stop the message');

    const normal = new PushoverChannel({ name: 'po2', token: TOKEN, user: USER, apiUrl: `${rx.base}/1/messages.json` });
    t.teardown(() => normal.close());
    const before = rx.seen.length;
    await normal.send(delivery({ tag, ends: true }));
    t.equal(rx.seen.length, before + 1, 'a channel that never sends emergencies has nothing to cancel');
    t.notMatch(rx.seen.at(-1)!.body, /tags=/);
  });

  t.test('a 4xx is refused with Pushover\'s errors array and no credential; a 5xx is retried', async (t) => {
    const rx = await receiver(t, (_s, n, res) => {
      res.statusCode = n === 1 ? 400 : 503;
      res.end(n === 1 ? `{"user":"${USER}","errors":["user identifier is invalid"],"status":0}` : 'down');
    });
    const ch = new PushoverChannel({ name: 'po', token: TOKEN, user: USER, apiUrl: `${rx.base}/1/messages.json` });
    t.teardown(() => ch.close());
    t.same(await ch.send(delivery()), { kind: 'failed', reason: '400 user identifier is invalid' });
    t.same(await ch.send(delivery()), { kind: 'retry', reason: '503 down' });
  });
});

t.test('mattermost', async (t) => {
  t.test('POSTs {text, channel, username, icon_url} to the hook; 200 "ok" is sent', async (t) => {
    const rx = await receiver(t, (_s, _n, res) => res.end('ok'));
    const ch = new MattermostChannel({ name: 'mm', url: `${rx.base}/hooks/xyz123`, channel: 'ops', username: 'pushgate', iconUrl: 'https://oitc/icon.png' });
    t.teardown(() => ch.close());
    t.same(await ch.send(delivery({ url: 'https://oitc/h/1' })), { kind: 'sent' });
    t.equal(rx.seen[0]!.url, '/hooks/xyz123');
    t.equal(rx.seen[0]!.headers['content-type'], 'application/json');
    t.equal(rx.seen[0]!.body, '{"text":"**DOWN web01**\\nPING CRITICAL - 100% loss\\nhttps://oitc/h/1","channel":"ops","username":"pushgate","icon_url":"https://oitc/icon.png"}');
  });

  t.test('optional keys are left out; 404 is refused, 429 retried with Retry-After', async (t) => {
    const rx = await receiver(t, (_s, n, res) => {
      res.statusCode = n === 1 ? 404 : 429;
      if (n === 2) res.setHeader('retry-after', '7');
      res.end(n === 1 ? 'Unable to find the webhook' : 'slow down');
    });
    const ch = new MattermostChannel({ name: 'mm', url: `${rx.base}/hooks/xyz123` });
    t.teardown(() => ch.close());
    t.same(await ch.send(delivery()), { kind: 'failed', reason: '404 Unable to find the webhook' });
    t.same(await ch.send(delivery()), { kind: 'retry', reason: '429 slow down', retryAfterMs: 7000 });
    t.equal(rx.seen[0]!.body, '{"text":"**DOWN web01**\\nPING CRITICAL - 100% loss"}');
  });
});

t.test('webhook retries network errors and 5xx, refuses other 4xx', async (t) => {
  const rx = await receiver(t, (_s, n, res) => {
    res.statusCode = n === 1 ? 502 : 422;
    res.end('nope');
  });
  const ch = new WebhookChannel({ name: 'wh', url: `${rx.base}/in` });
  t.teardown(() => ch.close());
  t.same(await ch.send(delivery()), { kind: 'retry', reason: '502 nope' });
  t.same(await ch.send(delivery()), { kind: 'failed', reason: '422 nope' });
  const down = new WebhookChannel({ name: 'wh2', url: 'http://127.0.0.1:1/' });
  t.teardown(() => down.close());
  const r = await down.send(delivery());
  t.equal(r.kind, 'retry');
});

t.test('over HTTPS a channel trusts a configured CA and refuses an unknown certificate without retrying', async (t) => {
  const cert = await readFile(join(import.meta.dirname, 'fixtures', 'localhost-cert.pem'), 'utf8');
  const key = await readFile(join(import.meta.dirname, 'fixtures', 'localhost-key.pem'), 'utf8');
  const seen: string[] = [];
  const server = createHttpsServer({ key, cert }, (req, res) => {
    req.resume();
    req.on('end', () => {
      seen.push(`${req.method} ${req.url} ${req.headers['idempotency-key']}`);
      res.end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => {
    server.closeAllConnections();
    return new Promise<void>((resolve) => server.close(() => resolve()));
  });
  const url = `https://localhost:${(server.address() as AddressInfo).port}/in`;
  const trusted = new WebhookChannel({ name: 'wh', url, ca: cert });
  const untrusted = new WebhookChannel({ name: 'wh', url });
  t.teardown(async () => {
    await trusted.close();
    await untrusted.close();
  });
  t.same(await trusted.send(delivery()), { kind: 'sent' });
  t.match(await untrusted.send(delivery()), { kind: 'failed', reason: /^DEPTH_ZERO_SELF_SIGNED_CERT|^SELF_SIGNED/ });
  t.same(seen, ['POST /in n42:chan']);
});

t.test('email', async (t) => {
  const cert = await readFile(join(import.meta.dirname, 'fixtures', 'localhost-cert.pem'), 'utf8');
  const key = await readFile(join(import.meta.dirname, 'fixtures', 'localhost-key.pem'), 'utf8');

  async function smtp(t: Test, opts: { secure: boolean; rejectRcpt?: number }) {
    const mails: Array<{ from: string; to: string[]; data: string; user: string | undefined; tls: boolean }> = [];
    const server = new SMTPServer({
      secure: opts.secure,
      key,
      cert,
      authOptional: true,
      disabledCommands: [],
      logger: false,
      onAuth(auth, _session, cb) {
        if (auth.username === 'alerts' && auth.password === 'pw-123') cb(null, { user: auth.username });
        else cb(new Error('Invalid username or password'));
      },
      onRcptTo(address, _session, cb) {
        if (opts.rejectRcpt !== undefined) {
          const err = Object.assign(new Error(`mailbox ${address.address} unavailable`), { responseCode: opts.rejectRcpt });
          return cb(err);
        }
        cb();
      },
      onData(stream, session, cb) {
        const chunks: Buffer[] = [];
        stream.on('data', (c: Buffer) => chunks.push(c));
        stream.on('end', () => {
          mails.push({
            from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
            to: session.envelope.rcptTo.map((r) => r.address),
            data: Buffer.concat(chunks).toString(),
            user: session.user as string | undefined,
            tls: session.secure,
          });
          cb();
        });
      },
    });
    // A client that rejects our certificate aborts the handshake; the server reports that as an error event.
    server.on('error', () => {});
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
    return { port: (server.server.address() as AddressInfo).port, mails };
  }

  t.test('STARTTLS with auth delivers one mail to several recipients with a Message-ID from the delivery id', async (t) => {
    const srv = await smtp(t, { secure: false });
    const ch = new EmailChannel({ name: 'mail', host: 'localhost', port: srv.port, ca: cert, auth: { user: 'alerts', pass: 'pw-123' }, from: 'pushgate@example.com', to: ['a@example.com', 'b@example.com'] });
    t.teardown(() => ch.close());
    t.same(await ch.send(delivery({ url: 'https://oitc/h/1' })), { kind: 'sent' });
    const mail = srv.mails[0]!;
    t.equal(mail.from, 'pushgate@example.com');
    t.same(mail.to, ['a@example.com', 'b@example.com']);
    t.equal(mail.user, 'alerts');
    t.equal(mail.tls, true, 'upgraded with STARTTLS');
    t.match(mail.data, /^Subject: DOWN web01\r$/m);
    t.match(mail.data, new RegExp(`^Message-ID: ${messageId('n42:chan')}\\r$`, 'm'));
    t.match(mail.data, /^X-Pushgate-Delivery: n42:chan\r$/m);
    t.match(mail.data, /\r\n\r\nPING CRITICAL - 100% loss\r\n\r\nhttps:\/\/oitc\/h\/1/);
  });

  t.test('implicit TLS works; a wrong password and a 550 recipient are refused, a 450 retried', async (t) => {
    const tls = await smtp(t, { secure: true });
    const ok = new EmailChannel({ name: 'mail', host: 'localhost', port: tls.port, tls: 'implicit', ca: cert, auth: { user: 'alerts', pass: 'pw-123' }, from: 'p@example.com', to: ['a@example.com'] });
    t.teardown(() => ok.close());
    t.same(await ok.send(delivery()), { kind: 'sent' });
    t.equal(tls.mails[0]!.tls, true);
    const badAuth = new EmailChannel({ name: 'mail', host: 'localhost', port: tls.port, tls: 'implicit', ca: cert, auth: { user: 'alerts', pass: 'wrong' }, from: 'p@example.com', to: ['a@example.com'] });
    t.teardown(() => badAuth.close());
    const r = await badAuth.send(delivery());
    t.equal(r.kind, 'failed');
    t.notMatch(JSON.stringify(r), /wrong/, 'the password is not in the reason');
    const perm = await smtp(t, { secure: false, rejectRcpt: 550 });
    const p = new EmailChannel({ name: 'mail', host: 'localhost', port: perm.port, ca: cert, from: 'p@example.com', to: ['a@example.com'] });
    t.teardown(() => p.close());
    t.equal((await p.send(delivery())).kind, 'failed');
    const temp = await smtp(t, { secure: false, rejectRcpt: 450 });
    const q = new EmailChannel({ name: 'mail', host: 'localhost', port: temp.port, ca: cert, from: 'p@example.com', to: ['a@example.com'] });
    t.teardown(() => q.close());
    const qr = await q.send(delivery());
    t.equal(qr.kind, 'retry', JSON.stringify(qr));
  });

  t.test('an untrusted certificate is refused, not retried', async (t) => {
    const srv = await smtp(t, { secure: true });
    const ch = new EmailChannel({ name: 'mail', host: 'localhost', port: srv.port, tls: 'implicit', from: 'p@example.com', to: ['a@example.com'] });
    t.teardown(() => ch.close());
    const r = await ch.send(delivery());
    t.equal(r.kind, 'failed', JSON.stringify(r));
    t.equal(srv.mails.length, 0);
  });
});

t.test('signal', async (t) => {
  /** A stand-in signal-cli: records its argv (NUL-separated, one record per run) and exits with the next code listed. */
  async function fakeCli(t: Test, codes: number[]) {
    const dir = await mkdtemp(join(tmpdir(), 'pushgate-signal-'));
    t.teardown(() => rm(dir, { recursive: true, force: true }));
    const path = join(dir, 'signal-cli');
    await writeFile(`${path}.codes`, codes.map((c) => `${c}\n`).join(''));
    await writeFile(
      path,
      `#!/bin/sh\nfor a in "$@"; do printf '%s\\0' "$a"; done >> "$0.argv"\nprintf '\\036' >> "$0.argv"\ncode=$(head -n 1 "$0.codes")\nsed -i 1d "$0.codes"\n[ "$code" = 5 ] && echo 'Rate limit exceeded' >&2\nexit "\${code:-0}"\n`,
    );
    await chmod(path, 0o755);
    const runs = async () => (await readFile(`${path}.argv`, 'utf8')).split('\x1e').filter((r) => r !== '').map((r) => r.split('\0').slice(0, -1));
    return { path, runs };
  }

  t.test('runs signal-cli -a <account> send -m <text> <recipients> and maps exit codes 1-6', async (t) => {
    const cli = await fakeCli(t, [0, 1, 2, 3, 4, 5, 6]);
    const ch = new SignalChannel({ name: 'sig', account: '+4915100000001', recipients: ['+4915100000002', '+4915100000003'], cliPath: cli.path, rateLimitDelayMs: 1234 });
    t.teardown(() => ch.close());
    t.same(await ch.send(delivery({ url: 'https://oitc/h/1' })), { kind: 'sent' });
    t.same((await cli.runs())[0], ['-a', '+4915100000001', 'send', '-m', 'DOWN web01\nPING CRITICAL - 100% loss\nhttps://oitc/h/1', '+4915100000002', '+4915100000003']);
    const results = [];
    for (let i = 1; i <= 6; i++) results.push(await ch.send(delivery()));
    t.same(
      results.map((r) => r.kind),
      ['failed', 'retry', 'retry', 'failed', 'retry', 'retry'],
    );
    t.same(results[4], { kind: 'retry', reason: 'signal-cli exit 5: Rate limit exceeded', retryAfterMs: 1234 });
    t.equal((await cli.runs()).length, 7);
  });

  t.test('a missing executable is a retry with the reason', async (t) => {
    const ch = new SignalChannel({ name: 'sig', account: '+1', recipients: ['+2'], cliPath: '/nonexistent/signal-cli' });
    const r = await ch.send(delivery());
    t.match(r, { kind: 'retry', reason: /^signal-cli did not start: ENOENT/ });
  });

  t.test('with rpcUrl it calls the JSON-RPC daemon method send', async (t) => {
    const rx = await receiver(t, (s, n, res) => {
      const id = JSON.parse(s.body).id;
      res.setHeader('content-type', 'application/json');
      if (n === 1) res.end(JSON.stringify({ jsonrpc: '2.0', result: { timestamp: 1 }, id }));
      else if (n === 2) res.end(JSON.stringify({ jsonrpc: '2.0', error: { code: -32602, message: 'Invalid recipient' }, id }));
      else res.end(JSON.stringify({ jsonrpc: '2.0', error: { code: -3, message: 'Failed to send message' }, id }));
    });
    const ch = new SignalChannel({ name: 'sig', account: '+4915100000001', recipients: ['+4915100000002'], rpcUrl: `${rx.base}/` });
    t.teardown(() => ch.close());
    t.same(await ch.send(delivery()), { kind: 'sent' });
    t.equal(rx.seen[0]!.url, '/api/v1/rpc');
    t.equal(rx.seen[0]!.body, '{"jsonrpc":"2.0","method":"send","params":{"account":"+4915100000001","recipient":["+4915100000002"],"message":"DOWN web01\\nPING CRITICAL - 100% loss"},"id":"n42:chan"}');
    t.same(await ch.send(delivery()), { kind: 'failed', reason: 'signal-cli error -32602: Invalid recipient' });
    t.same(await ch.send(delivery()), { kind: 'retry', reason: 'signal-cli error -3: Failed to send message' });
  });
});
