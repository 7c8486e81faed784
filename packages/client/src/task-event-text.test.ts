import type { TaskEventType } from '@rclaude/protocol';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  ansiStyle,
  formatBytes,
  formatRunDuration,
  formatSpan,
  formatUsd,
  hibernateWarning,
  taskEventLines,
  taskEventText,
} from './task-event-text.js';

const text = (type: TaskEventType, data: Record<string, unknown>, taskId?: string) =>
  taskEventText({ type, data }, taskId ? { taskId } : {});

/** Reads a formatted duration back, in ms. */
function parseRunDuration(formatted: string): number {
  const m = /^(?:(\d+)h)?(?:(\d+)m)?(\d+(?:\.\d)?)s$/.exec(formatted);
  if (!m) throw new Error(`not a run duration: ${formatted}`);
  return ((Number(m[1] ?? 0) * 60 + Number(m[2] ?? 0)) * 60 + Number(m[3])) * 1000;
}

const usage = { inputTokens: 100, outputTokens: 20, cacheReadTokens: 5, cacheCreationTokens: 0 };

describe('formatRunDuration', () => {
  it('prints 2m00s for 119.6 s, not 1m60s (regression: the CLI rounded the seconds apart from the minutes)', () => {
    expect(formatRunDuration(119_600)).toBe('2m00s');
    expect(text('result', { ok: true, turns: 3, durationMs: 119_600, costUsd: 0, usage })).toBe(
      '✓ done 3 turns · 2m00s · 105 in / 20 out tokens · $0.0000\n',
    );
  });

  it.each([
    [0, '0.0s'],
    [500, '0.5s'],
    [1234, '1.2s'],
    [59_949, '59.9s'],
    [59_950, '1m00s'],
    [65_000, '1m05s'],
    [3_599_499, '59m59s'],
    [3_599_500, '1h00m00s'],
    [3_723_000, '1h02m03s'],
    [-5, '0.0s'],
    [Number.NaN, '0.0s'],
  ])('%d ms is %s', (ms, expected) => {
    expect(formatRunDuration(ms)).toBe(expected);
  });

  const durations = fc.double({ min: 0, max: 400 * 3_600_000, noNaN: true });

  it('never prints 60 in a seconds or minutes field', () => {
    fc.assert(
      fc.property(durations, (ms) => {
        expect(formatRunDuration(ms)).toMatch(/^(\d|[1-5]\d)\.\ds$|^([1-5]?\d)m[0-5]\ds$|^\d+h[0-5]\dm[0-5]\ds$/);
      }),
    );
  });

  it('reads back within its rounding: a tenth under a minute, half a second above', () => {
    fc.assert(
      fc.property(durations, (ms) => {
        const error = Math.abs(parseRunDuration(formatRunDuration(ms)) - ms);
        expect(error).toBeLessThanOrEqual(ms < 59_950 ? 50 : 500);
      }),
    );
  });

  it('never goes down as the duration goes up', () => {
    fc.assert(
      fc.property(durations, durations, (a, b) => {
        const [lo, hi] = a <= b ? [a, b] : [b, a];
        expect(parseRunDuration(formatRunDuration(lo))).toBeLessThanOrEqual(parseRunDuration(formatRunDuration(hi)));
      }),
    );
  });
});

describe('formatUsd', () => {
  it('shows cents from a dollar on and tenths of a cent below', () => {
    expect(formatUsd(1.234)).toBe('$1.23');
    expect(formatUsd(0.00031)).toBe('$0.0003');
    expect(formatUsd(-1)).toBe('$0.0000');
  });
});

