import { isResumable, isTerminal, taskStatuses } from '@rclaude/protocol';
import { describe, expect, it } from 'vitest';
import { makeTask } from '../../test/fixtures.js';
import {
  canResume,
  describeStatus,
  describeWork,
  formatAge,
  formatCost,
  formatDuration,
  isEnded,
  taskCostUsd,
  taskDurationMs,
} from './task-format.js';

describe('formatDuration', () => {
  it.each([
    [0, '0s'],
    [999, '0s'],
    [45_000, '45s'],
    [187_000, '3m 07s'],
    [3_600_000, '1h 00m'],
    [7_500_000, '2h 05m'],
    [3 * 86_400_000 + 4 * 3_600_000 + 59_000, '3d 4h'],
  ])('%i ms is %s', (ms, text) => {
    expect(formatDuration(ms)).toBe(text);
  });

  it('treats negative and non-finite durations (clock skew) as zero', () => {
    expect(formatDuration(-5000)).toBe('0s');
    expect(formatDuration(Number.NaN)).toBe('0s');
  });
});

describe('taskDurationMs', () => {
  const now = Date.parse('2025-01-01T10:10:05.000Z');
  it('is null before the task starts', () => {
    expect(taskDurationMs(makeTask({ startedAt: null }), now)).toBeNull();
  });
  it('runs to now while the task runs', () => {
    expect(taskDurationMs(makeTask(), now)).toBe(600_000);
  });
  it('stops at the end time once the task ended', () => {
    expect(taskDurationMs(makeTask({ endedAt: '2025-01-01T10:01:05.000Z' }), now)).toBe(60_000);
  });
});

describe('formatAge', () => {
  const now = Date.parse('2025-03-12T12:00:00.000Z');
  it.each([
    ['2025-03-12T11:59:30.000Z', 'just now'],
    ['2025-03-12T11:55:00.000Z', '5m ago'],
    ['2025-03-12T09:00:00.000Z', '3h ago'],
    ['2025-03-10T12:00:00.000Z', '2d ago'],
    ['2025-01-01T12:00:00.000Z', '1 Jan 2025'],
  ])('%s is %s', (iso, text) => {
    expect(formatAge(iso, now)).toBe(text);
  });
  it('says nothing for a malformed time', () => {
    expect(formatAge('not a date', now)).toBe('');
  });
});

describe('formatCost', () => {
  it.each([
    [0, '$0.00'],
    [-1, '$0.00'],
    [0.004, '<$0.01'],
    [0.01, '$0.01'],
    [0.425, '$0.43'],
    [12.3, '$12.30'],
    [1234.5, '$1,234.50'],
  ])('%f dollars is %s', (usd, text) => {
    expect(formatCost(usd)).toBe(text);
  });

  it('adds compute and model cost', () => {
    expect(taskCostUsd(makeTask({ computeCostUsd: 0.25, modelCostUsd: 1.5 }))).toBeCloseTo(1.75);
  });
});

describe('describeStatus', () => {
  it('labels every status and marks only unfinished ones active', () => {
    for (const status of taskStatuses) {
      const meta = describeStatus(status);
      expect(meta.label).not.toBe('');
      expect(meta.active).toBe(!isTerminal(status));
    }
  });
  it('shows what Claude Code is doing while running', () => {
    expect(describeStatus('running', 'waiting')).toMatchObject({ label: 'Needs input', tone: 'waiting' });
    expect(describeStatus('running', 'working')).toMatchObject({ label: 'Working', tone: 'live' });
    expect(describeStatus('failed', 'working')).toMatchObject({ label: 'Failed', tone: 'danger' });
  });
  it('isEnded and canResume agree with the protocol for every status', () => {
    for (const status of taskStatuses) {
      expect(isEnded(status)).toBe(isTerminal(status));
      expect(canResume(status)).toBe(isResumable(status));
    }
  });
  it('shows a hibernated task calmly: not pulsing, not a success or a failure', () => {
    expect(describeStatus('hibernated')).toEqual({ label: 'Hibernated', tone: 'calm', active: false });
  });
});

describe('describeWork', () => {
  it('shows a prompt as is and quotes command words a shell would split', () => {
    expect(describeWork(makeTask({ prompt: 'fix it', command: null }))).toBe('fix it');
    expect(describeWork(makeTask({ command: ['bash', '-c', "echo 'hi there'"] }))).toBe(
      `bash -c 'echo '\\''hi there'\\'''`,
    );
    expect(describeWork(makeTask({ command: null, prompt: null }))).toBe('claude');
  });
});
