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
import { type GitAccess, gitCredentialFor, secretToStore } from './git-remote.js';
import { deliverBranch, pushedCommits } from './pull-requests.js';
import type { TaskTimeline } from './task-transitions.js';

/** A sandbox's timeline says its agent was cut off at most this often. */
const DROP_NOTE_INTERVAL_MS = 60_000;

export interface TaskRecorderDeps {
  tasks: TaskStore;
  sandboxes: SandboxStore;
  rpc: AgentRpc;
  log: Logger;
  timeline: TaskTimeline;
  /** The owner's git credentials, to push a session's branch to an https remote; none: only local paths. */
  git?: GitAccess;
}

/**
 * Records what agents report (prompt-task lines, hook activity, diffs, pushes) on their tasks' timelines, in
 * arrival order per sandbox.
 */
export class TaskRecorder {
  /**
   * Per sandbox, the agent events being recorded, in arrival order (an exit waits for them), and how many are
   * not recorded yet (the agent gateway refuses more than AGENT_MAX_QUEUED_EVENTS).
   */
  private readonly agentEvents = new Map<string, { tail: Promise<void>; queued: number }>();
  /** When each sandbox's timeline last said its agent was cut off (so a reconnect loop cannot flood it). */
  private readonly dropsNoted = new Map<string, number>();

  constructor(private readonly deps: TaskRecorderDeps) {}

  /**
   * Records what an agent reports (prompt-task lines, hook activity, diffs) on its task's timeline, in arrival
   * order per sandbox. `activity` sets the task's (model cost is metered by the egress gateway).
   * Malformed or unknown events are dropped: the agent runs next to user code. Never rejects.
   */
  recordAgentEvent(record: SandboxRecord, event: AgentEvent): Promise<void> {
    const key = record.sandboxId;
    const queue = this.agentEvents.get(key) ?? { tail: Promise.resolve(), queued: 0 };
    queue.queued++;
    const next = queue.tail
      .then(() => this.applyAgentEvent(record, event))
      .catch((err: unknown) => this.deps.log.warn({ err, sandboxId: key }, 'recording an agent event failed'))
      .then(() => {
        queue.queued--;
        if (queue.queued === 0 && this.agentEvents.get(key) === queue) this.agentEvents.delete(key);
      });
    queue.tail = next;
    this.agentEvents.set(key, queue);
    return next;
  }

  /** Settles once the events a sandbox's agent sent so far are recorded; undefined when none are pending. */
  recorded(sandboxId: string): Promise<void> | undefined {
    return this.agentEvents.get(sandboxId)?.tail;
  }

  /** How many of a sandbox's agent events are waiting to be recorded. */
  queuedEvents(sandboxId: string): number {
    return this.agentEvents.get(sandboxId)?.queued ?? 0;
  }

  /**
   * Says on the task's timeline (an `error` event with `limit` and `message`) that its sandbox's agent was
   * disconnected for going over a limit; at most once a minute per sandbox, unless `always` (a note the caller
   * sends once itself, like the start of a reconnection cooldown). Never rejects.
   */
  async recordAgentDropped(
    record: SandboxRecord,
    limit: string,
    message: string,
    opts: { always?: boolean } = {},
  ): Promise<void> {
    const now = Date.now();
    const last = this.dropsNoted.get(record.sandboxId);
    if (!opts.always && last !== undefined && now - last < DROP_NOTE_INTERVAL_MS) return;
    this.dropsNoted.set(record.sandboxId, now);
    if (this.dropsNoted.size > 1000) {
      for (const [id, at] of this.dropsNoted) if (now - at >= DROP_NOTE_INTERVAL_MS) this.dropsNoted.delete(id);
    }
    try {
      const taskId = record.taskId ?? (await this.deps.sandboxes.get(record.sandboxId))?.taskId;
      const task = taskId ? await this.deps.tasks.get(taskId) : null;
      if (!task || isTerminal(task.status)) return;
      await this.deps.timeline.event(task.id, 'error', { message, limit });
    } catch (err) {
      this.deps.log.warn({ err, sandboxId: record.sandboxId }, 'recording why an agent was disconnected failed');
    }
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
   * A `push` at a session's end arrives as a bundle in the workspace (the sandbox holds no git credentials,
   * adr/0024): move the task's branch to it, fast-forward only, in the local repository or on the https remote
   * with the owner's token, and record where it went (or an error saying why it did not).
   */
  private async bringPushHome(sandboxId: string, task: Task, push: PushEventData): Promise<PushEventData> {
    const { bundlePath, ...recorded } = push;
    if (bundlePath === undefined || recorded.pushedTo !== null) return recorded;
    if (!task.repo || push.branch !== task.pushBranch) return recorded;
    try {
      const remote = repoSourceKind(task.repo) !== 'path';
      const git = this.deps.git;
      const credential =
        remote && git ? gitCredentialFor(task.repo, await git.secrets(task.owner), git.githubHost) : null;
      if (remote && !credential) {
        throw new Error(
          `no token stored for it: run \`rclaude secret set ${secretToStore(task.repo, git?.githubHost ?? 'github.com')}\``,
        );
      }
      const delivered = await deliverBranch(this.deps.rpc, sandboxId, {
        repo: task.repo,
        branch: push.branch,
        commit: push.commit,
        bundlePath,
        credential,
        owner: task.owner,
        access: git ?? null,
        ownPushes: await pushedCommits(this.deps.tasks, task.id, push.branch),
      });
      return { ...recorded, commit: delivered.commit, pushedTo: task.repo };
    } catch (err) {
      const message = `could not push branch ${push.branch} to ${task.repo}: ${(err as Error).message}`;
      await this.deps.timeline.event(task.id, 'error', { message: message.slice(0, 2000) });
      return recorded;
    }
  }
}
