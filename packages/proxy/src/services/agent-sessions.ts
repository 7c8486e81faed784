import {
  type AgentHello,
  type AgentHelloResult,
  AppError,
  type ExitInfo,
  isTerminal,
  type PromptPermissionMode,
  type SessionRepo,
  type Task,
  type TaskStatus,
} from '@rclaude/protocol';
import type { Logger } from 'pino';
import type { Metrics } from '../metrics.js';
import type {
  OutputLog,
  SandboxRecord,
  SandboxStore,
  SessionState,
  SessionStore,
  TaskPatch,
  TaskStore,
} from '../stores/types.js';
import type { AgentRpc } from './agent-rpc.js';
import { startupTokenExpiry } from './agent-tokens.js';
import { promptCommand, promptDoneReason } from './claude-commands.js';
import type { GitAccess } from './git-remote.js';
import { newToken, sha256 } from './ids.js';
import { uploadRepo } from './repo-source.js';
import type { SandboxControl } from './sandbox-control.js';
import type { TaskPublisher } from './task-publisher.js';
import type { TaskRecorder } from './task-recorder.js';
import type { TaskTimers } from './task-timers.js';
import type { TaskMoves, TaskTimeline } from './task-transitions.js';

export interface AgentSessionsDeps {
  proxyId: string;
  tasks: TaskStore;
  sandboxes: SandboxStore;
  sessions: SessionStore;
  outputLog: OutputLog;
  rpc: AgentRpc;
  log: Logger;
  metrics: Metrics;
  publisher: Pick<TaskPublisher, 'sessionStatus'>;
  /** Environment injected into every session of a user: stored secrets, then server-wide model credentials. */
  sessionEnv: (userId: string) => Promise<Record<string, string>>;
  /** The owner's git credentials and the proxy's git settings, to clone https repositories; none: no token. */
  git?: GitAccess;
  agentReconnectGraceMs: number;
  /** Claude Code permission mode of prompt tasks. */
  promptPermissionMode: PromptPermissionMode;
  timers: TaskTimers;
  sandboxControl: Pick<SandboxControl, 'inspect'>;
  moves: TaskMoves & Pick<TaskTimeline, 'publish'>;
  recorder: Pick<TaskRecorder, 'recorded'>;
  /** Restores a checkpoint into a resumed task's new sandbox (CheckpointService.restore); none: no resumes. */
  restore?: (task: Task, sandboxId: string, checkpointId: string) => Promise<unknown>;
  /**
   * Checkpoints a task whose program has just exited, before its sandbox goes (CheckpointService.take), so
   * leaving Claude Code loses nothing either; none: no checkpoints.
   */
  checkpoint?: (task: Task) => Promise<unknown>;
  /**
   * The task's main program exited on its own and its sandbox is still there: what must happen before anything
   * moves on (PullRequestService.onMainExit: `rclaude run --pr`). Never throws.
   */
  onMainExit?: (task: Task) => Promise<unknown>;
  /** Clock for start-up token expiry, ms since the epoch; default Date.now. */
  now?: () => number;
}

/**
 * The proxy's side of sandbox agents: checks their handshakes, resumes or opens their sessions when they say
 * hello, waits for them when they drop, and moves tasks as their sessions open and exit.
 */
export class AgentSessions {
  /** The agent handshake being checked per sandbox on this proxy; the next one waits for it. */
  private readonly agentAuthQueue = new Map<string, Promise<unknown>>();

  constructor(private readonly deps: AgentSessionsDeps) {}

