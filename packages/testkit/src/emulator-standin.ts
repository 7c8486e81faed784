import { readFile } from 'node:fs/promises';

/**
 * A tiny program that stands in for the agent inside an emulated sandbox: it writes a JSON marker
 * (`{pid, cwd, argv, env}`) to `$RCLAUDE_TEST_MARKER`, then exits with `$RCLAUDE_TEST_EXIT_CODE` if set
 * (after `$RCLAUDE_TEST_EXIT_AFTER_MS`), or waits until signalled (SIGTERM: shell-style exit code 143).
 */
const STAND_IN_SCRIPT = `
const fs = require('node:fs');
const marker = process.env.RCLAUDE_TEST_MARKER;
const info = { pid: process.pid, cwd: process.cwd(), argv: process.argv.slice(1), env: process.env };
if (marker) { fs.writeFileSync(marker + '.tmp', JSON.stringify(info)); fs.renameSync(marker + '.tmp', marker); }
const code = process.env.RCLAUDE_TEST_EXIT_CODE;
const after = Number(process.env.RCLAUDE_TEST_EXIT_AFTER_MS || 0);
if (code !== undefined && code !== '') setTimeout(() => process.exit(Number(code)), after);
else setInterval(() => {}, 1 << 30);
`;

/** argv of the stand-in agent, run with this machine's node. */
export function standInCommand(): string[] {
  return [process.execPath, '-e', STAND_IN_SCRIPT];
}

/** What the stand-in saw when it started. */
export interface StandInMarker {
  pid: number;
  cwd: string;
  argv: string[];
  env: Record<string, string>;
}

/** Polls `check` until it returns a value other than undefined, or throws after `timeoutMs`. */
export async function waitUntil<T>(
  what: string,
  check: () => T | undefined | Promise<T | undefined>,
  { timeoutMs = 15_000, intervalMs = 25 }: { timeoutMs?: number; intervalMs?: number } = {},
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

/** Waits for the stand-in's marker file and parses it. */
export function readStandInMarker(markerPath: string, timeoutMs = 15_000): Promise<StandInMarker> {
  return waitUntil(
    `marker ${markerPath}`,
    async () => {
      const text = await readFile(markerPath, 'utf8').catch(() => undefined);
      return text === undefined ? undefined : (JSON.parse(text) as StandInMarker);
    },
    { timeoutMs },
  );
}
