import { AppError } from '@rclaude/protocol';
import { Redis } from 'ioredis';
import { type HealthCheck, runHealthCheck } from '../db/health.js';
import { type StoreLogger, silentLogger } from '../db/logger.js';

/** The URL without its password, for messages and logs. */
export function redactRedisUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return '(unparsable Redis URL)';
  }
}

/**
 * Connects to Redis and waits (up to `timeoutMs`) for a PING, so a wrong REDIS_URL fails start-up with
 * a clear message instead of queueing commands forever. Later outages are retried by ioredis.
 */
export async function connectRedis(
  url: string,
  logger: StoreLogger = silentLogger,
  timeoutMs = 10_000,
): Promise<Redis> {
  const redis = new Redis(url, { lazyConnect: true });
  redis.on('error', (err: unknown) => logger.warn({ err }, 'redis connection error'));
  const check = await runHealthCheck(async () => {
    await redis.connect();
    await redis.ping();
  }, timeoutMs);
  if (!check.ok) {
    redis.disconnect();
    throw new AppError('INTERNAL', `cannot reach Redis at ${redactRedisUrl(url)}: ${check.error ?? 'no answer'}`);
  }
  return redis;
}

/** PING with a deadline, for `/readyz`. */
export function checkRedis(redis: Redis, timeoutMs = 2000): Promise<HealthCheck> {
  return runHealthCheck(() => redis.ping(), timeoutMs);
}
