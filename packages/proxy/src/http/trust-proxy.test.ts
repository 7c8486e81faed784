/**
 * Who the client is: RCLAUDE_TRUST_PROXY as the configuration reads it, and the sign-in limiter of a composed
 * server counting attempts by the address that setting yields. Off (the default), X-Forwarded-For is
 * ignored, so a local sandbox (which reaches the server over loopback) cannot pose as other addresses to
 * escape the per-address limit. Trusting the load balancer (here, the test's own loopback peer), each client
 * behind it is counted by its own address, and an address a client forges in front of the real one is
 * ignored. Header values only: no packet leaves loopback.
 */
import { randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../../test/test-server.js';
import { ConfigError, loadConfig } from '../config.js';

describe('RCLAUDE_TRUST_PROXY', () => {
  const parse = (value: string | undefined) =>
    loadConfig({
      RCLAUDE_DATA_DIR: '/tmp/rclaude-config-test',
      ...(value === undefined ? {} : { RCLAUDE_TRUST_PROXY: value }),
    }).RCLAUDE_TRUST_PROXY;

  it('is off unless set', () => {
    expect(parse(undefined)).toBe(false);
    expect(parse('')).toBe(false);
    for (const v of ['off', 'false', '0', 'none', 'OFF']) expect(parse(v), v).toBe(false);
  });

  it('takes a hop count, or addresses, CIDRs and named ranges', () => {
    expect(parse('1')).toBe(1);
    expect(parse('2')).toBe(2);
    expect(parse('10.0.0.0/16')).toEqual(['10.0.0.0/16']);
    expect(parse(' 10.0.0.0/16, 192.168.1.7 ,fd00::/8,loopback')).toEqual([
      '10.0.0.0/16',
      '192.168.1.7',
      'fd00::/8',
      'loopback',
    ]);
  });

  it('refuses trusting everyone, and what is not an address, naming the bad entries', () => {
    for (const [value, message] of [
      ['true', /forge/],
      ['all', /forge/],
      ['10.0.0.0/33', /10\.0\.0\.0\/33/],
      ['10.0.0.0/16,alb.internal', /alb\.internal/],
      ['::1/129', /::1\/129/],
      ['10.0.0.0/16/8', /10\.0\.0\.0\/16\/8/],
      ['33', /at most 32/],
      [',', /empty/],
    ] as const) {
      expect(() => parse(value), value).toThrow(ConfigError);
      expect(() => parse(value), value).toThrow(message);
    }
  });
});

/** A server whose sign-in limiter lets 3 attempts per address through, then holds that address for an hour. */
async function startLimited(trustProxy: string | null): Promise<{ server: TestServer; logs: () => string }> {
  let text = '';
  const sink = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      text += chunk.toString('utf8');
      callback();
    },
  });
  const server = await startTestServer('embedded', {
    env: trustProxy === null ? {} : { RCLAUDE_TRUST_PROXY: trustProxy },
    deps: {
      log: pino({ level: 'info' }, sink),
      loginLimits: { freePerAddress: 3, freePerAccount: 1000, baseDelayMs: 3600_000, maxDelayMs: 3600_000 },
    },
  });
  return { server, logs: () => text };
}

/** One sign-in attempt with a wrong password, for a fresh account each time (only the address limit applies). */
async function attempt(server: TestServer, forwardedFor?: string): Promise<number> {
  const res = await fetch(`${server.url}/api/auth/login`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      ...(forwardedFor === undefined ? {} : { 'x-forwarded-for': forwardedFor }),
    },
    body: JSON.stringify({ username: `nobody-${randomBytes(4).toString('hex')}`, password: 'wrong' }),
  });
  await res.arrayBuffer();
  return res.status;
}

/** Attempts until the first 429, at most `max`; how many were let through before it (or `max`). */
async function allowedBeforeThrottled(server: TestServer, forwardedFor: () => string | undefined, max = 12) {
  for (let i = 0; i < max; i++) {
    const status = await attempt(server, forwardedFor());
    if (status === 429) return i;
    expect(status).toBe(401);
  }
  return max;
}

const randomAddress = () => `198.18.${randomBytes(1)[0]}.${randomBytes(1)[0]}`;

describe('sign-in limits by client address, with X-Forwarded-For untrusted (the default)', () => {
  let limited: Awaited<ReturnType<typeof startLimited>>;
  beforeAll(async () => {
    limited = await startLimited(null);
  });
  afterAll(async () => {
    await limited?.server.close();
  });

  it('counts every attempt from this peer as one address, whatever address it claims', async () => {
    // Four go through (the fourth sets the delay), the fifth is held: forging a new address each time is no help.
    expect(await allowedBeforeThrottled(limited.server, randomAddress)).toBe(4);
    expect(await attempt(limited.server)).toBe(429);
    expect(await attempt(limited.server, '203.0.113.50')).toBe(429);
  });

  it('says once in the log that forwarded requests arrive while no proxy is trusted', () => {
    const warnings = limited
      .logs()
      .split('\n')
      .filter((l) => l.includes('RCLAUDE_TRUST_PROXY is off'));
    expect(warnings).toHaveLength(1);
  });
});

describe.each([
  ['the load balancer CIDR', '127.0.0.0/8'],
  ['one hop', '1'],
])('sign-in limits by client address, trusting %s', (_name, trust) => {
  let limited: Awaited<ReturnType<typeof startLimited>>;
  beforeAll(async () => {
    limited = await startLimited(trust);
  });
  afterAll(async () => {
    await limited?.server.close();
  });

  it("counts each client behind the proxy by its own address, never the proxy's", async () => {
    const { server } = limited;
    expect(await allowedBeforeThrottled(server, () => '198.51.100.7')).toBe(4);
    // Another client behind the same proxy is not held back by the first one's failures...
    expect(await attempt(server, '198.51.100.8')).toBe(401);
    // ...nor is a request without the header (the peer itself, e.g. a health check from the host).
    expect(await attempt(server)).toBe(401);
  });

  it('ignores what a client puts in front of its real address (the proxy appends the address it saw)', async () => {
    const { server } = limited;
    expect(await allowedBeforeThrottled(server, () => `${randomAddress()}, 198.51.100.9`)).toBe(4);
    expect(await attempt(server, '198.51.100.9')).toBe(429);
    expect(await attempt(server, '198.51.100.10')).toBe(401);
  });
});
