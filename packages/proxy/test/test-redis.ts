import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';

/** `TEST_REDIS_URL`, or the local server the test machines run. */
export function testRedisUrl(): string {
  return process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
}

/** A key prefix no other test uses: `rclaude-test:<hex>`. */
export function uniqueRedisPrefix(): string {
  return `rclaude-test:${randomBytes(8).toString('hex')}`;
}

/**
 * A connection to the test Redis that fails fast (a missing server fails the suite, never skips it).
 * Waits for a PING so the first test does not race the connect.
 */
export async function connectTestRedis(): Promise<Redis> {
  const redis = new Redis(testRedisUrl(), {
    maxRetriesPerRequest: 1,
    retryStrategy: (attempt) => (attempt > 3 ? null : 100),
  });
  await redis.ping();
  return redis;
}

/** Deletes every key under `prefix` (SCAN, never FLUSHDB: other suites share the server). */
export async function deleteRedisPrefix(redis: Redis, prefix: string): Promise<void> {
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 500);
    if (keys.length > 0) await redis.del(...keys);
    cursor = next;
  } while (cursor !== '0');
}
