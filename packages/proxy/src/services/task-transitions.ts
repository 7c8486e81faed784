import {
  AppError,
  type CheckpointTrigger,
  isTerminal,
  type Task,
  type TaskEventType,
  type TaskStatus,
} from '@rclaude/protocol';
import type { Metrics } from '../metrics.js';
import type { OutputLog, SandboxRecord, SandboxStore, SessionStore, TaskPatch, TaskStore } from '../stores/types.js';
import type { CostService } from './cost.js';
import type { SandboxControl } from './sandbox-control.js';
import type { TaskPublisher } from './task-publisher.js';
import type { TaskTimers } from './task-timers.js';

/** Writes to a task's timeline and announces its changes. */
export interface TaskTimeline {
  /** Appends an entry to the task's timeline and publishes it. */
  event(taskId: string, type: TaskEventType, data: Record<string, unknown>): Promise<void>;
  /** Publishes a task's new state (already stored). */
  publish(task: Task): void;
}

/** Moves tasks between statuses; what launching and agent sessions use to start, run and fail tasks. */
export interface TaskMoves {
  /** Moves a task to `to` if the state machine allows it, with a status event; null if it did not move. */
  transition(id: string, to: TaskStatus, patch: TaskPatch, reason: string): Promise<Task | null>;
  /** Moves a task to a terminal status and stops its sandbox. Safe to call more than once. */
  endTask(taskId: string, status: TaskStatus, patch: TaskPatch): Promise<void>;
}

export interface TaskTransitionsDeps {
  tasks: TaskStore;
  sandboxes: SandboxStore;
  sessions: SessionStore;
  /** Waits until a session's stored output is final (SessionHub.settled). */
  hub: { settled(sessionId: string): Promise<void> };
  cost: Pick<CostService, 'computeCostUsd'>;
  metrics: Metrics;
  publisher: TaskPublisher;
  timers: Pick<TaskTimers, 'disarmSandbox'>;
  sandboxControl: Pick<SandboxControl, 'stop' | 'hibernate' | 'resume'>;
  /**
   * Checkpoints a task's sandbox before it stops (CheckpointService.take); rejects with CHECKPOINT_FAILED. None:
   * stops do not checkpoint and idle tasks cannot hibernate.
   */
  checkpoint?: (task: Task, trigger: CheckpointTrigger) => Promise<unknown>;
  /**
   * Records a task's diff, and pushes when it asked, before a stop or a hibernation releases its sandbox
   * (WorkFinisher.finish: bounded, never rejects). None: only a program's own exit records them.
   */
  finishWork?: (task: Task, why: 'stopped' | 'hibernated') => Promise<void>;
  /** With `outputRetentionMs`: an ended task's sessions' output is kept that long, then deleted. */
  outputLog?: Pick<OutputLog, 'retain'>;
  outputRetentionMs?: number;
  /** How long a resumed paused sandbox may run (MAX_LIFETIME_MS, counted from the resume like a new one's). */
  maxLifetimeMs?: number;
  /** How long resuming a paused sandbox may take before its checkpoint is restored instead; default 60 s. */
  resumePausedTimeoutMs?: number;
}

/** How a stop treats the task's work. */
export interface StopOptions {
  /** Stop even when the checkpoint before it fails (recorded on the timeline either way). */
  force?: boolean;
  /** What the checkpoint before the stop is called; null: take none. Default `stop`. */
  trigger?: CheckpointTrigger | null;
}

/**
 * Task status changes, each stored through the store's state machine, recorded on the timeline and
 * published; the end of a task (its compute cost, its sandbox stopped), and stops asked for by users or
 * by the system.
 */
export class TaskTransitions implements TaskTimeline, TaskMoves {
  constructor(private readonly deps: TaskTransitionsDeps) {}

