import { isIPv4, isIPv6 } from 'node:net';

/**
 * True for a loopback peer address: IPv4 127.0.0.0/8 (RFC 1122 §3.2.1.3),
 * IPv6 ::1 (RFC 4291 §2.5.3), and either written as IPv6 the way a
 * dual-stack socket reports it: IPv4-mapped (`::ffff:127.0.0.2`,
 * `::ffff:7f00:1`, RFC 4291 §2.5.5.2), in any valid spelling
 * (`0:0:0:0:0:0:0:1`, upper case, a `%zone`). Anything else, including
 * undefined, malformed text and IPv4-compatible `::127.0.0.1` (deprecated,
 * not loopback), is false.
 *
 * Who may post `/message` without a key (`message.allowUnauthenticatedLoopback`),
 * see `/status`, and get the demo page with its key asks this one function.
 */
export function isLoopback(address: string | undefined): boolean {
  if (address === undefined) return false;
  if (isIPv4(address)) return address.startsWith('127.');
  const bare = address.includes('%') ? address.slice(0, address.indexOf('%')) : address;
  if (!isIPv6(bare)) return false;
  const groups = ipv6Groups(bare);
  if (groups === undefined) return false;
  // ::1
  if (groups.slice(0, 7).every((g) => g === 0) && groups[7] === 1) return true;
  // ::ffff:a.b.c.d with a = 127
  return groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff && groups[6]! >> 8 === 127;
}

/** The eight 16-bit groups of an address `isIPv6` accepted (a trailing dotted IPv4 part counts as two). */
function ipv6Groups(address: string): number[] | undefined {
  let text = address.toLowerCase();
  const lastColon = text.lastIndexOf(':');
  const v4 = text.slice(lastColon + 1);
  if (v4.includes('.')) {
    if (!isIPv4(v4)) return undefined;
    const [a, b, c, d] = v4.split('.').map(Number) as [number, number, number, number];
    text = `${text.slice(0, lastColon + 1)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const halves = text.split('::');
  if (halves.length > 2) return undefined;
  const parse = (part: string): number[] => (part === '' ? [] : part.split(':').map((h) => Number.parseInt(h, 16)));
  const head = parse(halves[0]!);
  const tail = halves.length === 2 ? parse(halves[1]!) : [];
  const fill = 8 - head.length - tail.length;
  if (fill < 0 || (halves.length === 1 && fill !== 0)) return undefined;
  return [...head, ...new Array<number>(fill).fill(0), ...tail];
}
