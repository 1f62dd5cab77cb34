import type { Notification } from '../../pipeline/notification.js';
import type { ReceiptMessage } from '../bus.js';

/**
 * The bus channel's messages: one ASCII header line, then a body.
 *
 * - `n <node>\n<notification JSON>`: a notification accepted on `<node>`.
 * - `x <node> <0|1>\n`: an export-status answer.
 * - `r <node>\n<receipt JSON>`: a device's receipt taken by `<node>`, for the
 *   node that owns the notification (receipts/receipts.ts).
 * - `s <node> <userId>\n<browserUuid>`: the browser now has a tab on `<node>`
 *   too (published by the browser script, scripts.ts); `l` when its last tab
 *   there closed.
 *
 * A kind this node does not know (a newer node's) decodes as `unknown` and
 * is ignored, not fatal.
 */
export type BusMessage =
  | { kind: 'notification'; node: string; n: Notification }
  | { kind: 'export-status'; node: string; running: boolean }
  | { kind: 'receipt'; node: string; r: ReceiptMessage }
  | { kind: 'join' | 'leave'; node: string; userId: number; browserUuid: string }
  | { kind: 'unknown'; node: string };

/** A notification message. */
export function encodeNotification(node: string, n: Notification): Buffer {
  return Buffer.from(`n ${node}\n${JSON.stringify(n)}`, 'utf8');
}

/** An export-status message. */
export function encodeExportStatus(node: string, running: boolean): Buffer {
  return Buffer.from(`x ${node} ${running ? 1 : 0}\n`, 'latin1');
}

/** A receipt message. */
export function encodeReceipt(node: string, r: ReceiptMessage): Buffer {
  return Buffer.from(`r ${node}\n${JSON.stringify(r)}`, 'utf8');
}

/** Decode one channel message; undefined when it is not one (no header line, or a body that does not parse). */
export function decode(message: Buffer): BusMessage | undefined {
  const nl = message.indexOf(10);
  if (nl === -1) return undefined;
  const header = message.toString('latin1', 0, nl).split(' ');
  const node = header[1] ?? '';
  switch (header[0]) {
    case 'n':
      try {
        return { kind: 'notification', node, n: JSON.parse(message.toString('utf8', nl + 1)) as Notification };
      } catch {
        return undefined;
      }
    case 'r':
      try {
        return { kind: 'receipt', node, r: JSON.parse(message.toString('utf8', nl + 1)) as ReceiptMessage };
      } catch {
        return undefined;
      }
    case 'x':
      return { kind: 'export-status', node, running: header[2] === '1' };
    case 's':
    case 'l':
      return { kind: header[0] === 's' ? 'join' : 'leave', node, userId: Number(header[2]), browserUuid: message.toString('utf8', nl + 1) };
    default:
      return { kind: 'unknown', node };
  }
}
