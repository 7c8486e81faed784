import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabaseKind } from '../../test/test-database.js';
import type { Database } from '../db/database.js';
import { PgApprovalStore } from './pg-approval-store.js';
import { PgTaskStore } from './pg-task-store.js';
import type { ApprovalRecord } from './types.js';

const kinds: TestDatabaseKind[] = ['postgres', 'embedded'];

type NewApproval = Parameters<PgApprovalStore['create']>[0];

describe.each(kinds)('ApprovalStore contract (%s)', (kind) => {
  let db: Database;
  let store: PgApprovalStore;
  let taskId: string;

  const newApproval = (overrides: Partial<NewApproval> = {}): NewApproval => ({
    id: `ap_${randomBytes(6).toString('hex')}`,
    taskId,
    owner: 'user-1',
    sandboxId: 'sb_1',
    requestKey: randomBytes(9).toString('base64url'),
    sessionId: null,
    tool: 'Bash',
    summary: 'Bash: npm test',
    input: { command: 'npm test' },
    reason: 'Run the tests',
    expiresAt: new Date(Date.now() + 60_000),
    ...overrides,
  });

  beforeAll(async () => {
    db = await createTestDatabase(kind);
    store = new PgApprovalStore(db.pool);
    taskId = randomBytes(5).toString('hex');
    await new PgTaskStore(db.pool).create({
      id: taskId,
      name: 'approvals',
      owner: 'user-1',
      provider: 'local',
      command: null,
      prompt: 'x',
      repo: null,
      branch: null,
      pushBranch: null,
      mainSessionId: `s_${taskId}`,
    });
  });
  afterAll(async () => {
    await db?.close();
  });

  it('creates a pending approval and reads it back by id and by request', async () => {
    const rec = newApproval();
    const { record, created } = await store.create(rec);
    expect(created).toBe(true);
    expect(record).toMatchObject({ ...rec, status: 'pending', answeredAt: null, answeredBy: null, message: null });
    expect(record.createdAt).toBeInstanceOf(Date);
    expect(await store.get(rec.id)).toEqual(record);
    expect(await store.findByRequest(rec.sandboxId, rec.requestKey)).toEqual(record);
    expect(await store.get('ap_missingmissin')).toBeNull();
  });

  it('gives the same record for a resent request (same sandbox and key), whatever its new id', async () => {
    const rec = newApproval();
    const first = await store.create(rec);
    const again = await store.create({ ...rec, id: newApproval().id, tool: 'Write' });
    expect(again.created).toBe(false);
    expect(again.record).toEqual(first.record);
  });

  it('settles a pending approval exactly once', async () => {
    const rec = newApproval();
    await store.create(rec);
    const at = new Date();
    const allowed = await store.settle(rec.id, { status: 'allowed', by: 'u1', byName: 'alice', message: 'ok' }, at);
    expect(allowed).toMatchObject({ status: 'allowed', answeredBy: 'u1', answeredByName: 'alice', message: 'ok' });
    expect(allowed?.answeredAt?.getTime()).toBe(at.getTime());
    expect(await store.settle(rec.id, { status: 'timed_out' }, new Date())).toBeNull();
    expect(await store.settle(rec.id, { status: 'denied', by: 'u2', byName: 'bob', message: null }, at)).toBeNull();
    expect((await store.get(rec.id))?.status).toBe('allowed');
    expect(await store.settle('ap_missingmissin', { status: 'timed_out' }, at)).toBeNull();
  });

  it('settles once when two answers race', async () => {
    const rec = newApproval();
    await store.create(rec);
    const results = await Promise.all(
      ['allowed', 'denied', 'allowed', 'denied'].map((status, i) =>
        store.settle(
          rec.id,
          { status: status as 'allowed' | 'denied', by: `u${i}`, byName: `n${i}`, message: null },
          new Date(),
        ),
      ),
    );
    expect(results.filter((r) => r !== null)).toHaveLength(1);
  });

  it('lists by task and owner newest first, pending only when asked, and what has expired', async () => {
    const owner = `owner-${randomBytes(4).toString('hex')}`;
    const past = newApproval({ owner, sandboxId: 'sb_list', expiresAt: new Date(Date.now() - 1000) });
    const future = newApproval({ owner, sandboxId: 'sb_list' });
    await store.create(past);
    await store.create(future);
    const answered = newApproval({ owner, sandboxId: 'sb_list' });
    await store.create(answered);
    await store.settle(answered.id, { status: 'withdrawn', message: 'answered in the terminal' }, new Date());

    const all = await store.listByOwner(owner, { pendingOnly: false, limit: 10 });
    expect(all.map((a) => a.id)).toEqual([answered.id, future.id, past.id]);
    const pending = await store.listByOwner(owner, { pendingOnly: true, limit: 10 });
    expect(pending.map((a) => a.id)).toEqual([future.id, past.id]);
    expect((await store.listByOwner(owner, { pendingOnly: false, limit: 1 })).map((a) => a.id)).toEqual([answered.id]);
    expect((await store.listByTask(taskId, 500)).map((a: ApprovalRecord) => a.id)).toContain(past.id);
    const expired = await store.listExpired(new Date(), 100);
    expect(expired.map((a) => a.id)).toContain(past.id);
    expect(expired.map((a) => a.id)).not.toContain(future.id);
    expect((await store.listPendingBySandbox('sb_list')).map((a) => a.id)).toEqual([past.id, future.id]);
  });
});
