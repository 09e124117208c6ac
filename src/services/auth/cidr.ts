/** CIDR allow-lists (ipaddr.js): parsing with field errors, and matching a client address. */
import ipaddr from 'ipaddr.js';

/** Normalised ranges, or the index and reason of the first bad one. */
export function parseCidrs(values: string[]): { ok: true; cidrs: string[] } | { ok: false; index: number; message: string } {
  const cidrs: string[] = [];
  for (const [index, raw] of values.entries()) {
    const value = raw.trim();
    try {
      let [addr, bits] = value.includes('/') ? ipaddr.parseCIDR(value) : [ipaddr.parse(value), ipaddr.parse(value).kind() === 'ipv4' ? 32 : 128];
      // An IPv4-mapped IPv6 range (::ffff:a.b.c.d/n) is stored as the IPv4 range it means, the form client addresses are compared in.
      if (addr.kind() === 'ipv6' && (addr as ipaddr.IPv6).isIPv4MappedAddress() && bits >= 96) {
        [addr, bits] = [(addr as ipaddr.IPv6).toIPv4Address(), bits - 96];
      }
      cidrs.push(`${addr.toString()}/${bits}`);
    } catch {
      return { ok: false, index, message: 'must be an IP range in CIDR notation, e.g. 203.0.113.0/24 or 2001:db8::/32' };
    }
  }
  return { ok: true, cidrs };
}

/** Whether `ip` lies in one of `cidrs` (IPv4-mapped IPv6 addresses count as IPv4). */
export function ipAllowed(ip: string | null | undefined, cidrs: readonly string[]): boolean {
  if (cidrs.length === 0) return true;
  if (!ip || !ipaddr.isValid(ip)) return false;
  let addr = ipaddr.parse(ip);
  if (addr.kind() === 'ipv6' && (addr as ipaddr.IPv6).isIPv4MappedAddress()) addr = (addr as ipaddr.IPv6).toIPv4Address();
  return cidrs.some((cidr) => {
    const range = ipaddr.parseCIDR(cidr);
    return range[0].kind() === addr.kind() && addr.match(range);
  });
}
