import { describe, expect, it } from 'vitest';
import { summarizeEvent } from './task-timeline.js';

describe('summarizeEvent', () => {
  it('describes status changes in words, with the reason', () => {
    expect(
      summarizeEvent({ type: 'status', data: { status: 'failed', reason: 'exited with code 3', exitCode: 3 } }),
    ).toBe('Failed · exited with code 3');
    expect(summarizeEvent({ type: 'status', data: { status: 'queued' } })).toBe('Queued');
    expect(summarizeEvent({ type: 'status', data: { status: 'running', reason: 'running' } })).toBe('Running');
  });

  it('names the tool and what it works on', () => {
    expect(
      summarizeEvent({ type: 'tool_use', data: { name: 'Write', input: { file_path: 'src/a.ts', content: '…' } } }),
    ).toBe('Write: src/a.ts');
    expect(summarizeEvent({ type: 'tool_use', data: { name: 'Bash', input: { command: 'npm test' } } })).toBe(
      'Bash: npm test',
    );
  });

  it('prefers the one-line summary the agent sends', () => {
    expect(summarizeEvent({ type: 'tool_use', data: { name: 'Write', summary: 'Write proof.txt', input: {} } })).toBe(
      'Write proof.txt',
    );
    expect(summarizeEvent({ type: 'tool_result', data: { ok: false, summary: 'no such file' } })).toBe(
      'Failed: no such file',
    );
    expect(summarizeEvent({ type: 'diff', data: { summary: '2 files changed, +10 -3', files: [] } })).toBe(
      '2 files changed, +10 -3',
    );
    const commit = '0123456789abcdef0123456789abcdef01234567';
    expect(summarizeEvent({ type: 'push', data: { branch: 'rclaude/x', commit, pushedTo: '/srv/app' } })).toBe(
      'Pushed rclaude/x (0123456789ab) to /srv/app',
    );
    expect(summarizeEvent({ type: 'push', data: { branch: 'rclaude/x', commit, pushedTo: null } })).toBe(
      'Committed to rclaude/x (0123456789ab), not pushed',
    );
    expect(summarizeEvent({ type: 'activity', data: { activity: 'waiting', message: 'Allow Bash?' } })).toBe(
      'Waiting for you: Allow Bash?',
    );
  });

  it('shows the final result with its cost', () => {
    expect(summarizeEvent({ type: 'result', data: { ok: true, text: 'Wrote proof.txt', costUsd: 0.12 } })).toBe(
      'Wrote proof.txt · $0.12',
    );
    expect(summarizeEvent({ type: 'result', data: { result: 'All done', total_cost_usd: 0.0421 } })).toBe(
      'All done · $0.04',
    );
  });

  it('falls back to text fields, then to the raw data', () => {
    expect(summarizeEvent({ type: 'assistant_text', data: { text: 'Looking at the tests now.' } })).toBe(
      'Looking at the tests now.',
    );
    expect(summarizeEvent({ type: 'info', data: { weird: 1 } })).toBe('{"weird":1}');
    expect(summarizeEvent({ type: 'info', data: {} })).toBe('Info');
  });

  it('says what a checkpoint saved or why it failed, and what a restore brought back', () => {
    expect(
      summarizeEvent({
        type: 'checkpoint',
        data: {
          trigger: 'periodic',
          checkpointId: 'cp_abcdefgh',
          files: 1234,
          bytes: 56_000_000,
          uploadedBytes: 1_200_000,
          durationMs: 400,
        },
      }),
    ).toBe('Checkpoint cp_abcdefgh (periodic): 1,234 files, 56 MB (uploaded 1.2 MB) in 0.4s');
    expect(summarizeEvent({ type: 'checkpoint', data: { trigger: 'stop', error: 'no answer' } })).toBe(
      'Checkpoint failed (stop): no answer',
    );
    expect(
      summarizeEvent({
        type: 'restore',
        data: {
          checkpointId: 'cp_abcdefgh',
          ageMs: 200_000,
          files: 3,
          bytes: 2000,
          durationMs: 100,
          mismatches: ['bin/x: mode 4755 not kept'],
        },
      }),
    ).toBe(
      'Restored cp_abcdefgh from 3 min ago: 3 files, 2.0 kB in 0.1s\n1 entry not restored exactly:\nbin/x: mode 4755 not kept',
    );
  });

  it('shows the hibernation warning as its message', () => {
    expect(
      summarizeEvent({
        type: 'info',
        data: { message: 'hibernating in 1 min: idle', hibernateAt: '2025-01-01T10:01:00.000Z' },
      }),
    ).toBe('hibernating in 1 min: idle');
  });
});
