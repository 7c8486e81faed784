import { randomBytes } from 'node:crypto';
import type { AppError } from '@rclaude/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabaseKind } from '../../test/test-database.js';
import type { Database } from '../db/database.js';
import { PgSandboxStore } from './pg-sandbox-store.js';
import type { SandboxRecord } from './types.js';

const kinds: TestDatabaseKind[] = ['postgres', 'embedded'];

function newRecord(overrides: Partial<Omit<SandboxRecord, 'createdAt'>> = {}): Omit<SandboxRecord, 'createdAt'> {
  return {
    sandboxId: `sb_${randomBytes(6).toString('hex')}`,
    taskId: null,
    provider: 'local',
    ref: null,
    tokenHash: randomBytes(32).toString('hex'),
    state: 'starting',
    workspace: null,
    ...overrides,
  };
}

describe.each(kinds)('SandboxStore contract (%s)', (kind) => {
  let db: Database;
  let store: PgSandboxStore;

  beforeAll(async () => {
    db = await createTestDatabase(kind);
    store = new PgSandboxStore(db.pool);
  });
  afterAll(async () => {
    await db?.close();
  });

  it('creates, reads back and updates a record', async () => {
    const rec = newRecord({ provider: 'ecs', workspace: '/workspace' });
    await store.create(rec);
    const got = await store.get(rec.sandboxId);
    expect(got).toMatchObject(rec);
    expect(got?.createdAt).toBeInstanceOf(Date);
    await store.update(rec.sandboxId, { ref: 'arn:aws:ecs:task/1', state: 'claimed', taskId: 'task1234' });
    expect(await store.get(rec.sandboxId)).toMatchObject({
      ...rec,
      ref: 'arn:aws:ecs:task/1',
      state: 'claimed',
      taskId: 'task1234',
    });
    await store.update(rec.sandboxId, { state: 'paused' });
    expect((await store.get(rec.sandboxId))?.state).toBe('paused');
    expect((await store.listActive()).map((r) => r.sandboxId)).toContain(rec.sandboxId);
    await store.update(rec.sandboxId, { state: 'claimed' });
    await store.update(rec.sandboxId, { workspace: null });
    expect((await store.get(rec.sandboxId))?.workspace).toBeNull();
    await store.update('sb_missing', { state: 'stopped' });
    expect(await store.get('sb_missing')).toBeNull();
  });

  it('refuses a duplicate sandbox id with CONFLICT', async () => {
    const rec = newRecord();
    await store.create(rec);
    const err = await store.create(rec).catch((e: unknown) => e);
    expect((err as AppError).code).toBe('CONFLICT');
  });

  it('finds a task sandbox, preferring a live one over newer stopped ones', async () => {
    const taskId = `task${randomBytes(4).toString('hex')}`;
    const live = newRecord({ taskId, state: 'claimed' });
    const stopped = newRecord({ taskId, state: 'stopped' });
    await store.create(live);
    await store.create(stopped);
    expect((await store.getByTask(taskId))?.sandboxId).toBe(live.sandboxId);
    await store.update(live.sandboxId, { state: 'stopped' });
    expect((await store.getByTask(taskId))?.sandboxId).toBe(stopped.sandboxId);
    expect(await store.getByTask('nosuchtask')).toBeNull();
  });

  it('lists every sandbox not stopped, oldest first', async () => {
    const a = newRecord({ state: 'pooled' });
    const b = newRecord({ state: 'stopped' });
    const c = newRecord({ state: 'claimed' });
    for (const r of [a, b, c]) await store.create(r);
    const ids = (await store.listActive()).map((r) => r.sandboxId);
    expect(ids).toContain(a.sandboxId);
    expect(ids).toContain(c.sandboxId);
    expect(ids).not.toContain(b.sandboxId);
    expect(ids.indexOf(a.sandboxId)).toBeLessThan(ids.indexOf(c.sandboxId));
    expect((await store.listActive()).every((r) => r.state !== 'stopped')).toBe(true);
  });
});
