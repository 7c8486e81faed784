import { describe, expect, it } from 'vitest';
import type { CheckpointRecord } from '../stores/types.js';
import { retentionPlan } from './checkpoints.js';

const DAY = 86_400_000;
const NOW = Date.parse('2026-12-01T00:00:00Z');

/** A complete checkpoint of `taskId`, `daysAgo` old, of `bytes`. */
function cp(id: string, taskId: string, daysAgo: number, bytes = 100, state: CheckpointRecord['state'] = 'complete') {
  return {
    id,
    taskId,
    owner: 'u1',
    sandboxId: 'sb',
    state,
    trigger: 'manual',
    createdAt: new Date(NOW - daysAgo * DAY).toISOString(),
    files: 1,
    bytes,
    uploadedBytes: bytes,
    durationMs: 1,
    claudeSessionId: null,
  } as CheckpointRecord;
}

const doomedIds = (records: CheckpointRecord[], policy: Partial<Parameters<typeof retentionPlan>[1]>) => {
  const plan = retentionPlan(records, { keepPerTask: 10, maxAgeMs: 0, quotaBytes: 0, ...policy }, NOW);
  return { ids: plan.doomed.map((r) => r.id).sort(), overBy: plan.overBy };
};

describe('the checkpoint retention rule', () => {
  it('keeps the newest N of each task, in any input order', () => {
    const records = [cp('a1', 'a', 3), cp('a3', 'a', 1), cp('a2', 'a', 2), cp('b1', 'b', 5), cp('b2', 'b', 4)];
    expect(doomedIds(records, { keepPerTask: 2 })).toEqual({ ids: ['a1'], overBy: 0 });
    // At least the newest, whatever the setting says.
    expect(doomedIds(records, { keepPerTask: 0 }).ids).toEqual(['a1', 'a2', 'b1']);
  });

  it('expires by age, except each task newest however old', () => {
    const records = [cp('a1', 'a', 40), cp('a2', 'a', 35), cp('b1', 'b', 50), cp('c1', 'c', 10), cp('c2', 'c', 1)];
    expect(doomedIds(records, { maxAgeMs: 30 * DAY })).toEqual({ ids: ['a1'], overBy: 0 });
  });

  it('deletes the oldest across tasks while over the quota, never a newest, and says by how much it is still over', () => {
    const records = [
      cp('a1', 'a', 9, 300),
      cp('a2', 'a', 1, 300),
      cp('b1', 'b', 8, 300),
      cp('b2', 'b', 7, 300),
      cp('b3', 'b', 2, 300),
    ];
    // 1500 bytes against 1000: the two oldest that are not a newest (a1, b1) go.
    expect(doomedIds(records, { quotaBytes: 1000 })).toEqual({ ids: ['a1', 'b1'], overBy: 0 });
    // The two newest alone (600) are over 500: everything else goes and 100 remain over.
    expect(doomedIds(records, { quotaBytes: 500 })).toEqual({ ids: ['a1', 'b1', 'b2'], overBy: 100 });
  });

  it('counts only complete checkpoints, and never deletes one still being uploaded', () => {
    const records = [cp('a1', 'a', 40), cp('a2', 'a', 1, 100, 'pending'), cp('a0', 'a', 41)];
    // The pending one is not the newest complete: a1 is, and stays.
    expect(doomedIds(records, { maxAgeMs: DAY })).toEqual({ ids: ['a0'], overBy: 0 });
  });
});
