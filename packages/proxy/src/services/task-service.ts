import type { Readable } from 'node:stream';
import {
  AppError,
  branchNameSchema,
  type Checkpoint,
  type CheckpointManifest,
  type CreateSessionRequest,
  type CreateTaskRequest,
  type ExecuteRequest,
  type ExecuteResult,
  type ForkTaskRequest,
  type ForkTaskResponse,
  type ImportTaskOptions,
  isResumable,
  isTerminal,
  type KeepTaskResponse,
  type ListTasksQuery,
  type PromptPermissionMode,
  type ResumeTaskRequest,
  type SessionInfo,
  type Task,
  type TaskEvent,
  type UsageResponse,
} from '@rclaude/protocol';
import type { CheckpointFiles } from '../checkpoints/checkpoint-files.js';
import { ImportArchive } from '../checkpoints/import-archive.js';
import { publicCheckpoint } from '../checkpoints/records.js';
import { checkTaskAllowHosts } from '../egress/allow-list.js';
import type { Provider } from '../providers/types.js';
import type { OutputLog, SessionState, SessionStore, TaskStore } from '../stores/types.js';
import type { AgentRpc } from './agent-rpc.js';
import type { AgentSessions } from './agent-sessions.js';
import type { AuthContext } from './auth-context.js';
import type { CheckpointService } from './checkpoints.js';
import { continueCommand, promptCommand, resumeCommand } from './claude-commands.js';
import type { CostService } from './cost.js';
import { newId } from './ids.js';
import { formatSpan } from './lifecycle.js';
import { recordingLines } from './recordings.js';
import { validateRepo } from './repo-source.js';
import { toInfo } from './session-hub.js';
import type { TaskLauncher } from './task-launcher.js';
import type { TaskTimeline, TaskTransitions } from './task-transitions.js';

export interface TaskServiceDeps {
  tasks: TaskStore;
  sessions: SessionStore;
  outputLog: OutputLog;
  providers: { get(name: Task['provider']): Provider; default: Task['provider'] };
  rpc: AgentRpc;
  /** Environment injected into every session of a user: stored secrets, then server-wide model credentials. */
  sessionEnv: (userId: string) => Promise<Record<string, string>>;
  cost: Pick<CostService, 'assertWithinBudget' | 'usage'>;
  /** Claude Code permission mode of prompt tasks. */
  promptPermissionMode: PromptPermissionMode;
  timeline: TaskTimeline &
    Pick<TaskTransitions, 'stopTask' | 'transition' | 'pausedSandbox' | 'resumePaused' | 'killPaused'>;
  /** Checkpoints, resume and keep; none: those routes answer CONFLICT. */
  checkpoints?: CheckpointService;
  /** Largest upload `POST /api/imports` reads (RCLAUDE_IMPORT_MAX_BYTES); default 2 GiB. */
  importMaxBytes?: number;
  /** The idle timeout (IDLE_TIMEOUT_MS), for what `keep` answers; 0: tasks never idle out. */
  idleTimeoutMs?: number;
  launcher: Pick<TaskLauncher, 'start' | 'assertTaskQuota'>;
  agents: Pick<AgentSessions, 'resolveSessionState' | 'openSession'>;
}

/** How often a session's `lastInputAt` is written while a person types. */
const INPUT_MARK_INTERVAL_MS = 5_000;
const DEFAULT_COLS = 80;
const DEFAULT_ROWS = 24;

/**
 * What users ask of tasks and sessions (the REST routes and the client gateway call these): create, read,
 * stop, continue and remove tasks, open sessions and run commands in them. Each checks that the caller may
 * see the task. Starting sandboxes, agents and status changes are the launcher's, agent sessions' and
 * transitions' (see composeTasks).
 */
export class TaskService {
  private readonly lastInputWrite = new Map<string, number>();

  constructor(private readonly deps: TaskServiceDeps) {}

