import type { Task } from '@rclaude/protocol';

/** A task as the API returns it, with overridable fields. */
export function makeTask(overrides: Partial<Task> = {}): Task {
  return {
    id: 'abcd1234',
    name: 'fix the login test',
    owner: 'u1',
    provider: 'local',
    command: ['bash'],
    prompt: null,
    repo: null,
    branch: null,
    pushBranch: null,
    status: 'running',
    activity: null,
    statusReason: null,
    exitCode: null,
    mainSessionId: 'sess_abcd1234',
    createdAt: '2025-01-01T10:00:00.000Z',
    startedAt: '2025-01-01T10:00:05.000Z',
    endedAt: null,
    computeCostUsd: 0,
    modelCostUsd: 0,
    usage: null,
    ...overrides,
  };
}

export const testUser = { id: 'u1', username: 'ada', role: 'admin' as const, createdAt: '2025-01-01T00:00:00.000Z' };
