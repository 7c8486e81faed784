import { mkdir, mkdtemp, readdir, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { seedClaudeConfig } from './seed-config.js';

const KEY = 'sk-ant-test-0123456789abcdefghijklmnop';
const SUFFIX = '6789abcdefghijklmnop';

describe('seedClaudeConfig', () => {
  let dir: string;
  let home: string;
  let workspace: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'rclaude-seed-'));
    home = join(dir, 'home');
    workspace = join(dir, 'ws');
    await mkdir(home);
    await mkdir(workspace);
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  const readJson = async (file: string) => JSON.parse(await readFile(file, 'utf8')) as Record<string, unknown>;

  it('creates .claude.json and settings.json that skip every first-run screen', async () => {
    await seedClaudeConfig({ home, workspace, apiKey: KEY });
    const config = await readJson(join(home, '.claude.json'));
    expect(config).toEqual({
      hasCompletedOnboarding: true,
      hasAcknowledgedCostThreshold: true,
      hasSeenAutoDefaultNotice: true,
      hasSeenAutoModeEntryWarning: true,
      projects: { [workspace]: { hasTrustDialogAccepted: true } },
      customApiKeyResponses: { approved: [SUFFIX], rejected: [] },
    });
    expect(SUFFIX).toHaveLength(20);
    expect((await stat(join(home, '.claude.json'))).mode & 0o777).toBe(0o600);
    expect(await readJson(join(home, '.claude', 'settings.json'))).toEqual({ skipDangerousModePermissionPrompt: true });
  });

  it('merges into existing files without clobbering other keys, and is idempotent', async () => {
    await writeFile(
      join(home, '.claude.json'),
      JSON.stringify({
        numStartups: 7,
        theme: 'light',
        hasCompletedOnboarding: false,
        projects: {
          '/elsewhere': { hasTrustDialogAccepted: false, allowedTools: ['Bash'] },
          [workspace]: { lastSessionId: 'abc', hasTrustDialogAccepted: false },
        },
        customApiKeyResponses: { approved: ['other-key-suffix-000'], rejected: [SUFFIX] },
      }),
    );
    await mkdir(join(home, '.claude'));
    await writeFile(join(home, '.claude', 'settings.json'), JSON.stringify({ model: 'sonnet', hooks: { Stop: [] } }));

    await seedClaudeConfig({ home, workspace, apiKey: KEY });
    await seedClaudeConfig({ home, workspace, apiKey: KEY });

    const config = await readJson(join(home, '.claude.json'));
    expect(config).toMatchObject({
      numStartups: 7,
      theme: 'light',
      hasCompletedOnboarding: true,
      projects: {
        '/elsewhere': { hasTrustDialogAccepted: false, allowedTools: ['Bash'] },
        [workspace]: { lastSessionId: 'abc', hasTrustDialogAccepted: true },
      },
      customApiKeyResponses: { approved: ['other-key-suffix-000', SUFFIX], rejected: [] },
    });
    expect(await readJson(join(home, '.claude', 'settings.json'))).toEqual({
      model: 'sonnet',
      hooks: { Stop: [] },
      skipDangerousModePermissionPrompt: true,
    });
    // No temporary files left behind.
    expect((await readdir(home)).sort()).toEqual(['.claude', '.claude.json']);
  });

  it('leaves API key approvals alone when no key is given', async () => {
    await writeFile(
      join(home, '.claude.json'),
      JSON.stringify({ customApiKeyResponses: { approved: ['x'], rejected: ['y'] } }),
    );
    await seedClaudeConfig({ home, workspace });
    expect((await readJson(join(home, '.claude.json'))).customApiKeyResponses).toEqual({
      approved: ['x'],
      rejected: ['y'],
    });
  });

  it('trusts the workspace under its real path too when it is reached through a symlink', async () => {
    const link = join(dir, 'link');
    await symlink(workspace, link);
    await seedClaudeConfig({ home, workspace: link });
    const projects = (await readJson(join(home, '.claude.json'))).projects as Record<string, unknown>;
    expect(projects[link]).toEqual({ hasTrustDialogAccepted: true });
    expect(projects[workspace]).toEqual({ hasTrustDialogAccepted: true });
  });

  it('moves a corrupt .claude.json aside instead of failing or losing it', async () => {
    await writeFile(join(home, '.claude.json'), '{"numStartups": 3, oops');
    await seedClaudeConfig({ home, workspace, apiKey: KEY });
    expect((await readJson(join(home, '.claude.json'))).hasCompletedOnboarding).toBe(true);
    const aside = (await readdir(home)).filter((f) => f.startsWith('.claude.json.corrupt-'));
    expect(aside).toHaveLength(1);
    expect(await readFile(join(home, aside[0]!), 'utf8')).toBe('{"numStartups": 3, oops');
  });

  it('creates HOME when it does not exist yet', async () => {
    const fresh = join(dir, 'new-home');
    await seedClaudeConfig({ home: fresh, workspace });
    expect((await readJson(join(fresh, '.claude.json'))).hasCompletedOnboarding).toBe(true);
  });
});
