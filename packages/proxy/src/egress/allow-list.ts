import net from 'node:net';
import { AppError } from '@rclaude/protocol';
import ipaddr from 'ipaddr.js';
import { type AddressClass, classifyAddress } from './address-policy.js';

/**
 * Hosts sandboxes reach by default: source hosting and package registries developers need. Each entry allows
 * ports 80 and 443. `RCLAUDE_EGRESS_ALLOW` adds to it; `RCLAUDE_EGRESS_DEFAULT_ALLOW=false` drops it.
 */
export const DEFAULT_EGRESS_ALLOW: readonly string[] = [
  'github.com',
  '*.github.com',
  '*.githubusercontent.com',
  'gitlab.com',
  '*.gitlab.com',
  'bitbucket.org',
  'registry.npmjs.org',
  'registry.yarnpkg.com',
  'pypi.org',
  'files.pythonhosted.org',
  'crates.io',
  'index.crates.io',
  'static.crates.io',
  'proxy.golang.org',
  'sum.golang.org',
  'rubygems.org',
  'repo.maven.apache.org',
  'repo1.maven.org',
];

/** Ports an entry without a port allows. */
const DEFAULT_PORTS = [80, 443];

/** One allow-list entry, parsed. `port` null: 80 and 443. */
export type AllowEntry =
  | { kind: 'any'; port: number | null }
  | { kind: 'host'; host: string; port: number | null }
  | { kind: 'subdomains'; suffix: string; port: number | null }
  | { kind: 'addresses'; range: [ipaddr.IPv4 | ipaddr.IPv6, number]; port: number | null };

export interface AllowList {
  entries: readonly AllowEntry[];
}

const LABEL = /^(?!-)[a-z0-9-]{1,63}(?<!-)$/;

/** A host name as compared: lower case, no trailing dot; null when it is not a valid DNS name. */
export function normalizeHostName(host: string): string | null {
  const name = host.toLowerCase().replace(/\.$/, '');
  if (name.length === 0 || name.length > 253) return null;
  return name.split('.').every((label) => LABEL.test(label)) ? name : null;
}

/** Splits `host:port`, `[v6]:port`, `host`, `[v6]` or a bare IPv6 literal. */
function splitHostPort(text: string): { host: string; port: string | null } {
  const bracketed = /^\[([^\]]+)\](?::(\d+))?$/.exec(text);
  if (bracketed) return { host: bracketed[1] ?? '', port: bracketed[2] ?? null };
  if (net.isIPv6(text)) return { host: text, port: null };
  const colon = text.lastIndexOf(':');
  return colon < 0 ? { host: text, port: null } : { host: text.slice(0, colon), port: text.slice(colon + 1) };
}

function parsePort(text: string | null): number | null | undefined {
  if (text === null) return null;
  if (!/^\d{1,5}$/.test(text)) return undefined;
  const port = Number(text);
  return port >= 1 && port <= 65535 ? port : undefined;
}

/**
 * Parses allow-list entries: `*` (any host, public addresses only), `example.com`, `*.example.com` (its
 * subdomains, not itself), an IP address or CIDR (`10.1.2.3`, `10.0.0.0/8`, `[fd00::1]`), each optionally with
 * `:port` (without, ports 80 and 443). Only IP and CIDR entries can open non-public addresses.
 */
export function parseAllowList(items: readonly string[]): { list: AllowList; errors: string[] } {
  const entries: AllowEntry[] = [];
  const errors: string[] = [];
  for (const raw of items) {
    const text = raw.trim();
    if (!text) continue;
    const cidr = /^(.+)\/(\d{1,3})(?::(\d+))?$/.exec(text);
    if (cidr) {
      const port = parsePort(cidr[3] ?? null);
      const base = (cidr[1] ?? '').replace(/^\[(.*)\]$/, '$1');
      try {
        if (port === undefined || net.isIP(base) === 0) throw new Error('bad');
        entries.push({ kind: 'addresses', range: ipaddr.parseCIDR(`${base}/${cidr[2]}`), port });
      } catch {
        errors.push(`"${text}" is not a valid CIDR range (e.g. 10.0.0.0/8 or 10.0.0.0/8:8080)`);
      }
      continue;
    }
    const { host, port: portText } = splitHostPort(text);
    const port = parsePort(portText);
    if (port === undefined) {
      errors.push(`"${text}" has an invalid port`);
      continue;
    }
    if (host === '*') {
      entries.push({ kind: 'any', port });
    } else if (net.isIP(host) !== 0) {
      const address = ipaddr.process(host);
      entries.push({ kind: 'addresses', range: [address, address.kind() === 'ipv4' ? 32 : 128], port });
    } else if (host.startsWith('*.')) {
      const suffix = normalizeHostName(host.slice(2));
      if (suffix) entries.push({ kind: 'subdomains', suffix, port });
      else errors.push(`"${text}" is not a valid host pattern`);
    } else {
      const name = normalizeHostName(host);
      if (name) entries.push({ kind: 'host', host: name, port });
      else errors.push(`"${text}" is not a valid host name, address or pattern`);
    }
  }
  return { list: { entries }, errors };
}

