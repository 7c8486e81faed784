import { randomBytes } from 'node:crypto';
import type { AgentApprovalAnswer, AgentApprovalRequest } from '@rclaude/protocol';
import pino from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase } from '../../test/test-database.js';
import type { Database } from '../db/database.js';
import { PgApprovalStore } from '../stores/pg-approval-store.js';
import { PgTaskStore } from '../stores/pg-task-store.js';
import type { SandboxRecord } from '../stores/types.js';
import {
  APPROVAL_BURST,
  APPROVAL_REFILL_MS,
  type ApprovalChange,
  ApprovalService,
  approvalSummary,
  MAX_PENDING_PER_SANDBOX,
} from './approvals.js';
import type { AuthContext } from './auth-context.js';

const owner: AuthContext = { userId: 'u-owner', username: 'olivia', role: 'user', via: 'token' };
const stranger: AuthContext = { userId: 'u-other', username: 'mallory', role: 'user', via: 'token' };
const admin: AuthContext = { userId: 'u-admin', username: 'root', role: 'admin', via: 'token' };
const TIMEOUT_MS = 60_000;

let db: Database;
let tasks: PgTaskStore;
let now = Date.parse('2026-12-03T10:00:00Z');
const services: ApprovalService[] = [];

beforeAll(async () => {
  db = await createTestDatabase('postgres');
  tasks = new PgTaskStore(db.pool);
});
afterAll(async () => {
  await db?.close();
});
afterEach(() => {
  for (const s of services.splice(0)) s.close();
});

/** A running task of `owner`, its sandbox, and a service with a recorded timeline and agent channel. */
async function setup() {
  const id = randomBytes(5).toString('hex');
  await tasks.create({
    id,
    name: `t ${id}`,
    owner: owner.userId,
    provider: 'local',
    command: null,
    prompt: 'p',
    repo: null,
    branch: null,
    pushBranch: null,
    mainSessionId: `s_${id}`,
  });
  await tasks.transition(id, 'starting');
  await tasks.transition(id, 'running');
  const sandbox = sandboxOf(`sb_${id}`, id);
  const timeline: { type: string; data: Record<string, unknown> }[] = [];
  const toAgent: AgentApprovalAnswer[] = [];
  const changes: ApprovalChange[] = [];
  const service = new ApprovalService({
    approvals: new PgApprovalStore(db.pool),
    tasks,
    timeline: async (_taskId, type, data) => {
      timeline.push({ type, data });
    },
    toAgent: (_sandboxId, answer) => toAgent.push(answer),
    timeoutMs: TIMEOUT_MS,
    now: () => now,
    log: pino({ level: 'silent' }),
  });
  services.push(service);
  service.subscribe((c) => changes.push(c));
  return { taskId: id, sandbox, service, timeline, toAgent, changes };
}

function sandboxOf(sandboxId: string, taskId: string | null): SandboxRecord {
  return {
    sandboxId,
    taskId,
    provider: 'local',
    ref: null,
    tokenHash: 'x',
    state: 'claimed',
    workspace: null,
    createdAt: new Date(),
  };
}

const request = (over: Partial<AgentApprovalRequest> = {}): AgentApprovalRequest => ({
  requestKey: randomBytes(9).toString('base64url'),
  sessionId: null,
  tool: 'Bash',
  input: { command: 'rm -rf build' },
  reason: 'Clean the build',
  ...over,
});

