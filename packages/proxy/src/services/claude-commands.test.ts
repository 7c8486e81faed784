import { describe, expect, it } from 'vitest';
import { resumeCommand } from './claude-commands.js';

describe('resumeCommand', () => {
  const id = '0f3c9a52-5b1e-4c1a-9d1e-2a7f3b9c8d10';

  it('continues Claude Code on the recorded conversation, keeping its other flags', () => {
    expect(resumeCommand({ command: ['claude', '--model', 'opus'], prompt: null }, id, 'default')).toEqual([
      'claude',
      '--resume',
      id,
      '--model',
      'opus',
    ]);
  });

  it('drops the conversation flags the task started with, in every spelling', () => {
    for (const flags of [['-c'], ['--continue'], ['-r', 'old-id'], ['--resume', 'old-id'], ['--resume=old-id']]) {
      expect(resumeCommand({ command: ['claude', ...flags, '--verbose'], prompt: null }, id, 'default')).toEqual([
        'claude',
        '--resume',
        id,
        '--verbose',
      ]);
    }
  });

  it('falls back to the latest conversation in the workspace when none was recorded', () => {
    expect(resumeCommand({ command: ['claude'], prompt: null }, null, 'default')).toEqual(['claude', '--continue']);
  });

  it('continues a prompt task interactively instead of answering its prompt again', () => {
    expect(resumeCommand({ command: null, prompt: 'fix it' }, id, 'acceptEdits')).toEqual([
      'claude',
      '--resume',
      id,
      '--permission-mode',
      'acceptEdits',
    ]);
  });

  it('runs any other program again as it was', () => {
    expect(resumeCommand({ command: ['bash', '-l'], prompt: null }, id, 'default')).toEqual(['bash', '-l']);
  });
});