  /**
   * Authenticates an agent handshake and rotates its token (agent tokens are single-use). Refuses (null) an
   * unknown sandbox, a wrong or already-used token, an expired start-up token, a stopped sandbox, and a sandbox
   * whose task has ended.
   */
  async authenticateAgent(
    sandboxId: string,
    token: string,
  ): Promise<{ record: SandboxRecord; nextToken: string } | null> {
    // Check and rotate one handshake at a time: two racing with the same token would otherwise both pass.
    const previous = this.agentAuthQueue.get(sandboxId) ?? Promise.resolve();
    const run = previous
      .catch(() => undefined)
      .then(async () => {
        const record = await this.deps.sandboxes.get(sandboxId);
        if (!record || record.state === 'stopped' || record.tokenHash !== sha256(token)) return null;
        const expires = startupTokenExpiry(token);
        if (expires !== null && (this.deps.now ?? Date.now)() > expires) {
          this.deps.log.warn({ sandboxId }, 'refused an agent: its start-up token expired unused');
          return null;
        }
        const task = record.taskId ? await this.deps.tasks.get(record.taskId) : null;
        if (record.taskId && (!task || isTerminal(task.status))) return null;
        const nextToken = newToken();
        await this.deps.sandboxes.update(sandboxId, { tokenHash: sha256(nextToken) });
        return { record, nextToken };
      });
    this.agentAuthQueue.set(sandboxId, run);
    try {
      return await run;
    } finally {
      if (this.agentAuthQueue.get(sandboxId) === run) this.agentAuthQueue.delete(sandboxId);
    }
  }

  /**
   * An agent exchanges the one-time bootstrap reference its provider started it with (the start-up token, as
   * `RCLAUDE_AGENT_BOOTSTRAP`) for its token, over HTTPS before it dials: the reference passed through a cloud
   * API (ECS task overrides, kept in its logs) and dies here; the token it gets never did. Refused like a
   * handshake with that token would be.
   */
  async exchangeBootstrap(sandboxId: string, bootstrap: string): Promise<{ token: string }> {
    const ok = await this.authenticateAgent(sandboxId, bootstrap);
    if (!ok) {
      this.deps.log.warn({ sandboxId }, 'agent bootstrap refused');
      throw new AppError('UNAUTHENTICATED', 'agent bootstrap refused: unknown sandbox, or a used or expired reference');
    }
    return { token: ok.nextToken };
  }

  /** An agent connected to this proxy: resume what it runs, forget what we don't know, open what is pending. */
  async agentHello(
    record: SandboxRecord,
    hello: AgentHello,
  ): Promise<{ result: AgentHelloResult; after: () => Promise<void> }> {
    this.deps.timers.disarmSandbox(record.sandboxId);
    const result: AgentHelloResult = { sessions: [], forget: [] };
    const reported = new Set<string>();
    for (const s of hello.sessions) {
      const state = await this.resolveSessionState(s.sessionId);
      if (!state || state.sandboxId !== record.sandboxId) {
        result.forget.push(s.sessionId);
        continue;
      }
      reported.add(s.sessionId);
      let { end } = await this.deps.outputLog.bounds(s.sessionId);
      if (end < s.retainedFrom) {
        // The log lost bytes the agent no longer holds (Redis restarted empty, or an embedded server
        // restarted): continue the numbering from what the agent can still send.
        this.deps.log.warn(
          { sessionId: s.sessionId, stored: end, retainedFrom: s.retainedFrom },
          'output log lost bytes; resuming',
        );
        end = await this.deps.outputLog.skipTo(s.sessionId, s.retainedFrom);
      }
      result.sessions.push({ sessionId: s.sessionId, stored: end });
      await this.deps.sessions.patch(s.sessionId, { holder: this.deps.proxyId });
      this.deps.publisher.sessionStatus({ sessionId: s.sessionId, agentConnected: true, reason: null });
    }
    const after = async () => {
      if (!record.taskId) return;
      const task = await this.deps.tasks.get(record.taskId);
      if (!task || isTerminal(task.status)) return;
      for (const state of await this.deps.sessions.listByTask(record.taskId)) {
        if (state.status !== 'starting' || reported.has(state.id)) continue;
        if (state.kind === 'main' && state.restore && !(await this.restoreInto(task, state, state.restore))) return;
        try {
          // A resumed main session's output goes on after what its earlier runs wrote.
          const startOffset = state.resumed ? (await this.deps.outputLog.bounds(state.id)).end : 0;
          await this.openSession(state, task.owner, startOffset);
        } catch (err) {
          if (state.kind !== 'main') throw err;
          // The program could not start (e.g. not found): the task ends here, with the reason.
          const details = err instanceof AppError ? (err.details as { exitCode?: number } | undefined) : undefined;
          await this.deps.moves.endTask(task.id, 'failed', {
            statusReason: err instanceof AppError ? err.message : 'the program could not be started',
            exitCode: details?.exitCode ?? null,
          });
        }
      }
    };
    return { result, after };
  }

