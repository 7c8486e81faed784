import net from 'node:net';
import type { Redis } from 'ioredis';

/**
 * How sign-in attempts are throttled. Each key (an account, a client address) gets `free*` attempts
 * within a quiet window; every attempt beyond that makes the next one wait twice as long as the last
 * (base, 2x, 4x, ... up to `maxDelayMs`). Attempts count when they are made, before the password is
 * checked, so a burst of parallel guesses is throttled as surely as a sequential one.
 */
export interface LoginLimits {
  /** Attempts per account before delays start. */
  freePerAccount: number;
  /** Attempts per client address (IPv4, or IPv6 /64) before delays start. */
  freePerAddress: number;
  /** First delay, in ms. */
  baseDelayMs: number;
  maxDelayMs: number;
  /** A key with no attempt for this long (and no pending delay) starts afresh. */
  windowMs: number;
}

export const defaultLoginLimits: LoginLimits = {
  freePerAccount: 5,
  freePerAddress: 20,
  baseDelayMs: 1000,
  maxDelayMs: 15 * 60_000,
  windowMs: 15 * 60_000,
};

export interface LoginLimiter {
  /**
   * Records an attempt for `account` from `address`. Returns 0 when it may go ahead, or the ms to wait
   * (nothing is recorded then).
   */
  attempt(account: string, address: string): Promise<number>;
  /** Forgets the account's failures after a successful sign-in (the address keeps its count). */
  succeeded(account: string): Promise<void>;
}

interface KeyState {
  count: number;
  last: number;
  next: number;
}

function delayAfter(count: number, free: number, limits: LoginLimits): number {
  if (count <= free) return 0;
  return Math.min(limits.baseDelayMs * 2 ** (count - free - 1), limits.maxDelayMs);
}

/** Groups IPv6 addresses by /64 (what one subscriber usually holds) and unwraps IPv4-mapped ones. */
export function addressBucket(address: string | undefined): string {
  if (!address) return 'unknown';
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped?.[1]) return mapped[1];
  if (!net.isIPv6(address) || address.includes('.')) return address.toLowerCase();
  const [head = '', tail = ''] = address.toLowerCase().split('::');
  const headGroups = head ? head.split(':') : [];
  const tailGroups = address.includes('::') ? (tail ? tail.split(':') : []) : [];
  const zeros = Array<string>(8 - headGroups.length - tailGroups.length).fill('0');
  const groups = [...headGroups, ...zeros, ...tailGroups].map((g) => g.replace(/^0+(?=.)/, ''));
  return `${groups.slice(0, 4).join(':')}::/64`;
}

// Atomic check-and-record over the account and address keys. KEYS: the keys; ARGV: now, windowMs,
// baseDelayMs, maxDelayMs, ttlMs, then one free count per key.
const ATTEMPT_SCRIPT = `
local now = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local base = tonumber(ARGV[3])
local maxDelay = tonumber(ARGV[4])
local ttl = tonumber(ARGV[5])
local wait = 0
local counts = {}
for i = 1, #KEYS do
  local v = redis.call('HMGET', KEYS[i], 'count', 'last', 'next')
  local count = tonumber(v[1]) or 0
  local last = tonumber(v[2]) or 0
  local nxt = tonumber(v[3]) or 0
  if now - last > window and now >= nxt then count = 0 end
  if nxt - now > wait then wait = nxt - now end
  counts[i] = count
end
if wait > 0 then return wait end
for i = 1, #KEYS do
  local count = counts[i] + 1
  local free = tonumber(ARGV[5 + i])
  local delay = 0
  if count > free then delay = math.min(base * (2 ^ (count - free - 1)), maxDelay) end
  redis.call('HSET', KEYS[i], 'count', count, 'last', now, 'next', math.floor(now + delay))
  redis.call('PEXPIRE', KEYS[i], ttl)
end
return 0
`;

/**
 * A limiter shared by every proxy through Redis (hashes `<prefix>login:account:<name>` and
 * `<prefix>login:address:<bucket>`), or kept in this process when `redis` is null.
 * Times come from `now` (ms) so tests can move the clock instead of sleeping.
 */
export function createLoginLimiter(deps: {
  redis: Redis | null;
  keyPrefix: string;
  limits: LoginLimits;
  now: () => number;
}): LoginLimiter {
  const { redis, keyPrefix, limits, now } = deps;
  const accountKey = (account: string) => `${keyPrefix}login:account:${account}`;
  const addressKey = (address: string) => `${keyPrefix}login:address:${address}`;
  // Redis expiry is only garbage collection; decisions use `now`, so a key outlives its window a little.
  const ttlMs = limits.windowMs + limits.maxDelayMs;

  if (redis) {
    return {
      async attempt(account, address) {
        const wait = await redis.eval(
          ATTEMPT_SCRIPT,
          2,
          accountKey(account),
          addressKey(address),
          now(),
          limits.windowMs,
          limits.baseDelayMs,
          limits.maxDelayMs,
          ttlMs,
          limits.freePerAccount,
          limits.freePerAddress,
        );
        return Number(wait);
      },
      async succeeded(account) {
        await redis.del(accountKey(account));
      },
    };
  }

  const states = new Map<string, KeyState>();
  const MAX_KEYS = 100_000;
  const current = (key: string, at: number): KeyState => {
    const state = states.get(key);
    if (!state || (at - state.last > limits.windowMs && at >= state.next)) return { count: 0, last: 0, next: 0 };
    return state;
  };
  const record = (key: string, state: KeyState) => {
    // Re-insert so Map order is least-recently-attempted first; drop the oldest when an address spray
    // would otherwise grow the map without bound.
    states.delete(key);
    states.set(key, state);
    while (states.size > MAX_KEYS) {
      const oldest = states.keys().next();
      if (oldest.done) break;
      states.delete(oldest.value);
    }
  };
  return {
    async attempt(account, address) {
      const at = now();
      const keyed = [
        { key: accountKey(account), free: limits.freePerAccount },
        { key: addressKey(address), free: limits.freePerAddress },
      ].map((k) => ({ ...k, state: current(k.key, at) }));
      const wait = Math.max(0, ...keyed.map((k) => k.state.next - at));
      if (wait > 0) return wait;
      for (const k of keyed) {
        const count = k.state.count + 1;
        record(k.key, { count, last: at, next: at + delayAfter(count, k.free, limits) });
      }
      return 0;
    },
    async succeeded(account) {
      states.delete(accountKey(account));
    },
  };
}
