/**
 * deploy/naemon/*.cfg in a real engine (Debian's nagios4, fixtures/nagios.ts),
 * loaded unchanged from the repository: a passive check result changes a
 * state, the engine itself runs `send_push_notification` (the built bundle,
 * through the shipped command line and its macros) against a real gateway,
 * and a registered WebSocket client receives the exact frame. Where pushgate
 * lives comes from the user macros the cfg files document ($USER20$ the
 * sender, $USER21$ the key file, $USER22$ the CLI), the gateway's address from
 * PUSHGATE_URL in the engine's environment.
 */
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { HOST_UUID, openRegisteredClient, SERVICE_UUID, startTestGateway, TEST_API_KEY, type TestClient } from '../helpers.js';
import { nagiosSkip, startNagios, type Nagios } from '../fixtures/nagios.js';

const ROOT = fileURLToPath(new URL('../../../../', import.meta.url));
const CFG_FILES = ['commands.cfg', 'check.cfg'].map((f) => join(ROOT, 'deploy', 'naemon', f));
const SENDER = join(ROOT, 'packages', 'sender', 'dist', 'send_push_notification.mjs');
const CLI = join(ROOT, 'packages', 'gateway', 'dist', 'main.js');
/** openITCOCKPIT names contacts by uuid too; this one is user 1 (custom variable _OITCUSERID). */
const CONTACT = '0f4fb1a1-3e5e-4f4e-9a43-6a2b0c3f5e11';

/** The test's objects: the directory's host and service, named by uuid as openITCOCKPIT does, and one contact. */
const OBJECTS = `
define contact {
    contact_name                    ${CONTACT}
    alias                           user 1
    host_notifications_enabled      1
    service_notifications_enabled   1
    host_notification_period        24x7
    service_notification_period     24x7
    host_notification_options       d,u,r,f,s
    service_notification_options    w,u,c,r,f,s
    host_notification_commands      host-notify-by-browser-notification
    service_notification_commands   service-notify-by-browser-notification
    _OITCUSERID                     1
}

define host {
    use                 generic-host
    host_name           ${HOST_UUID}
    alias               web-01
    address             127.0.0.1
    contacts            ${CONTACT}
}

define service {
    use                 generic-service
    host_name           ${HOST_UUID}
    service_description ${SERVICE_UUID}
    check_command       pushgate-noop
    contacts            ${CONTACT}
}
`;

/** The frame the gateway sends for a notification (sources/message.ts), with the sender's timestamp and the replay id. */
function frame(got: string, p: { title: string; message: string; type: 'host' | 'service'; icon?: string }): string {
  const { payload } = JSON.parse(got) as { payload: { timestamp: number; id: number } };
  return JSON.stringify({
    type: 'ProcessPushNotification',
    message: p.message,
    payload: {
      timestamp: payload.timestamp,
      userId: 1,
      title: p.title,
      message: p.message,
      type: p.type,
      hostUuid: HOST_UUID,
      ...(p.type === 'service' ? { serviceUuid: SERVICE_UUID } : {}),
      ...(p.icon !== undefined ? { icon: p.icon } : {}),
      id: payload.id,
    },
  });
}

/** The next frame, failing with the engine's log when none comes. */
async function nextFrame(client: TestClient, nagios: Nagios): Promise<string> {
  try {
    return await client.next(20_000);
  } catch (err) {
    const log = (await nagios.log()).split('\n').filter((l) => !/ (wproc|qh): /.test(l)).slice(-20).join('\n');
    throw new Error(`${(err as Error).message}; nagios.log:\n${log}`);
  }
}

