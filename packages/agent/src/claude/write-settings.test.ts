import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { claudeHookEvents, writeClaudeSettings } from './write-settings.js';

describe('writeClaudeSettings', () => {
  let home: string;
  beforeEach(async () => {
    home = await mkdtemp(join(tmpdir(), 'rclaude-settings-'));
  });
  afterEach(async () => {
    await rm(home, { recursive: true, force: true });
  });
  const read = async () =>
    JSON.parse(await readFile(join(home, '.claude', 'settings.json'), 'utf8')) as Record<string, unknown>;

  it('installs the command for every status event, with a matcher on tool events', async () => {
    await writeClaudeSettings(home, { command: '/opt/rclaude/hook' });
    const hook = { type: 'command', command: '/opt/rclaude/hook', timeout: 10 };
    expect(await read()).toEqual({
      hooks: {
        Notification: [{ hooks: [hook] }],
        Stop: [{ hooks: [hook] }],
        UserPromptSubmit: [{ hooks: [hook] }],
        PreToolUse: [{ matcher: '*', hooks: [hook] }],
        PostToolUse: [{ matcher: '*', hooks: [hook] }],
      },
    });
    expect(Object.keys((await read()).hooks as object).sort()).toEqual([...claudeHookEvents].sort());
  });

  it('keeps other settings and hooks, and does not repeat itself', async () => {
    await mkdir(join(home, '.claude'));
    const theirs = { matcher: 'Bash', hooks: [{ type: 'command', command: 'echo theirs' }] };
    await writeFile(
      join(home, '.claude', 'settings.json'),
      JSON.stringify({
        skipDangerousModePermissionPrompt: true,
        hooks: { PreToolUse: [theirs], SessionStart: [theirs] },
      }),
    );
    await writeClaudeSettings(home, { command: 'report', events: ['PreToolUse', 'Stop'], timeoutSeconds: 3 });
    await writeClaudeSettings(home, { command: 'report', events: ['PreToolUse', 'Stop'], timeoutSeconds: 3 });
    const ours = { type: 'command', command: 'report', timeout: 3 };
    expect(await read()).toEqual({
      skipDangerousModePermissionPrompt: true,
      hooks: {
        PreToolUse: [theirs, { matcher: '*', hooks: [ours] }],
        SessionStart: [theirs],
        Stop: [{ hooks: [ours] }],
      },
    });
  });
});
