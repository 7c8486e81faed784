import { describe, expect, it } from 'vitest';
import { describeCheckpoint } from './checkpoints.js';

describe('describeCheckpoint', () => {
  it('says what a checkpoint holds and what it uploaded, as the timeline does', () => {
    expect(
      describeCheckpoint({
        id: 'cp_abcdefgh',
        taskId: 'abcd1234',
        createdAt: '2025-01-01T10:00:00.000Z',
        trigger: 'manual',
        files: 1234,
        bytes: 56_000_000,
        uploadedBytes: 1_200_000,
        durationMs: 400,
        claudeSessionId: null,
      }),
    ).toBe('cp_abcdefgh: 1,234 files, 56 MB (uploaded 1.2 MB) in 0.4s');
  });
});