  /**
   * Brings a resumed task's checkpoint into its new sandbox before the program starts; false (the task failed,
   * with the reason, its checkpoints kept for another try) when it cannot.
   */
  private async restoreInto(task: Task, state: SessionState, checkpointId: string): Promise<boolean> {
    if (!this.deps.restore) return true;
    try {
      await this.deps.restore(task, state.sandboxId, checkpointId);
      return true;
    } catch (err) {
      if (!(err instanceof AppError)) this.deps.log.error({ err, taskId: task.id, checkpointId }, 'restore failed');
      const why = err instanceof AppError ? err.message : 'see the server log';
      await this.deps.moves.endTask(task.id, 'failed', {
        statusReason: `could not restore checkpoint ${checkpointId}: ${why}. The checkpoint is kept: \`rclaude resume ${task.id}\` tries again`,
      });
      return false;
    }
  }

  /** Opens a stored session in its sandbox (through its agent) and records it running. */
  async openSession(state: SessionState, owner: string, startOffset: number): Promise<void> {
    const env = { ...(await this.deps.sessionEnv(owner)), ...(state.env ?? {}) };
    const extras = await this.sessionExtras(state);
    await this.deps.rpc.call(
      state.sandboxId,
      'session:open',
      {
        sessionId: state.id,
        kind: state.kind,
        command: state.command,
        env,
        cwd: null,
        cols: state.cols,
        rows: state.rows,
        startOffset,
        ...extras,
      },
      15_000,
    );
    await this.deps.sessions.patch(state.id, { status: 'running', holder: this.deps.proxyId });
    // Attached clients hold typed input until the process exists; this tells them it does.
    this.deps.publisher.sessionStatus({ sessionId: state.id, agentConnected: true, reason: null });
    this.deps.metrics.sessionsOpened.inc({ kind: state.kind });
    if (state.kind === 'main') {
      // Only from `starting`: a prompt that already finished (idle) must not look running again.
      if ((await this.deps.tasks.get(state.taskId))?.status === 'starting') {
        await this.deps.moves.transition(state.taskId, 'running', { startedAt: new Date() }, 'running');
      }
    } else {
      await this.settleIdle(state.taskId);
    }
  }

  /**
   * What a session brings beyond its command: a prompt task's main session gets the prompt; the main session
   * and Claude Code sessions of a task with a repository get the repository (cloned first, a diff recorded at
   * exit). The main session's is bundled by the proxy and uploaded first: a local path (the sandbox cannot see
   * this machine's files) or an https repository, which the proxy clones with the owner's token (adr/0024).
   */
  private async sessionExtras(state: SessionState): Promise<{ prompt?: string; repo?: SessionRepo }> {
    const task = await this.deps.tasks.get(state.taskId);
    if (!task) return {};
    const extras: { prompt?: string; repo?: SessionRepo } = {};
    // A resumed prompt task continues its conversation interactively: its prompt was answered already.
    if (state.kind === 'main' && task.prompt !== null && !state.resumed) extras.prompt = task.prompt;
    if (task.repo && (state.kind === 'main' || state.command[0] === 'claude')) {
      const repo = { url: task.repo, branch: task.branch };
      extras.repo =
        state.kind === 'main'
          ? await uploadRepo(this.deps.rpc, state.sandboxId, repo, { owner: task.owner, access: this.deps.git ?? null })
          : repo;
      if (state.kind === 'main' && task.pushBranch) extras.repo.pushBranch = task.pushBranch;
    }
    return extras;
  }