describe('ApprovalService', () => {
  it('records a request once, on the timeline and for subscribers; a resend gets the same approval', async () => {
    const { sandbox, service, timeline, changes, taskId } = await setup();
    const req = request();
    const first = await service.request(sandbox, req);
    expect(first.decision).toBeUndefined();
    expect(first.approvalId).toMatch(/^ap_[a-z2-7]{12}$/);
    expect(first.expiresAt).toBe(new Date(now + TIMEOUT_MS).toISOString());
    expect(await service.request(sandbox, req)).toEqual(first);
    expect(timeline).toEqual([
      {
        type: 'approval_requested',
        data: {
          approvalId: first.approvalId,
          tool: 'Bash',
          summary: 'Bash: rm -rf build',
          input: { command: 'rm -rf build' },
          reason: 'Clean the build',
          expiresAt: first.expiresAt,
        },
      },
    ]);
    expect(changes).toHaveLength(1);
    expect(changes[0]).toMatchObject({
      kind: 'requested',
      owner: owner.userId,
      approval: { taskId, status: 'pending' },
    });
  });

  it('pending -> allowed once: the agent hears it, a second answer is CONFLICT, a resend gets the decision', async () => {
    const { sandbox, service, timeline, toAgent, taskId } = await setup();
    const req = request();
    const { approvalId } = await service.request(sandbox, req);
    const allowed = await service.answer(owner, taskId, approvalId, { decision: 'allow' });
    expect(allowed).toMatchObject({ status: 'allowed', answeredBy: 'olivia' });
    expect(toAgent).toEqual([{ requestKey: req.requestKey, approvalId, behavior: 'allow', message: null }]);
    await expect(service.answer(owner, taskId, approvalId, { decision: 'deny' })).rejects.toMatchObject({
      code: 'CONFLICT',
    });
    await service.expireDue();
    expect(toAgent).toHaveLength(1);
    expect(timeline.filter((e) => e.type === 'approval_answered').map((e) => e.data)).toEqual([
      { approvalId, decision: 'allow', by: 'olivia', timedOut: false },
    ]);
    expect(await service.request(sandbox, req)).toMatchObject({ decision: { behavior: 'allow' } });
  });

  it('pending -> denied with the message Claude is told', async () => {
    const { sandbox, service, toAgent, taskId } = await setup();
    const { approvalId } = await service.request(sandbox, request());
    await service.answer(admin, taskId, approvalId, { decision: 'deny', message: 'use make clean' });
    expect(toAgent.at(-1)).toMatchObject({ approvalId, behavior: 'deny', message: 'use make clean' });
    expect(await service.getOne(owner, approvalId)).toMatchObject({ status: 'denied', answeredBy: 'root' });
  });

  it('pending -> timed_out (deny) once the time is up, never before; then answers are CONFLICT', async () => {
    const { sandbox, service, timeline, toAgent, taskId } = await setup();
    const { approvalId } = await service.request(sandbox, request());
    const status = async () => (await service.getOne(owner, approvalId)).status;
    now += TIMEOUT_MS - 1;
    await service.expireDue();
    expect(await status()).toBe('pending');
    now += 1;
    expect(await service.expireDue()).toBeGreaterThanOrEqual(1);
    expect(await status()).toBe('timed_out');
    await service.expireDue();
    // The sweep settles every due approval in the database (earlier tests' too): look at this one's.
    expect(toAgent.filter((a) => a.approvalId === approvalId)).toEqual([
      expect.objectContaining({ approvalId, behavior: 'deny' }),
    ]);
    expect(timeline.filter((e) => e.type === 'approval_answered' && e.data.approvalId === approvalId)).toEqual([
      { type: 'approval_answered', data: { approvalId, decision: 'deny', by: null, timedOut: true } },
    ]);
    await expect(service.answer(owner, taskId, approvalId, { decision: 'allow' })).rejects.toMatchObject({
      code: 'CONFLICT',
    });
  });

  it('pending -> withdrawn: nothing is sent to the agent and a later answer is refused', async () => {
    const { sandbox, service, toAgent, timeline, taskId } = await setup();
    const req = request();
    const { approvalId } = await service.request(sandbox, req);
    await service.withdraw(sandbox.sandboxId, req.requestKey, 'answered in the terminal');
    await service.withdraw(sandbox.sandboxId, req.requestKey, 'again');
    expect(toAgent).toEqual([]);
    expect(timeline.filter((e) => e.type === 'approval_withdrawn')).toHaveLength(1);
    await expect(service.answer(owner, taskId, approvalId, { decision: 'allow' })).rejects.toMatchObject({
      code: 'CONFLICT',
    });
  });

  it("hides another user's approvals: NOT_FOUND, and a forged answer changes nothing", async () => {
    const { sandbox, service, toAgent, taskId } = await setup();
    const { approvalId } = await service.request(sandbox, request());
    await expect(service.listForTask(stranger, taskId)).rejects.toMatchObject({ code: 'NOT_FOUND' });
    await expect(service.getOne(stranger, approvalId)).rejects.toMatchObject({ code: 'NOT_FOUND' });
    await expect(service.answer(stranger, taskId, approvalId, { decision: 'allow' })).rejects.toMatchObject({
      code: 'NOT_FOUND',
    });
    expect(await service.listMine(stranger, { status: 'all', limit: 50 })).toEqual([]);
    // The right approval id under another task id is not found either.
    const other = await setup();
    await expect(other.service.answer(owner, other.taskId, approvalId, { decision: 'allow' })).rejects.toMatchObject({
      code: 'NOT_FOUND',
    });
    expect(toAgent).toEqual([]);
    expect((await service.getOne(owner, approvalId)).status).toBe('pending');
    expect((await service.listMine(owner, { status: 'pending', limit: 50 })).map((a) => a.id)).toContain(approvalId);
  });

  it('holds a flooding sandbox to its pending cap even when its requests arrive at once, and to a rate', async () => {
    const { sandbox, service, timeline } = await setup();
    // All at once: checked one after another, so no more than the cap get through.
    const reqs = Array.from({ length: MAX_PENDING_PER_SANDBOX + 5 }, () => request());
    const burst = await Promise.allSettled(reqs.map((r) => service.request(sandbox, r)));
    const created = burst.filter((r) => r.status === 'fulfilled').length;
    expect(created).toBe(Math.min(APPROVAL_BURST, MAX_PENDING_PER_SANDBOX));
    expect(burst.filter((r) => r.status === 'rejected').map((r) => (r.reason as { code: string }).code)).toContain(
      'RATE_LIMITED',
    );
    // Withdrawing frees pending slots, but not the allowance: a loop of asking and withdrawing stays held.
    for (const r of reqs) await service.withdraw(sandbox.sandboxId, r.requestKey, 'test');
    await expect(service.request(sandbox, request())).rejects.toMatchObject({ code: 'RATE_LIMITED' });
    now += APPROVAL_REFILL_MS;
    const next = await service.request(sandbox, request());
    expect(next.approvalId).toMatch(/^ap_/);
    expect(timeline.filter((x) => x.type === 'approval_requested')).toHaveLength(created + 1);
  });

  it('refuses requests from a sandbox without a live task', async () => {
    const { service } = await setup();
    await expect(service.request(sandboxOf('sb_none', null), request())).rejects.toMatchObject({ code: 'CONFLICT' });
  });
});

describe('approvalSummary', () => {
  it('names the tool and its main input on one line', () => {
    expect(approvalSummary('Bash', { command: 'npm\n  test' })).toBe('Bash: npm test');
    expect(approvalSummary('Write', { file_path: 'src/x.ts', content: 'x' })).toBe('Write: src/x.ts');
    expect(approvalSummary('mcp__db__query', {})).toBe('mcp__db__query');
    expect(approvalSummary('Bash', { command: 'x'.repeat(1000) })).toHaveLength(500);
  });
});