  async create(auth: AuthContext, req: CreateTaskRequest): Promise<Task> {
    const provider = this.deps.providers.get(req.provider ?? this.deps.providers.default);
    if (req.repo) {
      await validateRepo(req.repo, req.branch ?? null, { provider: provider.name, admin: auth.role === 'admin' });
    } else if (req.branch || req.push || req.pullRequest || req.githubRepo) {
      const what = req.branch ? 'a branch' : req.push ? 'pushing' : 'a pull request';
      throw new AppError('BAD_REQUEST', `${what} needs a repository: give --repo too`);
    }
    if (typeof req.push === 'string' && !branchNameSchema.safeParse(req.push).success) {
      throw new AppError('BAD_REQUEST', `cannot push to "${req.push}": not a branch name git would accept here`);
    }
    if (req.push === req.branch && req.branch) {
      throw new AppError('BAD_REQUEST', `--push needs a new branch, not the one the task starts from (${req.branch})`);
    }
    const allowHosts = checkTaskAllowHosts(req.allowHosts ?? []);
    await this.deps.cost.assertWithinBudget(auth.userId);
    await this.deps.launcher.assertTaskQuota(auth.userId);
    const id = newId();
    const command = req.prompt ? null : (req.command ?? ['claude']);
    const task = await this.deps.tasks.create({
      id,
      name: req.name ?? defaultName(command, req.prompt),
      owner: auth.userId,
      provider: provider.name,
      command,
      prompt: req.prompt ?? null,
      repo: req.repo ?? null,
      branch: req.branch ?? null,
      pushBranch: req.push === true ? `rclaude/${id}` : (req.push ?? null),
      pullRequestOnExit: req.pullRequest ?? false,
      githubRepo: req.githubRepo ?? null,
      allowHosts,
      mainSessionId: `${id}_main`,
    });
    const sandboxId = await this.putMainSession(task, {
      command: command ?? promptCommand(this.deps.promptPermissionMode),
      cols: req.cols ?? DEFAULT_COLS,
      rows: req.rows ?? DEFAULT_ROWS,
      env: req.env,
    });
    await this.deps.timeline.event(id, 'status', { status: 'queued' });
    this.deps.timeline.publish(task);
    this.deps.launcher.start(task, provider, sandboxId);
    return task;
  }

  list(auth: AuthContext, q: ListTasksQuery): Promise<Task[]> {
    const all = q.all === true && auth.role === 'admin';
    return this.deps.tasks.list({
      ...(all ? {} : { owner: auth.userId }),
      ...(q.status ? { status: q.status } : {}),
      ...(q.q ? { q: q.q } : {}),
      ...(q.forkOf ? { forkOf: q.forkOf } : {}),
      limit: q.limit,
    });
  }

  /** The task if the caller may see it; another user's task is NOT_FOUND, exactly like a missing one. */
  async get(auth: AuthContext, id: string): Promise<Task> {
    const task = await this.deps.tasks.get(id);
    if (!task || (task.owner !== auth.userId && auth.role !== 'admin')) {
      throw new AppError('NOT_FOUND', `no task ${id}`);
    }
    return task;
  }

  async events(auth: AuthContext, id: string, after?: number): Promise<TaskEvent[]> {
    await this.get(auth, id);
    return this.deps.tasks.listEvents(id, after);
  }

  async sessionsOf(auth: AuthContext, id: string): Promise<SessionInfo[]> {
    await this.get(auth, id);
    const states = await this.deps.sessions.listByTask(id);
    return Promise.all(states.map((s) => this.info(s)));
  }

  /** Stops a task after checkpointing it (see TaskTransitions.stopTask; `force` stops even if that fails). */
  async stop(auth: AuthContext, id: string, opts: { force?: boolean } = {}): Promise<Task> {
    const task = await this.get(auth, id);
    return this.deps.timeline.stopTask(task, 'stopped by user', { force: opts.force === true });
  }

  /** Checkpoints a running task now (`rclaude checkpoint`). */
  async checkpoint(auth: AuthContext, id: string): Promise<Checkpoint> {
    const task = await this.get(auth, id);
    const checkpoints = this.checkpointsOrRefuse();
    if (task.status !== 'running' && task.status !== 'idle') {
      throw new AppError('TASK_NOT_RUNNING', `task ${id} is ${task.status}: only a running task can be checkpointed`);
    }
    return publicCheckpoint(await checkpoints.take(task, 'manual'));
  }

