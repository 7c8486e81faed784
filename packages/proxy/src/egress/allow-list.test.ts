/**
 * Address classes and allow-list matching, as pure functions: no test here opens a connection or resolves a
 * name (the network rule: refusals of private and metadata addresses are shown on decisions, not packets).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { classifyAddress } from './address-policy.js';
import {
  addressAllowed,
  checkTaskAllowHosts,
  DEFAULT_EGRESS_ALLOW,
  hostAllowed,
  parseAllowList,
  parseConnectTarget,
  withTaskHosts,
} from './allow-list.js';

const octet = fc.integer({ min: 0, max: 255 });
const v4 = (a: number, b: number, c: number, d: number) => `${a}.${b}.${c}.${d}`;
/** An IPv4 address inside a.b.0.0/prefix given the fixed leading bits. */
const inV4 = (first: number, secondMin: number, secondMax: number) =>
  fc.tuple(fc.integer({ min: secondMin, max: secondMax }), octet, octet).map(([b, c, d]) => v4(first, b, c, d));
const hextet = fc.integer({ min: 0, max: 0xffff }).map((n) => n.toString(16));
const v6Tail = fc.array(hextet, { minLength: 7, maxLength: 7 }).map((parts) => parts.join(':'));

const defaults = parseAllowList(DEFAULT_EGRESS_ALLOW).list;
const anyHost = parseAllowList(['*']).list;

describe('classifyAddress', () => {
  it('classes the well-known ranges, IPv4 and IPv6', () => {
    const cases: [string, string][] = [
      ['8.8.8.8', 'public'],
      ['140.82.112.3', 'public'],
      ['2606:4700::1111', 'public'],
      ['127.0.0.1', 'loopback'],
      ['127.255.0.9', 'loopback'],
      ['::1', 'loopback'],
      ['10.0.0.1', 'private'],
      ['172.16.0.1', 'private'],
      ['172.31.255.255', 'private'],
      ['192.168.1.1', 'private'],
      ['fd12:3456::1', 'private'],
      ['fc00::1', 'private'],
      ['169.254.1.1', 'link-local'],
      ['fe80::1', 'link-local'],
      ['febf::1', 'link-local'],
      ['100.64.0.1', 'cgnat'],
      ['100.127.255.254', 'cgnat'],
      ['169.254.169.254', 'metadata'],
      ['169.254.170.2', 'metadata'],
      ['fd00:ec2::254', 'metadata'],
      ['::ffff:169.254.169.254', 'metadata'],
      ['0.0.0.0', 'unspecified'],
      ['::', 'unspecified'],
      ['224.0.0.1', 'multicast'],
      ['255.255.255.255', 'multicast'],
      ['ff02::1', 'multicast'],
      ['192.0.2.1', 'reserved'],
      ['240.0.0.1', 'reserved'],
      ['2001:db8::1', 'reserved'],
      // IPv6 forms that lead to an IPv4 address elsewhere are never taken as public.
      ['64:ff9b::7f00:1', 'reserved'],
      ['2002:7f00:1::', 'reserved'],
      ['2001::1', 'reserved'],
      ['::7f00:1', 'reserved'],
      ['::ffff:127.0.0.1', 'loopback'],
      ['::ffff:7f00:1', 'loopback'],
      ['::ffff:10.0.0.1', 'private'],
      ['172.32.0.1', 'public'],
      ['100.128.0.1', 'public'],
    ];
    for (const [address, cls] of cases) expect([address, classifyAddress(address)]).toEqual([address, cls]);
    for (const notIp of ['localhost', '127.1', '2130706433', '0x7f.0.0.1', '1.2.3.4.5', '', '[::1]']) {
      expect(classifyAddress(notIp)).toBeNull();
    }
  });

  it('classes every address of each refused IPv4 range, and never as public', () => {
    const ranges: [fc.Arbitrary<string>, string][] = [
      [fc.tuple(octet, octet, octet).map(([b, c, d]) => v4(127, b, c, d)), 'loopback'],
      [fc.tuple(octet, octet, octet).map(([b, c, d]) => v4(10, b, c, d)), 'private'],
      [inV4(172, 16, 31), 'private'],
      [inV4(192, 168, 168), 'private'],
      [inV4(100, 64, 127), 'cgnat'],
    ];
    for (const [arb, cls] of ranges) {
      fc.assert(fc.property(arb, (a) => classifyAddress(a) === cls));
    }
    fc.assert(fc.property(inV4(169, 254, 254), (a) => ['link-local', 'metadata'].includes(classifyAddress(a) ?? '')));
  });

  it('classes an IPv4-mapped IPv6 address exactly as the IPv4 address', () => {
    fc.assert(
      fc.property(octet, octet, octet, octet, (a, b, c, d) => {
        const plain = v4(a, b, c, d);
        return classifyAddress(`::ffff:${plain}`) === classifyAddress(plain);
      }),
    );
  });

  it('classes IPv6 link-local and unique-local ranges', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0xfe80, max: 0xfebf }), v6Tail, (first, tail) => {
        return classifyAddress(`${first.toString(16)}:${tail}`) === 'link-local';
      }),
    );
    fc.assert(
      fc.property(fc.integer({ min: 0xfc00, max: 0xfdff }), v6Tail, (first, tail) => {
        return ['private', 'metadata'].includes(classifyAddress(`${first.toString(16)}:${tail}`) ?? '');
      }),
    );
  });
});

