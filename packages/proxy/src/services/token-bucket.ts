/**
 * A rate limit: tokens refill continuously at `perSec`, up to `burst` (by default two seconds' worth), and
 * `take(n)` spends them or says no. One per thing limited (an agent connection's packets and bytes, a session's
 * typed input, a sandbox's approval requests).
 */
export class TokenBucket {
  private tokens: number;
  private last: number;
  private readonly burst: number;
  private readonly now: () => number;

  constructor(
    private readonly perSec: number,
    opts: { burst?: number; now?: () => number } = {},
  ) {
    this.burst = opts.burst ?? perSec * 2;
    this.now = opts.now ?? (() => performance.now());
    this.tokens = this.burst;
    this.last = this.now();
  }

  /** Spends `n` tokens if there are that many now; false (and nothing spent) otherwise. */
  take(n = 1): boolean {
    const now = this.now();
    this.tokens = Math.min(this.burst, this.tokens + (Math.max(0, now - this.last) / 1000) * this.perSec);
    this.last = now;
    if (this.tokens < n) return false;
    this.tokens -= n;
    return true;
  }
}