  async listCheckpoints(auth: AuthContext, id: string): Promise<Checkpoint[]> {
    await this.get(auth, id);
    return this.deps.checkpoints ? (await this.deps.checkpoints.list(id)).map(publicCheckpoint) : [];
  }

  /**
   * Resumes a hibernated or ended task in a new sandbox: the checkpoint (`at`, or the latest) is restored before
   * its main program runs again, Claude Code continuing its conversation. The main session keeps its id, and its
   * output goes on after the earlier output, so an attached client simply sees more. A hibernated task whose
   * provider paused its sandbox (E2B, adr/0025) resumes that sandbox instead, its processes as they were, unless
   * `at` names a checkpoint; when the paused sandbox is gone or does not resume, the checkpoint is restored.
   */
  async resume(auth: AuthContext, id: string, req: ResumeTaskRequest = {}): Promise<Task> {
    const task = await this.get(auth, id);
    const checkpoints = this.checkpointsOrRefuse();
    if (!isResumable(task.status)) {
      throw new AppError(
        'CONFLICT',
        `task ${id} is ${task.status}: attach to it instead (only hibernated or ended tasks are resumed)`,
      );
    }
    const checkpoint = await checkpoints.pick(task, req.at);
    await this.deps.cost.assertWithinBudget(task.owner);
    await this.deps.launcher.assertTaskQuota(task.owner);
    const provider = this.deps.providers.get(task.provider);
    const age = formatSpan(Math.max(0, Date.now() - Date.parse(checkpoint.createdAt)));
    const reason = `resumed from checkpoint ${checkpoint.id} (${checkpoint.trigger}, taken ${age} before)`;
    let paused = await this.deps.timeline.pausedSandbox(task);
    if (paused && req.at !== undefined) {
      // A checkpoint chosen by name is what the person wants back: the paused sandbox is not, and must not leak.
      await this.deps.timeline.killPaused(task, `resumed from checkpoint ${checkpoint.id} instead`);
      paused = null;
    }
    const why = paused ? 'resuming the paused sandbox' : reason;
    const moved = await this.deps.timeline.transition(
      id,
      'starting',
      {
        statusReason: why,
        endedAt: null,
        // A finished prompt keeps its outcome: the resumed session continues its conversation.
        exitCode: task.prompt !== null ? task.exitCode : null,
        activity: null,
        resumedAt: new Date(),
      },
      why,
    );
    if (!moved) throw new AppError('CONFLICT', `task ${id} changed while resuming; look at it again`);
    if (paused) {
      const failed = await this.deps.timeline.resumePaused(moved, paused);
      if (failed === null) {
        await this.deps.outputLog.retain(task.mainSessionId, null);
        return (await this.deps.tasks.get(id)) ?? moved;
      }
      await this.deps.timeline.event(id, 'info', {
        message: `the paused sandbox could not be resumed (${failed}): ${reason} in a new sandbox instead`,
      });
      const restarting = await this.deps.tasks.update(id, { statusReason: reason });
      if (restarting) this.deps.timeline.publish(restarting);
    }
    // Only the resume that won the move above records the new sandbox: two at once never cross.
    const previous = await this.deps.sessions.get(task.mainSessionId);
    const sandboxId = await this.putMainSession(task, {
      command: resumeCommand(task, checkpoint.claudeSessionId, this.deps.promptPermissionMode),
      cols: req.cols ?? previous?.cols ?? DEFAULT_COLS,
      rows: req.rows ?? previous?.rows ?? DEFAULT_ROWS,
      env: previous?.env,
      restore: checkpoint.id,
    });
    // Its output continues: no longer on the clock that ends an ended task's.
    await this.deps.outputLog.retain(task.mainSessionId, null);
    this.deps.launcher.start(moved, provider, sandboxId);
    return moved;
  }