describe('the allow-list', () => {
  it('parses names, patterns, addresses, ranges and ports, and names each bad entry', () => {
    const { list, errors } = parseAllowList([
      'github.com',
      '*.githubusercontent.com',
      'Example.ORG.',
      '127.0.0.1:8080',
      '[::1]:9000',
      'fd00::1',
      '10.0.0.0/8',
      '[fd00::]/8:443',
      '*',
      '*:8443',
      ' ',
      'bad host',
      'x.com:0',
      'x.com:99999',
      '10.0.0.0/99',
      'nothost/8',
      '*.',
      '-bad.com',
    ]);
    expect(list.entries.map((e) => e.kind)).toEqual([
      'host',
      'subdomains',
      'host',
      'addresses',
      'addresses',
      'addresses',
      'addresses',
      'addresses',
      'any',
      'any',
    ]);
    expect(errors).toHaveLength(7);
    expect(errors[0]).toContain('"bad host"');
  });

  it('matches hosts exactly, case and trailing dot aside; a pattern matches subdomains only', () => {
    expect(hostAllowed(defaults, 'github.com', 443)).toBe(true);
    expect(hostAllowed(defaults, 'GitHub.COM.', 443)).toBe(true);
    expect(hostAllowed(defaults, 'objects.githubusercontent.com', 443)).toBe(true);
    expect(hostAllowed(defaults, 'a.b.githubusercontent.com', 80)).toBe(true);
    expect(hostAllowed(defaults, 'githubusercontent.com', 443)).toBe(false);
    expect(hostAllowed(defaults, 'registry.npmjs.org', 443)).toBe(true);
    expect(hostAllowed(defaults, 'files.pythonhosted.org', 443)).toBe(true);
    for (const evil of ['evilgithub.com', 'github.com.evil.com', 'xgithubusercontent.com', 'example.com', '']) {
      expect([evil, hostAllowed(defaults, evil, 443)]).toEqual([evil, false]);
    }
    // Ports: 80 and 443 unless the entry names one.
    expect(hostAllowed(defaults, 'github.com', 22)).toBe(false);
    const withPort = parseAllowList(['git.example.com:8443']).list;
    expect(hostAllowed(withPort, 'git.example.com', 8443)).toBe(true);
    expect(hostAllowed(withPort, 'git.example.com', 443)).toBe(false);
  });

  it('never lets a pattern match a host that does not end with "." + its suffix (property)', () => {
    const label = fc.stringMatching(/^[a-z0-9]([a-z0-9-]{0,10}[a-z0-9])?$/);
    fc.assert(
      fc.property(
        fc.array(label, { minLength: 1, maxLength: 3 }),
        fc.array(label, { minLength: 1, maxLength: 3 }),
        (s, h) => {
          const suffix = s.join('.');
          const host = h.join('.');
          const list = parseAllowList([`*.${suffix}`]).list;
          return hostAllowed(list, host, 443) === host.endsWith(`.${suffix}`);
        },
      ),
    );
  });

  it('lets only public addresses through unless an address entry names them (property)', () => {
    const anyV4 = fc.tuple(octet, octet, octet, octet).map(([a, b, c, d]) => v4(a, b, c, d));
    fc.assert(
      fc.property(anyV4, fc.constantFrom(80, 443), (address, port) => {
        const ok = addressAllowed(anyHost, address, port).ok;
        return ok === (classifyAddress(address) === 'public') && addressAllowed(defaults, address, port).ok === ok;
      }),
    );
    // An IP literal host is never matched by a name entry, only by `*` or an address entry.
    expect(hostAllowed(defaults, '140.82.112.3', 443)).toBe(false);
    expect(hostAllowed(anyHost, '140.82.112.3', 443)).toBe(true);
  });

  it('opens a non-public address only where an entry names it, on its port', () => {
    const list = parseAllowList(['127.0.0.1:8080', '10.1.0.0/16']).list;
    expect(hostAllowed(list, '127.0.0.1', 8080)).toBe(true);
    expect(addressAllowed(list, '127.0.0.1', 8080)).toEqual({ ok: true });
    expect(addressAllowed(list, '127.0.0.1', 8081)).toEqual({ ok: false, class: 'loopback' });
    expect(addressAllowed(list, '127.0.0.2', 8080)).toEqual({ ok: false, class: 'loopback' });
    expect(addressAllowed(list, '::ffff:127.0.0.1', 8080)).toEqual({ ok: true });
    expect(addressAllowed(list, '10.1.200.3', 443)).toEqual({ ok: true });
    expect(addressAllowed(list, '10.2.0.1', 443)).toEqual({ ok: false, class: 'private' });
    expect(addressAllowed(list, '169.254.169.254', 80)).toEqual({ ok: false, class: 'metadata' });
    expect(addressAllowed(anyHost, 'fd00:ec2::254', 80)).toEqual({ ok: false, class: 'metadata' });
    expect(addressAllowed(anyHost, 'not-an-ip', 80)).toEqual({ ok: false, class: 'invalid' });
  });
});