  /** A finished prompt task is `idle` while no other session runs in its sandbox, `running` while one does. */
  private async settleIdle(taskId: string): Promise<void> {
    const task = await this.deps.tasks.get(taskId);
    if (!task || task.prompt === null || (task.status !== 'running' && task.status !== 'idle')) return;
    const sessions = await this.deps.sessions.listByTask(taskId);
    if (sessions.find((s) => s.id === task.mainSessionId)?.status !== 'exited') return;
    const busy = sessions.some((s) => s.id !== task.mainSessionId && s.status !== 'exited');
    if (busy && task.status === 'idle') {
      await this.deps.moves.transition(
        taskId,
        'running',
        { statusReason: 'continued interactively' },
        'continued interactively',
      );
    } else if (!busy && task.status === 'running') {
      await this.deps.moves.transition(
        taskId,
        'idle',
        { statusReason: promptDoneReason(task.exitCode) },
        'no session running',
      );
    }
  }

  /**
   * The agent of a sandbox dropped its connection to this proxy: its sessions lose their holder, and its task
   * fails unless the agent is back (on any proxy) within the reconnect grace period.
   */
  async agentDisconnected(sandboxId: string): Promise<void> {
    const record = await this.deps.sandboxes.get(sandboxId);
    if (!record?.taskId) return;
    const sessions = await this.deps.sessions.listByTask(record.taskId);
    for (const s of sessions) {
      if (s.holder !== this.deps.proxyId) continue;
      await this.deps.sessions.patch(s.id, { holder: null });
      this.deps.publisher.sessionStatus({ sessionId: s.id, agentConnected: false, reason: 'sandbox reconnecting' });
    }
    const taskId = record.taskId;
    this.deps.timers.arm(`grace:${sandboxId}`, this.deps.agentReconnectGraceMs, async () => {
      const task = await this.deps.tasks.get(taskId);
      if (!task || isTerminal(task.status)) return;
      const main = await this.deps.sessions.get(task.mainSessionId);
      if (main?.holder) return; // It came back, maybe to another proxy.
      // The task has moved to another sandbox since (it was stopped and resumed): this one's loss is no news.
      if (main && main.sandboxId !== sandboxId) return;
      const status = await this.deps.sandboxControl.inspect(record).catch(() => null);
      const reason = status?.fault
        ? status.fault
        : status && status.state !== 'running'
          ? `the sandbox stopped${status.reason ? ` (${status.reason})` : ''}`
          : `the sandbox agent lost its connection and did not come back within ${Math.round(this.deps.agentReconnectGraceMs / 1000)}s`;
      await this.deps.moves.endTask(taskId, 'failed', { statusReason: reason });
    });
  }

