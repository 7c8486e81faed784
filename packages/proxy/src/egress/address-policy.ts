import net from 'node:net';
import ipaddr from 'ipaddr.js';

/**
 * What kind of address a connection would go to. Only `public` is reachable from a sandbox unless the
 * allow-list names the address itself (an IP or CIDR entry).
 */
export type AddressClass =
  | 'public'
  | 'loopback'
  | 'private'
  | 'link-local'
  | 'cgnat'
  | 'metadata'
  | 'unspecified'
  | 'multicast'
  | 'reserved';

/** Cloud instance and task metadata services: credentials live there. */
const METADATA = new Set([
  '169.254.169.254', // AWS, GCP, Azure, OpenStack instance metadata
  '169.254.170.2', // ECS task metadata and credentials
  '169.254.169.123', // AWS time sync
  '100.100.100.200', // Alibaba Cloud metadata
  'fd00:ec2::254', // AWS instance metadata over IPv6
]);

/**
 * The class of an IP address (IPv4, IPv6, or IPv4 mapped into IPv6, which counts as the IPv4 address); null for
 * anything that is not a plain IP literal. IPv6 forms that embed or translate to an IPv4 address (NAT64, 6to4,
 * Teredo, IPv4-compatible `::a.b.c.d`) are `reserved`: where they lead cannot be checked here.
 */
export function classifyAddress(address: string): AddressClass | null {
  if (net.isIP(address) === 0) return null;
  const parsed = ipaddr.process(address);
  const normal = parsed.toNormalizedString();
  if (METADATA.has(normal) || METADATA.has(parsed.toString())) return 'metadata';
  if (parsed.kind() === 'ipv6' && (parsed as ipaddr.IPv6).parts.slice(0, 6).every((p) => p === 0)) {
    return parsed.range() === 'loopback' ? 'loopback' : parsed.range() === 'unspecified' ? 'unspecified' : 'reserved';
  }
  switch (parsed.range()) {
    case 'unicast':
      return 'public';
    case 'loopback':
      return 'loopback';
    case 'private':
    case 'uniqueLocal':
      return 'private';
    case 'linkLocal':
      return 'link-local';
    case 'carrierGradeNat':
      return 'cgnat';
    case 'unspecified':
      return 'unspecified';
    case 'multicast':
    case 'broadcast':
      return 'multicast';
    default:
      return 'reserved';
  }
}

/** The canonical text of an IP literal (IPv4-mapped IPv6 as IPv4), for comparisons and messages. */
export function canonicalAddress(address: string): string {
  return ipaddr.process(address).toString();
}
