import t from 'tap';
import { formatNotification, stateIcon, stateName, type FormatInput } from '../src/format.js';
import { MessageBody } from '../src/messages.js';

const base = { output: 'PING CRITICAL - Packet loss = 100%', ackauthor: 'alice', ackcomment: 'on it' };
const host = (state: number, notificationtype: string): FormatInput =>
  ({ ...base, type: 'host', hostName: 'web-01', state, notificationtype });
const service = (state: number, notificationtype: string): FormatInput =>
  ({ ...base, type: 'service', hostName: 'web-01', serviceName: 'HTTP', state, notificationtype });

t.test('state names follow Naemon ids, anything unknown for services is UNKNOWN', async (t) => {
  t.same([0, 1, 2].map((s) => stateName('host', s)), ['UP', 'DOWN', 'UNREACHABLE']);
  t.same([0, 1, 2, 3, 4, -1].map((s) => stateName('service', s)), ['OK', 'WARNING', 'CRITICAL', 'UNKNOWN', 'UNKNOWN', 'UNKNOWN']);
});

t.test('state icons: host state 2 gets the UNREACHABLE icon (openITCOCKPIT gave it none)', async (t) => {
  t.equal(stateIcon('host', 0), '/img/push_notifications/wh/HostPushIconUP.png');
  t.equal(stateIcon('host', 1), '/img/push_notifications/wh/HostPushIconDOWN.png');
  t.equal(stateIcon('host', 2), '/img/push_notifications/wh/HostPushIconUNREACHABLE.png');
  for (const [s, n] of [[0, 'OK'], [1, 'WARNING'], [2, 'CRITICAL'], [3, 'UNKNOWN']] as const) {
    t.equal(stateIcon('service', s), `/img/push_notifications/wh/ServicePushIcon${n}.png`);
  }
});

t.test('every row of the formatting table, for hosts in every state', async (t) => {
  for (const [state, S] of [[0, 'UP'], [1, 'DOWN'], [2, 'UNREACHABLE']] as const) {
    t.same(formatNotification(host(state, 'ACKNOWLEDGEMENT')), { title: `Acknowledgement for web-01 (${S})`, message: 'alice: on it', icon: '' });
    t.same(formatNotification(host(state, 'DOWNTIMESTART')), { title: 'Downtime start for web-01', message: 'Host has entered a period of scheduled downtime', icon: '' });
    t.same(formatNotification(host(state, 'DOWNTIMEEND')), { title: 'Downtime end for web-01', message: 'Host has exited a period of scheduled downtime', icon: '' });
    t.same(formatNotification(host(state, 'DOWNTIMECANCELLED')), { title: 'Downtime cancelled for web-01', message: 'Scheduled downtime for host has been cancelled', icon: '' });
    t.same(formatNotification(host(state, 'FLAPPINGSTART')), { title: 'Flapping start for web-01', message: 'Host appears to have started flapping', icon: '' });
    t.same(formatNotification(host(state, 'FLAPPINGSTOP')), { title: 'Flapping stop for web-01', message: 'Host appears to have stopped flapping', icon: '' });
    t.same(formatNotification(host(state, 'FLAPPINGDISABLED')), { title: 'Flapping disabled for web-01', message: 'Flapping has been disabled for the host', icon: '' });
    for (const type of ['PROBLEM', 'RECOVERY', 'CUSTOM']) {
      t.same(formatNotification(host(state, type)), {
        title: `${type}: web-01 is ${S}!`,
        message: base.output,
        icon: `/img/push_notifications/wh/HostPushIcon${S}.png`,
      });
    }
  }
});

t.test('every row of the formatting table, for services in every state', async (t) => {
  for (const [state, S] of [[0, 'OK'], [1, 'WARNING'], [2, 'CRITICAL'], [3, 'UNKNOWN']] as const) {
    const obj = 'web-01/HTTP';
    t.same(formatNotification(service(state, 'ACKNOWLEDGEMENT')), { title: `Acknowledgement for ${obj} (${S})`, message: 'alice: on it', icon: '' });
    t.same(formatNotification(service(state, 'DOWNTIMESTART')), { title: `Downtime start for ${obj}`, message: 'Service has entered a period of scheduled downtime', icon: '' });
    t.same(formatNotification(service(state, 'DOWNTIMEEND')), { title: `Downtime end for ${obj}`, message: 'Service has exited a period of scheduled downtime', icon: '' });
    t.same(formatNotification(service(state, 'DOWNTIMECANCELLED')), { title: `Downtime cancelled for ${obj}`, message: 'Scheduled downtime for service has been cancelled', icon: '' });
    t.same(formatNotification(service(state, 'FLAPPINGSTART')), { title: `Flapping start for ${obj}`, message: 'Service appears to have started flapping', icon: '' });
    t.same(formatNotification(service(state, 'FLAPPINGSTOP')), { title: `Flapping stop for ${obj}`, message: 'Service appears to have stopped flapping', icon: '' });
    t.same(formatNotification(service(state, 'FLAPPINGDISABLED')), { title: `Flapping disabled for ${obj}`, message: 'Flapping has been disabled for the service', icon: '' });
    for (const type of ['PROBLEM', 'RECOVERY', 'CUSTOM']) {
      t.same(formatNotification(service(state, type)), {
        title: `${type}: ${obj} is ${S}!`,
        message: base.output,
        icon: `/img/push_notifications/wh/ServicePushIcon${S}.png`,
      });
    }
  }
});

t.test('the /message body: type is case-insensitive, missing strings default to empty', async (t) => {
  const r = MessageBody.parse({ timestamp: 1, userId: 3, type: 'SERVICE' });
  t.same(r, {
    timestamp: 1, userId: 3, type: 'service', hostUuid: '', serviceUuid: '', icon: '', state: 0,
    notificationtype: '', output: '', ackauthor: '', ackcomment: '',
  });
  t.notOk(MessageBody.safeParse({ timestamp: 1, userId: 3, type: 'router' }).success, 'unknown type is rejected');
  t.notOk(MessageBody.safeParse({ timestamp: 1, userId: 1.5, type: 'host' }).success, 'fractional userId is rejected');
});
