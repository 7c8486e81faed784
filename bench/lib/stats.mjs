/** Small statistics helpers for the benchmark figures, and the time limits of its waits. */
import os from 'node:os';

/** The q-quantile (0..1) of `values` by nearest rank; NaN for an empty list. */
export function quantile(values, q) {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[rank];
}

export const p50 = (values) => quantile(values, 0.5);
export const p99 = (values) => quantile(values, 0.99);

/** Rounds to `digits` decimals (figures in the JSON line stay readable). */
export function round(value, digits = 2) {
  if (!Number.isFinite(value)) return value;
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}

export function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Polls `fn` until it returns a truthy value; throws naming `what` after `timeoutMs`. */
export async function until(what, fn, timeoutMs = 30_000, everyMs = 20) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await fn();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what} (${loadNote()})`);
    await sleep(everyMs);
  }
}

/**
 * How much slower than a quiet machine this one is likely to be now: the 1-minute load average per core,
 * between 1 and 5. A wait's limit is its quiet-machine figure times this (see {@link scaledMs}), so a run on a
 * busy shared machine waits longer instead of failing, and still stops (at most five times the base).
 */
export function loadScale() {
  return Math.min(5, Math.max(1, os.loadavg()[0] / Math.max(1, os.cpus().length)));
}

/** A wait's limit in ms: `baseMs` (enough on a quiet machine) times {@link loadScale}, read when called. */
export function scaledMs(baseMs) {
  return Math.round(baseMs * loadScale());
}

/** A one-line note of the machine's load, for error messages of waits that ran out. */
export function loadNote() {
  return `load ${os.loadavg()[0].toFixed(1)} on ${os.cpus().length} cores`;
}