function portMatches(entry: AllowEntry, port: number): boolean {
  return entry.port === null ? DEFAULT_PORTS.includes(port) : entry.port === port;
}

function inRange(address: string, range: [ipaddr.IPv4 | ipaddr.IPv6, number]): boolean {
  const parsed = ipaddr.process(address);
  return parsed.kind() === range[0].kind() && parsed.match(range);
}

/**
 * Whether a connection to `host` (a DNS name, or an IP literal) on `port` may be attempted: a host or pattern
 * entry names it, or `*`, or (for an IP literal) an address entry holds it. Resolved addresses are checked
 * again with {@link addressAllowed}.
 */
export function hostAllowed(list: AllowList, host: string, port: number): boolean {
  const ip = net.isIP(host) !== 0;
  const name = ip ? null : normalizeHostName(host);
  if (!ip && name === null) return false;
  return list.entries.some((e) => {
    if (!portMatches(e, port)) return false;
    switch (e.kind) {
      case 'any':
        return true;
      case 'host':
        return name === e.host;
      case 'subdomains':
        return name?.endsWith(`.${e.suffix}`) === true;
      case 'addresses':
        return ip && inRange(host, e.range);
    }
    return false;
  });
}

/**
 * Whether a resolved `address` may be connected to on `port`: a public address always (the host was allowed
 * already); any other (loopback, private, link-local, CGNAT, metadata, reserved) only when an address entry of
 * the list holds it. The refusal names the class, for the person reading it.
 */
export function addressAllowed(
  list: AllowList,
  address: string,
  port: number,
): { ok: true } | { ok: false; class: AddressClass | 'invalid' } {
  const cls = classifyAddress(address);
  if (cls === null) return { ok: false, class: 'invalid' };
  if (cls === 'public') return { ok: true };
  const listed = list.entries.some((e) => e.kind === 'addresses' && portMatches(e, port) && inRange(address, e.range));
  return listed ? { ok: true } : { ok: false, class: cls };
}

/** Parses `host:port` of a CONNECT request; null when it is not one. */
export function parseConnectTarget(target: string): { host: string; port: number } | null {
  const { host, port: portText } = splitHostPort(target);
  const port = parsePort(portText);
  if (!host || port === null || port === undefined) return null;
  if (net.isIP(host) !== 0) return { host, port };
  const name = normalizeHostName(host);
  return name ? { host: name, port } : null;
}

/**
 * Why each of `items` may not be a user's or a task's addition to the allow-list (empty: all may). Host names
 * and `*.` patterns only, each with an optional port. Addresses, ranges and `*` stay an admin's
 * (RCLAUDE_EGRESS_ALLOW): a user must not open the server's private networks, and names still resolve to public
 * addresses only. `who` names the adder in the message ("a task", "your allow-list").
 */
export function allowHostErrors(items: readonly string[], who: string): string[] {
  const errors: string[] = [];
  for (const item of items) {
    const { list, errors: bad } = parseAllowList([item]);
    const kind = list.entries[0]?.kind;
    if (bad.length > 0) errors.push(...bad);
    else if (kind === 'addresses' || kind === 'any') {
      errors.push(
        `"${item}" opens ${kind === 'any' ? 'every host' : 'an address'}: ${who} may add host names or *.patterns only (an admin opens more with RCLAUDE_EGRESS_ALLOW)`,
      );
    }
  }
  return errors;
}

/**
 * A task's own additions to the allow-list (`rclaude run --allow-host`), checked when the task is created (see
 * {@link allowHostErrors}). Returns the entries as given (trimmed); refuses the request naming each bad entry.
 */
export function checkTaskAllowHosts(items: readonly string[]): string[] {
  const given = items.map((item) => item.trim()).filter((item) => item.length > 0);
  const errors = allowHostErrors(given, 'a task');
  if (errors.length > 0) {
    throw new AppError('BAD_REQUEST', `allowed hosts refused: ${errors.join('; ')}`, { details: { errors } });
  }
  return given;
}

/** The server's list with a task's additions (already checked by {@link checkTaskAllowHosts}). */
export function withTaskHosts(list: AllowList, taskHosts: readonly string[]): AllowList {
  if (taskHosts.length === 0) return list;
  const extra = parseAllowList(taskHosts).list.entries.filter((e) => e.kind === 'host' || e.kind === 'subdomains');
  return { entries: [...list.entries, ...extra] };
}