  /**
   * Starts `count` new tasks from a task's latest checkpoint (a running task is checkpointed first, so the forks
   * start from now). Each is its source's owner's (checkpoint blobs are per owner), records `forkOf`, and
   * continues the conversation: with `prompt`, as `claude -p --resume <conversation>` answering it; without,
   * its source's program resumed. Forks never push (two would race for one branch).
   */
  async fork(auth: AuthContext, id: string, req: ForkTaskRequest = {}): Promise<ForkTaskResponse> {
    const source = await this.get(auth, id);
    const checkpoints = this.checkpointsOrRefuse();
    const from =
      source.status === 'running' || source.status === 'idle'
        ? await checkpoints.take(source, 'manual')
        : await checkpoints.pick(source).catch((err: unknown) => {
            if (err instanceof AppError && err.code === 'CONFLICT') {
              throw new AppError('CONFLICT', `task ${source.id} has no checkpoint to fork from yet`);
            }
            throw err;
          });
    const provider = this.deps.providers.get(source.provider);
    const previous = await this.deps.sessions.get(source.mainSessionId);
    const count = req.count ?? 1;
    const sid = from.claudeSessionId;
    const forks: Task[] = [];
    for (let i = 1; i <= count; i++) {
      await this.deps.cost.assertWithinBudget(source.owner);
      await this.deps.launcher.assertTaskQuota(source.owner);
      const forkId = newId();
      const prompt = req.prompt ?? null;
      const task = await this.deps.tasks.create({
        id: forkId,
        name: `${source.name.slice(0, 80)} (fork ${i}/${count})`,
        owner: source.owner,
        provider: provider.name,
        command: prompt ? null : source.command,
        prompt: prompt ?? source.prompt,
        repo: source.repo,
        branch: source.branch,
        pushBranch: null,
        allowHosts: source.allowHosts ?? [],
        mainSessionId: `${forkId}_main`,
        forkOf: source.id,
      });
      const sandboxId = newId(16);
      const copy = await checkpoints.copyTo(from, task, sandboxId);
      await this.putMainSession(task, {
        command: prompt
          ? [...promptCommand(this.deps.promptPermissionMode), ...(sid ? ['--resume', sid] : [])]
          : resumeCommand(source, sid, this.deps.promptPermissionMode),
        cols: req.cols ?? previous?.cols ?? DEFAULT_COLS,
        rows: req.rows ?? previous?.rows ?? DEFAULT_ROWS,
        env: previous?.env,
        restore: copy.id,
        // A new prompt is fed to the resumed conversation; without one, nothing is asked again.
        resumed: prompt === null,
        sandboxId,
      });
      await this.deps.timeline.event(forkId, 'status', { status: 'queued' });
      await this.deps.timeline.event(forkId, 'info', {
        message: `forked from task ${source.id} at checkpoint ${from.id}`,
        forkOf: source.id,
        checkpointId: from.id,
      });
      this.deps.timeline.publish(task);
      this.deps.launcher.start(task, provider, sandboxId);
      forks.push(task);
    }
    await this.deps.timeline
      .event(source.id, 'info', {
        message: `forked into ${forks.map((t) => t.id).join(', ')} from checkpoint ${from.id}`,
        forks: forks.map((t) => t.id),
        checkpointId: from.id,
      })
      .catch(() => undefined);
    return { checkpointId: from.id, tasks: forks };
  }

