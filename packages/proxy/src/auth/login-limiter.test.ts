import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addressBucket, createLoginLimiter, type LoginLimiter, type LoginLimits } from './login-limiter.js';

const limits: LoginLimits = {
  freePerAccount: 3,
  freePerAddress: 6,
  baseDelayMs: 1000,
  maxDelayMs: 8000,
  windowMs: 60_000,
};

describe('addressBucket', () => {
  it('keeps IPv4, unwraps IPv4-mapped IPv6 and groups IPv6 by /64', () => {
    expect(addressBucket('203.0.113.9')).toBe('203.0.113.9');
    expect(addressBucket('::ffff:203.0.113.9')).toBe('203.0.113.9');
    expect(addressBucket('2001:db8:1:2:aaaa::1')).toBe('2001:db8:1:2::/64');
    expect(addressBucket('2001:0db8:0001:0002:ffff:ffff:ffff:ffff')).toBe('2001:db8:1:2::/64');
    expect(addressBucket('2001:db8::1')).toBe('2001:db8:0:0::/64');
    expect(addressBucket('::1')).toBe('0:0:0:0::/64');
    expect(addressBucket(undefined)).toBe('unknown');
  });
});

const redis = new Redis({ host: '127.0.0.1', port: 6379, lazyConnect: true, maxRetriesPerRequest: 2 });
const prefix = `rclaude-test:${randomBytes(6).toString('hex')}:`;

beforeAll(async () => {
  await redis.connect();
});
afterAll(async () => {
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
    if (keys.length > 0) await redis.del(...keys);
    cursor = next;
  } while (cursor !== '0');
  redis.disconnect();
});

describe.each(['in-process', 'redis'] as const)('login limiter (%s)', (kind) => {
  function makeLimiter(): { limiter: LoginLimiter; advance: (ms: number) => void } {
    let now = 1_000_000;
    const limiter = createLoginLimiter({
      redis: kind === 'redis' ? redis : null,
      keyPrefix: `${prefix}${randomBytes(4).toString('hex')}:`,
      limits,
      now: () => now,
    });
    return {
      limiter,
      advance: (ms) => {
        now += ms;
      },
    };
  }

  it('lets the free attempts through, then makes each wait twice as long as the last, up to the cap', async () => {
    const { limiter, advance } = makeLimiter();
    for (let i = 0; i < limits.freePerAccount; i++) expect(await limiter.attempt('alice', '10.0.0.1')).toBe(0);
    // The attempt after the free ones still goes ahead, but sets the first delay.
    expect(await limiter.attempt('alice', '10.0.0.1')).toBe(0);
    const waits: number[] = [];
    for (let i = 0; i < 6; i++) {
      const wait = await limiter.attempt('alice', '10.0.0.1');
      waits.push(wait);
      // Refused attempts are not counted: asking again right away gives the same wait.
      expect(await limiter.attempt('alice', '10.0.0.1')).toBe(wait);
      advance(wait);
      expect(await limiter.attempt('alice', '10.0.0.1')).toBe(0);
    }
    expect(waits).toEqual([1000, 2000, 4000, 8000, 8000, 8000]);
  });

  it('throttles an account whatever the address, and an address whatever the account', async () => {
    const { limiter } = makeLimiter();
    for (let i = 0; i <= limits.freePerAccount; i++) await limiter.attempt('bob', `10.0.1.${i}`);
    expect(await limiter.attempt('bob', '10.0.2.1')).toBeGreaterThan(0);
    expect(await limiter.attempt('carol', '10.0.2.1')).toBe(0);

    for (let i = 0; i <= limits.freePerAddress; i++) await limiter.attempt(`user${i}`, '10.9.9.9');
    expect(await limiter.attempt('someone-new', '10.9.9.9')).toBeGreaterThan(0);
  });

  it('forgets an account after a success, and any key after a quiet window', async () => {
    const { limiter, advance } = makeLimiter();
    for (let i = 0; i <= limits.freePerAccount; i++) await limiter.attempt('dave', '10.0.3.1');
    expect(await limiter.attempt('dave', '10.0.3.2')).toBe(1000);
    await limiter.succeeded('dave');
    expect(await limiter.attempt('dave', '10.0.3.2')).toBe(0);

    for (let i = 0; i <= limits.freePerAccount; i++) await limiter.attempt('erin', '10.0.4.1');
    advance(limits.windowMs + 1);
    for (let i = 0; i < limits.freePerAccount; i++) expect(await limiter.attempt('erin', '10.0.4.2')).toBe(0);
  });

  it('counts parallel attempts as they arrive, so a burst cannot slip past the check', async () => {
    const { limiter } = makeLimiter();
    const waits = await Promise.all(Array.from({ length: 20 }, () => limiter.attempt('frank', '10.0.5.1')));
    expect(waits.filter((w) => w === 0)).toHaveLength(limits.freePerAccount + 1);
  });
});
