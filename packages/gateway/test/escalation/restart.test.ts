/**
 * Escalation across `kill -9` (docs/escalation.md "Restarts"), with real
 * gateway processes: a ladder whose process is killed mid-ladder climbs on
 * in the next process on the same state directory; a step that fell due
 * while no process ran runs at once, a later one on time, none twice (each
 * step is one outbox delivery id at the webhook stand-in).
 */
import t from 'tap';
import type { Gateway } from '../../src/gateway.js';
import { clusterDir, startGatewayProcess } from '../gateway-process.js';
import { hostMessage, postMessage, waitFor } from '../helpers.js';
import { distinct, hookServer } from './hook.js';

const at = (url: string): Gateway => ({ url }) as Gateway;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

t.test('kill -9 mid-ladder: the next process runs the late step at once and the last on time, each once', async (t) => {
  const hook = await hookServer(t);
  const dir = await clusterDir(t);
  const config = {
    state: { dir: 'state-escalation' },
    notifications: { channels: { hook: { type: 'webhook', url: hook.url, minRetryDelayMs: 0 } } },
    escalation: {
      policies: { oncall: { steps: [{ after: '1s', targets: ['hook'] }, { after: '2500ms', targets: ['hook'] }, { after: '6s', targets: ['hook'] }] } },
      defaultPolicies: ['oncall'],
    },
  };
  const first = await startGatewayProcess(t, dir, config);
  const accepted = Date.now();
  const res = await postMessage(at(first.url), hostMessage());
  t.equal(res.status, 200, res.body);
  await waitFor(() => hook.got.length >= 1, 10_000, 'step 0 at the webhook');
  t.ok(hook.got[0]!.at - accepted >= 900, 'step 0 not early');
  await first.waitLog((l) => l.msg === 'escalation: step run' && l.step === 0);
  t.equal(await first.stop('SIGKILL'), null, 'killed');

  // Step 1 falls due while nothing runs.
  await sleep(Math.max(0, accepted + 3000 - Date.now()));
  const second = await startGatewayProcess(t, dir, config);
  const restarted = Date.now();
  await second.waitLog((l) => l.msg === 'escalation: ladders restored');
  await waitFor(() => distinct(hook.got).length >= 2, 10_000, 'step 1 after the restart');
  const step = (n: number): number => hook.got.find((d) => d.id === distinct(hook.got)[n])!.at;
  t.ok(step(1) - restarted < 3000, 'the late step ran at once (generous bound)');
  await waitFor(() => distinct(hook.got).length >= 3, 15_000, 'step 2');
  t.ok(step(2) - accepted >= 5900, 'the last step ran on its own time, not early');
  await sleep(800);
  t.equal(distinct(hook.got).length, 3, 'three steps reached the channel');
  await second.waitLog((l) => l.msg === 'escalation: step run' && l.step === 2);
  t.same(second.logs().filter((l) => l.msg === 'escalation: step run').map((l) => l.step).sort(), [1, 2], 'the next process ran steps 1 and 2 only: none twice (both late under load: either order)');
  // The outbox itself is at least once: a delivery sent just before the kill may be sent again, under the same Idempotency-Key.
  t.ok(hook.got.length <= 4, 'at most the one outbox resend of step 0');
  await second.stop();
});