  /**
   * Starts a task from an uploaded workspace (`rclaude run --here`; the body format is IMPORT_HEADER_ENTRY's in
   * the protocol): the upload becomes the task's first checkpoint, restored into its sandbox before its program
   * starts. With a conversation in the upload, Claude Code resumes it (`--resume <id>`, or `-p --resume` for a
   * prompt). A failed upload leaves nothing behind.
   */
  async importTask(auth: AuthContext, body: Readable): Promise<Task> {
    const checkpoints = this.checkpointsOrRefuse();
    const archive = new ImportArchive(body, this.deps.importMaxBytes ?? 2 * 1024 ** 3);
    let task: Task | null = null;
    try {
      const { task: opts, manifest } = await archive.readHeader();
      const provider = this.deps.providers.get(opts.provider ?? this.deps.providers.default);
      const allowHosts = checkTaskAllowHosts(opts.allowHosts ?? []);
      await this.deps.cost.assertWithinBudget(auth.userId);
      await this.deps.launcher.assertTaskQuota(auth.userId);
      const id = newId();
      const command = opts.prompt ? null : (opts.command ?? ['claude']);
      task = await this.deps.tasks.create({
        id,
        name: opts.name ?? defaultName(command, opts.prompt),
        owner: auth.userId,
        provider: provider.name,
        command,
        prompt: opts.prompt ?? null,
        repo: null,
        branch: null,
        pushBranch: null,
        allowHosts,
        mainSessionId: `${id}_main`,
      });
      const sandboxId = newId(16);
      const record = await checkpoints.importInto(task, sandboxId, manifest, archive.blobs());
      await this.putMainSession(task, {
        command: importedCommand(opts, record.claudeSessionId, this.deps.promptPermissionMode),
        cols: opts.cols ?? DEFAULT_COLS,
        rows: opts.rows ?? DEFAULT_ROWS,
        restore: record.id,
        // Its first run: a prompt is fed to it.
        resumed: false,
        sandboxId,
      });
      await this.deps.timeline.event(id, 'status', { status: 'queued' });
      await this.deps.timeline.event(id, 'info', {
        message: `started from an upload of ${manifest.workspace || 'a local directory'} (${record.files} files)`,
        checkpointId: record.id,
      });
      this.deps.timeline.publish(task);
      this.deps.launcher.start(task, provider, sandboxId);
      return task;
    } catch (err) {
      archive.abandon(err instanceof Error ? err : new Error(String(err)));
      if (task) await this.deps.tasks.delete(task.id).catch(() => undefined);
      throw err;
    }
  }

  /** The manifest of one of a task's checkpoints. */
  async checkpointManifest(auth: AuthContext, id: string, checkpointId: string): Promise<CheckpointManifest> {
    const task = await this.get(auth, id);
    const checkpoints = this.checkpointsOrRefuse();
    return checkpoints.manifest(await checkpoints.pick(task, checkpointId));
  }

  /** One file's bytes of a task's checkpoint, by the hash its manifest names. */
  async checkpointBlob(
    auth: AuthContext,
    id: string,
    checkpointId: string,
    hash: string,
  ): Promise<{ size: number; body: Readable }> {
    const task = await this.get(auth, id);
    const checkpoints = this.checkpointsOrRefuse();
    return checkpoints.blob(await checkpoints.pick(task, checkpointId), hash);
  }

  /** Restarts a running task's idle clock, as a keystroke would (`rclaude keep`). */
  async keep(auth: AuthContext, id: string): Promise<KeepTaskResponse> {
    const task = await this.get(auth, id);
    if (task.status !== 'running' && task.status !== 'idle') {
      throw new AppError('TASK_NOT_RUNNING', `task ${id} is ${task.status}: there is no sandbox to keep`);
    }
    const now = Date.now();
    await this.deps.sessions.patch(task.mainSessionId, { lastInputAt: now });
    const idle = this.deps.idleTimeoutMs ?? 0;
    return { hibernateAt: idle > 0 ? new Date(now + idle).toISOString() : null };
  }

  /** Marks a session as typed into, for the idle clock; written at most every few seconds per session. */
  noteInput(sessionId: string): void {
    const now = Date.now();
    if (now - (this.lastInputWrite.get(sessionId) ?? 0) < INPUT_MARK_INTERVAL_MS) return;
    this.lastInputWrite.set(sessionId, now);
    if (this.lastInputWrite.size > 10_000) this.lastInputWrite.clear();
    void this.deps.sessions.patch(sessionId, { lastInputAt: now }).catch(() => undefined);
  }

  /**
   * Records a task's main session as starting in a new sandbox (a creation, or a resume that restores
   * `restore` first); the sandbox's id.
   */
  private async putMainSession(
    task: Task,
    opts: {
      command: string[];
      cols: number;
      rows: number;
      env?: Record<string, string> | undefined;
      restore?: string;
      /** Whether the program continues an earlier run (a resume; a fork without a new prompt). Default: when restoring. */
      resumed?: boolean;
      /** The sandbox's id, when its checkpoint was made for it first (a fork, an import). */
      sandboxId?: string;
    },
  ): Promise<string> {
    const sandboxId = opts.sandboxId ?? newId(16);
    await this.deps.sessions.put({
      id: task.mainSessionId,
      taskId: task.id,
      sandboxId,
      kind: 'main',
      command: opts.command,
      status: 'starting',
      cols: opts.cols,
      rows: opts.rows,
      exitCode: null,
      holder: null,
      ...(opts.restore ? { restore: opts.restore } : {}),
      ...((opts.resumed ?? opts.restore !== undefined) ? { resumed: true } : {}),
      ...(opts.env ? { env: opts.env } : {}),
    });
    return sandboxId;
  }

