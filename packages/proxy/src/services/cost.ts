import {
  AppError,
  type ProviderName,
  providerNameSchema,
  type Task,
  type TaskUsage,
  type UsageResponse,
} from '@rclaude/protocol';
import { z } from 'zod';
import type { SandboxSize } from '../providers/types.js';
import type { TaskStore } from '../stores/types.js';

/**
 * What one hour of a sandbox costs on a provider, in USD: a flat rate plus rates per vCPU and per GiB of
 * memory of the provider's sandbox size. Billed per second of the task's life (created to ended).
 */
export const priceSchema = z
  .object({
    usdPerHour: z.number().nonnegative().default(0),
    usdPerVcpuHour: z.number().nonnegative().default(0),
    usdPerGbHour: z.number().nonnegative().default(0),
  })
  .strict();
export type Price = z.infer<typeof priceSchema>;

/** RCLAUDE_PRICE_TABLE: prices per provider; a provider left out keeps its default. */
export const priceTableSchema = z.partialRecord(providerNameSchema, priceSchema);
export type PriceTable = Partial<Record<ProviderName, Price>>;

/**
 * Defaults (USD, on-demand, at the time of writing; see docs/deploy-aws.md and docs/deploy-e2b.md):
 * local sandboxes cost nothing extra; ECS is Fargate Linux/ARM in us-east-1; E2B is its per-second price.
 */
export const defaultPriceTable: Record<ProviderName, Price> = {
  local: { usdPerHour: 0, usdPerVcpuHour: 0, usdPerGbHour: 0 },
  ecs: { usdPerHour: 0, usdPerVcpuHour: 0.03238, usdPerGbHour: 0.00356 },
  e2b: { usdPerHour: 0, usdPerVcpuHour: 0.0504, usdPerGbHour: 0.0162 },
  docker: { usdPerHour: 0, usdPerVcpuHour: 0, usdPerGbHour: 0 },
};

const MS_PER_HOUR = 3_600_000;

/** Compute cost of `ms` of a sandbox of `size` at `price`, in USD (rounded to a millionth of a dollar). */
export function computeCostUsd(price: Price, size: SandboxSize, ms: number): number {
  const hourly = price.usdPerHour + size.vcpu * price.usdPerVcpuHour + (size.memoryMiB / 1024) * price.usdPerGbHour;
  return Math.round((Math.max(0, ms) / MS_PER_HOUR) * hourly * 1e6) / 1e6;
}

/** Sum of two usages. */
export function addUsage(a: TaskUsage | null, b: TaskUsage): TaskUsage {
  return {
    inputTokens: (a?.inputTokens ?? 0) + b.inputTokens,
    outputTokens: (a?.outputTokens ?? 0) + b.outputTokens,
    cacheReadTokens: (a?.cacheReadTokens ?? 0) + b.cacheReadTokens,
    cacheCreationTokens: (a?.cacheCreationTokens ?? 0) + b.cacheCreationTokens,
  };
}

/** The calendar month (UTC) holding `at`: [start, end). */
export function monthOf(at: Date): { start: Date; end: Date } {
  const start = new Date(Date.UTC(at.getUTCFullYear(), at.getUTCMonth(), 1));
  const end = new Date(Date.UTC(at.getUTCFullYear(), at.getUTCMonth() + 1, 1));
  return { start, end };
}

export interface CostServiceDeps {
  tasks: TaskStore;
  /** Overrides of {@link defaultPriceTable}. */
  prices: PriceTable;
  /** The sandbox size of a provider, or null when it is not configured here (priced as size zero). */
  sizeOf: (provider: ProviderName) => SandboxSize | null;
  /** Per-user monthly budget in USD; null for none. */
  monthlyBudgetUsd: number | null;
  now?: () => Date;
}

/**
 * Task cost: compute (provider price x sandbox size x the task's life) plus model cost (what Claude Code
 * reports in a prompt's result). Sums a user's month and enforces the monthly budget.
 */
export class CostService {
  private readonly now: () => Date;

  constructor(private readonly deps: CostServiceDeps) {
    this.now = deps.now ?? (() => new Date());
  }

  priceOf(provider: ProviderName): Price {
    return this.deps.prices[provider] ?? defaultPriceTable[provider];
  }

  /** Compute cost of a task that lived from its creation until `until`. */
  /**
   * A task's compute cost until `until`: its current run (since its creation, or since its last resume) on top
   * of what its earlier runs cost (stored when each ended). Hibernated hours cost nothing.
   */
  computeCostUsd(task: Pick<Task, 'provider' | 'createdAt' | 'resumedAt' | 'computeCostUsd'>, until: Date): number {
    const size = this.deps.sizeOf(task.provider) ?? { vcpu: 0, memoryMiB: 0 };
    const runStart = task.resumedAt ? Date.parse(task.resumedAt) : Date.parse(task.createdAt);
    const earlier = task.resumedAt ? task.computeCostUsd : 0;
    return (
      Math.round((earlier + computeCostUsd(this.priceOf(task.provider), size, until.getTime() - runStart)) * 1e6) / 1e6
    );
  }

  /** The user's spending this month: stored costs of the month's tasks, live tasks' compute counted until now. */
  async usage(userId: string): Promise<UsageResponse> {
    const now = this.now();
    const { start, end } = monthOf(now);
    const totals = await this.deps.tasks.costSince(userId, start);
    let compute = totals.computeCostUsd;
    for (const task of await this.deps.tasks.list({ owner: userId, live: true, limit: 1000 })) {
      // The stored cost of a resumed task's earlier runs is in the totals already: add only what runs now.
      if (Date.parse(task.createdAt) >= start.getTime()) {
        compute += this.computeCostUsd(task, now) - (task.resumedAt ? task.computeCostUsd : 0);
      }
    }
    const round = (usd: number) => Math.round(usd * 1e6) / 1e6;
    const total = round(compute + totals.modelCostUsd);
    const budget = this.deps.monthlyBudgetUsd;
    return {
      userId,
      periodStart: start.toISOString(),
      periodEnd: end.toISOString(),
      tasks: totals.tasks,
      computeCostUsd: round(compute),
      modelCostUsd: round(totals.modelCostUsd),
      totalCostUsd: total,
      usage: totals.usage,
      budgetUsd: budget,
      remainingUsd: budget === null ? null : round(budget - total),
    };
  }

  /** Throws BUDGET_EXCEEDED when the user has spent their monthly budget. */
  async assertWithinBudget(userId: string): Promise<void> {
    const budget = this.deps.monthlyBudgetUsd;
    if (budget === null) return;
    const usage = await this.usage(userId);
    if (usage.totalCostUsd < budget) return;
    throw new AppError(
      'BUDGET_EXCEEDED',
      `monthly budget reached: you have spent $${usage.totalCostUsd.toFixed(2)} of your $${budget.toFixed(2)} this month; new tasks are refused until ${usage.periodEnd.slice(0, 10)} (an admin can raise RCLAUDE_MONTHLY_BUDGET_USD)`,
      { details: { spentUsd: usage.totalCostUsd, budgetUsd: budget, periodEnd: usage.periodEnd } },
    );
  }
}
