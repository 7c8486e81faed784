/**
 * RCLAUDE_MAX_TASKS_PER_USER through the API: one task too many is refused with TOO_MANY_TASKS (429) saying the
 * limit and how to stop a task; ended tasks do not count, and one user's tasks do not count against another.
 */
import type { Task } from '@rclaude/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestStack, type TestStack, type TestUser } from '../../test/test-stack.js';

describe('per-user task quota', () => {
  let stack: TestStack;
  let alice: TestUser;
  let bob: TestUser;

  beforeAll(async () => {
    stack = await startTestStack('embedded', { env: { RCLAUDE_MAX_TASKS_PER_USER: '2' } });
    alice = await stack.createUser('alice');
    bob = await stack.createUser('bob');
  });
  afterAll(async () => {
    await stack?.close();
  });

  const create = (user: TestUser) =>
    stack.api(user.token, 'POST', '/api/tasks', { body: { command: ['sh'], name: 'quota' } });

  it('refuses one live task too many with a clear 429, and allows it again once one is stopped', async () => {
    const first = await stack.startTask(alice.token);
    await stack.startTask(alice.token);
    const before = (await stack.api(alice.token, 'GET', '/api/tasks')).body as Task[];

    const refused = await create(alice);
    expect(refused.status).toBe(429);
    expect(refused.body.error.code).toBe('TOO_MANY_TASKS');
    expect(refused.body.error.message).toContain('RCLAUDE_MAX_TASKS_PER_USER=2');
    expect(refused.body.error.message).toContain('rclaude stop ID');
    expect(refused.body.error.details).toMatchObject({ limit: 2 });
    // Nothing was created or started for the refused request.
    expect(((await stack.api(alice.token, 'GET', '/api/tasks')).body as Task[]).length).toBe(before.length);

    // Another user has a quota of their own.
    expect((await create(bob)).status).toBe(201);

    const stopped = await stack.api(alice.token, 'POST', `/api/tasks/${first.task.id}/stop`);
    expect(stopped.status, stopped.text).toBe(200);
    expect((await create(alice)).status).toBe(201);
    expect((await create(alice)).status).toBe(429);
  });
});