  async transition(id: string, to: TaskStatus, patch: TaskPatch, reason: string): Promise<Task | null> {
    const task = await this.deps.tasks.transition(id, to, patch);
    if (!task) return null;
    await this.event(id, 'status', {
      status: to,
      reason,
      ...(patch.exitCode != null ? { exitCode: patch.exitCode } : {}),
    });
    this.deps.metrics.taskTransitions.inc({ status: to });
    this.publish(task);
    return task;
  }

  async endTask(taskId: string, status: TaskStatus, patch: TaskPatch): Promise<void> {
    const endedAt = new Date();
    const current = await this.deps.tasks.get(taskId);
    const cost = current ? { computeCostUsd: this.deps.cost.computeCostUsd(current, endedAt) } : {};
    const ended = await this.transition(taskId, status, { ...patch, ...cost, endedAt }, patch.statusReason ?? status);
    if (!ended) return;
    await this.retainOutput(taskId);
    const main = await this.deps.sessions.get(ended.mainSessionId);
    if (main) {
      await this.deps.hub.settled(main.id);
      this.deps.timers.disarmSandbox(main.sandboxId);
      const record = await this.deps.sandboxes.get(main.sandboxId);
      if (record && status === 'hibernated') await this.releaseHibernated(taskId, record);
      else if (record) await this.deps.sandboxControl.stop(record, patch.statusReason ?? status);
    }
  }

  /** Pauses a hibernated task's sandbox with its memory where the provider can, else stops it; says which. */
  private async releaseHibernated(taskId: string, record: SandboxRecord): Promise<void> {
    const how = await this.deps.sandboxControl.hibernate(record, 'hibernated');
    await this.event(taskId, 'info', {
      message:
        how === 'paused'
          ? 'the sandbox was paused with its memory: a resume continues its processes where they are (the checkpoint stays, in case the paused sandbox is gone)'
          : 'the sandbox was released: a resume restores the checkpoint in a new sandbox',
    });
  }

  /**
   * The paused sandbox a hibernated task kept (adr/0025), or null. Read from the sandbox records (Postgres), not
   * the session store, which an embedded server's restart empties.
   */
  async pausedSandbox(task: Task): Promise<SandboxRecord | null> {
    if (task.status !== 'hibernated') return null;
    const record = await this.deps.sandboxes.getByTask(task.id);
    return record?.state === 'paused' ? record : null;
  }

  /**
   * Resumes a hibernated task's paused sandbox (the task already `starting`): on success the task runs again as
   * it was, with its processes and their memory, and this answers null. Otherwise what remains of the sandbox is
   * killed and this answers why, for the caller to restore the checkpoint in a new sandbox.
   */
  async resumePaused(task: Task, record: SandboxRecord): Promise<string | null> {
    const lifetimeMs = this.deps.maxLifetimeMs && this.deps.maxLifetimeMs > 0 ? this.deps.maxLifetimeMs : 86_400_000;
    const why = await this.deps.sandboxControl.resume(record, lifetimeMs, this.deps.resumePausedTimeoutMs ?? 60_000);
    if (why !== null) {
      await this.deps.sandboxControl.stop(record, `the paused sandbox could not be resumed: ${why}`);
      return why;
    }
    const reason = 'resumed the paused sandbox with its memory';
    await this.transition(task.id, 'running', { statusReason: reason }, reason);
    return null;
  }

  /**
   * Starts the retention clock of an ended task's output (a resume stops it again). A failure is ignored:
   * retention is housekeeping, never a reason for an end to fail.
   */
  private async retainOutput(taskId: string): Promise<void> {
    const { outputLog, outputRetentionMs } = this.deps;
    if (!outputLog || !outputRetentionMs) return;
    for (const s of await this.deps.sessions.listByTask(taskId)) {
      await outputLog.retain(s.id, outputRetentionMs).catch(() => undefined);
    }
  }