t.test('a real engine runs send_push_notification through deploy/naemon/*.cfg, unchanged', { skip: nagiosSkip() }, async (t) => {
  t.ok(existsSync(SENDER), 'the sender bundle is built (pnpm build)');
  const gw = await startTestGateway();
  t.teardown(() => gw.close());
  const client = await openRegisteredClient(gw);
  t.teardown(() => client.close());

  const keys = await mkdtemp(join(tmpdir(), 'pushgate-naemon-key-'));
  t.teardown(() => rm(keys, { recursive: true, force: true }));
  const keyFile = join(keys, 'api-key');
  await writeFile(keyFile, `${TEST_API_KEY}\n`, { mode: 0o600 });
  const nagios = await startNagios(t, {
    objects: OBJECTS,
    cfgFiles: CFG_FILES,
    userMacros: { 20: `${process.execPath} ${SENDER}`, 21: keyFile, 22: `${process.execPath} ${CLI}` },
    env: { PUSHGATE_URL: `${gw.url}/message` },
  });
  t.match(await nagios.service(HOST_UUID, 'pushgate'), { check_command: 'check_pushgate!500!2000' }, 'check.cfg loaded: its service is on the host');

  await t.test('a passive CRITICAL reaches the browser as PROBLEM with the output', async (t) => {
    const output = 'CRITICAL - Antwortzeit 12.5 s über 5 s (port 443)';
    await nagios.serviceResult(HOST_UUID, SERVICE_UUID, 2, output);
    const got = await nextFrame(client, nagios);
    t.equal(got, frame(got, { title: 'PROBLEM: web-01/HTTP is CRITICAL!', message: output, type: 'service', icon: '/img/push_notifications/wh/ServicePushIconCRITICAL.png' }));
  });

  await t.test('an acknowledgement reaches the browser with its author and comment', async (t) => {
    await nagios.command(`ACKNOWLEDGE_SVC_PROBLEM;${HOST_UUID};${SERVICE_UUID};2;1;1;alice;on it; ETA 10 min`);
    const got = await nextFrame(client, nagios);
    t.equal(got, frame(got, { title: 'Acknowledgement for web-01/HTTP (CRITICAL)', message: 'alice: on it; ETA 10 min', type: 'service' }));
  });

  await t.test('an OK after it reaches the browser as RECOVERY', async (t) => {
    await nagios.serviceResult(HOST_UUID, SERVICE_UUID, 0, 'HTTP OK - 200 in 0.1 s');
    const got = await nextFrame(client, nagios);
    t.equal(got, frame(got, { title: 'RECOVERY: web-01/HTTP is OK!', message: 'HTTP OK - 200 in 0.1 s', type: 'service', icon: '/img/push_notifications/wh/ServicePushIconOK.png' }));
  });

  await t.test('a host DOWN and its UP reach the browser as PROBLEM and RECOVERY', async (t) => {
    await nagios.hostResult(HOST_UUID, 1, 'PING CRITICAL - Packet loss = 100%');
    const down = await nextFrame(client, nagios);
    t.equal(down, frame(down, { title: 'PROBLEM: web-01 is DOWN!', message: 'PING CRITICAL - Packet loss = 100%', type: 'host', icon: '/img/push_notifications/wh/HostPushIconDOWN.png' }));
    await nagios.hostResult(HOST_UUID, 0, 'PING OK - rta 0.1 ms');
    const up = await nextFrame(client, nagios);
    t.equal(up, frame(up, { title: 'RECOVERY: web-01 is UP!', message: 'PING OK - rta 0.1 ms', type: 'host', icon: '/img/push_notifications/wh/HostPushIconUP.png' }));
  });

  await t.test('hostile acknowledgement text runs nothing and arrives as written, less what the engine strips', async (t) => {
    // A trailing backslash escapes a closing double quote, and a ";" then ends the command:
    // the shape that runs commands when these macros sit in double quotes.
    const marker = join(nagios.dir, 'injected');
    await nagios.serviceResult(HOST_UUID, SERVICE_UUID, 2, 'CRITICAL - again');
    const problem = JSON.parse(await nextFrame(client, nagios)) as { payload: { title: string } };
    t.equal(problem.payload.title, 'PROBLEM: web-01/HTTP is CRITICAL!');
    const author = 'mallory\\';
    const comment = `; touch ${marker}; echo $(touch ${marker}2) \`touch ${marker}3\` "x' \\`;
    await nagios.command(`ACKNOWLEDGE_SVC_PROBLEM;${HOST_UUID};${SERVICE_UUID};2;1;1;${author};${comment}`);
    const got = await nextFrame(client, nagios);
    // illegal_macro_output_chars (`~$&|'"<>) are taken out of $SERVICEACKAUTHOR$ / $SERVICEACKCOMMENT$ by the engine.
    const stripped = comment.replace(/[`~$&|'"<>]/g, '');
    t.equal(got, frame(got, { title: 'Acknowledgement for web-01/HTTP (CRITICAL)', message: `${author}: ${stripped}`, type: 'service' }));
    t.same((await readdir(nagios.dir)).filter((f) => f.startsWith('injected')), [], 'no command ran');
  });
});
