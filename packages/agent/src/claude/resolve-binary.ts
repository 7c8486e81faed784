import { accessSync, constants, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { delimiter, join } from 'node:path';
import { AppError } from '@rclaude/protocol';

/** Where the npm package keeps its native executable (its postinstall puts the platform binary there). */
const PACKAGE_BINARY = '@anthropic-ai/claude-code/bin/claude.exe';

function isExecutableFile(path: string): boolean {
  try {
    if (!statSync(path).isFile()) return false;
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

export interface ResolveClaudeBinaryOptions {
  /** Module path resolution starts from here. Default: this file (so the agent's own dependency wins). */
  from?: string;
  /** PATH to search when the package is not installed. Default: `process.env.PATH`. */
  path?: string;
}

/**
 * Absolute path of the Claude Code executable: the `@anthropic-ai/claude-code` package the agent depends
 * on (its `bin/claude.exe`), else the first executable `claude` on PATH (e.g. a sandbox image that ran
 * Anthropic's installer). Throws AppError SANDBOX_START_FAILED when there is none.
 */
export function resolveClaudeBinary(options: ResolveClaudeBinaryOptions = {}): string {
  try {
    const found = createRequire(options.from ?? import.meta.url).resolve(PACKAGE_BINARY);
    if (isExecutableFile(found)) return found;
  } catch {
    // Not installed next to the agent: try PATH.
  }
  for (const dir of (options.path ?? process.env.PATH ?? '').split(delimiter)) {
    if (dir === '') continue;
    const candidate = join(dir, 'claude');
    if (isExecutableFile(candidate)) return candidate;
  }
  throw new AppError(
    'SANDBOX_START_FAILED',
    'Claude Code is not installed in this sandbox: add @anthropic-ai/claude-code to the image or put `claude` on PATH',
  );
}
