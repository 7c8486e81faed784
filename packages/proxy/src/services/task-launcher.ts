import { AppError, isTerminal, type Task } from '@rclaude/protocol';
import type { Logger } from 'pino';
import type { Metrics } from '../metrics.js';
import type { Provider } from '../providers/types.js';
import type { SandboxStore, SessionStore, TaskStore } from '../stores/types.js';
import type { AgentSessions } from './agent-sessions.js';
import { DEFAULT_STARTUP_TOKEN_TTL_MS, newStartupToken } from './agent-tokens.js';
import { sha256 } from './ids.js';
import type { SandboxControl } from './sandbox-control.js';
import { newErrorReference, startFailureReason } from './start-failure.js';
import type { TaskTimers } from './task-timers.js';
import type { TaskMoves } from './task-transitions.js';
import type { SandboxClaims } from './warm-pool.js';

export interface TaskLauncherDeps {
  tasks: TaskStore;
  sandboxes: SandboxStore;
  sessions: SessionStore;
  /** The providers in use, for reconcile to find orphaned sandboxes. */
  providers: { active(): Provider[] };
  log: Logger;
  metrics: Metrics;
  /** The URL agents dial. */
  proxyUrl: () => string;
  agentConnectTimeoutMs: number;
  maxLifetimeMs: number;
  /** How long a start-up token stays valid unused (AGENT_TOKEN_TTL_MS); default 5 minutes. */
  startupTokenTtlMs?: number;
  /** Live tasks one user may have at once (RCLAUDE_MAX_TASKS_PER_USER); 0 or absent: no limit. */
  maxTasksPerUser?: number;
  /** Pre-started sandboxes a task claims instead of starting one; none when absent. */
  warmPool?: SandboxClaims;
  timers: TaskTimers;
  sandboxControl: SandboxControl;
  moves: TaskMoves;
  agents: Pick<AgentSessions, 'agentHello' | 'agentDisconnected'>;
}

/**
 * Gets a task its sandbox: claims a warm one or starts one through its provider and waits for its agent; and,
 * after a (re)start, reconciles sandboxes and tasks with what the providers still run.
 */
export class TaskLauncher {
  constructor(private readonly deps: TaskLauncherDeps) {}

  /**
   * Refuses (TOO_MANY_TASKS) a new task of a user who already has the most live tasks (queued to idle: each
   * holds or is getting a sandbox) one user may have. Checked as a task is created, so requests racing on
   * several proxies may go over by a few; a sandbox is not started for a refused task.
   */
  async assertTaskQuota(owner: string): Promise<void> {
    const max = this.deps.maxTasksPerUser ?? 0;
    if (max <= 0) return;
    const live = await this.deps.tasks.list({ owner, live: true, limit: max });
    if (live.length < max) return;
    throw new AppError(
      'TOO_MANY_TASKS',
      `you already have ${live.length} live tasks, the most one user may have at once (RCLAUDE_MAX_TASKS_PER_USER=${max}): stop one you no longer need (\`rclaude ls\` lists them, \`rclaude stop ID\` stops one), then try again`,
      { details: { limit: max, live: live.map((t) => t.id) } },
    );
  }

  /**
   * Starts the sandbox of a newly created task in the background; a failure ends the task with the reason.
   * Called before its creation returns, so a claimed sandbox is bound to the main session first (see launch).
   */
  start(task: Task, provider: Provider, sandboxId: string): void {
    void this.launch(task, provider, sandboxId).catch((err: unknown) => this.failStart(task.id, err));
  }

  private async launch(task: Task, provider: Provider, sandboxId: string): Promise<void> {
    const pooled = this.deps.warmPool?.claim(provider.name, task.id) ?? null;
    if (pooled) {
      // Issued before launch's first await, i.e. before create() returns: a client attaching to the session
      // reads it after this write, so its input goes to the claimed sandbox, never to the unused id.
      const bound = this.deps.sessions.patch(task.mainSessionId, { sandboxId: pooled.sandboxId });
      await Promise.all([
        bound,
        this.deps.sandboxes.update(pooled.sandboxId, { taskId: task.id, state: 'claimed' }),
        this.deps.moves.transition(task.id, 'starting', {}, 'claimed a warm sandbox'),
      ]);
      // Its agent is connected already: go on as after a hello (open the task's sessions, with its secrets).
      const { after } = await this.deps.agents.agentHello({ ...pooled.record, taskId: task.id }, { sessions: [] });
      await after();
      return;
    }
    const token = newStartupToken(this.deps.startupTokenTtlMs ?? DEFAULT_STARTUP_TOKEN_TTL_MS);
    await this.deps.sandboxes.create({
      sandboxId,
      taskId: task.id,
      provider: provider.name,
      ref: null,
      tokenHash: sha256(token),
      state: 'starting',
      workspace: null,
    });
    await this.deps.moves.transition(task.id, 'starting', {}, 'starting sandbox');
    const started = performance.now();
    const handle = await provider.start({
      sandboxId,
      taskId: task.id,
      owner: task.owner,
      env: { RCLAUDE_PROXY_URL: this.deps.proxyUrl(), RCLAUDE_SANDBOX_ID: sandboxId, RCLAUDE_AGENT_TOKEN: token },
      maxLifetimeMs: this.deps.maxLifetimeMs,
    });
    this.deps.metrics.sandboxStartSeconds.observe({ provider: provider.name }, (performance.now() - started) / 1000);
    // The task may have ended while the provider was starting (its program ran and exited, or it was
    // stopped): SandboxControl.stop had no handle then, so stop this one now instead of recording it as live.
    const current = await this.deps.tasks.get(task.id);
    const record = await this.deps.sandboxes.get(sandboxId);
    if (!current || isTerminal(current.status) || record?.state === 'stopped') {
      await this.deps.sandboxes.update(sandboxId, { ref: handle.ref, state: 'stopped' });
      await provider.stop(handle, 'task ended while its sandbox was starting').catch((err: unknown) => {
        this.deps.log.error({ err, sandboxId }, 'stopping a sandbox whose task ended failed');
      });
      return;
    }
    await this.deps.sandboxes.update(sandboxId, { ref: handle.ref, state: 'claimed' });
    this.deps.timers.arm(`connect:${sandboxId}`, this.deps.agentConnectTimeoutMs, async () => {
      const main = await this.deps.sessions.get(task.mainSessionId);
      if (main?.status === 'starting') {
        await this.deps.moves.endTask(task.id, 'failed', {
          statusReason: `the sandbox started but its agent did not connect within ${Math.round(this.deps.agentConnectTimeoutMs / 1000)}s`,
        });
      }
    });
  }

