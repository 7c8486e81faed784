import type pg from 'pg';

/** One dependency's answer for `/readyz`. `error` is a short reason, safe to show an operator. */
export interface HealthCheck {
  ok: boolean;
  latencyMs: number;
  error?: string;
}

/**
 * Runs `probe` with a deadline and reports how it went. Never throws. A probe that outlives the deadline
 * keeps running in the background; its result is ignored.
 */
export async function runHealthCheck(probe: () => Promise<unknown>, timeoutMs: number): Promise<HealthCheck> {
  const started = performance.now();
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
  });
  try {
    await Promise.race([probe(), deadline]);
    return { ok: true, latencyMs: Math.round(performance.now() - started) };
  } catch (err) {
    return {
      ok: false,
      latencyMs: Math.round(performance.now() - started),
      error: err instanceof Error ? err.message : String(err),
    };
  } finally {
    clearTimeout(timer);
  }
}

/** `SELECT 1` through the pool (for the embedded database, this also waits behind queued queries). */
export function checkDatabase(pool: pg.Pool, timeoutMs = 2000): Promise<HealthCheck> {
  return runHealthCheck(() => pool.query('SELECT 1'), timeoutMs);
}