  private checkpointsOrRefuse(): CheckpointService {
    if (!this.deps.checkpoints) throw new AppError('CONFLICT', 'checkpoints are not set up on this server');
    return this.deps.checkpoints;
  }

  /** The caller's spending this month (`GET /api/usage`). */
  usage(auth: AuthContext): Promise<UsageResponse> {
    return this.deps.cost.usage(auth.userId);
  }

  /**
   * Opens Claude Code on a finished prompt task's conversation (`claude --resume <its session id>`, same
   * workspace and HOME) in a new session of its sandbox, or returns the one already open. The task is
   * `running` while such a session runs and `idle` again after. (`claude --continue` does not find
   * conversations of `claude -p`, so the id recorded from the prompt's stream is used.)
   */
  async continueTask(auth: AuthContext, id: string, size: { cols?: number; rows?: number } = {}): Promise<SessionInfo> {
    const task = await this.get(auth, id);
    if (task.prompt === null) throw new AppError('CONFLICT', `task ${id} is not a prompt task: attach to it instead`);
    if (isTerminal(task.status)) throw new AppError('TASK_NOT_RUNNING', `task ${id} has ended and its sandbox is gone`);
    const sessions = await this.deps.sessions.listByTask(id);
    const main = sessions.find((s) => s.id === task.mainSessionId);
    if (main?.status !== 'exited') {
      throw new AppError('CONFLICT', `the prompt of task ${id} is still running: attach to watch it, or wait`);
    }
    const open = sessions.find((s) => s.kind === 'shell' && s.status !== 'exited' && s.command[0] === 'claude');
    if (open) return this.info(open);
    return this.createSession(auth, {
      taskId: id,
      command: continueCommand(this.deps.promptPermissionMode, await this.claudeSessionOf(id)),
      ...size,
    });
  }

  /** The Claude Code conversation id a prompt task's stream reported last, if any. */
  private async claudeSessionOf(taskId: string): Promise<string | null> {
    let found: string | null = null;
    for (let after = 0; ; ) {
      const page = await this.deps.tasks.listEvents(taskId, after, 1000);
      for (const e of page) {
        const id = e.data.claudeSessionId;
        if ((e.type === 'info' || e.type === 'result') && typeof id === 'string' && CLAUDE_SESSION_ID.test(id))
          found = id;
      }
      if (page.length < 1000) return found;
      after = page[page.length - 1]?.seq ?? after;
    }
  }

  async remove(auth: AuthContext, id: string): Promise<void> {
    const task = await this.get(auth, id);
    if (!isTerminal(task.status)) await this.deps.timeline.stopTask(task, 'deleted', { trigger: null });
    else await this.deps.timeline.killPaused(task, 'deleted');
    await this.deps.checkpoints?.removeTask(task);
    for (const s of await this.deps.sessions.listByTask(id)) {
      await this.deps.outputLog.delete(s.id);
      await this.deps.sessions.delete(s.id);
    }
    await this.deps.tasks.delete(id);
  }

  /** The session if the caller may see its task. */
  async session(auth: AuthContext, sessionId: string): Promise<SessionState> {
    const state = await this.deps.agents.resolveSessionState(sessionId);
    if (!state) throw new AppError('NOT_FOUND', `no session ${sessionId}`);
    await this.get(auth, state.taskId).catch(() => {
      throw new AppError('NOT_FOUND', `no session ${sessionId}`);
    });
    return state;
  }

  /** A session's recording (asciicast v2 lines), if the caller may see its task. */
  async recording(auth: AuthContext, sessionId: string): Promise<AsyncGenerator<string>> {
    const state = await this.session(auth, sessionId);
    const task = await this.get(auth, state.taskId);
    return recordingLines({ outputLog: this.deps.outputLog, tasks: this.deps.tasks, now: Date.now }, task, state);
  }

