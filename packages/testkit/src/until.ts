/** What a poll is done with: anything but `undefined`, `null`, `false`, `0` and `''`. */
export type Truthy<T> = Exclude<T, undefined | null | false | 0 | ''>;

/**
 * Polls `check` every `intervalMs` until it returns something truthy, and returns that; throws "timed out
 * waiting for <what>" after `timeoutMs`. What tests wait on with it: a task reaching a status, a screen
 * showing a line, a file appearing.
 */
export async function until<T>(
  what: string,
  check: () => T | Promise<T>,
  timeoutMs = 60_000,
  intervalMs = 100,
): Promise<Truthy<T>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value as Truthy<T>;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}
