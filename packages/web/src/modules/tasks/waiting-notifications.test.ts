import type { Task } from '@rclaude/protocol';
import { describe, expect, it } from 'vitest';
import { waitingNotice } from './waiting-notifications.js';

const task = (activity: Task['activity'], statusReason: string | null = null) =>
  ({ id: 't1', name: 'fix the tests', activity, statusReason }) as Task;

describe('waitingNotice', () => {
  it('notifies once when a task starts waiting, again only after it worked in between', () => {
    const seen = new Map<string, Task['activity']>();
    expect(waitingNotice(seen, task('working'))).toBeNull();
    expect(waitingNotice(seen, task('waiting', 'Claude needs your permission to use Bash'))).toEqual({
      title: 'fix the tests is waiting for you',
      body: 'Claude needs your permission to use Bash',
    });
    expect(waitingNotice(seen, task('waiting'))).toBeNull();
    expect(waitingNotice(seen, task('working'))).toBeNull();
    expect(waitingNotice(seen, task('waiting'))?.title).toBe('fix the tests is waiting for you');
  });
});