  /**
   * Stops a live task (`stopping`, then its end); the task as it is afterwards. A task whose sandbox runs is
   * checkpointed first; when that fails the task keeps running and this rejects with CHECKPOINT_FAILED, unless
   * `force`. Then its diff is recorded and pushed (`finishWork`; not for a deletion, `trigger` null). A hibernated task just becomes `stopped` (its checkpoints stay, so it can still be resumed).
   */
  async stopTask(task: Task, reason: string, opts: StopOptions = {}): Promise<Task> {
    if (task.status === 'hibernated') {
      const stopped = (await this.transition(task.id, 'stopped', { statusReason: reason }, reason)) ?? task;
      await this.killPaused(task, reason);
      return stopped;
    }
    if (isTerminal(task.status)) return task;
    await this.checkpointBefore(task, opts.trigger === undefined ? 'stop' : opts.trigger, opts.force === true);
    // After the checkpoint (a failed one keeps the task running, untouched), before the sandbox goes.
    if (opts.trigger !== null && (task.status === 'running' || task.status === 'idle')) {
      await this.deps.finishWork?.(task, 'stopped');
    }
    const stopping = (await this.transition(task.id, 'stopping', { statusReason: reason }, reason)) ?? task;
    // A prompt that already finished ends with its own outcome; stopping only releases its sandbox.
    const final: TaskStatus =
      task.prompt !== null && task.exitCode !== null ? (task.exitCode === 0 ? 'succeeded' : 'failed') : 'stopped';
    await this.endTask(task.id, final, { statusReason: reason });
    return (await this.deps.tasks.get(task.id)) ?? stopping;
  }

  /**
   * Hibernates an idle task: checkpoints it, records its diff and pushes (`finishWork`), then releases its sandbox (`stopping`, then `hibernated`). Rejects
   * with CHECKPOINT_FAILED, the task untouched, when the checkpoint fails; CONFLICT when checkpoints are off.
   */
  async hibernate(taskId: string, reason: string): Promise<void> {
    const task = await this.deps.tasks.get(taskId);
    if (!task || (task.status !== 'running' && task.status !== 'idle')) return;
    if (!this.deps.checkpoint) throw new AppError('CONFLICT', 'hibernation needs checkpoints');
    await this.deps.checkpoint(task, 'hibernate');
    await this.deps.finishWork?.(task, 'hibernated');
    const statusReason = `hibernated: ${reason}`;
    const stopping = await this.transition(task.id, 'stopping', { statusReason }, statusReason);
    if (!stopping) return;
    await this.endTask(task.id, 'hibernated', { statusReason });
  }

  /** Kills the paused sandbox a hibernated task kept, if any (a stop or a deletion of the task: none may leak). */
  async killPaused(task: Task, reason: string): Promise<void> {
    const record = await this.pausedSandbox({ ...task, status: 'hibernated' });
    if (record) await this.deps.sandboxControl.stop(record, reason);
  }

  /** Stops a task on the system's behalf (maximum lifetime); its work is checkpointed first if it can be. */
  async stopBySystem(taskId: string, reason: string): Promise<void> {
    const task = await this.deps.tasks.get(taskId);
    if (task) await this.stopTask(task, reason, { force: true });
  }

  private async checkpointBefore(task: Task, trigger: CheckpointTrigger | null, force: boolean): Promise<void> {
    if (!this.deps.checkpoint || trigger === null || (task.status !== 'running' && task.status !== 'idle')) return;
    try {
      await this.deps.checkpoint(task, trigger);
    } catch (err) {
      if (force) return;
      const why = err instanceof AppError ? err.message : 'the checkpoint failed';
      throw new AppError(
        'CHECKPOINT_FAILED',
        `${why}. The task keeps running so nothing is lost; stop it anyway with \`rclaude stop ${task.id} --force\` (the work since its last checkpoint is then lost)`,
        { cause: err },
      );
    }
  }

  async event(taskId: string, type: TaskEventType, data: Record<string, unknown>): Promise<void> {
    const ev = await this.deps.tasks.appendEvent(taskId, type, data);
    const task = await this.deps.tasks.get(taskId);
    if (task) this.deps.publisher.taskEvent(task, ev);
  }

  publish(task: Task): void {
    this.deps.publisher.taskUpdated(task);
  }
}
