import { randomBytes } from 'node:crypto';
import { AppError } from '@rclaude/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabaseKind } from '../../test/test-database.js';
import { loadConfig } from '../config.js';
import type { Database } from '../db/database.js';
import { PgTaskStore } from '../stores/pg-task-store.js';
import { addUsage, CostService, computeCostUsd, defaultPriceTable, monthOf } from './cost.js';

describe('computeCostUsd', () => {
  it('prices vCPU-hours and GiB-hours of the sandbox plus a flat hourly rate, per second', () => {
    const fargate = { usdPerHour: 0, usdPerVcpuHour: 0.03238, usdPerGbHour: 0.00356 };
    // docs/deploy-aws.md: 2 vCPU, 4 GiB = $0.0790 per task-hour.
    expect(computeCostUsd(fargate, { vcpu: 2, memoryMiB: 4096 }, 3_600_000)).toBeCloseTo(0.079, 4);
    expect(computeCostUsd(fargate, { vcpu: 2, memoryMiB: 4096 }, 1_800_000)).toBeCloseTo(0.0395, 4);
    expect(
      computeCostUsd({ usdPerHour: 3.6, usdPerVcpuHour: 0, usdPerGbHour: 0 }, { vcpu: 0, memoryMiB: 0 }, 1000),
    ).toBe(0.001);
    expect(computeCostUsd(defaultPriceTable.local, { vcpu: 8, memoryMiB: 16384 }, 3_600_000)).toBe(0);
    expect(computeCostUsd(fargate, { vcpu: 2, memoryMiB: 4096 }, -5)).toBe(0);
  });

  it('adds usages and finds the UTC month', () => {
    const u = { inputTokens: 1, outputTokens: 2, cacheReadTokens: 3, cacheCreationTokens: 4 };
    expect(addUsage(null, u)).toEqual(u);
    expect(addUsage(u, u)).toEqual({ inputTokens: 2, outputTokens: 4, cacheReadTokens: 6, cacheCreationTokens: 8 });
    expect(monthOf(new Date('2030-12-31T23:59:59Z'))).toEqual({
      start: new Date('2030-12-01T00:00:00Z'),
      end: new Date('2031-01-01T00:00:00Z'),
    });
  });
});

describe('RCLAUDE_PRICE_TABLE', () => {
  it('is parsed and validated with the rest of the configuration', () => {
    const ok = loadConfig({ RCLAUDE_PRICE_TABLE: '{"ecs":{"usdPerVcpuHour":0.05},"local":{"usdPerHour":1}}' });
    expect(ok.RCLAUDE_PRICE_TABLE).toEqual({
      ecs: { usdPerHour: 0, usdPerVcpuHour: 0.05, usdPerGbHour: 0 },
      local: { usdPerHour: 1, usdPerVcpuHour: 0, usdPerGbHour: 0 },
    });
    expect(() => loadConfig({ RCLAUDE_PRICE_TABLE: '{oops' })).toThrow(/RCLAUDE_PRICE_TABLE: not JSON/);
    expect(() => loadConfig({ RCLAUDE_PRICE_TABLE: '{"nomad":{}}' })).toThrow(/RCLAUDE_PRICE_TABLE/);
    expect(() => loadConfig({ RCLAUDE_PRICE_TABLE: '{"ecs":{"usdPerVcpuHour":-1}}' })).toThrow(/RCLAUDE_PRICE_TABLE/);
    expect(() => loadConfig({ RCLAUDE_MONTHLY_BUDGET_USD: 'lots' })).toThrow(/RCLAUDE_MONTHLY_BUDGET_USD/);
  });
});

