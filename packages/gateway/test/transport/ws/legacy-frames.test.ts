/**
 * The legacy frames byte for byte. Expected bytes follow PHP's json_encode
 * default flags, which openITCOCKPIT's PushNotificationsMessageInterface
 * uses (openITCOCKPIT/openITCOCKPIT@1cbd1ce171df76aadd9e22682c20aafc815056d3,
 * src/itnovum/openITCOCKPIT/WebSockets/PushNotificationsMessageInterface.php);
 * docs/protocol/openitcockpit-legacy.md section 2.
 */
import { envelope, ServerMessageType } from '@pushgate/protocol';
import t from 'tap';
import { wireFrame } from '../../../src/transport/ws/frame.js';
import {
  connectionFrame, KEEP_ALIVE_FRAME, notificationFrame, phpJson, testMessageFrame, toLegacy, unwire,
} from '../../../src/transport/ws/legacy-frames.js';
import { REPLAY_GAP } from '../../../src/pipeline/replay.js';

t.test('phpJson escapes slashes and every non-ASCII character as json_encode does, and writes {} as []', async (t) => {
  t.equal(phpJson({ icon: '/img/push_notifications/wh/HostPushIconDOWN.png' }), '{"icon":"\\/img\\/push_notifications\\/wh\\/HostPushIconDOWN.png"}');
  t.equal(phpJson('Größe ü €'), '"Gr\\u00f6\\u00dfe \\u00fc \\u20ac"');
  t.equal(phpJson('🔥'), '"\\ud83d\\udd25"', 'astral characters as a surrogate pair');
  t.equal(phpJson({ a: {}, b: [], c: { d: {} } }), '{"a":[],"b":[],"c":{"d":[]}}');
  t.equal(phpJson('tab\there "q" \\ \u0001'), '"tab\\there \\"q\\" \\\\ \\u0001"');
  t.equal(phpJson({ n: null, t: true, i: 7 }), '{"n":null,"t":true,"i":7}');
  t.same(JSON.parse(phpJson({ s: 'ä/€🔥', o: { x: [1, 'é'] } })), { s: 'ä/€🔥', o: { x: [1, 'é'] } }, 'what the browser parses is the value');
});

t.test('the greeting, the keep-alive answer and the test echo are the PHP server\'s bytes', async (t) => {
  const uuid = '3f1c1a52-5d1e-4c55-9a2d-3b9c7a0c2f10';
  t.equal(connectionFrame(uuid).toString(), `{"type":"connection","message":"Connection established successfully","data":{"uuid":"${uuid}"}}`);
  t.equal(KEEP_ALIVE_FRAME.toString(), '{"type":"keepAlive","message":"Pong","data":[]}');
  t.equal(
    testMessageFrame({ title: 'Test', message: 'This is a test message', icon: '/img/push_notifications/wh/ServicePushIconUNKNOWN.png' }).toString(),
    '{"type":"message","message":"This is a test message","data":{"title":"Test","message":"This is a test message","icon":"\\/img\\/push_notifications\\/wh\\/ServicePushIconUNKNOWN.png"}}',
  );
  t.equal(testMessageFrame(null).toString(), '{"type":"message","message":"This is a test message","data":null}');
});

t.test('a notification has the Gearman job\'s fields in order, "" and null for what is absent, and the replay id last', async (t) => {
  const host = notificationFrame('CRITICAL - host unreachable', {
    timestamp: 1763692800, userId: 7, title: 'PROBLEM: web-01 is DOWN!', message: 'CRITICAL - host unreachable', type: 'host',
    hostUuid: 'c36b8048-93ce-4385-ac19-ab5c90574b77', icon: '/img/push_notifications/wh/HostPushIconDOWN.png', id: 42,
  });
  t.equal(host.toString(), '{"type":"message","message":"CRITICAL - host unreachable","data":{"timestamp":1763692800,"userId":7,'
    + '"title":"PROBLEM: web-01 is DOWN!","message":"CRITICAL - host unreachable","type":"host","hostUuid":"c36b8048-93ce-4385-ac19-ab5c90574b77",'
    + '"serviceUuid":"","icon":"\\/img\\/push_notifications\\/wh\\/HostPushIconDOWN.png","id":42}}');
  const ack = notificationFrame('admin: on it', { timestamp: 1, userId: 7, title: 'Acknowledgement for web-01/HTTP (CRITICAL)', message: 'admin: on it', type: 'service', hostUuid: 'h', serviceUuid: 's' });
  t.equal(ack.toString(), '{"type":"message","message":"admin: on it","data":{"timestamp":1,"userId":7,"title":"Acknowledgement for web-01\\/HTTP (CRITICAL)",'
    + '"message":"admin: on it","type":"service","hostUuid":"h","serviceUuid":"s","icon":null}}');
});

t.test('toLegacy turns ProcessPushNotification and ReplayGap into legacy frames, drops the rest, and translates each Buffer once', async (t) => {
  const frame = Buffer.from(envelope(ServerMessageType.ProcessPushNotification, 'out', {
    timestamp: 5, userId: 3, title: 'T', message: 'out', type: 'host', hostUuid: 'h', id: 9,
  }));
  const legacy = toLegacy(frame);
  t.equal(legacy?.toString(), '{"type":"message","message":"out","data":{"timestamp":5,"userId":3,"title":"T","message":"out","type":"host","hostUuid":"h","serviceUuid":"","icon":null,"id":9}}');
  t.equal(toLegacy(frame), legacy, 'the same Buffer for the same frame');
  const gap = Buffer.from(envelope(REPLAY_GAP, 'Notifications after id 1 may be missing', { since: 1, oldest: null }));
  t.equal(toLegacy(gap)?.toString(), '{"type":"ReplayGap","message":"Notifications after id 1 may be missing","data":{"since":1,"oldest":null}}');
  t.equal(toLegacy(Buffer.from(envelope(ServerMessageType.ExportStatus, '', true))), undefined, 'ExportStatus: the legacy socket never carried it');
  t.equal(toLegacy(Buffer.from(envelope(ServerMessageType.KeepAlive, 'Pong', null))), undefined);
  t.equal(toLegacy(Buffer.from('{"type":"ProcessPushNotification",broken')), undefined, 'a broken frame is dropped, not thrown');
});

t.test('unwire returns the payload of a wireFrame for each header length', async (t) => {
  for (const size of [3, 125, 126, 300, 70_000]) {
    const payload = Buffer.alloc(size, 0x61);
    t.same(unwire(wireFrame(payload)), payload, `${size} bytes`);
  }
});