describe('taskEventText', () => {
  it('shows text, one line per tool call, failed tools, the summary, the diff and the branch', () => {
    expect(text('assistant_text', { text: 'Hello\nworld' })).toBe('● Hello\n  world\n');
    expect(text('tool_use', { name: 'Write', summary: 'Write proof.txt' })).toBe('→ Write proof.txt\n');
    expect(text('tool_use', { name: 'Mystery', summary: '' })).toBe('→ Mystery\n');
    expect(text('tool_result', { ok: true, summary: 'fine' })).toBe('');
    expect(text('tool_result', { ok: false, summary: 'Exit code 1' })).toBe('  ✗ Exit code 1\n');
    expect(text('result', { ok: true, turns: 1, durationMs: 65_000, costUsd: 1.234, usage })).toBe(
      '✓ done 1 turn · 1m05s · 105 in / 20 out tokens · $1.23\n',
    );
    expect(text('result', { ok: false, text: 'API Error: 400', turns: 2, durationMs: 500, costUsd: 0, usage })).toBe(
      '✗ API Error: 400\n2 turns · 0.5s · 105 in / 20 out tokens · $0.0000\n',
    );
    expect(
      text('result', { ok: false, subtype: 'error_max_turns', text: '', turns: 9, durationMs: 0, costUsd: 0 }),
    ).toBe('✗ error_max_turns\n9 turns · 0.0s · 0 in / 0 out tokens · $0.0000\n');
    const diff = { summary: '2 files changed, +3 -1', filesChanged: 2, diffPath: '.rclaude/changes.diff' };
    expect(text('diff', diff, 'abc123')).toBe(
      'changes: 2 files changed, +3 -1 · full diff: rclaude cp abc123:.rclaude/changes.diff .\n',
    );
    expect(text('diff', diff)).toBe('changes: 2 files changed, +3 -1 · full diff: .rclaude/changes.diff\n');
    expect(text('diff', { summary: 'no changes', filesChanged: 0, diffPath: '.rclaude/changes.diff' }, 'a')).toBe(
      'changes: no changes\n',
    );
    const commit = '0123456789abcdef0123456789abcdef01234567';
    expect(text('push', { branch: 'rclaude/x', commit, pushedTo: '/srv/app' })).toBe(
      'pushed branch rclaude/x (0123456789ab) to /srv/app\n',
    );
    expect(text('push', { branch: 'rclaude/x', commit, pushedTo: null })).toBe(
      'committed to branch rclaude/x (0123456789ab), not pushed\n',
    );
    const pr = { url: 'https://github.com/o/r/pull/2', number: 2, branch: 'rclaude/x', base: 'main', commit };
    expect(text('pull_request', { ...pr, created: true })).toBe(
      '⇡ opened pull request #2 (rclaude/x → main): https://github.com/o/r/pull/2\n',
    );
    expect(text('pull_request', { ...pr, url: 'https://x/\x1b[2J', created: false })).toBe(
      '⇡ pushed to the open pull request #2 (rclaude/x → main): https://x/\\x1b[2J\n',
    );
    expect(text('error', { message: 'could not clone' })).toBe('error: could not clone\n');
    expect(text('info', { message: 'cloned https://example.com/app.git' })).toBe(
      'cloned https://example.com/app.git\n',
    );
    expect(text('activity', { activity: 'waiting', message: 'may I?' })).toBe('\x07? waiting for input: may I?\n');
  });

  it('shows nothing for status changes, output, working or done, and types it does not know', () => {
    expect(text('status', { status: 'running' })).toBe('');
    expect(text('output', {})).toBe('');
    expect(text('activity', { activity: 'working' })).toBe('');
    expect(text('activity', { activity: 'done' })).toBe('');
    expect(taskEventLines({ type: 'from-the-future' as TaskEventType, data: {} })).toEqual([]);
  });

  it('reads malformed data as empty instead of throwing', () => {
    expect(text('result', { ok: true, usage: 'none', durationMs: 'long', costUsd: null })).toBe(
      '✓ done 0 turns · 0.0s · 0 in / 0 out tokens · $0.0000\n',
    );
    expect(text('assistant_text', {})).toBe('● \n');
  });

  it('gives lines without line breaks, and colours only through the style', () => {
    expect(taskEventLines({ type: 'assistant_text', data: { text: 'a\nb' } })).toEqual(['● a', '  b']);
    expect(taskEventText({ type: 'error', data: { message: 'x' } }, { style: ansiStyle })).toBe(
      '\x1b[31merror: x\x1b[0m\n',
    );
    expect(taskEventText({ type: 'result', data: { ok: true, turns: 1, usage } }, { style: ansiStyle })).toBe(
      '\x1b[32m✓ done\x1b[0m \x1b[2m1 turn · 0.0s · 105 in / 20 out tokens · $0.0000\x1b[0m\n',
    );
  });
});

