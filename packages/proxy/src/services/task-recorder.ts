import {
  type AgentEvent,
  isTerminal,
  type PushEventData,
  parseAgentTaskEvent,
  repoSourceKind,
  type Task,
} from '@rclaude/protocol';
import type { Logger } from 'pino';
import type { SandboxRecord, SandboxStore, TaskPatch, TaskStore } from '../stores/types.js';
import type { AgentRpc } from './agent-rpc.js';
import { fetchPushedBranch } from './repo-source.js';
import type { TaskTimeline } from './task-transitions.js';

export interface TaskRecorderDeps {
  tasks: TaskStore;
  sandboxes: SandboxStore;
  rpc: AgentRpc;
  log: Logger;
  timeline: TaskTimeline;
}

/**
 * Records what agents report (prompt-task lines, hook activity, diffs, pushes) on their tasks' timelines, in
 * arrival order per sandbox.
 */
export class TaskRecorder {
  /** Per sandbox, the agent events being recorded, in arrival order; an exit waits for them. */
  private readonly agentEvents = new Map<string, Promise<void>>();

  constructor(private readonly deps: TaskRecorderDeps) {}

  /**
   * Records what an agent reports (prompt-task lines, hook activity, diffs) on its task's timeline, in arrival
   * order per sandbox. `activity` sets the task's.
   * Malformed or unknown events are dropped: the agent runs next to user code.
   */
  recordAgentEvent(record: SandboxRecord, event: AgentEvent): Promise<void> {
    const key = record.sandboxId;
    const next = (this.agentEvents.get(key) ?? Promise.resolve())
      .then(() => this.applyAgentEvent(record, event))
      .catch((err: unknown) => this.deps.log.warn({ err, sandboxId: key }, 'recording an agent event failed'));
    this.agentEvents.set(key, next);
    void next.then(() => {
      if (this.agentEvents.get(key) === next) this.agentEvents.delete(key);
    });
    return next;
  }

  /** Settles once the events a sandbox's agent sent so far are recorded; undefined when none are pending. */
  recorded(sandboxId: string): Promise<void> | undefined {
    return this.agentEvents.get(sandboxId);
  }

  private async applyAgentEvent(record: SandboxRecord, event: AgentEvent): Promise<void> {
    const taskId = record.taskId ?? (await this.deps.sandboxes.get(record.sandboxId))?.taskId;
    if (!taskId) return;
    const parsed = parseAgentTaskEvent(event.type, event.data);
    if (!parsed) {
      this.deps.log.warn(
        { sandboxId: record.sandboxId, type: event.type.slice(0, 64) },
        'dropped a malformed agent event',
      );
      return;
    }
    const task = await this.deps.tasks.get(taskId);
    if (!task || isTerminal(task.status)) return;
    const data = parsed.type === 'push' ? await this.bringPushHome(record.sandboxId, task, parsed.data) : parsed.data;
    await this.deps.timeline.event(
      taskId,
      parsed.type,
      event.sessionId ? { ...data, sessionId: event.sessionId } : data,
    );
    // A `result`'s usage and cost stay on its event only: the task's are what the egress gateway metered,
    // which code in the sandbox cannot forge.
    let patch: TaskPatch | null = null;
    if (parsed.type === 'activity' && task.activity !== parsed.data.activity) {
      patch = { activity: parsed.data.activity };
    }
    const updated = patch ? await this.deps.tasks.update(taskId, patch) : null;
    if (updated) this.deps.timeline.publish(updated);
  }

  /**
   * A `push` whose repository is a path on this machine arrives as a bundle in the workspace: fetch the branch
   * into the repository, and record where it went (or an error saying why it did not).
   */
  private async bringPushHome(sandboxId: string, task: Task, push: PushEventData): Promise<PushEventData> {
    const { bundlePath, ...recorded } = push;
    if (bundlePath === undefined || recorded.pushedTo !== null) return recorded;
    if (!task.repo || repoSourceKind(task.repo) !== 'path' || push.branch !== task.pushBranch) return recorded;
    try {
      await fetchPushedBranch(this.deps.rpc, sandboxId, task.repo, { ...push, bundlePath });
      return { ...recorded, pushedTo: task.repo };
    } catch (err) {
      const message = `could not bring branch ${push.branch} back to ${task.repo}: ${(err as Error).message}`;
      await this.deps.timeline.event(task.id, 'error', { message: message.slice(0, 2000) });
      return recorded;
    }
  }
}
