import { describe, expect, it } from 'vitest';
import { formatPromptEvent } from './prompt-view.js';

const f = (type: string, data: Record<string, unknown>) =>
  formatPromptEvent({ type: type as 'info', data }, 'abc123', false);

describe('formatPromptEvent', () => {
  it('shows text, one line per tool call, failed tools, the summary and the diff', () => {
    expect(f('assistant_text', { text: 'Hello\nworld' })).toBe('● Hello\n  world\n');
    expect(f('tool_use', { name: 'Write', summary: 'Write proof.txt' })).toBe('→ Write proof.txt\n');
    expect(f('tool_use', { name: 'Mystery' })).toBe('→ Mystery\n');
    expect(f('tool_result', { ok: true, summary: 'fine' })).toBe('');
    expect(f('tool_result', { ok: false, summary: 'Exit code 1' })).toBe('  ✗ Exit code 1\n');
    const usage = { inputTokens: 100, outputTokens: 20, cacheReadTokens: 5, cacheCreationTokens: 0 };
    expect(f('result', { ok: true, turns: 1, durationMs: 65_000, costUsd: 1.234, usage })).toBe(
      '✓ done 1 turn · 1m05s · 105 in / 20 out tokens · $1.23\n',
    );
    expect(f('result', { ok: false, text: 'API Error: 400', turns: 2, durationMs: 500, costUsd: 0, usage })).toBe(
      '✗ API Error: 400\n2 turns · 0.5s · 105 in / 20 out tokens · $0.0000\n',
    );
    expect(f('diff', { summary: '2 files changed, +3 -1', filesChanged: 2, diffPath: '.rclaude/changes.diff' })).toBe(
      'changes: 2 files changed, +3 -1 · full diff: rclaude cp abc123:.rclaude/changes.diff .\n',
    );
    expect(f('diff', { summary: 'no changes', filesChanged: 0, diffPath: '.rclaude/changes.diff' })).toBe(
      'changes: no changes\n',
    );
    const commit = '0123456789abcdef0123456789abcdef01234567';
    expect(f('push', { branch: 'rclaude/x', commit, pushedTo: '/srv/app' })).toBe(
      'pushed branch rclaude/x (0123456789ab) to /srv/app\n',
    );
    expect(f('push', { branch: 'rclaude/x', commit, pushedTo: null })).toBe(
      'committed to branch rclaude/x (0123456789ab), not pushed\n',
    );
    expect(f('error', { message: 'could not clone' })).toBe('error: could not clone\n');
    expect(f('activity', { activity: 'waiting', message: 'may I?' })).toBe('\x07? waiting for input: may I?\n');
  });

  it('shows nothing for status changes, output, and working or done', () => {
    expect(f('status', { status: 'running' })).toBe('');
    expect(f('output', {})).toBe('');
    expect(f('activity', { activity: 'working' })).toBe('');
    expect(f('activity', { activity: 'done' })).toBe('');
  });

  it('prints 2m00s for a 119.6 s run, not 1m60s (regression: this view had its own rounding)', () => {
    const usage = { inputTokens: 1, outputTokens: 1, cacheReadTokens: 0, cacheCreationTokens: 0 };
    expect(f('result', { ok: true, turns: 4, durationMs: 119_600, costUsd: 0.5, usage })).toBe(
      '✓ done 4 turns · 2m00s · 1 in / 1 out tokens · $0.5000\n',
    );
  });

  it('colors only when asked', () => {
    expect(formatPromptEvent({ type: 'error', data: { message: 'x' } }, 'id', true)).toBe('\x1b[31merror: x\x1b[0m\n');
  });
});
