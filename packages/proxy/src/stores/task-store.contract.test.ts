import { randomBytes } from 'node:crypto';
import { AppError, canTransition, type TaskStatus, taskStatuses } from '@rclaude/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabaseKind } from '../../test/test-database.js';
import type { Database } from '../db/database.js';
import { PgTaskStore } from './pg-task-store.js';
import type { NewTask } from './types.js';

const kinds: TestDatabaseKind[] = ['postgres', 'embedded'];

function newTask(overrides: Partial<NewTask> = {}): NewTask {
  const id = randomBytes(6).toString('hex');
  return {
    id,
    name: `task ${id}`,
    owner: 'user-1',
    provider: 'local',
    command: ['claude', '--model', 'x'],
    prompt: null,
    repo: 'https://example.com/repo.git',
    branch: 'main',
    pushBranch: 'rclaude/push-me',
    mainSessionId: `s_${id}`,
    ...overrides,
  };
}

describe.each(kinds)('TaskStore contract (%s)', (kind) => {
  let db: Database;
  let store: PgTaskStore;

  beforeAll(async () => {
    db = await createTestDatabase(kind);
    store = new PgTaskStore(db.pool);
  });
  afterAll(async () => {
    await db?.close();
  });

  /** Puts a task straight into `status`, bypassing the state machine (test set-up only). */
  async function forceStatus(id: string, status: TaskStatus): Promise<void> {
    await db.pool.query('UPDATE tasks SET status = $2 WHERE id = $1', [id, status]);
  }

  it('creates a task with defaults and reads it back', async () => {
    const input = newTask({ prompt: 'fix the bug', command: null });
    const created = await store.create(input);
    expect(created).toMatchObject({
      ...input,
      status: 'queued',
      activity: null,
      statusReason: null,
      exitCode: null,
      startedAt: null,
      endedAt: null,
      computeCostUsd: 0,
      modelCostUsd: 0,
      usage: null,
    });
    expect(created.allowHosts).toEqual([]);
    const allowing = await store.create(newTask({ allowHosts: ['example.com', '*.example.org'] }));
    expect((await store.get(allowing.id))?.allowHosts).toEqual(['example.com', '*.example.org']);
    expect(new Date(created.createdAt).toISOString()).toBe(created.createdAt);
    expect(await store.get(input.id)).toEqual(created);
    expect(await store.get('nosuchtask')).toBeNull();
  });

  it('refuses a duplicate id with CONFLICT', async () => {
    const input = newTask();
    await store.create(input);
    const err = await store.create(input).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AppError);
    expect((err as AppError).code).toBe('CONFLICT');
  });

  it('allows exactly the transitions of taskTransitions, from every status to every status', async () => {
    const outcomes: string[] = [];
    const expected: string[] = [];
    for (const from of taskStatuses) {
      for (const to of taskStatuses) {
        const task = await store.create(newTask());
        await forceStatus(task.id, from);
        const result = await store.transition(task.id, to);
        const after = await store.get(task.id);
        outcomes.push(`${from}->${to}: ${result ? 'moved' : 'refused'} (now ${after?.status})`);
        expected.push(`${from}->${to}: ${canTransition(from, to) ? `moved (now ${to})` : `refused (now ${from})`}`);
      }
    }
    expect(outcomes).toEqual(expected);
  });

  it('applies the patch with a legal transition and not with an illegal one', async () => {
    const task = await store.create(newTask());
    const startedAt = new Date('2030-01-02T03:04:05.678Z');
    const started = await store.transition(task.id, 'starting', { startedAt, statusReason: 'starting sandbox' });
    expect(started).toMatchObject({
      status: 'starting',
      startedAt: startedAt.toISOString(),
      statusReason: 'starting sandbox',
    });
    expect(await store.transition(task.id, 'succeeded', { exitCode: 0 })).toBeNull();
    expect(await store.get(task.id)).toMatchObject({ status: 'starting', exitCode: null });
    expect(await store.transition('nosuchtask', 'starting')).toBeNull();
  });

  it('lets exactly one of two racing conflicting transitions win', async () => {
    for (let round = 0; round < 10; round++) {
      const task = await store.create(newTask());
      await forceStatus(task.id, 'running');
      const [a, b] = await Promise.all([
        store.transition(task.id, 'succeeded', { exitCode: 0 }),
        store.transition(task.id, 'failed', { exitCode: 1 }),
      ]);
      const winners = [a, b].filter((t) => t !== null);
      expect(winners).toHaveLength(1);
      const final = await store.get(task.id);
      expect(final?.status).toBe(winners[0]?.status);
      expect(final?.exitCode).toBe(winners[0]?.status === 'succeeded' ? 0 : 1);
    }
  });

  it('lets exactly one of two racing identical transitions win (running -> stopping twice)', async () => {
    const task = await store.create(newTask());
    await forceStatus(task.id, 'running');
    const results = await Promise.all([store.transition(task.id, 'stopping'), store.transition(task.id, 'stopping')]);
    expect(results.filter((t) => t !== null)).toHaveLength(1);
  });

  it('updates fields without a status change, including usage as JSON', async () => {
    const task = await store.create(newTask());
    const usage = { inputTokens: 10, outputTokens: 20, cacheReadTokens: 3, cacheCreationTokens: 4 };
    const updated = await store.update(task.id, {
      activity: 'working',
      computeCostUsd: 0.125,
      modelCostUsd: 1.5,
      usage,
    });
    expect(updated).toMatchObject({
      status: 'queued',
      activity: 'working',
      computeCostUsd: 0.125,
      modelCostUsd: 1.5,
      usage,
    });
    expect(await store.get(task.id)).toEqual(updated);
    expect(await store.update(task.id, { usage: null })).toMatchObject({ usage: null, activity: 'working' });
    expect(await store.update(task.id, {})).toMatchObject({ id: task.id });
    expect(await store.update('nosuchtask', { activity: 'done' })).toBeNull();
  });

  it('adds model usage and cost atomically, from none, under concurrent answers', async () => {
    const task = await store.create(newTask());
    const one = { inputTokens: 10, outputTokens: 5, cacheReadTokens: 2, cacheCreationTokens: 1 };
    await Promise.all(Array.from({ length: 20 }, () => store.addModelUsage(task.id, one, 0.000105)));
    expect(await store.get(task.id)).toMatchObject({
      modelCostUsd: 0.0021,
      usage: { inputTokens: 200, outputTokens: 100, cacheReadTokens: 40, cacheCreationTokens: 20 },
    });
    expect(await store.addModelUsage('nosuchtask', one, 1)).toBeNull();
  });

  it('lists by owner, status, name substring and liveness, newest first, up to the limit', async () => {
    const owner = `owner-${randomBytes(4).toString('hex')}`;
    const a = await store.create(newTask({ owner, name: 'Alpha 100% done' }));
    const b = await store.create(newTask({ owner, name: 'beta' }));
    const c = await store.create(newTask({ owner, name: 'ALPHA two' }));
    await store.create(newTask({ owner: `${owner}-other`, name: 'alpha elsewhere' }));
    await forceStatus(b.id, 'succeeded');

    expect((await store.list({ owner, limit: 100 })).map((t) => t.id)).toEqual([c.id, b.id, a.id]);
    expect((await store.list({ owner, limit: 2 })).map((t) => t.id)).toEqual([c.id, b.id]);
    expect((await store.list({ owner, q: 'alpha', limit: 100 })).map((t) => t.id)).toEqual([c.id, a.id]);
    // LIKE wildcards in the query are literal characters.
    expect((await store.list({ owner, q: '100%', limit: 100 })).map((t) => t.id)).toEqual([a.id]);
    expect((await store.list({ owner, q: '_', limit: 100 })).map((t) => t.id)).toEqual([]);
    expect((await store.list({ owner, status: 'succeeded', limit: 100 })).map((t) => t.id)).toEqual([b.id]);
    expect((await store.list({ owner, live: true, limit: 100 })).map((t) => t.id)).toEqual([c.id, a.id]);
    const all = await store.list({ q: 'alpha', limit: 500 });
    expect(all.some((t) => t.owner !== owner)).toBe(true);
  });

  it('deletes a task and its events', async () => {
    const task = await store.create(newTask());
    await store.appendEvent(task.id, 'info', { message: 'hello' });
    expect(await store.delete(task.id)).toBe(true);
    expect(await store.get(task.id)).toBeNull();
    expect(await store.listEvents(task.id)).toEqual([]);
    expect(await store.delete(task.id)).toBe(false);
  });

  it('numbers events 1, 2, 3 per task and pages with afterSeq and limit', async () => {
    const t1 = await store.create(newTask());
    const t2 = await store.create(newTask());
    const e1 = await store.appendEvent(t1.id, 'status', { status: 'starting' });
    await store.appendEvent(t2.id, 'info', { n: 1 });
    const e2 = await store.appendEvent(t1.id, 'assistant_text', { text: 'hi', nested: { list: [1, 'two', null] } });
    await store.appendEvent(t1.id, 'result', { costUsd: 0.5 });
    expect(e1).toMatchObject({ seq: 1, taskId: t1.id, type: 'status', data: { status: 'starting' } });
    expect(e2.seq).toBe(2);
    expect(new Date(e1.at).toISOString()).toBe(e1.at);
    expect((await store.listEvents(t1.id)).map((e) => e.seq)).toEqual([1, 2, 3]);
    expect((await store.listEvents(t1.id, 1)).map((e) => e.seq)).toEqual([2, 3]);
    expect((await store.listEvents(t1.id, 0, 2)).map((e) => e.seq)).toEqual([1, 2]);
    expect((await store.listEvents(t1.id))[1]).toEqual(e2);
    expect((await store.listEvents(t2.id)).map((e) => e.seq)).toEqual([1]);
  });

  it('gives concurrent appends distinct, gap-free seqs', async () => {
    const task = await store.create(newTask());
    const events = await Promise.all(Array.from({ length: 40 }, (_, i) => store.appendEvent(task.id, 'info', { i })));
    expect(events.map((e) => e.seq).sort((x, y) => x - y)).toEqual(Array.from({ length: 40 }, (_, i) => i + 1));
    const listed = await store.listEvents(task.id);
    expect(listed.map((e) => e.seq)).toEqual(Array.from({ length: 40 }, (_, i) => i + 1));
    expect(new Set(listed.map((e) => e.data.i)).size).toBe(40);
  });

  it('refuses an event for a missing task with NOT_FOUND', async () => {
    const err = await store.appendEvent('nosuchtask', 'info', {}).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AppError);
    expect((err as AppError).code).toBe('NOT_FOUND');
  });

  it('regression: event data holding a NUL character is stored, not refused by jsonb', async () => {
    const task = await store.create(newTask());
    const event = await store.appendEvent(task.id, 'output', { 'k\u0000ey': 'a\u0000b', list: ['\u0000'] });
    expect(event.data).toEqual({ 'k\ufffdey': 'a\ufffdb', list: ['\ufffd'] });
  });
});