describe('strings from the sandbox (issue 16: a sandbox must not drive the terminal of whoever reads its events)', () => {
  const osc52 = '\x1b]52;c;cm0gLXJmIH4K\x07';
  const hostile = `x${osc52}; rm -rf ~\r\x9b2J\u202e`;
  /** No raw control character of the sandbox's: only the renderer's own SGR escapes and its bell. */
  const raw = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u202e]/;

  it('shows every control character of every string field as a visible escape', () => {
    const events: [TaskEventType, Record<string, unknown>][] = [
      ['info', { message: hostile }],
      ['assistant_text', { text: `line one\n${hostile}\tend` }],
      ['tool_use', { summary: hostile }],
      ['tool_use', { name: hostile }],
      ['tool_result', { ok: false, summary: hostile }],
      ['result', { ok: false, text: hostile }],
      ['diff', { summary: hostile, filesChanged: 1, diffPath: `.rclaude/${hostile}.diff` }],
      ['push', { branch: hostile, commit: hostile, pushedTo: hostile }],
      ['activity', { activity: 'waiting', message: hostile }],
      ['error', { message: hostile }],
      ['info', { message: hostile, hibernateAt: '2025-01-01T00:00:00.000Z' }],
      ['checkpoint', { trigger: 'stop', error: hostile }],
      ['checkpoint', { trigger: hostile, checkpointId: hostile, files: 1, bytes: 1, uploadedBytes: 0, durationMs: 1 }],
      ['restore', { checkpointId: hostile, ageMs: 1, files: 1, bytes: 1, durationMs: 1, mismatches: [hostile] }],
    ];
    for (const [type, data] of events) {
      for (const taskId of [undefined, 'abc123']) {
        const out = text(type, data, taskId);
        expect(out.replace(/\n$/, '').replace(/^\x07/, ''), `${type} ${JSON.stringify(data)}`).not.toMatch(raw);
        expect(out, type).not.toContain(osc52);
        expect(out, type).toContain('\\x1b]52;c;');
      }
    }
    expect(text('assistant_text', { text: 'a\n\tb\r' })).toBe('● a\n  \tb\\r\n');
  });

  it('quotes the suggested download command so a diff path cannot add a command', () => {
    const out = text('diff', { summary: '1 file', filesChanged: 1, diffPath: "x; rm -rf ~ 'q" }, 'abc123');
    expect(out).toBe(`changes: 1 file · full diff: rclaude cp "abc123:x; rm -rf ~ 'q" .\n`);
    expect(text('diff', { summary: '1 file', filesChanged: 1, diffPath: '$(touch pwned)' }, 'abc123')).toBe(
      "changes: 1 file · full diff: rclaude cp 'abc123:$(touch pwned)' .\n",
    );
  });
});

describe('formatBytes', () => {
  it.each([
    [0, '0 B'],
    [512, '512 B'],
    [999, '999 B'],
    [1000, '1.0 kB'],
    [3_400, '3.4 kB'],
    [56_000_000, '56 MB'],
    [1_234_567, '1.2 MB'],
    [9_960_000, '10 MB'],
    [999_960, '1.0 MB'],
    [1_500_000_000, '1.5 GB'],
    [-1, '0 B'],
    [Number.NaN, '0 B'],
  ])('%d bytes is %s', (bytes, expected) => {
    expect(formatBytes(bytes)).toBe(expected);
  });
});

describe('formatSpan', () => {
  it.each([
    [0, '0 s'],
    [59_999, '59 s'],
    [180_000, '3 min'],
    [7_300_000, '2 h'],
    [3 * 86_400_000, '3 d'],
    [-5, '0 s'],
  ])('%d ms is %s', (ms, expected) => {
    expect(formatSpan(ms)).toBe(expected);
  });
});

