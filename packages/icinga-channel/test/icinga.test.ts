/**
 * The plugin for an Icinga contact (address = contact username) against a
 * real gateway on a real Icinga Notifications database (each supported
 * database and schema generation): the notification reaches the contact's
 * Icinga Web stream and the contact's named channel, and a notification
 * that reaches pushgate both through the plugin and through the
 * incident_history poll (the daemon's row for the pushgate channel, and its
 * rows for the contact's other channels) is shown once, whichever way
 * arrives first.
 */
import { randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import t, { type Test } from 'tap';
import type { Gateway } from '../../gateway/src/gateway.js';
import { icingaFrame } from '../../gateway/src/transport/sse/icinga-frame.js';
import { createIcingaFixture, ICINGA_VARIANTS, icingaSkip, variantName, type IcingaFixture } from '../../gateway/test/fixtures/icinga.js';
import { startTestGateway, tempDir, waitFor, WAIT_MS } from '../../gateway/test/helpers.js';
import { subscribe, until, type SseClient } from '../../gateway/test/sse-client.js';
import { CODE, Daemon, METHOD, notificationRequest, type SeverityWord } from './driver.js';

const TOKEN = 'icinga-intake-token-0123456789';
const UA = 'Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0';
const PUSHGATE_CHANNEL = 4;
const EMAIL_CHANNEL = 1;
const BOB = 2;

/** A webhook receiver stand-in: the bodies it got. */
async function hook(t: Test): Promise<{ url: string; got: string[] }> {
  const got: string[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      got.push(Buffer.concat(chunks).toString('utf8'));
      res.end('ok');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, got };
}

const events = (c: SseClient): number => c.text.split('event: icinga2.notification\n').length - 1;

for (const variant of ICINGA_VARIANTS) {
  t.test(`Icinga contacts through the plugin (${variantName(variant)})`, { skip: await icingaSkip(variant.dialect) }, async (t) => {
    const fx: IcingaFixture = await createIcingaFixture(variant);
    t.teardown(() => fx.drop());
    const now = Date.now();
    // The daemon registers the plugin's type at start (available_channel_type) and the operator adds a channel of it.
    await fx.query("INSERT INTO available_channel_type (type, name, version, author, config_attrs) VALUES ('pushgate', 'pushgate', '0.1.0', 'pushgate', '[]')");
    await fx.query("INSERT INTO channel (id, external_uuid, name, type, changed_at) VALUES (?, ?, 'pushgate', 'pushgate', ?)", [PUSHGATE_CHANNEL, randomUUID(), now]);
    await fx.contact({ id: BOB, username: 'bob', fullName: 'Bob Builder' });
    await fx.session({ id: 'sess-bob', username: 'bob', userAgent: UA, authenticatedAt: now });

    const rx = await hook(t);
    const gw: Gateway = await startTestGateway({
      config: {
        // The poll is driven by the test (pollOnce); its own timer would wait an hour.
        icinga: { enabled: true, database: fx.connection, pollIntervalMs: 3_600_000, keepAliveFirstMs: 600_000, channel: { enabled: true, tokens: [TOKEN] } },
        notifications: { channels: { hook: { type: 'webhook', url: `${rx.url}/hook` } }, users: { bob: { channels: ['hook'] } }, outbox: { dir: tempDir('pushgate-outbox-') } },
      },
    });
    t.teardown(() => gw.close());
    const icinga = gw.icinga!;
    await waitFor(() => icinga.poller.stats.polls >= 1, WAIT_MS, 'the first poll');
    await icinga.poller.pollOnce();

    const sse = await subscribe(`${gw.url}/icingaweb2/notifications/v1/subscribe`, { Cookie: 'Icingaweb2=sess-bob', 'User-Agent': UA });
    t.teardown(() => sse.close());
    t.equal(sse.status, 200);
    await until(() => icinga.hub.size(String(BOB)) === 1, 'bob\'s stream');

    const d = new Daemon();
    t.teardown(async () => {
      await d.stop();
      if (d.violations.length > 0) throw new Error(`protocol violations:\n${d.violations.join('\n')}`);
    });
    t.same((await d.call(METHOD.setConfig, { url: gw.url, token: TOKEN })).result, null);

    const event = variant.generation === '0.2.0';
    let historyId = 100;
    let eventId = 500;
    /** One notification round as the daemon writes it: a pending row per channel, committed before any channel is called. */
    const round = async (incident: number, time: number, message: string, channels: number[]): Promise<number[]> => {
      const ids: number[] = [];
      // v0.2.0: the rows of one round name the one event they were sent for.
      const roundEvent = eventId++;
      for (const [i, channel] of channels.entries()) {
        const id = historyId++;
        await fx.notified({ id, incident, contact: BOB, channel, time: time + i, message, state: 'pending', ...(event ? { event: roundEvent } : {}) });
        ids.push(id);
      }
      return ids;
    };
    const send = (incident: number, severity: SeverityWord, time: number, message: string, host = 'web-01', service: string | undefined = 'HTTP') =>
      d.call(METHOD.sendNotification, notificationRequest({
        fullName: 'Bob Builder', addresses: [{ type: 'email', address: 'bob@example.com' }, { type: 'pushgate', address: 'bob' }],
        host, ...(service !== undefined ? { service } : {}), incidentId: incident, severity, time, message,
      }));
    const frame = (id: number, incident: number, severity: string, title: string, message: string, time: number): string =>
      icingaFrame({ id, time, incidentId: incident, severity, title, message }, 3000).toString('utf8');

    await t.test('plugin first: the stream gets the event with the pushgate row\'s id, the contact\'s channel its delivery, the poll shows neither row again', async (t) => {
      const T = now - 5000;
      await fx.incident({ id: 1, object: 'web-01!HTTP', severity: 'crit', startedAt: T });
      const [pushgateRow, emailRow] = await round(1, T, 'HTTP CRITICAL - 500', [PUSHGATE_CHANNEL, EMAIL_CHANNEL]);
      const r = await send(1, 'crit', T, 'HTTP CRITICAL - 500');
      t.same({ result: r.result, error: r.error }, { result: null, error: undefined });
      const expected = frame(pushgateRow!, 1, 'crit', 'web-01!HTTP', 'HTTP CRITICAL - 500', T);
      await sse.waitFor((s) => s.includes(expected), 'the event');
      await waitFor(() => rx.got.length === 1, WAIT_MS, 'the contact\'s channel');
      t.match(JSON.parse(rx.got[0]!) as object, { title: 'web-01!HTTP', message: 'HTTP CRITICAL - 500', url: 'http://localhost/icingaweb2/notifications/incident?id=1' });

      // The daemon marks the rows sent once each channel answered; the poll then reads both.
      const before = icinga.poller.stats.duplicates;
      await fx.setState(pushgateRow!, 'sent');
      await fx.setState(emailRow!, 'sent');
      await icinga.poller.pollOnce();
      t.equal(icinga.poller.stats.duplicates - before, 2, 'both rows recognised as shown');
      t.equal(events(sse), 1, 'shown once');
      t.equal(sse.text, expected);
    });

    await t.test('poll first: the email row is shown by the poll, the plugin\'s request answered ok without a second event', async (t) => {
      const T = now - 4000;
      await fx.incident({ id: 2, object: 'db-01', severity: 'warning', startedAt: T });
      const [emailRow, pushgateRow] = await round(2, T, 'disk 91%', [EMAIL_CHANNEL, PUSHGATE_CHANNEL]);
      await fx.setState(emailRow!, 'sent');
      await icinga.poller.pollOnce();
      await sse.waitFor((s) => s.includes(`id: ${emailRow}\n`), 'the polled event');
      t.equal(events(sse), 2);

      const r = await send(2, 'warning', T, 'disk 91%', 'db-01', undefined);
      t.same({ result: r.result, error: r.error }, { result: null, error: undefined }, 'Icinga records it sent: pushgate holds it');
      await fx.setState(pushgateRow!, 'sent');
      await icinga.poller.pollOnce();
      await new Promise((r) => setTimeout(r, 100));
      t.equal(events(sse), 2, 'still shown once');
      const metrics = await gw.metrics!.registry.getSingleMetricAsString('pushgate_icinga_channel_requests_total');
      t.match(metrics, /pushgate_icinga_channel_requests_total\{outcome="duplicate",status="200"\} 1/);
    });

    await t.test('a later notification of the same incident (a new round) is shown again; a request without its row is refused with the reason', async (t) => {
      const T = now - 3000;
      const [pushgateRow] = await round(1, T, 'HTTP CRITICAL - still 500', [PUSHGATE_CHANNEL]);
      t.same((await send(1, 'crit', T, 'HTTP CRITICAL - still 500')).result, null);
      await sse.waitFor((s) => s.includes(`id: ${pushgateRow}\n`), 'the new round');
      t.equal(events(sse), 3);

      const missing = await send(99, 'crit', T, 'no such incident');
      t.same(missing.error, {
        code: CODE.internalError,
        message: 'pushgate refused the notification: 422 Unprocessable Entity: Recipient not resolved: no pending notification of incident 99 for contact "bob" on a channel of type pushgate',
      });
      t.equal(events(sse), 3);
    });
  });
}