  async info(state: SessionState): Promise<SessionInfo> {
    const [bounds, clients] = await Promise.all([
      this.deps.outputLog.bounds(state.id),
      this.deps.sessions.countClients(state.id),
    ]);
    return toInfo(state, bounds, clients);
  }

  /** Opens another PTY (a shell by default) in a running task's sandbox. */
  async createSession(auth: AuthContext, req: CreateSessionRequest): Promise<SessionInfo> {
    const task = await this.get(auth, req.taskId);
    const main = await this.deps.sessions.get(task.mainSessionId);
    if (!main || isTerminal(task.status) || main.holder === null) {
      throw new AppError('TASK_NOT_RUNNING', `task ${task.id} is not running`);
    }
    const state: SessionState = {
      id: `${task.id}_${newId(6)}`,
      taskId: task.id,
      sandboxId: main.sandboxId,
      kind: 'shell',
      command: req.command ?? ['/bin/bash', '-l'],
      status: 'starting',
      cols: req.cols ?? DEFAULT_COLS,
      rows: req.rows ?? DEFAULT_ROWS,
      exitCode: null,
      holder: null,
    };
    await this.deps.sessions.put(state);
    await this.deps.agents.openSession(state, task.owner, 0);
    return this.info({ ...state, status: 'running', holder: main.holder });
  }

  async execute(auth: AuthContext, sessionId: string, req: ExecuteRequest): Promise<ExecuteResult> {
    const state = await this.session(auth, sessionId);
    const task = await this.get(auth, state.taskId);
    if (isTerminal(task.status)) throw new AppError('TASK_NOT_RUNNING', `task ${task.id} has ended`);
    const env = await this.deps.sessionEnv(task.owner);
    return this.deps.rpc.call(
      state.sandboxId,
      'exec:run',
      { command: req.command, timeoutMs: req.timeoutMs, cwd: req.cwd ?? null, env },
      req.timeoutMs + 5000,
    );
  }

  /** The sandbox of a task the caller may see, if it is running (for file operations). */
  /**
   * The latest checkpoint's workspace, read-only, of a task with no sandbox (hibernated or ended); null when it
   * has a sandbox or no checkpoint. Another user's task is NOT_FOUND, as everywhere.
   */
  async checkpointFiles(auth: AuthContext, taskId: string): Promise<CheckpointFiles | null> {
    const task = await this.get(auth, taskId);
    if (!isTerminal(task.status) || !this.deps.checkpoints) return null;
    return this.deps.checkpoints.files(task);
  }

  async runningSandbox(auth: AuthContext, taskId: string): Promise<{ sandboxId: string }> {
    const task = await this.get(auth, taskId);
    const main = await this.deps.sessions.get(task.mainSessionId);
    if (!main || isTerminal(task.status)) throw new AppError('TASK_NOT_RUNNING', `task ${taskId} is not running`);
    return { sandboxId: main.sandboxId };
  }
}

/** Claude Code conversation ids are UUIDs; anything else from the agent is not passed on. */
const CLAUDE_SESSION_ID = /^[A-Za-z0-9][A-Za-z0-9-]{0,127}$/;

/**
 * The main command of an imported task: a prompt answered in the uploaded conversation (if any); Claude Code
 * resuming it (`claude --resume <id>`); or the given program as it is.
 */
function importedCommand(
  opts: ImportTaskOptions,
  claudeSessionId: string | null,
  mode: PromptPermissionMode,
): string[] {
  if (opts.prompt) return [...promptCommand(mode), ...(claudeSessionId ? ['--resume', claudeSessionId] : [])];
  const command = opts.command ?? ['claude'];
  return claudeSessionId && command[0] === 'claude'
    ? resumeCommand({ command, prompt: null }, claudeSessionId, mode)
    : command;
}

function defaultName(command: string[] | null, prompt: string | undefined): string {
  if (prompt) return prompt.length > 60 ? `${prompt.slice(0, 57)}...` : prompt;
  return (command ?? ['claude']).join(' ').slice(0, 100);
}
