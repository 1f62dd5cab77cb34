/**
 * The Naemon adapter (src/engines/naemon.ts) against a real engine, Debian's
 * nagios4 (fixtures/nagios.ts): after `acknowledge` the engine's own status
 * file shows the problem acknowledged by that author; refusals (unknown
 * object, no problem, already acknowledged, text the pipe cannot carry)
 * change nothing; a stopped or killed engine gives `unreachable` at once and
 * changes nothing either.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import t from 'tap';
import type { AcknowledgeRequest } from '../../src/engines/engine.js';
import { acknowledgeCommand, NaemonEngine, NaemonEngineSchema } from '../../src/engines/naemon.js';
import { nagiosSkip, startNagios } from '../fixtures/nagios.js';

const HOST = '5a1f8d9e-2c4b-4f6a-9e3d-1b7c0a2e4f60';
const SERVICE = 'b2e4c6a8-0d1f-4e3a-8c5b-7f9d1e3a5c70';
const OK_SERVICE = 'c3f5d7b9-1e2a-4f4b-9d6c-8a0e2f4b6d81';

const OBJECTS = `
define host {
    use                 generic-host
    host_name           ${HOST}
}
define service {
    use                 generic-service
    host_name           ${HOST}
    service_description ${SERVICE}
    check_command       pushgate-noop
}
define service {
    use                 generic-service
    host_name           ${HOST}
    service_description ${OK_SERVICE}
    check_command       pushgate-noop
}
`;

function ack(objectKey: string, extra: Partial<AcknowledgeRequest> = {}): AcknowledgeRequest {
  return { objectKey, author: 'alice', comment: 'on it', sticky: true, notify: false, persistent: true, ...extra };
}

t.test('the command line is the one openITCOCKPIT writes, and text the pipe cannot carry is refused before sending', async (t) => {
  const line = acknowledgeCommand({ host: 'h', service: 's' }, ack('h/s', { comment: 'a; b' }), 1700000000);
  t.same(line, { line: '[1700000000] ACKNOWLEDGE_SVC_PROBLEM;h;s;2;0;1;alice;a; b\n' }, 'sticky is 2, the comment keeps its ";"');
  t.same(acknowledgeCommand({ host: 'h' }, ack('h', { sticky: false, notify: true, persistent: false }), 1), { line: '[1] ACKNOWLEDGE_HOST_PROBLEM;h;0;1;0;alice;on it\n' });
  const bad: [Partial<AcknowledgeRequest>, RegExp][] = [
    [{ author: 'a;b' }, /author contains ";"/],
    [{ author: '' }, /author is empty/],
    [{ comment: '' }, /comment is empty/],
    [{ comment: 'x\n[1] SHUTDOWN_PROGRAM' }, /comment contains a line break/],
    [{ comment: 'say "hi"' }, /comment contains one of " ` \$ \\/],
    [{ author: 'mallory\\' }, /author contains one of/],
    [{ comment: 'x'.repeat(5000) }, /more than the 4096/],
  ];
  for (const [extra, re] of bad) {
    const r = acknowledgeCommand({ host: 'h', service: 's' }, ack('h/s', extra), 1);
    t.match('error' in r ? r.error : '', re, JSON.stringify(extra).slice(0, 60));
  }
  t.match(acknowledgeCommand({ host: 'h;x' }, ack('h;x'), 1), { error: /host name contains ";"/ });
});

t.test('the config schema is strict and defaults to openITCOCKPIT\'s paths', async (t) => {
  t.same(NaemonEngineSchema.parse({ type: 'naemon' }), {
    type: 'naemon', commandFile: '/opt/openitc/nagios/var/rw/nagios.cmd', statusFile: '/opt/openitc/nagios/var/status.dat', statusWaitMs: 15_000,
  });
  t.notOk(NaemonEngineSchema.safeParse({ type: 'naemon', comandFile: '/x' }).success, 'a misspelt key is an error');
  t.equal(NaemonEngineSchema.parse({ type: 'naemon', statusFile: null }).statusFile, null);
});

t.test('acknowledgements through a real engine\'s command pipe', { skip: nagiosSkip() }, async (t) => {
  // Status every 2 s, so an acknowledgement right after a state change meets a status file from before it.
  const nagios = await startNagios(t, { objects: OBJECTS, statusUpdateIntervalS: 2 });
  const engine = new NaemonEngine({ commandFile: nagios.commandFile, statusFile: nagios.statusFile, statusWaitMs: 10_000 });
  t.teardown(() => engine.close());

  await t.test('a CRITICAL service acknowledged at once is acknowledged by that author in the engine\'s status', async (t) => {
    await nagios.serviceResult(HOST, SERVICE, 2, 'CRITICAL - down');
    // No wait: the status file still says OK; the adapter waits for one written after the request.
    const r = await engine.acknowledge(ack(`${HOST}/${SERVICE}`));
    t.same(r, { outcome: 'done', reason: `ACKNOWLEDGE_SVC_PROBLEM for service "${SERVICE}" on host "${HOST}" written to the engine's command pipe` });
    const s = await nagios.waitService(HOST, SERVICE, (s) => s.problem_has_been_acknowledged === '1');
    t.equal(s.current_state, '2');
    t.equal(s.acknowledgement_type, '2', 'sticky');
    const comments = await nagios.comments(HOST, SERVICE);
    t.match(comments, [{ entry_type: '4', author: 'alice', comment_data: 'on it', persistent: '1' }], 'the acknowledgement comment names the author');
  });

  await t.test('a second acknowledgement of it is refused: already acknowledged', async (t) => {
    const r = await engine.acknowledge(ack(`${HOST}/${SERVICE}`, { author: 'bob' }));
    t.same(r, { outcome: 'refused', reason: `service "${SERVICE}" on host "${HOST}" (CRITICAL) is already acknowledged` });
    await nagios.freshStatus();
    t.equal((await nagios.comments(HOST, SERVICE)).length, 1, 'no second comment');
  });

  await t.test('a DOWN host is acknowledged', async (t) => {
    await nagios.hostResult(HOST, 1, 'PING CRITICAL - 100% loss');
    await nagios.waitHost(HOST, (h) => h.current_state === '1');
    const r = await engine.acknowledge(ack(HOST, { author: 'carol', comment: 'router swap', sticky: false }));
    t.equal(r.outcome, 'done', r.reason);
    const h = await nagios.waitHost(HOST, (h) => h.problem_has_been_acknowledged === '1');
    t.equal(h.acknowledgement_type, '1', 'not sticky');
    t.match(await nagios.comments(HOST), [{ entry_type: '4', author: 'carol', comment_data: 'router swap' }]);
    await nagios.hostResult(HOST, 0, 'PING OK');
    await nagios.waitHost(HOST, (h) => h.current_state === '0');
  });

  await t.test('an OK service is refused with the engine\'s state and stays unacknowledged', async (t) => {
    await nagios.waitService(HOST, OK_SERVICE, (s) => s.current_state === '0');
    const r = await engine.acknowledge(ack(`${HOST}/${OK_SERVICE}`));
    t.same(r, { outcome: 'refused', reason: `service "${OK_SERVICE}" on host "${HOST}" is OK: there is no problem to acknowledge` });
    t.equal((await nagios.service(HOST, OK_SERVICE))?.problem_has_been_acknowledged, '0');
    t.same(await nagios.comments(HOST, OK_SERVICE), []);
  });

  await t.test('unknown objects are refused: the engine does not know them', async (t) => {
    t.same(await engine.acknowledge(ack(`${HOST}/no-such-service`)), { outcome: 'refused', reason: `the engine does not know service "no-such-service" on host "${HOST}"` });
    t.same(await engine.acknowledge(ack('no-such-host')), { outcome: 'refused', reason: 'the engine does not know host "no-such-host"' });
    await nagios.freshStatus();
    t.notMatch(await nagios.log(), /no-such/, 'nothing was written to the pipe');
  });

  await t.test('bad input is refused and nothing is written', async (t) => {
    const before = await nagios.log();
    t.match(await engine.acknowledge(ack(`${HOST}/${SERVICE}`, { comment: 'a\n[0] SHUTDOWN_PROGRAM' })), { outcome: 'refused', reason: /^not sent: the comment contains a line break/ });
    t.match(await engine.acknowledge(ack(`${HOST}/`)), { outcome: 'refused', reason: /^not sent: object key .* empty service name/ });
    t.match(await engine.acknowledge(ack(`${HOST}/${SERVICE}`, { author: 'a"b' })), { outcome: 'refused', reason: /^not sent: the author contains one of/ });
    await nagios.freshStatus();
    t.equal((await nagios.log()).split('EXTERNAL COMMAND').length, before.split('EXTERNAL COMMAND').length, 'no external command reached the engine');
    t.ok(nagios.daemon.running(), 'the engine is still running');
  });

  await t.test('a stopped engine gives unreachable at once and changes nothing', async (t) => {
    await nagios.serviceResult(HOST, OK_SERVICE, 2, 'CRITICAL - for the stop test');
    await nagios.waitService(HOST, OK_SERVICE, (s) => s.current_state === '2');
    await nagios.stop(); // SIGTERM: state saved to the retention file
    const stopped = await engine.acknowledge(ack(`${HOST}/${OK_SERVICE}`));
    t.equal(stopped.outcome, 'unreachable');
    t.match(stopped.reason, /engine is not running/);
    await nagios.start();
    const s = await nagios.waitService(HOST, OK_SERVICE, (s) => s.current_state === '2');
    t.equal(s.problem_has_been_acknowledged, '0', 'not acknowledged after the restart');

    await nagios.kill(); // SIGKILL: the pipe stays, with nobody reading it
    const killed = await Promise.race([engine.acknowledge(ack(`${HOST}/${OK_SERVICE}`)), sleep(10_000, 'hung')]);
    t.match(killed, { outcome: 'unreachable', reason: /nothing reads the command pipe .*: the engine is not running/ }, 'a pipe without reader does not block');
    await nagios.start();
    t.equal((await nagios.waitService(HOST, OK_SERVICE, (s) => s.current_state === '2')).problem_has_been_acknowledged, '0', 'still not acknowledged');
    t.same(await nagios.comments(HOST, OK_SERVICE), []);
  });

  await t.test('a path that is not a pipe gives unreachable', async (t) => {
    const wrong = new NaemonEngine({ commandFile: nagios.statusFile, statusFile: null });
    t.match(await wrong.acknowledge(ack(`${HOST}/${OK_SERVICE}`)), { outcome: 'unreachable', reason: /is not a named pipe/ });
  });
});
