import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type AuthHarness, request, startAuthHarness } from '../../test/auth-harness.js';
import type { LoginLimits } from './login-limiter.js';

// Two proxies (two apps, one database, one Redis) so the limiter is shown to hold across processes.
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

async function startPair(
  limits: Partial<LoginLimits>,
): Promise<{ a: AuthHarness; b: AuthHarness; close: () => Promise<void> }> {
  const redisPrefix = `${prefix}${randomBytes(4).toString('hex')}`;
  const a = await startAuthHarness({ kind: 'postgres', redisPrefix, loginLimits: limits });
  const b = await startAuthHarness({ kind: 'postgres', redisPrefix, loginLimits: limits, shareDatabaseWith: a });
  return {
    a,
    b,
    close: async () => {
      await b.close();
      await a.close();
    },
  };
}

async function createUser(h: AuthHarness, username: string, password: string): Promise<void> {
  const admin = await h.auth.ensureAdmin();
  const token = await h.auth.issueToken(admin.id, 'setup');
  const res = await request(h, 'POST', '/api/users', { token, body: { username, password } });
  expect(res.status, res.text).toBe(201);
}

describe('login flood, per account (Redis limiter shared by two proxies)', () => {
  const limits = { freePerAccount: 3, freePerAddress: 10_000, baseDelayMs: 1000, maxDelayMs: 3600_000 };
  let pair: Awaited<ReturnType<typeof startPair>>;
  const password = `right-${randomBytes(6).toString('hex')}`;

  beforeAll(async () => {
    pair = await startPair(limits);
    await createUser(pair.a, 'victim', password);
  });
  afterAll(async () => {
    await pair?.close();
  });

  const login = (h: AuthHarness, pw: string) =>
    request(h, 'POST', '/api/auth/login', { body: { username: 'victim', password: pw } });

  it('gets 429 with a Retry-After that doubles, on either proxy, even for the right password', async () => {
    const { a, b } = pair;
    for (let i = 0; i <= limits.freePerAccount; i++) {
      expect((await login(i % 2 ? a : b, 'wrong')).status).toBe(401);
    }
    const retryAfters: number[] = [];
    for (let round = 0; round < 6; round++) {
      const limited = await login(round % 2 ? a : b, 'wrong');
      expect(limited.status, limited.text).toBe(429);
      expect(limited.body.error).toMatchObject({
        code: 'RATE_LIMITED',
        details: { retryAfterSeconds: expect.any(Number) },
      });
      const retryAfter = Number(limited.headers.get('retry-after'));
      expect(limited.body.error.details.retryAfterSeconds).toBe(retryAfter);
      retryAfters.push(retryAfter);
      // The right password does not get through a pending delay either (and is not even checked).
      expect((await login(round % 2 ? b : a, password)).status).toBe(429);
      a.clock.advance(retryAfter * 1000);
      expect((await login(round % 2 ? a : b, 'wrong')).status).toBe(401);
    }
    expect(retryAfters).toEqual([1, 2, 4, 8, 16, 32]);

    a.clock.advance(64_000);
    expect((await login(a, password)).status).toBe(200);
    // Success clears the account: the free attempts are back.
    for (let i = 0; i < limits.freePerAccount; i++) expect((await login(b, 'wrong')).status).toBe(401);
  });

  it('a parallel burst is throttled as it arrives: only the free attempts are checked', async () => {
    const { a, b } = pair;
    a.clock.advance(3600_000);
    await createUser(a, 'burst', password);
    const burst = await Promise.all(
      Array.from({ length: 30 }, (_, i) =>
        request(i % 2 ? a : b, 'POST', '/api/auth/login', { body: { username: 'burst', password: `guess-${i}` } }),
      ),
    );
    const statuses = burst.map((r) => r.status);
    expect(statuses.filter((s) => s === 401)).toHaveLength(limits.freePerAccount + 1);
    expect(statuses.filter((s) => s === 429)).toHaveLength(30 - (limits.freePerAccount + 1));
  });
});

describe('login flood, per address', () => {
  const limits = { freePerAccount: 10_000, freePerAddress: 5, baseDelayMs: 2000, maxDelayMs: 3600_000 };
  let pair: Awaited<ReturnType<typeof startPair>>;

  beforeAll(async () => {
    pair = await startPair(limits);
  });
  afterAll(async () => {
    await pair?.close();
  });

  it('an address spraying many accounts gets 429 with growing delays, whichever account it tries next', async () => {
    const { a, b } = pair;
    const attempt = (h: AuthHarness, i: number) =>
      request(h, 'POST', '/api/auth/login', { body: { username: `spray${i}`, password: 'guess-guess' } });
    for (let i = 0; i <= limits.freePerAddress; i++) expect((await attempt(i % 2 ? a : b, i)).status).toBe(401);
    const retryAfters: number[] = [];
    for (let round = 0; round < 4; round++) {
      const limited = await attempt(round % 2 ? b : a, 100 + round);
      expect(limited.status).toBe(429);
      retryAfters.push(Number(limited.headers.get('retry-after')));
      a.clock.advance(Number(limited.headers.get('retry-after')) * 1000);
      expect((await attempt(a, 200 + round)).status).toBe(401);
    }
    expect(retryAfters).toEqual([2, 4, 8, 16]);
  });
});
