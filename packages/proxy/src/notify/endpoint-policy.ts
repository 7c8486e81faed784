import net from 'node:net';
import { PUSH_ENDPOINT_MAX_CHARS } from '@rclaude/protocol';
import { type AddressClass, classifyAddress } from '../egress/address-policy.js';

/**
 * Where push messages may go. Endpoints come from browsers, so from anyone signed in: without these checks a
 * subscription would make the server send requests into its own network (SSRF). In production only https
 * endpoints whose every address is public; with `allowLoopback` (RCLAUDE_PUSH_ALLOW_LOOPBACK, for tests and
 * development) also http and https on loopback addresses. Never private, link-local or metadata addresses.
 */
export interface EndpointPolicy {
  allowLoopback: boolean;
}

/** Why an endpoint URL is refused, or null when it may be stored. Names are checked again, resolved, at send time. */
export function endpointRefusal(endpoint: string, policy: EndpointPolicy): string | null {
  if (endpoint.length > PUSH_ENDPOINT_MAX_CHARS) return 'the endpoint URL is too long';
  let url: URL;
  try {
    url = new URL(endpoint);
  } catch {
    return 'the endpoint is not a URL';
  }
  if (url.username || url.password) return 'the endpoint URL must not carry credentials';
  if (url.hash) return 'the endpoint URL must not have a fragment';
  const host = url.hostname.replace(/^\[|\]$/g, '');
  const literal = net.isIP(host) !== 0;
  const loopbackName = host === 'localhost' || host.endsWith('.localhost');
  const loopback = loopbackName || (literal && classifyAddress(host) === 'loopback');
  if (url.protocol === 'http:') {
    if (!(policy.allowLoopback && loopback)) return 'the endpoint must be an https URL';
  } else if (url.protocol !== 'https:') {
    return 'the endpoint must be an https URL';
  }
  if (loopback) return policy.allowLoopback ? null : 'the endpoint must be on a public address';
  if (literal) return addressRefusal(host, policy);
  if (!/^[a-z0-9.-]+$/i.test(host) || !host.includes('.')) return 'the endpoint host is not a public name';
  return null;
}

/** Why a connection to `address` (as resolved at send time) is refused, or null when it may go there. */
export function addressRefusal(address: string, policy: EndpointPolicy): string | null {
  const kind: AddressClass | null = classifyAddress(address);
  if (kind === 'public') return null;
  if (kind === 'loopback' && policy.allowLoopback) return null;
  return `the endpoint resolves to a ${kind ?? 'malformed'} address (${address})`;
}
