/**
 * Checkpoint retention by age (RCLAUDE_CHECKPOINT_MAX_AGE_DAYS), through the real proxy and its fake agents:
 * checkpoints are made old by moving their `created_at` back in the database, then one new checkpoint of the
 * user applies the policy to all of that user's tasks.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestStack, type TestStack, type TestUser } from '../../test/test-stack.js';

describe.each(['embedded', 'postgres+redis'] as const)('checkpoint retention by age (%s)', (kind) => {
  let stack: TestStack;
  let alice: TestUser;
  let bob: TestUser;

  beforeAll(async () => {
    stack = await startTestStack(kind, { env: { RCLAUDE_CHECKPOINT_MAX_AGE_DAYS: '1' } });
    alice = await stack.createUser('alice');
    bob = await stack.createUser('bob');
  });
  afterAll(async () => {
    await stack?.close();
  });

  const checkpoint = async (token: string, taskId: string): Promise<string> => {
    const res = await stack.api(token, 'POST', `/api/tasks/${taskId}/checkpoints`, { body: {} });
    expect(res.status, res.text).toBe(201);
    return res.body.id as string;
  };
  const ids = async (token: string, taskId: string): Promise<string[]> =>
    (await stack.api(token, 'GET', `/api/tasks/${taskId}/checkpoints`)).body.checkpoints.map(
      (c: { id: string }) => c.id,
    );
  const age = async (checkpointIds: string[], days: number) => {
    const res = await stack.stores.db.pool.query(
      `UPDATE checkpoints SET created_at = created_at - make_interval(days => $2) WHERE id = ANY($1)`,
      [checkpointIds, days],
    );
    expect(res.rowCount).toBe(checkpointIds.length);
  };

  it("expires a user's old checkpoints on every task but keeps each task's newest, and no one else's", async () => {
    // Task A: two old checkpoints and a young one. Task B: stopped, both its checkpoints old.
    const a = await stack.startTask(alice.token);
    const a1 = await checkpoint(alice.token, a.task.id);
    const a2 = await checkpoint(alice.token, a.task.id);
    const a3 = await checkpoint(alice.token, a.task.id);
    const b = await stack.startTask(alice.token);
    const b1 = await checkpoint(alice.token, b.task.id);
    const stop = await stack.api(alice.token, 'POST', `/api/tasks/${b.task.id}/stop`, { body: {} });
    expect(stop.body.status).toBe('stopped');
    const [b2] = await ids(alice.token, b.task.id);
    expect(b2).not.toBe(b1);
    // Bob's old checkpoints are his: Alice's checkpoint does not touch them.
    const c = await stack.startTask(bob.token);
    const c1 = await checkpoint(bob.token, c.task.id);
    const c2 = await checkpoint(bob.token, c.task.id);
    await age([a1, a2, b1, b2 as string, c1, c2], 2);

    const a4 = await checkpoint(alice.token, a.task.id);

    expect(await ids(alice.token, a.task.id)).toEqual([a4, a3]);
    // The stopped task keeps its newest checkpoint, however old: it can still be resumed.
    expect(await ids(alice.token, b.task.id)).toEqual([b2]);
    expect(await ids(bob.token, c.task.id)).toEqual([c2, c1]);
    const resumed = await stack.api(alice.token, 'POST', `/api/tasks/${b.task.id}/resume`, { body: {} });
    expect(resumed.status, resumed.text).toBe(200);
  });

  it('keeps checkpoints younger than the limit, however many tasks the user has', async () => {
    const a = await stack.startTask(bob.token);
    const a1 = await checkpoint(bob.token, a.task.id);
    const a2 = await checkpoint(bob.token, a.task.id);
    // Just under a day old: kept.
    for (const [id, hours] of [
      [a1, 23],
      [a2, 22],
    ] as const) {
      await stack.stores.db.pool.query(
        `UPDATE checkpoints SET created_at = now() - make_interval(hours => $2) WHERE id = $1`,
        [id, hours],
      );
    }
    const a3 = await checkpoint(bob.token, a.task.id);
    expect(await ids(bob.token, a.task.id)).toEqual([a3, a2, a1]);
  });
});

describe.each(['embedded', 'postgres+redis'] as const)('checkpoint quota per user (%s)', (kind) => {
  let stack: TestStack;
  let alice: TestUser;

  beforeAll(async () => {
    stack = await startTestStack(kind, {
      env: { RCLAUDE_CHECKPOINT_QUOTA_BYTES: '100', RCLAUDE_CHECKPOINT_MAX_AGE_DAYS: '0' },
    });
    alice = await stack.createUser('alice');
  });
  afterAll(async () => {
    await stack?.close();
  });

  const checkpoint = async (taskId: string): Promise<string> => {
    const res = await stack.api(alice.token, 'POST', `/api/tasks/${taskId}/checkpoints`, { body: {} });
    expect(res.status, res.text).toBe(201);
    return res.body.id as string;
  };
  const ids = async (taskId: string): Promise<string[]> =>
    (await stack.api(alice.token, 'GET', `/api/tasks/${taskId}/checkpoints`)).body.checkpoints.map(
      (c: { id: string }) => c.id,
    );
  /** Gives a checkpoint a size and an age (the fake agent uploads empty ones, at nearly the same moment). */
  const shape = async (id: string, bytes: number, minutesAgo: number) => {
    const res = await stack.stores.db.pool.query(
      `UPDATE checkpoints SET bytes = $2, created_at = now() - make_interval(mins => $3) WHERE id = $1`,
      [id, bytes, minutesAgo],
    );
    expect(res.rowCount).toBe(1);
  };

  it("deletes the user's oldest checkpoints until under the quota, never a task's newest; over anyway, says so", async () => {
    const a = await stack.startTask(alice.token);
    const a1 = await checkpoint(a.task.id);
    const a2 = await checkpoint(a.task.id);
    const a3 = await checkpoint(a.task.id);
    const b = await stack.startTask(alice.token);
    const b1 = await checkpoint(b.task.id);
    const b2 = await checkpoint(b.task.id);
    await shape(a1, 40, 50);
    await shape(a2, 40, 40);
    await shape(a3, 40, 30);
    await shape(b1, 40, 20);
    await shape(b2, 40, 10);

    // 200 bytes: a1, a2, a3 go (oldest first) until 80 remain; b1, newer, stays.
    const a4 = await checkpoint(a.task.id);
    expect(await ids(a.task.id)).toEqual([a4]);
    expect(await ids(b.task.id)).toEqual([b2, b1]);
    const quotaEvents = async () =>
      (await stack.api(alice.token, 'GET', `/api/tasks/${a.task.id}/events`)).body.events.filter(
        (e: { type: string; data: { message?: string } }) => e.type === 'error' && e.data.message?.includes('quota'),
      );
    expect(await quotaEvents()).toEqual([]);

    // b2 alone is over the quota: everything else goes, the new checkpoint stays, and the timeline says why.
    await shape(b2, 500, 10);
    const a5 = await checkpoint(a.task.id);
    expect(await ids(a.task.id)).toEqual([a5]);
    expect(await ids(b.task.id)).toEqual([b2]);
    const [event, ...more] = await quotaEvents();
    expect(more).toEqual([]);
    expect(event.data).toMatchObject({ quotaBytes: 100, overBy: 400 });
    expect(event.data.message).toContain('rclaude rm');
    // Still over at the next checkpoint: said once, not at every checkpoint.
    const a6 = await checkpoint(a.task.id);
    expect(await ids(a.task.id)).toEqual([a6]);
    expect(await quotaEvents()).toHaveLength(1);
  });
});
