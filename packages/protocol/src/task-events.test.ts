import { describe, expect, it } from 'vitest';
import {
  branchNameSchema,
  continueTaskRequestSchema,
  EVENT_TEXT_MAX_CHARS,
  parseAgentTaskEvent,
  repoSourceKind,
  repoUrlHasCredentials,
} from './task-events.js';

describe('parseAgentTaskEvent', () => {
  it('accepts the agent event types with their data, dropping unknown fields', () => {
    expect(parseAgentTaskEvent('assistant_text', { text: 'hi', extra: 1 })).toEqual({
      type: 'assistant_text',
      data: { text: 'hi' },
    });
    expect(parseAgentTaskEvent('activity', { activity: 'waiting', message: 'may I?' })).toEqual({
      type: 'activity',
      data: { activity: 'waiting', message: 'may I?' },
    });
    expect(
      parseAgentTaskEvent('diff', {
        files: [{ path: 'a', additions: 1, deletions: null }],
        filesChanged: 1,
        additions: 1,
        deletions: 0,
        diffPath: '.rclaude/changes.diff',
        diffBytes: 10,
        summary: '1 file changed, +1 -0',
      })?.type,
    ).toBe('diff');
  });

  it('refuses the proxy-only types, unknown types, and malformed or oversized data', () => {
    expect(parseAgentTaskEvent('status', { status: 'succeeded' })).toBeNull();
    expect(parseAgentTaskEvent('output', {})).toBeNull();
    expect(parseAgentTaskEvent('__proto__', {})).toBeNull();
    expect(parseAgentTaskEvent('toString', {})).toBeNull();
    expect(parseAgentTaskEvent('activity', { activity: 'sleeping' })).toBeNull();
    expect(parseAgentTaskEvent('assistant_text', { text: 'x'.repeat(EVENT_TEXT_MAX_CHARS + 1) })).toBeNull();
    expect(parseAgentTaskEvent('result', { ok: true })).toBeNull();
    expect(parseAgentTaskEvent('tool_use', { id: null, name: '', summary: '' })).toBeNull();
  });
});

describe('repository references', () => {
  it('knows https, http and absolute paths, and nothing else', () => {
    expect(repoSourceKind('https://github.com/o/r.git')).toBe('https');
    expect(repoSourceKind('HTTP://git.example.com:8080/r')).toBe('http');
    expect(repoSourceKind('/srv/git/r.git')).toBe('path');
    for (const bad of [
      'git@github.com:o/r.git',
      'ssh://git@github.com/o/r',
      'ext::sh -c touch% /tmp/x',
      'file:///etc',
      'relative/path',
      '-uhttps://x',
      'https://',
      'https://exa mple.com/r',
      '/path/with\nnewline',
    ]) {
      expect(repoSourceKind(bad), bad).toBeNull();
    }
  });

  it('spots credentials in a URL', () => {
    expect(repoUrlHasCredentials('https://user:tok@github.com/o/r')).toBe(true);
    expect(repoUrlHasCredentials('https://ghp_abc@github.com/o/r')).toBe(true);
    expect(repoUrlHasCredentials('https://github.com/o/r?x=a@b')).toBe(false);
    expect(repoUrlHasCredentials('/srv/git/r')).toBe(false);
  });

  it('takes branch names git takes, but no option-looking or traversing ones', () => {
    for (const ok of ['main', 'feature/x-1', 'release-2.0', 'v1.2.3'])
      expect(branchNameSchema.safeParse(ok).success, ok).toBe(true);
    for (const bad of ['-x', '--upload-pack=evil', 'a..b', 'has space', '', 'a\nb']) {
      expect(branchNameSchema.safeParse(bad).success, bad).toBe(false);
    }
  });

  it('continue requests carry only a terminal size', () => {
    expect(continueTaskRequestSchema.parse({ cols: 100, rows: 30 })).toEqual({ cols: 100, rows: 30 });
    expect(continueTaskRequestSchema.safeParse({ command: ['sh'] }).success).toBe(false);
  });
});
