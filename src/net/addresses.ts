/**
 * Which addresses a URL given by a user (a webhook, a repository, a model endpoint) may reach:
 * public unicast only, unless an operator allows more. One judgement for every outbound caller,
 * made by ipaddr.js's range classification; IPv4-mapped IPv6 addresses are judged as IPv4.
 */
import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import ipaddr from 'ipaddr.js';

const RANGE_NAMES: Record<string, string> = {
  loopback: 'a loopback address',
  private: 'a private network address',
  uniqueLocal: 'a private network address',
  linkLocal: 'a link-local address',
  unspecified: 'the unspecified address',
  broadcast: 'a broadcast address',
  multicast: 'a multicast address',
  carrierGradeNat: 'a carrier-grade NAT address',
  reserved: 'a reserved address',
};
const GLOBAL_UNICAST_V6 = ipaddr.parseCIDR('2000::/3');
/** Cloud instance metadata services (AWS/GCP/Azure, AWS IPv6, Alibaba). */
const METADATA = new Set(['169.254.169.254', 'fd00:ec2::254', '100.100.100.200']);

/** The address as ipaddr.js parses it, IPv4-mapped IPv6 unwrapped; null when it is not an IP address. */
export function parseAddress(address: string): ipaddr.IPv4 | ipaddr.IPv6 | null {
  if (!ipaddr.isValid(address)) return null;
  return ipaddr.process(address);
}

/** Why `address` is not a public address ("… is a loopback address"), or null when it is public unicast. */
export function nonPublicReason(address: string): string | null {
  const ip = parseAddress(address);
  if (!ip) return `${address} is not an IP address`;
  if (METADATA.has(ip.toString())) return `${address} is a cloud metadata address`;
  const range = ip.range();
  // IPv6: only global unicast (2000::/3) counts; ipaddr calls IPv4-compatible forms like ::7f00:1 unicast too.
  if (range === 'unicast' && ip.kind() === 'ipv6' && !ip.match(GLOBAL_UNICAST_V6)) return `${address} is not a global unicast IPv6 address`;
  if (range === 'unicast') return null;
  return `${address} is ${RANGE_NAMES[range] ?? `a special-purpose address (${range})`}`;
}

export const isPublicAddress = (address: string): boolean => nonPublicReason(address) === null;

/** Whether `address` lies in one of `cidrs` (an operator's allowance, e.g. 10.20.0.0/16). */
export function inRanges(address: string, cidrs: readonly string[]): boolean {
  const ip = parseAddress(address);
  if (!ip) return false;
  return cidrs.some((c) => {
    const [net, bits] = ipaddr.parseCIDR(c);
    return net.kind() === ip.kind() && ip.match(net, bits);
  });
}

/**
 * The one answer for a host that may not be reached, as a field message. It is the same whether
 * the name does not resolve, resolves to an internal address or is one, so answers cannot be used
 * to map how internal names resolve.
 */
export const HOST_NOT_ALLOWED = 'must name a host that resolves to public addresses only';

/** A host refused by `resolveAllowedHost`; its message is HOST_NOT_ALLOWED whatever the reason. */
export class HostNotAllowedError extends Error {
  constructor() {
    super(HOST_NOT_ALLOWED);
  }
}

/**
 * Resolves `host` (a name, or an address with or without brackets) and returns its addresses when
 * `allowed` accepts every one (public unicast by default); else throws HostNotAllowedError.
 */
export async function resolveAllowedHost(host: string, allowed: (address: string) => boolean = isPublicAddress): Promise<Array<{ address: string; family: number }>> {
  const bare = host.replace(/^\[|\]$/g, '');
  const family = isIP(bare);
  const addresses = family ? [{ address: bare, family }] : await lookup(bare, { all: true, verbatim: true }).catch(() => []);
  if (!addresses.length || !addresses.every((a) => allowed(a.address))) throw new HostNotAllowedError();
  return addresses;
}
