/**
 * Escalation in one gateway (docs/escalation.md): a ladder with short delays
 * climbs when nothing stops it, and does not when the object was
 * acknowledged (through pushgate's hook, or an ACKNOWLEDGEMENT at /message),
 * recovered, or the step's `unless` receipt came. Real parts: the gateway
 * in-process, a WebSocket browser, a webhook channel posting to a real HTTP
 * stand-in. Timing is asserted only within generous bounds.
 */
import t, { type Test } from 'tap';
import type { ConfigInput } from '../../src/config.js';
import type { Gateway } from '../../src/gateway.js';
import { hostMessage, openRegisteredClient, postMessage, startTestGateway, tempDir, waitFor, type TestClient } from '../helpers.js';
import { distinct, hookServer } from './hook.js';

/** A gateway whose default policy is `ladder` (steps as given), with the webhook channel `hook`. */
async function gateway(t: Test, url: string, steps: NonNullable<ConfigInput['escalation']>['policies'] extends infer P ? P extends Record<string, { steps: infer S }> ? S : never : never, stateDir?: string): Promise<Gateway> {
  const gw = await startTestGateway({
    config: {
      notifications: { channels: { hook: { type: 'webhook', url, minRetryDelayMs: 0 } } },
      escalation: { policies: { ladder: { steps } }, defaultPolicies: ['ladder'] },
    },
    ...(stateDir !== undefined ? { stateDir } : {}),
  });
  t.teardown(() => gw.close());
  return gw;
}

