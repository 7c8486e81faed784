import type { Task, TaskEventType } from '@rclaude/protocol';
import type { Logger } from 'pino';
import type { TaskStore } from '../stores/types.js';
import type { EgressContext } from './egress-gateway.js';
import { type ModelUsage, modelCostUsd } from './usage-meter.js';

export interface ModelMeterDeps {
  tasks: Pick<TaskStore, 'addModelUsage'>;
  /** Why the user may not spend more this month (their budget is spent), or null when they may. */
  overBudget: (owner: string) => Promise<string | null>;
  /** The task timeline: a refusal is said there once per task, and each metered answer is published. */
  timeline: {
    event(taskId: string, type: TaskEventType, data: Record<string, unknown>): Promise<void>;
    publish(task: Task): void;
  };
  log: Logger;
}

/** Tasks remembered as told about their refusal; beyond this many, the memory starts over. */
const MAX_TOLD = 10_000;

/**
 * Metering and budget at the egress gateway: every model answer's token usage is priced and added to its task
 * as it ends (live, for interactive sessions too), and a user whose monthly budget is spent gets no further
 * model request through. The sandbox cannot forge or skip either: both happen outside it.
 */
export class ModelMeter {
  private readonly told = new Set<string>();

  constructor(private readonly deps: ModelMeterDeps) {}

  /** Null when the request may go to the model; otherwise the refusal, said once on the task's timeline. */
  async admit(ctx: EgressContext): Promise<string | null> {
    const refusal = await this.deps.overBudget(ctx.owner);
    if (refusal === null) return null;
    if (!this.told.has(ctx.taskId)) {
      if (this.told.size >= MAX_TOLD) this.told.clear();
      this.told.add(ctx.taskId);
      await this.deps.timeline
        .event(ctx.taskId, 'error', { message: `model request refused: ${refusal}`, reason: 'budget' })
        .catch((err: unknown) => this.deps.log.warn({ err, taskId: ctx.taskId }, 'recording a refusal failed'));
    }
    return refusal;
  }

  /** Adds one answer's usage and cost to its task and publishes the task. */
  async record(ctx: EgressContext, used: ModelUsage): Promise<void> {
    const cost = modelCostUsd(used);
    try {
      const task = await this.deps.tasks.addModelUsage(ctx.taskId, used.usage, cost);
      if (task) this.deps.timeline.publish(task);
    } catch (err) {
      this.deps.log.error({ err, taskId: ctx.taskId, usage: used.usage }, 'metering a model answer failed');
    }
  }
}