describe('parseConnectTarget', () => {
  it('takes host:port, [v6]:port and IPv4 literals; refuses anything else', () => {
    expect(parseConnectTarget('github.com:443')).toEqual({ host: 'github.com', port: 443 });
    expect(parseConnectTarget('GitHub.com.:443')).toEqual({ host: 'github.com', port: 443 });
    expect(parseConnectTarget('127.0.0.1:8080')).toEqual({ host: '127.0.0.1', port: 8080 });
    expect(parseConnectTarget('[::1]:22')).toEqual({ host: '::1', port: 22 });
    for (const bad of [
      'github.com',
      'github.com:',
      'github.com:0',
      'github.com:65536',
      ':443',
      'a b:443',
      '/x:1',
      'x.com:44a',
    ]) {
      expect([bad, parseConnectTarget(bad)]).toEqual([bad, null]);
    }
  });
});

describe("a task's own allowed hosts", () => {
  it('takes host names and *.patterns with ports, trimmed', () => {
    expect(checkTaskAllowHosts([' example.com ', '*.example.org', 'git.example.net:8443', ''])).toEqual([
      'example.com',
      '*.example.org',
      'git.example.net:8443',
    ]);
  });

  it('refuses addresses, ranges, * and junk, naming each, so a user cannot open private networks', () => {
    for (const bad of [
      '10.0.0.0/8',
      '127.0.0.1',
      '169.254.169.254:80',
      '[::1]',
      '*',
      '*:22',
      'not a host',
      'a.com:99999',
    ]) {
      expect(() => checkTaskAllowHosts(['example.com', bad]), bad).toThrow(
        expect.objectContaining({ code: 'BAD_REQUEST', message: expect.stringContaining(`"${bad}"`) }),
      );
    }
  });

  it('adds only names and patterns to the server list', () => {
    const server = parseAllowList(['github.com']).list;
    const merged = withTaskHosts(server, ['example.com', '*.example.org']);
    expect(hostAllowed(merged, 'example.com', 443)).toBe(true);
    expect(hostAllowed(merged, 'a.example.org', 80)).toBe(true);
    expect(hostAllowed(merged, 'github.com', 443)).toBe(true);
    expect(hostAllowed(server, 'example.com', 443)).toBe(false);
    expect(withTaskHosts(server, [])).toBe(server);
  });
});
