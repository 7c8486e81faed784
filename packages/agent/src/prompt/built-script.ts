import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The agent package's root: this file sits two levels down, in src/prompt/ or dist/prompt/. */
const PACKAGE_ROOT = fileURLToPath(new URL('../..', import.meta.url));

/**
 * Absolute path of a built agent script (`dist/<relative>`), for processes the agent starts inside the
 * sandbox (the session runner, Claude Code's hook command). Always the built file, even when the agent itself
 * runs from sources in tests: those processes are plain `node`.
 */
export function builtScript(relativePath: string): string {
  return join(PACKAGE_ROOT, 'dist', relativePath);
}

/** Quotes a word for sh. */
export function shellQuote(word: string): string {
  return `'${word.replace(/'/g, `'\\''`)}'`;
}
