import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import { BlockList, isIP } from 'node:net';
import { isLoopback } from '../auth/loopback.js';

/**
 * Which push-service endpoints pushgate will POST to (docs/web-push.md
 * "Endpoint allow-list"): a forged subscription must not turn the gateway
 * into a request forwarder into its own network (SSRF). An endpoint must be
 * `https:`, without credentials, on a host of the allow-list: the big
 * browser push services by default, plus `webPush.allowHosts`. Loopback,
 * private, link-local and other non-public addresses are refused unless the
 * host is listed in `webPush.allowHosts` itself, both when the subscription
 * is stored (the name resolved then) and when each push connects (the
 * connection's own DNS answer, so a name that resolves to a public address
 * at subscription and a private one later, DNS rebinding, is refused too).
 */

/** The push services of the major browsers: Chrome/Edge-on-Android (FCM), Firefox, Safari, Edge (WNS). */
export const DEFAULT_PUSH_HOSTS: readonly string[] = Object.freeze([
  'fcm.googleapis.com',
  'updates.push.services.mozilla.com',
  'push.services.mozilla.com',
  '*.push.apple.com',
  '*.notify.windows.com',
]);

/** Not a public unicast address: RFC 6890 special-purpose blocks and IPv6 equivalents. */
const NON_PUBLIC = new BlockList();
for (const [net, prefix] of [
  ['0.0.0.0', 8], ['10.0.0.0', 8], ['100.64.0.0', 10], ['127.0.0.0', 8], ['169.254.0.0', 16], ['172.16.0.0', 12],
  ['192.0.0.0', 24], ['192.0.2.0', 24], ['192.88.99.0', 24], ['192.168.0.0', 16], ['198.18.0.0', 15], ['198.51.100.0', 24],
  ['203.0.113.0', 24], ['224.0.0.0', 4], ['240.0.0.0', 4],
] as const) NON_PUBLIC.addSubnet(net, prefix, 'ipv4');
for (const [net, prefix] of [
  ['::', 128], ['::1', 128], ['fc00::', 7], ['fe80::', 10], ['fec0::', 10], ['ff00::', 8], ['2001:db8::', 32], ['100::', 64],
] as const) NON_PUBLIC.addSubnet(net, prefix, 'ipv6');

/** The IPv4 address inside an IPv4-mapped (`::ffff:a.b.c.d`) or NAT64 (`64:ff9b::a.b.c.d`) IPv6 address. */
function embeddedV4(address: string): string | undefined {
  const m = /^(?:::ffff:|64:ff9b::)(?:0:)?(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (m) return m[1];
  const hex = /^(?:::ffff:|64:ff9b::)([0-9a-f]{1,4}):([0-9a-f]{1,4})$/i.exec(address);
  if (!hex) return undefined;
  const hi = Number.parseInt(hex[1]!, 16);
  const lo = Number.parseInt(hex[2]!, 16);
  return `${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`;
}

/** True for loopback, private, link-local, multicast, documentation and other non-public addresses. */
export function isNonPublicAddress(address: string): boolean {
  if (isLoopback(address)) return true;
  const bare = address.includes('%') ? address.slice(0, address.indexOf('%')) : address;
  const family = isIP(bare);
  if (family === 4) return NON_PUBLIC.check(bare, 'ipv4');
  if (family !== 6) return true;
  const v4 = embeddedV4(bare.toLowerCase());
  if (v4 !== undefined) return NON_PUBLIC.check(v4, 'ipv4');
  return NON_PUBLIC.check(bare, 'ipv6');
}

/** Why an endpoint is refused (for the client's 400 and the log), or undefined. */
export type EndpointRefusal = string | undefined;

/** The allow-list, with the configured hosts (which may be private) apart from the defaults. */
export class EndpointPolicy {
  readonly #defaults: readonly string[];
  readonly #listed: readonly string[];

  /** @param allowHosts `webPush.allowHosts`: exact host names or IP addresses, or `*.suffix`. */
  constructor(allowHosts: readonly string[], defaults: readonly string[] = DEFAULT_PUSH_HOSTS) {
    this.#defaults = defaults.map((h) => h.toLowerCase());
    this.#listed = allowHosts.map((h) => h.toLowerCase().replace(/^\[(.*)\]$/, '$1'));
  }

  /** True when `host` is named in `webPush.allowHosts` (then private addresses are accepted for it). */
  listed(host: string): boolean {
    return matchAny(this.#listed, bareHost(host));
  }

  /** The syntactic check of an endpoint URL: scheme, credentials, host on the list; the reason when refused. */
  check(endpoint: string): EndpointRefusal {
    let u: URL;
    try {
      u = new URL(endpoint);
    } catch {
      return 'endpoint is not a URL';
    }
    if (u.protocol !== 'https:') return 'endpoint must be an https: URL';
    if (u.username !== '' || u.password !== '') return 'endpoint must not carry credentials';
    const host = bareHost(u.hostname);
    if (this.listed(host)) return undefined;
    if (!matchAny(this.#defaults, host)) return `endpoint host ${host} is not on the push service allow-list (webPush.allowHosts)`;
    if (isIP(host) !== 0 && isNonPublicAddress(host)) return `endpoint host ${host} is not a public address`;
    if (u.port !== '' && u.port !== '443') return `endpoint port ${u.port} is not allowed for ${host} (only 443 unless listed in webPush.allowHosts)`;
    return undefined;
  }

  /** {@link check}, then the name resolved: refused when any address is not public (unless the host is listed). */
  async checkResolved(endpoint: string): Promise<EndpointRefusal> {
    const refusal = this.check(endpoint);
    if (refusal !== undefined) return refusal;
    const host = bareHost(new URL(endpoint).hostname);
    if (this.listed(host)) return undefined;
    let addresses: LookupAddress[];
    try {
      addresses = await new Promise((resolve, reject) => dnsLookup(host, { all: true }, (err, a) => (err ? reject(err) : resolve(a))));
    } catch (err) {
      return `endpoint host ${host} does not resolve: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`;
    }
    const bad = addresses.find((a) => isNonPublicAddress(a.address));
    return bad === undefined ? undefined : `endpoint host ${host} resolves to the non-public address ${bad.address}`;
  }

  /**
   * A `lookup` for the push connections (net.connect's option): resolves as
   * usual and fails with `EWEBPUSHPRIVATE` when the host is not listed and an
   * answer is not public, so the check applies to the address actually dialled.
   */
  readonly lookup = (hostname: string, options: object, callback: (err: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void): void => {
    const listed = this.listed(hostname);
    dnsLookup(hostname, { ...options, all: true }, (err, addresses) => {
      if (err) return callback(err, []);
      if (!listed) {
        const bad = addresses.find((a) => isNonPublicAddress(a.address));
        if (bad !== undefined) {
          const e: NodeJS.ErrnoException = new Error(`push service host ${hostname} resolves to the non-public address ${bad.address} (not in webPush.allowHosts)`);
          e.code = 'EWEBPUSHPRIVATE';
          return callback(e, []);
        }
      }
      if ((options as { all?: boolean }).all) return callback(null, addresses);
      const first = addresses[0]!;
      callback(null, first.address, first.family);
    });
  };
}

function bareHost(host: string): string {
  return host.toLowerCase().replace(/^\[(.*)\]$/, '$1').replace(/\.$/, '');
}

function matchAny(patterns: readonly string[], host: string): boolean {
  for (const p of patterns) {
    if (p.startsWith('*.') ? host.endsWith(p.slice(1)) && host.length > p.length - 1 : host === p) return true;
  }
  return false;
}