describe('checkpoints, restores and the hibernation warning', () => {
  const taken = {
    trigger: 'manual',
    checkpointId: 'cp_abcdefgh',
    files: 1234,
    bytes: 56_000_000,
    uploadedBytes: 1_200_000,
    durationMs: 400,
  };

  it('says what a checkpoint held and uploaded, and names a trigger other than manual', () => {
    expect(text('checkpoint', taken)).toBe('checkpoint cp_abcdefgh: 1,234 files, 56 MB (uploaded 1.2 MB) in 0.4s\n');
    expect(text('checkpoint', { ...taken, trigger: 'periodic' })).toBe(
      'checkpoint cp_abcdefgh (periodic): 1,234 files, 56 MB (uploaded 1.2 MB) in 0.4s\n',
    );
  });

  it('says why a checkpoint failed, in red', () => {
    expect(text('checkpoint', { trigger: 'stop', error: 'the agent did not answer' })).toBe(
      'checkpoint failed (stop): the agent did not answer\n',
    );
    expect(taskEventLines({ type: 'checkpoint', data: { trigger: 'stop', error: 'x' } }, { style: ansiStyle })).toEqual(
      ['\x1b[31mcheckpoint failed (stop): x\x1b[0m'],
    );
  });

  it('says how old a restored checkpoint was, and lists what did not come back exactly', () => {
    const restored = { checkpointId: 'cp_abcdefgh', ageMs: 200_000, files: 1234, bytes: 56_000_000, durationMs: 800 };
    expect(text('restore', { ...restored, mismatches: [] })).toBe(
      'restored cp_abcdefgh from 3 min ago: 1,234 files, 56 MB in 0.8s\n',
    );
    const mismatches = Array.from({ length: 7 }, (_, i) => `f${i}: mode 4755 not kept`);
    expect(taskEventLines({ type: 'restore', data: { ...restored, mismatches } })).toEqual([
      'restored cp_abcdefgh from 3 min ago: 1,234 files, 56 MB in 0.8s',
      '  7 entries not restored exactly:',
      '    f0: mode 4755 not kept',
      '    f1: mode 4755 not kept',
      '    f2: mode 4755 not kept',
      '    f3: mode 4755 not kept',
      '    f4: mode 4755 not kept',
      '    … and 2 more',
    ]);
    expect(taskEventLines({ type: 'restore', data: { ...restored, mismatches: ['a: link'] } })[1]).toBe(
      '  1 entry not restored exactly:',
    );
  });

  it('tells the hibernation warning from other notes, and shows it undimmed', () => {
    const warning = {
      type: 'info' as const,
      data: { message: 'hibernating in 1 min: idle', hibernateAt: '2025-01-01T10:01:00.000Z' },
    };
    expect(hibernateWarning(warning)).toEqual({
      message: 'hibernating in 1 min: idle',
      hibernateAt: Date.parse('2025-01-01T10:01:00.000Z'),
    });
    expect(hibernateWarning({ type: 'info', data: { message: 'cloned' } })).toBeNull();
    expect(hibernateWarning({ type: 'info', data: { message: 'x', hibernateAt: 'soon' } })).toBeNull();
    expect(
      hibernateWarning({ type: 'error', data: { message: 'x', hibernateAt: '2025-01-01T10:01:00.000Z' } }),
    ).toBeNull();
    expect(taskEventLines(warning, { style: ansiStyle })).toEqual(['\x1b[1m⏾\x1b[0m hibernating in 1 min: idle']);
    expect(taskEventLines({ type: 'info', data: { message: 'cloned' } }, { style: ansiStyle })).toEqual([
      '\x1b[2mcloned\x1b[0m',
    ]);
  });
});

describe('approval events', () => {
  it('names the request with the two commands that answer it, and who answered', () => {
    const requested = text('approval_requested', {
      approvalId: 'ap_abcdefgh2345',
      tool: 'Bash',
      summary: 'Bash: npm publish',
      reason: 'Publish it',
      expiresAt: '2026-12-03T10:00:00Z',
    });
    expect(requested).toBe(
      '\x07? approval ap_abcdefgh2345: Bash: npm publish (Publish it) · rclaude approve ap_abcdefgh2345 or rclaude deny ap_abcdefgh2345\n',
    );
    const answered = (data: Record<string, unknown>) =>
      text('approval_answered', { approvalId: 'ap_abcdefgh2345', ...data });
    expect(answered({ decision: 'allow', by: 'alice', timedOut: false })).toBe(
      '✓ approval ap_abcdefgh2345 allowed by alice\n',
    );
    expect(answered({ decision: 'deny', by: 'bob', timedOut: false })).toBe(
      '✗ approval ap_abcdefgh2345 denied by bob\n',
    );
    expect(answered({ decision: 'deny', by: null, timedOut: true })).toBe(
      '✗ approval ap_abcdefgh2345 timed out: denied\n',
    );
    expect(text('approval_withdrawn', { approvalId: 'ap_abcdefgh2345', reason: 'answered in the terminal' })).toBe(
      'approval ap_abcdefgh2345 withdrawn: answered in the terminal\n',
    );
  });

  it('shows what a sandbox put in a summary as visible escapes', () => {
    const line = text('approval_requested', {
      approvalId: 'ap_x',
      tool: 'Bash',
      summary: 'Bash: x\x1b]52;c;AA\x07',
      reason: null,
    });
    expect(line.slice(1)).not.toMatch(/[\u0000-\u0009\u000b-\u001f\u007f]/);
  });
});
