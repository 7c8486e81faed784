import { execFileSync } from 'node:child_process';
import { chmod, mkdtemp, realpath, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { AppError } from '@rclaude/protocol';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { resolveClaudeBinary } from './resolve-binary.js';

describe('resolveClaudeBinary', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await realpath(await mkdtemp(join(tmpdir(), 'rclaude-bin-')));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('finds the executable of the installed @anthropic-ai/claude-code package', () => {
    const bin = resolveClaudeBinary({ path: '' });
    expect(bin).toMatch(/@anthropic-ai\/claude-code\/bin\/claude\.exe$/);
    expect(execFileSync(bin, ['--version'], { encoding: 'utf8', timeout: 30_000 })).toMatch(
      /^2\.1\.\d+ \(Claude Code\)/,
    );
  });

  it('falls back to an executable `claude` on PATH when the package is not resolvable', async () => {
    const from = pathToFileURL(join(dir, 'nowhere.js')).href;
    const fake = join(dir, 'claude');
    await writeFile(fake, '#!/bin/sh\n');
    await chmod(fake, 0o755);
    expect(resolveClaudeBinary({ from, path: `/nonexistent:${dir}` })).toBe(fake);
  });

  it('fails with SANDBOX_START_FAILED when there is none', async () => {
    const from = pathToFileURL(join(dir, 'nowhere.js')).href;
    await writeFile(join(dir, 'claude'), 'not executable');
    const attempt = () => resolveClaudeBinary({ from, path: dir });
    expect(attempt).toThrow(AppError);
    expect(attempt).toThrow(/Claude Code is not installed/);
  });
});