describe.each(['postgres', 'embedded'] as TestDatabaseKind[])('CostService on %s', (kind) => {
  let db: Database;
  let store: PgTaskStore;
  const now = new Date('2031-05-20T12:00:00Z');

  beforeAll(async () => {
    db = await createTestDatabase(kind);
    store = new PgTaskStore(db.pool);
  });
  afterAll(async () => {
    await db?.close();
  });

  async function task(
    owner: string,
    opts: { createdAt: Date; status: string; compute?: number; model?: number; provider?: string; output?: number },
  ) {
    const id = randomBytes(6).toString('hex');
    await store.create({
      id,
      name: id,
      owner,
      provider: (opts.provider ?? 'ecs') as 'ecs',
      command: ['x'],
      prompt: null,
      repo: null,
      branch: null,
      pushBranch: null,
      mainSessionId: `${id}_main`,
    });
    if (opts.output !== undefined) {
      await store.update(id, {
        usage: { inputTokens: 10, outputTokens: opts.output, cacheReadTokens: 1, cacheCreationTokens: 0 },
      });
    }
    await db.pool.query(
      'UPDATE tasks SET created_at = $2, status = $3, compute_cost_usd = $4, model_cost_usd = $5 WHERE id = $1',
      [id, opts.createdAt, opts.status, opts.compute ?? 0, opts.model ?? 0],
    );
    return id;
  }

  const service = (budget: number | null) =>
    new CostService({
      tasks: store,
      prices: { ecs: { usdPerHour: 3.6, usdPerVcpuHour: 0, usdPerGbHour: 0 } },
      sizeOf: (p) => (p === 'ecs' ? { vcpu: 2, memoryMiB: 4096 } : null),
      monthlyBudgetUsd: budget,
      now: () => now,
    });

  it("sums this month's tasks of the user, live ones priced until now", async () => {
    const owner = `u-${randomBytes(4).toString('hex')}`;
    await task(owner, {
      createdAt: new Date('2031-05-02T00:00:00Z'),
      status: 'succeeded',
      compute: 0.5,
      model: 1.25,
      output: 100,
    });
    await task(owner, {
      createdAt: new Date('2031-05-10T00:00:00Z'),
      status: 'failed',
      compute: 0.25,
      model: 0,
      output: 50,
    });
    // Live, created 100 s before `now`: $0.001/s.
    await task(owner, { createdAt: new Date(now.getTime() - 100_000), status: 'running' });
    // Last month and another user's: not counted.
    await task(owner, { createdAt: new Date('2031-04-30T23:59:59Z'), status: 'succeeded', compute: 9, model: 9 });
    await task(`${owner}-other`, {
      createdAt: new Date('2031-05-03T00:00:00Z'),
      status: 'succeeded',
      compute: 9,
      model: 9,
    });

    const usage = await service(5).usage(owner);
    expect(usage).toEqual({
      userId: owner,
      periodStart: '2031-05-01T00:00:00.000Z',
      periodEnd: '2031-06-01T00:00:00.000Z',
      tasks: 3,
      computeCostUsd: 0.85,
      modelCostUsd: 1.25,
      totalCostUsd: 2.1,
      usage: { inputTokens: 20, outputTokens: 150, cacheReadTokens: 2, cacheCreationTokens: 0 },
      budgetUsd: 5,
      remainingUsd: 2.9,
    });
    expect((await service(null).usage(owner)).remainingUsd).toBeNull();
  });

  it('refuses new tasks with BUDGET_EXCEEDED once the budget is spent', async () => {
    const owner = `u-${randomBytes(4).toString('hex')}`;
    await expect(service(1).assertWithinBudget(owner)).resolves.toBeUndefined();
    await task(owner, { createdAt: new Date('2031-05-02T00:00:00Z'), status: 'succeeded', model: 1 });
    const err = await service(1)
      .assertWithinBudget(owner)
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AppError);
    expect((err as AppError).code).toBe('BUDGET_EXCEEDED');
    expect((err as AppError).status).toBe(402);
    expect((err as AppError).message).toBe(
      'monthly budget reached: you have spent $1.00 of your $1.00 this month; new tasks are refused until 2031-06-01 (an admin can raise RCLAUDE_MONTHLY_BUDGET_USD)',
    );
    await expect(service(null).assertWithinBudget(owner)).resolves.toBeUndefined();
    await expect(service(1.5).assertWithinBudget(owner)).resolves.toBeUndefined();
  });

  it('prices a task from its creation to its end with its provider', () => {
    const s = service(null);
    const createdAt = '2031-05-20T11:00:00.000Z';
    expect(s.computeCostUsd({ provider: 'ecs', createdAt, computeCostUsd: 0 }, now)).toBe(3.6);
    expect(s.computeCostUsd({ provider: 'e2b', createdAt, computeCostUsd: 0 }, now)).toBe(0);
  });

  it('prices a resumed task as what it had plus its run since the resume, not the hibernated time between', () => {
    const s = service(null);
    const task = { provider: 'ecs' as const, createdAt: '2031-05-19T00:00:00.000Z', computeCostUsd: 1.25 };
    // Resumed half an hour before `now`: $3.60 an hour for 30 min, on top of the $1.25 of earlier runs.
    expect(s.computeCostUsd({ ...task, resumedAt: '2031-05-20T11:30:00.000Z' }, now)).toBe(3.05);
  });
});