  /** Called by the hub when a session's exit is stored. */
  async onSessionExit(state: SessionState, info: ExitInfo): Promise<void> {
    // Events the agent sent before this exit (a prompt's result, the diff) go on the timeline first.
    await this.deps.recorder.recorded(state.sandboxId);
    if (state.kind !== 'main') return this.settleIdle(state.taskId);
    let task = await this.deps.tasks.get(state.taskId);
    if (!task || isTerminal(task.status)) return;
    if (task.status === 'starting') {
      // The program exited before openSession recorded it running (a very short program): record that first,
      // since `starting` may not move to the outcome directly.
      task = (await this.deps.moves.transition(task.id, 'running', { startedAt: new Date() }, 'running')) ?? task;
    }
    const stopping = task.status === 'stopping';
    if (!stopping && (info.signal !== null || info.exitCode >= 128)) {
      // Killed: by the kernel because the sandbox reached its memory or process limit? Then that is the reason.
      const fault = await this.limitFault(state.sandboxId);
      if (fault) {
        await this.deps.moves.endTask(task.id, 'failed', { exitCode: info.exitCode, statusReason: fault });
        return;
      }
    }
    if (!stopping && info.signal === null && info.exitCode < 128 && this.deps.onMainExit) {
      await this.deps.onMainExit(task).catch((err: unknown) => {
        this.deps.log.warn({ err, taskId: task?.id }, 'the work after the program exited failed');
      });
    }
    if (task.prompt !== null && !stopping) {
      // A finished prompt keeps its sandbox, so the conversation can be continued (`rclaude attach`) until
      // the task is stopped or idles out; its outcome (exit code) decides its final status then.
      const patch: TaskPatch = {
        exitCode: info.exitCode,
        activity: 'done',
        statusReason: promptDoneReason(info.exitCode),
      };
      const busy = (await this.deps.sessions.listByTask(task.id)).some(
        (s) => s.id !== state.id && s.status !== 'exited',
      );
      const moved = busy ? await this.deps.tasks.update(task.id, patch) : null;
      if (moved) this.deps.moves.publish(moved);
      else await this.deps.moves.transition(task.id, 'idle', patch, `prompt exited with code ${info.exitCode}`);
      return;
    }
    const status: TaskStatus = stopping ? 'stopped' : info.exitCode === 0 ? 'succeeded' : 'failed';
    const reason = info.signal ? `killed by ${info.signal}` : `exited with code ${info.exitCode}`;
    if (!stopping && info.signal === null && info.exitCode < 128 && this.deps.checkpoint) {
      // The program ended on its own (a stop has already checkpointed): save the workspace while the sandbox is
      // still there, so the task can be resumed. A failure is on the timeline and does not hold the end up.
      await this.deps.checkpoint(task).catch((err: unknown) => {
        this.deps.log.warn({ err, taskId: task?.id }, 'the checkpoint after the program exited failed');
      });
    }
    await this.deps.moves.endTask(task.id, status, {
      exitCode: info.exitCode,
      statusReason: stopping ? task.statusReason : reason,
    });
  }

  /** The resource limit the sandbox reached, in its provider's words, or null (none, or not known). */
  private async limitFault(sandboxId: string): Promise<string | null> {
    const record = await this.deps.sandboxes.get(sandboxId);
    if (!record?.ref) return null;
    const status = await this.deps.sandboxControl.inspect(record).catch(() => null);
    return status?.fault ?? null;
  }

  /**
   * A session's live state. When the session store has lost it (an embedded server restarted, or Redis came
   * back empty) but it is the main session of a live task, it is rebuilt from Postgres, so the session goes on
   * instead of failing.
   */
  async resolveSessionState(sessionId: string): Promise<SessionState | null> {
    const state = await this.deps.sessions.get(sessionId);
    if (state) return state;
    const taskId = sessionId.endsWith('_main') ? sessionId.slice(0, -'_main'.length) : null;
    const task = taskId ? await this.deps.tasks.get(taskId) : null;
    if (!task || isTerminal(task.status) || task.mainSessionId !== sessionId) return null;
    const record = await this.deps.sandboxes.getByTask(task.id);
    if (!record) return null;
    const rebuilt: SessionState = {
      id: sessionId,
      taskId: task.id,
      sandboxId: record.sandboxId,
      kind: 'main',
      command: task.command ?? promptCommand(this.deps.promptPermissionMode),
      status: task.status === 'queued' || task.status === 'starting' ? 'starting' : 'running',
      cols: 80,
      rows: 24,
      exitCode: null,
      holder: null,
    };
    await this.deps.sessions.put(rebuilt);
    this.deps.log.warn({ sessionId, taskId: task.id }, 'rebuilt a lost session state');
    return rebuilt;
  }
}
