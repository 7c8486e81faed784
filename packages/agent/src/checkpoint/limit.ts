/** A function that runs `fn` once fewer than its limit of earlier calls are still running. */
export type Limiter = <T>(fn: () => Promise<T>) => Promise<T>;

/** At most `limit` calls in flight at once, started in the order they were asked for. */
export function createLimiter(limit: number): Limiter {
  let active = 0;
  const queue: (() => void)[] = [];
  const release = (): void => {
    active--;
    queue.shift()?.();
  };
  return async <T>(fn: () => Promise<T>): Promise<T> => {
    if (active >= limit) await new Promise<void>((resolve) => queue.push(resolve));
    active++;
    try {
      return await fn();
    } finally {
      release();
    }
  };
}
