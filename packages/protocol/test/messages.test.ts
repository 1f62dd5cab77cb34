import fc from 'fast-check';
import t from 'tap';
import { MessageBody, parseMessageBody } from '../src/messages.js';

// parseMessageBody's fast path must agree with zod on every input: same verdict, same parsed body.
const field = fc.oneof(fc.string(), fc.integer(), fc.double(), fc.boolean(), fc.constant(null), fc.constant(undefined), fc.constantFrom('host', 'SERVICE', 'Host', 'router'));
const body = fc.record({
  timestamp: fc.oneof(fc.integer(), fc.double({ noNaN: true }), field),
  userId: fc.oneof(fc.integer(), fc.constant(2 ** 53), fc.double({ noNaN: true }), field),
  type: fc.oneof(fc.constantFrom('host', 'service', 'HOST', 'Service', 'hostx', ''), field),
  hostUuid: field, serviceUuid: field, icon: field, state: fc.oneof(fc.integer(), field),
  notificationtype: field, output: field, ackauthor: field, ackcomment: field, extra: field,
}, { requiredKeys: [] });

t.test('parseMessageBody agrees with MessageBody.safeParse', (t) => {
  fc.assert(fc.property(fc.oneof(body, field, fc.array(field)), (input) => {
    const fast = parseMessageBody(input);
    const slow = MessageBody.safeParse(input);
    if (fast.success !== slow.success) return false;
    if (fast.success && slow.success) t.same(fast.data, slow.data);
    else if (!fast.success && !slow.success) t.same(fast.error.issues, slow.error.issues);
    return true;
  }), { numRuns: 2000 });
  t.end();
});

t.test('parseMessageBody: the sender\'s usual body takes the fast path and gets the defaults', (t) => {
  const r = parseMessageBody({ timestamp: 1, userId: 3, type: 'SERVICE', output: 'x', unknown: 1 });
  t.same(r, { success: true, data: { timestamp: 1, userId: 3, type: 'service', hostUuid: '', serviceUuid: '', icon: '', state: 0, notificationtype: '', output: 'x', ackauthor: '', ackcomment: '' } });
  t.end();
});
