import { describe, expect, it } from 'vitest';
import { latestDiffSummary } from './task-forks.js';

const diff = (summary: string) => ({
  type: 'diff' as const,
  data: { files: [], filesChanged: 1, additions: 1, deletions: 0, diffPath: '.rclaude/diff', diffBytes: 10, summary },
});

describe('latestDiffSummary', () => {
  it("is the summary of a fork's latest valid diff event, or null before any", () => {
    expect(latestDiffSummary([])).toBeNull();
    expect(latestDiffSummary([{ type: 'status', data: { status: 'running' } }])).toBeNull();
    expect(
      latestDiffSummary([
        diff('1 file changed, +1 -0'),
        diff('2 files changed, +10 -3'),
        { type: 'diff', data: { summary: 42 } },
        { type: 'info', data: { message: 'x' } },
      ]),
    ).toBe('2 files changed, +10 -3');
  });
});