/** The next ProcessPushNotification payload of a client. */
async function nextPush(c: TestClient, ms?: number): Promise<{ id: number; type: string }> {
  for (;;) {
    const m = await c.nextJson(ms);
    if (m.type === 'ProcessPushNotification') return m.payload as { id: number; type: string };
  }
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

t.test('a ladder nobody acknowledges climbs: the channel step, then a browser reminder under a new id', async (t) => {
  const hook = await hookServer(t);
  const gw = await gateway(t, hook.url, [{ after: '200ms', targets: ['hook'] }, { after: '400ms', targets: ['browser'] }]);
  const browser = await openRegisteredClient(gw);
  const started = Date.now();
  const res = await postMessage(gw, hostMessage());
  t.equal(res.status, 200, res.body);
  const first = await nextPush(browser);
  await waitFor(() => hook.got.length === 1, 5000, 'step 0 at the webhook');
  t.ok(hook.got[0]!.at - started >= 150, 'the channel step ran no earlier than its delay');
  t.match(hook.got[0]!.body.title, /web-01/, 'it carries the notification');
  const reminder = await nextPush(browser);
  t.ok(reminder.id > first.id, 'the browser step is a reminder with a new, higher id');
  await waitFor(() => gw.escalation!.stats.run.ladder === 2, 5000, 'both steps counted');
  t.equal(gw.escalation!.ladders, 0, 'a ladder with nothing pending is forgotten');
  await sleep(300);
  t.equal(hook.got.length, 1, 'the channel step ran once');
  await browser.close();
});

t.test('acknowledged through pushgate (the hook): the pending steps do not run', async (t) => {
  const hook = await hookServer(t);
  const gw = await gateway(t, hook.url, [{ after: '300ms', targets: ['hook'] }, { after: '600ms', targets: ['hook', 'browser'] }]);
  t.equal((await postMessage(gw, hostMessage())).status, 200);
  const id = gw.ids.lastId;
  t.equal(gw.escalation!.pending, 2, 'two steps pending');
  t.equal(await gw.escalation!.acknowledged({ notificationId: id }, 'pushgate:alice'), 2, 'both cancelled');
  t.equal(gw.escalation!.pending, 0, 'no timer left');
  await sleep(900);
  t.same(hook.got, [], 'no step reached the channel');
  t.same(gw.escalation!.stats.cancelled, { ladder: { acknowledged: 2 } });
  const metrics = await gw.metrics!.registry.metrics();
  t.match(metrics, /pushgate_escalation_steps_total\{policy="ladder",outcome="cancelled",reason="acknowledged"\} 2/, 'counted in the metrics');
  t.match(metrics, /pushgate_escalation_ladders_total\{policy="ladder"\} 1/);
});

t.test('an ACKNOWLEDGEMENT at /message for the same object stops the ladder after its first step', async (t) => {
  const hook = await hookServer(t);
  const gw = await gateway(t, hook.url, [{ after: '200ms', targets: ['hook'] }, { after: '900ms', targets: ['hook'] }]);
  t.equal((await postMessage(gw, hostMessage())).status, 200);
  await waitFor(() => hook.got.length === 1, 5000, 'step 0');
  const ack = await postMessage(gw, hostMessage({ notificationtype: 'ACKNOWLEDGEMENT', ackauthor: 'bob', ackcomment: 'on it' }));
  t.equal(ack.status, 200, ack.body);
  t.equal(gw.escalation!.pending, 0, `step 1 cancelled ${JSON.stringify(gw.escalation!.stats)} ${gw.escalation!.ladders}`);
  await sleep(1100);
  t.equal(hook.got.length, 1, 'only step 0 reached the channel');
  t.same(gw.escalation!.stats.cancelled, { ladder: { acknowledged: 1 } });
});

t.test('a RECOVERY for the same object ends the ladder; another object keeps climbing', async (t) => {
  const hook = await hookServer(t);
  const gw = await gateway(t, hook.url, [{ after: '500ms', targets: ['hook'] }]);
  t.equal((await postMessage(gw, hostMessage())).status, 200);
  const service = { type: 'service', serviceUuid: '74fd8f59-1348-4e16-85f0-4a5c57c7dd62', state: 2 };
  t.equal((await postMessage(gw, hostMessage(service))).status, 200);
  t.equal(gw.escalation!.ladders, 2, 'a ladder per object');
  t.equal((await postMessage(gw, hostMessage({ notificationtype: 'RECOVERY', state: 0 }))).status, 200);
  t.equal(gw.escalation!.ladders, 1, 'the host ladder ended');
  await waitFor(() => hook.got.length === 1, 5000, 'the service step');
  await sleep(300);
  t.equal(hook.got.length, 1, 'only the service ladder ran');
  t.match(hook.got[0]!.body.title, /HTTP/, 'and it was the service');
  t.same(gw.escalation!.stats.cancelled, { ladder: { recovered: 1 } });
});

t.test('a renotification of a climbing object does not start a second ladder', async (t) => {
  const hook = await hookServer(t);
  const gw = await gateway(t, hook.url, [{ after: '300ms', targets: ['hook'] }]);
  t.equal((await postMessage(gw, hostMessage())).status, 200);
  t.equal((await postMessage(gw, hostMessage({ output: 'still down' }))).status, 200);
  t.equal(gw.escalation!.ladders, 1);
  await waitFor(() => hook.got.length === 1, 5000, 'the step');
  await sleep(400);
  t.equal(hook.got.length, 1, 'one step, once');
});

t.test('unless: a shown receipt cancels the steps that say so, not the others', async (t) => {
  const hook = await hookServer(t);
  const gw = await gateway(t, hook.url, [{ after: '300ms', targets: ['hook'], unless: ['shown'] }, { after: '500ms', targets: ['hook'], unless: ['clicked'] }]);
  t.equal((await postMessage(gw, hostMessage())).status, 200);
  const id = gw.ids.lastId;
  t.equal(await gw.escalation!.receipt(id, 'delivered', 1), 0, 'delivered changes nothing');
  t.equal(await gw.escalation!.receipt(id, 'shown', 2), 0, 'another user\'s receipt changes nothing');
  t.equal(await gw.escalation!.receipt(id, 'shown', 1), 1, 'shown cancels step 0');
  await waitFor(() => hook.got.length === 1, 5000, 'step 1');
  await sleep(300);
  t.equal(hook.got.length, 1, 'only step 1 ran');
  t.same(gw.escalation!.stats.cancelled, { ladder: { shown: 1 } });
});

t.test('a graceful restart keeps the pending steps: they run on time in the next gateway', async (t) => {
  const hook = await hookServer(t);
  const stateDir = tempDir('pushgate-esc-');
  const gw1 = await gateway(t, hook.url, [{ after: '800ms', targets: ['hook'] }], stateDir);
  t.equal((await postMessage(gw1, hostMessage())).status, 200);
  await gw1.close();
  const gw2 = await gateway(t, hook.url, [{ after: '800ms', targets: ['hook'] }], stateDir);
  t.equal(gw2.escalation!.pending, 1, 'the step is back');
  await waitFor(() => hook.got.length === 1, 5000, 'the step');
  t.equal(distinct(hook.got).length, 1);
});

t.test('config: a step target that is no channel is refused with its key path', async (t) => {
  const { parseConfig } = await import('../../src/config.js');
  t.throws(() => parseConfig({ escalation: { policies: { p: { steps: [{ after: '1m', targets: ['browser', 'sms'] }] } }, defaultPolicies: ['q'] } }), {
    code: 'GW_ERR_CONFIG',
    message: /escalation\.policies\.p\.steps\.0\.targets\.1: unknown target "sms".*\n.*escalation\.defaultPolicies\.0: unknown policy "q"/,
  });
  const c = parseConfig({ escalation: { policies: { p: { steps: [{ after: '1m', targets: ['web-push'] }, { after: 250, targets: ['browser'] }] } } } });
  t.same(c.escalation.policies.p!.steps.map((s) => s.after), [60_000, 250], 'durations in ms; web-push is a step target');
  t.throws(() => parseConfig({ escalation: { policies: { p: { steps: [{ after: 'soon', targets: ['browser'] }] } } } }), { message: /escalation\.policies\.p\.steps\.0\.after: expected a duration/ });
  t.throws(() => parseConfig({
    notifications: { channels: { browser: { type: 'webhook', url: 'http://127.0.0.1:9/x' } } },
    escalation: { policies: { p: { steps: [{ after: '1m', targets: ['browser'] }] } } },
  }), { message: /escalation\.policies\.p\.steps\.0\.targets\.0: "browser" is ambiguous/ });
});

t.test('the YAML examples of docs/escalation.md are valid configuration', async (t) => {
  const { readFile } = await import('node:fs/promises');
  const { parse } = await import('yaml');
  const { parseConfig } = await import('../../src/config.js');
  const text = await readFile(new URL('../../../../docs/escalation.md', import.meta.url), 'utf8');
  const blocks = [...text.matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => m[1]!);
  t.equal(blocks.length, 2, 'two examples');
  for (const block of blocks) {
    const c = parseConfig(parse(block));
    t.ok(Object.keys(c.escalation.policies).length > 0, 'with policies');
  }
});

t.test('the step journal is rewritten when large, and what it holds after that comes back at restart', async (t) => {
  const { stat } = await import('node:fs/promises');
  const { join } = await import('node:path');
  const hook = await hookServer(t);
  const stateDir = tempDir('pushgate-esc-');
  const config = (): ConfigInput => ({
    notifications: { channels: { hook: { type: 'webhook', url: hook.url } } },
    escalation: { policies: { ladder: { steps: [{ after: '1h', targets: ['hook'] }, { after: '2h', targets: ['hook'] }] } }, defaultPolicies: ['ladder'], compactBytes: 65536 },
  });
  const gw1 = await startTestGateway({ config: config(), stateDir });
  // One ladder per user: 300 ladders of ~1 kB each pass the 64 KiB threshold several times.
  for (let user = 1; user <= 300; user++) t.equal((await postMessage(gw1, hostMessage({ userId: user }))).status, 200);
  t.equal(gw1.escalation!.pending, 600);
  // A RECOVERY ends all of them; then 10 new ones.
  t.equal((await postMessage(gw1, hostMessage({ notificationtype: 'RECOVERY', state: 0 }))).status, 200);
  t.equal(gw1.escalation!.pending, 0);
  const service = { type: 'service', serviceUuid: '74fd8f59-1348-4e16-85f0-4a5c57c7dd62', state: 2 };
  for (let user = 1; user <= 10; user++) t.equal((await postMessage(gw1, hostMessage({ ...service, userId: user }))).status, 200);
  await gw1.close();
  const size = (await stat(join(stateDir, 'escalation', 'steps.jsonl'))).size;
  t.ok(size < 65536 * 2, `the journal stays near what is pending (${size} bytes), not all 300 ladders`);
  const gw2 = await startTestGateway({ config: config(), stateDir });
  t.teardown(() => gw2.close());
  t.equal(gw2.escalation!.pending, 20, 'the 10 unfinished ladders came back, both steps each');
  t.equal(gw2.escalation!.ladders, 10);
});

t.test('beyond maxLadders a PROBLEM is delivered but starts no ladder, counted', async (t) => {
  const hook = await hookServer(t);
  const gw = await startTestGateway({
    config: {
      notifications: { channels: { hook: { type: 'webhook', url: hook.url } } },
      escalation: { policies: { ladder: { steps: [{ after: '1h', targets: ['hook'] }] } }, defaultPolicies: ['ladder'], maxLadders: 1 },
    },
  });
  t.teardown(() => gw.close());
  const browser = await openRegisteredClient(gw);
  t.equal((await postMessage(gw, hostMessage())).status, 200);
  t.equal((await postMessage(gw, hostMessage({ type: 'service', serviceUuid: '74fd8f59-1348-4e16-85f0-4a5c57c7dd62', state: 2 }))).status, 200, 'the second PROBLEM is accepted');
  await nextPush(browser);
  await nextPush(browser);
  t.equal(gw.escalation!.ladders, 1, 'one ladder');
  t.same(gw.escalation!.stats.dropped, { ladder: 1 });
  t.match(await gw.metrics!.registry.metrics(), /pushgate_escalation_dropped_total\{policy="ladder"\} 1/);
  await browser.close();
});
