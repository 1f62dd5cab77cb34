import * as wsModule from 'ws';

/** ws's frame builder (exported by ws, not declared in @types/ws). */
const Sender = (wsModule as unknown as {
  Sender: { frame(data: Buffer, options: { fin: boolean; opcode: number; mask: boolean; readOnly: boolean; rsv1: boolean }): Buffer[] };
}).Sender;

/**
 * A complete unmasked WebSocket text frame (header + payload in one Buffer),
 * built once and written as is to any number of sockets by
 * {@link Connection.sendWire}: a broadcast then costs one socket write per
 * connection instead of a ws `send` (options, header allocation, cork and a
 * two-buffer writev) per connection.
 */
export function wireFrame(payload: Buffer): Buffer {
  return Buffer.concat(Sender.frame(payload, { fin: true, opcode: 1, mask: false, readOnly: true, rsv1: false }));
}
