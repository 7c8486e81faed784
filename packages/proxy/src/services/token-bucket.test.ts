import { describe, expect, it } from 'vitest';
import { TokenBucket } from './token-bucket.js';

describe('TokenBucket', () => {
  it('spends a burst, refuses past it without spending, and refills with time up to the burst', () => {
    let now = 0;
    const bucket = new TokenBucket(10, { burst: 3, now: () => now });
    expect([bucket.take(), bucket.take(), bucket.take(), bucket.take()]).toEqual([true, true, true, false]);
    now += 100; // one token back
    expect(bucket.take(2)).toBe(false);
    expect(bucket.take()).toBe(true);
    now += 60_000; // never more than the burst
    expect([bucket.take(3), bucket.take()]).toEqual([true, false]);
  });

  it('holds two seconds of its rate by default, and a clock going back refills nothing', () => {
    let now = 1000;
    const bucket = new TokenBucket(5, { now: () => now });
    expect(bucket.take(10)).toBe(true);
    now -= 500;
    expect(bucket.take()).toBe(false);
  });
});