  /**
   * A provider stopped a sandbox because it reached a resource limit: its task fails with the provider's words
   * for it (the timeline shows them); a sandbox with no live task is only recorded stopped.
   */
  async sandboxFault(sandboxId: string, reason: string): Promise<void> {
    const record = await this.deps.sandboxes.get(sandboxId);
    if (!record) return;
    const task = record.taskId ? await this.deps.tasks.get(record.taskId) : null;
    if (task && !isTerminal(task.status)) {
      await this.deps.moves.endTask(task.id, 'failed', { statusReason: reason });
      return;
    }
    await this.deps.sandboxControl.stop(record, reason);
  }

  /**
   * Ends a task whose sandbox could not start. Its timeline gets a clean reason (no server paths) and a
   * reference; the server log keeps the whole error under that reference.
   */
  private async failStart(taskId: string, err: unknown): Promise<void> {
    const reference = newErrorReference();
    const reason = startFailureReason(err, reference);
    this.deps.log.error({ err, taskId, reference }, 'sandbox start failed');
    await this.deps.moves
      .endTask(taskId, 'failed', { statusReason: reason })
      .catch((e: unknown) => this.deps.log.error({ err: e, taskId }, 'could not record start failure'));
  }

  /**
   * After a (re)start: stops sandboxes with no live task, fails tasks whose sandbox is gone, and gives live
   * sandboxes the reconnect grace period to find us again.
   */
  async reconcile(): Promise<{ stopped: number; failed: number }> {
    let stopped = 0;
    let failed = 0;
    const known = new Set<string>();
    for (const record of await this.deps.sandboxes.listActive()) {
      known.add(record.sandboxId);
      const task = record.taskId ? await this.deps.tasks.get(record.taskId) : null;
      // A hibernated task's paused sandbox waits for its resume (a stop or a deletion of the task kills it).
      if (record.state === 'paused' && task?.status === 'hibernated') continue;
      if (!task || isTerminal(task.status)) {
        await this.deps.sandboxControl.stop(record, 'no live task');
        stopped++;
        continue;
      }
      const status = record.ref ? await this.deps.sandboxControl.inspect(record).catch(() => null) : null;
      if (!status || status.state === 'stopped' || status.state === 'missing') {
        await this.deps.moves.endTask(task.id, 'failed', {
          statusReason: 'the sandbox was gone after a server restart',
        });
        failed++;
        continue;
      }
      void this.deps.agents.agentDisconnected(record.sandboxId);
    }
    for (const provider of this.deps.providers.active()) {
      // A configured but unreachable cloud must not hold the server's start-up for the SDK's own timeouts.
      const listed = await Promise.race([
        provider.list(),
        new Promise<never>((_, reject) => setTimeout(() => reject(new Error('timed out')), 15_000).unref()),
      ]).catch((err: unknown) => {
        this.deps.log.warn({ err, provider: provider.name }, 'could not list sandboxes to reconcile; skipping');
        return [];
      });
      for (const handle of listed) {
        if (known.has(handle.sandboxId)) continue;
        await provider.stop(handle, 'orphaned sandbox').catch(() => undefined);
        stopped++;
      }
    }
    for (const task of await this.deps.tasks.list({ live: true, limit: 10_000 })) {
      const record = await this.deps.sandboxes.getByTask(task.id);
      if (!record || record.state === 'stopped') {
        await this.deps.moves.endTask(task.id, 'failed', {
          statusReason: 'the server restarted before the sandbox started',
        });
        failed++;
      }
    }
    return { stopped, failed };
  }
}
