import {
  type AgentEvent,
  type AgentHello,
  type AgentHelloResult,
  AppError,
  branchNameSchema,
  type CreateSessionRequest,
  type CreateTaskRequest,
  type ExecuteRequest,
  type ExecuteResult,
  type ExitInfo,
  isTerminal,
  type ListTasksQuery,
  type PromptPermissionMode,
  type PushEventData,
  parseAgentTaskEvent,
  repoSourceKind,
  type SessionInfo,
  type SessionRepo,
  type Task,
  type TaskEvent,
  type TaskEventType,
  type TaskStatus,
  type UsageResponse,
} from '@rclaude/protocol';
import type { Logger } from 'pino';
import type { AuthContext } from '../http/context.js';
import type { Metrics } from '../metrics.js';
import type { Provider, SandboxHandle } from '../providers/types.js';
import { rooms } from '../realtime/rooms.js';
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
import { addUsage, CostService } from './cost.js';
import { newId, newToken, sha256 } from './ids.js';
import { fetchPushedBranch, uploadLocalRepo, validateRepo } from './repo-source.js';
import { type ClientNamespace, type SessionHub, toInfo } from './session-hub.js';
import type { SandboxClaims } from './warm-pool.js';

export interface TaskServiceDeps {
  proxyId: string;
  tasks: TaskStore;
  sandboxes: SandboxStore;
  sessions: SessionStore;
  outputLog: OutputLog;
  providers: { get(name: Task['provider']): Provider; default: Task['provider']; active(): Provider[] };
  hub: SessionHub;
  rpc: AgentRpc;
  clients: ClientNamespace;
  log: Logger;
  metrics: Metrics;
  /** The URL agents dial. */
  proxyUrl: () => string;
  /** Environment injected into every session of a user: stored secrets, then server-wide model credentials. */
  sessionEnv: (userId: string) => Promise<Record<string, string>>;
  agentConnectTimeoutMs: number;
  agentReconnectGraceMs: number;
  maxLifetimeMs: number;
  /** Task costs and the monthly budget. Default: the default price table and no budget. */
  cost?: CostService;
  /** Claude Code permission mode of prompt tasks. Default `bypassPermissions` (docs/tasks.md says why). */
  promptPermissionMode?: PromptPermissionMode;
  /** Pre-started sandboxes a task claims instead of starting one (RCLAUDE_WARM_POOL_SIZE); none by default. */
  warmPool?: SandboxClaims;
}

const DEFAULT_COLS = 80;
const DEFAULT_ROWS = 24;

/**
 * Tasks from creation to their end: starts sandboxes through providers, opens sessions when agents say
 * hello, records exits, stops sandboxes, and reconciles what a restart left behind.
 */
export class TaskService {
  private readonly timers = new Map<string, NodeJS.Timeout>();
  /** Per sandbox, the agent events being recorded, in arrival order; an exit waits for them. */
  private readonly agentEvents = new Map<string, Promise<void>>();
  private readonly cost: CostService;

  constructor(private readonly deps: TaskServiceDeps) {
    this.cost =
      deps.cost ??
      new CostService({
        tasks: deps.tasks,
        prices: {},
        sizeOf: (name) => {
          try {
            return deps.providers.get(name).size;
          } catch {
            return null;
          }
        },
        monthlyBudgetUsd: null,
      });
  }

  // ---- user-facing -----------------------------------------------------------------------------

  async create(auth: AuthContext, req: CreateTaskRequest): Promise<Task> {
    const provider = this.deps.providers.get(req.provider ?? this.deps.providers.default);
    if (req.repo) {
      await validateRepo(req.repo, req.branch ?? null, { provider: provider.name, admin: auth.role === 'admin' });
    } else if (req.branch || req.push) {
      throw new AppError('BAD_REQUEST', `${req.branch ? 'a branch' : 'pushing'} needs a repository: give --repo too`);
    }
    if (typeof req.push === 'string' && !branchNameSchema.safeParse(req.push).success) {
      throw new AppError('BAD_REQUEST', `cannot push to "${req.push}": not a branch name git would accept here`);
    }
    if (req.push === req.branch && req.branch) {
      throw new AppError('BAD_REQUEST', `--push needs a new branch, not the one the task starts from (${req.branch})`);
    }
    await this.cost.assertWithinBudget(auth.userId);
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
      mainSessionId: `${id}_main`,
    });
    const sandboxId = newId(16);
    await this.deps.sessions.put({
      id: task.mainSessionId,
      taskId: id,
      sandboxId,
      kind: 'main',
      command: command ?? promptCommand(this.deps.promptPermissionMode ?? 'bypassPermissions'),
      status: 'starting',
      cols: req.cols ?? DEFAULT_COLS,
      rows: req.rows ?? DEFAULT_ROWS,
      exitCode: null,
      holder: null,
      ...(req.env ? { env: req.env } : {}),
    });
    await this.event(id, 'status', { status: 'queued' });
    this.publish(task);
    void this.launch(task, provider, sandboxId).catch((err: unknown) => this.failStart(task.id, err));
    return task;
  }

  list(auth: AuthContext, q: ListTasksQuery): Promise<Task[]> {
    const all = q.all === true && auth.role === 'admin';
    return this.deps.tasks.list({
      ...(all ? {} : { owner: auth.userId }),
      ...(q.status ? { status: q.status } : {}),
      ...(q.q ? { q: q.q } : {}),
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

  async stop(auth: AuthContext, id: string, reason = 'stopped by user'): Promise<Task> {
    const task = await this.get(auth, id);
    return this.stopTask(task, reason);
  }

  /** Stops a task on the system's behalf (idle stop, maximum lifetime); the reason goes on its timeline. */
  async stopBySystem(taskId: string, reason: string): Promise<void> {
    const task = await this.deps.tasks.get(taskId);
    if (task) await this.stopTask(task, reason);
  }

  /** The caller's spending this month (`GET /api/usage`). */
  usage(auth: AuthContext): Promise<UsageResponse> {
    return this.cost.usage(auth.userId);
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
      command: continueCommand(this.deps.promptPermissionMode ?? 'bypassPermissions', await this.claudeSessionOf(id)),
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
    if (!isTerminal(task.status)) await this.stopTask(task, 'deleted');
    for (const s of await this.deps.sessions.listByTask(id)) {
      await this.deps.outputLog.delete(s.id);
      await this.deps.sessions.delete(s.id);
    }
    await this.deps.tasks.delete(id);
  }

  /** The session if the caller may see its task. */
  async session(auth: AuthContext, sessionId: string): Promise<SessionState> {
    const state = await this.resolveSessionState(sessionId);
    if (!state) throw new AppError('NOT_FOUND', `no session ${sessionId}`);
    await this.get(auth, state.taskId).catch(() => {
      throw new AppError('NOT_FOUND', `no session ${sessionId}`);
    });
    return state;
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
      command: task.command ?? promptCommand(this.deps.promptPermissionMode ?? 'bypassPermissions'),
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
    await this.openSession(state, task.owner, 0);
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
  async runningSandbox(auth: AuthContext, taskId: string): Promise<{ sandboxId: string }> {
    const task = await this.get(auth, taskId);
    const main = await this.deps.sessions.get(task.mainSessionId);
    if (!main || isTerminal(task.status)) throw new AppError('TASK_NOT_RUNNING', `task ${taskId} is not running`);
    return { sandboxId: main.sandboxId };
  }

  // ---- sandbox lifecycle -----------------------------------------------------------------------

  private async launch(task: Task, provider: Provider, sandboxId: string): Promise<void> {
    const pooled = this.deps.warmPool?.claim(provider.name, task.id) ?? null;
    if (pooled) {
      // Issued before launch's first await, i.e. before create() returns: a client attaching to the session
      // reads it after this write, so its input goes to the claimed sandbox, never to the unused id.
      const bound = this.deps.sessions.patch(task.mainSessionId, { sandboxId: pooled.sandboxId });
      await Promise.all([
        bound,
        this.deps.sandboxes.update(pooled.sandboxId, { taskId: task.id, state: 'claimed' }),
        this.transition(task.id, 'starting', {}, 'claimed a warm sandbox'),
      ]);
      // Its agent is connected already: go on as after a hello (open the task's sessions, with its secrets).
      const { after } = await this.agentHello({ ...pooled.record, taskId: task.id }, { sessions: [] });
      await after();
      return;
    }
    const token = newToken();
    await this.deps.sandboxes.create({
      sandboxId,
      taskId: task.id,
      provider: provider.name,
      ref: null,
      tokenHash: sha256(token),
      state: 'starting',
      workspace: null,
    });
    await this.transition(task.id, 'starting', {}, 'starting sandbox');
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
    // stopped): stopSandbox had no handle then, so stop this one now instead of recording it as live.
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
    this.arm(`connect:${sandboxId}`, this.deps.agentConnectTimeoutMs, async () => {
      const main = await this.deps.sessions.get(task.mainSessionId);
      if (main?.status === 'starting') {
        await this.endTask(task.id, 'failed', {
          statusReason: `the sandbox started but its agent did not connect within ${Math.round(this.deps.agentConnectTimeoutMs / 1000)}s`,
        });
      }
    });
  }

  private async failStart(taskId: string, err: unknown): Promise<void> {
    const reason = err instanceof AppError ? err.message : 'the sandbox could not be started';
    if (!(err instanceof AppError)) this.deps.log.error({ err, taskId }, 'sandbox start failed');
    await this.endTask(taskId, 'failed', { statusReason: reason }).catch((e: unknown) =>
      this.deps.log.error({ err: e, taskId }, 'could not record start failure'),
    );
  }

  /** The agent handshake being checked per sandbox on this proxy; the next one waits for it. */
  private readonly agentAuthQueue = new Map<string, Promise<unknown>>();

  /**
   * Authenticates an agent handshake and rotates its token (agent tokens are single-use). Refuses (null) an
   * unknown sandbox, a wrong or already-used token, a stopped sandbox, and a sandbox whose task has ended.
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

  /** An agent connected to this proxy: resume what it runs, forget what we don't know, open what is pending. */
  async agentHello(
    record: SandboxRecord,
    hello: AgentHello,
  ): Promise<{ result: AgentHelloResult; after: () => Promise<void> }> {
    this.disarm(`connect:${record.sandboxId}`);
    this.disarm(`grace:${record.sandboxId}`);
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
      this.deps.clients
        .to(rooms.session(s.sessionId))
        .emit('session:status', { sessionId: s.sessionId, agentConnected: true, reason: null });
    }
    const after = async () => {
      if (!record.taskId) return;
      const task = await this.deps.tasks.get(record.taskId);
      if (!task || isTerminal(task.status)) return;
      for (const state of await this.deps.sessions.listByTask(record.taskId)) {
        if (state.status !== 'starting' || reported.has(state.id)) continue;
        try {
          await this.openSession(state, task.owner, 0);
        } catch (err) {
          if (state.kind !== 'main') throw err;
          // The program could not start (e.g. not found): the task ends here, with the reason.
          const details = err instanceof AppError ? (err.details as { exitCode?: number } | undefined) : undefined;
          await this.endTask(task.id, 'failed', {
            statusReason: err instanceof AppError ? err.message : 'the program could not be started',
            exitCode: details?.exitCode ?? null,
          });
        }
      }
    };
    return { result, after };
  }

  private async openSession(state: SessionState, owner: string, startOffset: number): Promise<void> {
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
    this.deps.clients
      .to(rooms.session(state.id))
      .emit('session:status', { sessionId: state.id, agentConnected: true, reason: null });
    this.deps.metrics.sessionsOpened.inc({ kind: state.kind });
    if (state.kind === 'main') {
      // Only from `starting`: a prompt that already finished (idle) must not look running again.
      if ((await this.deps.tasks.get(state.taskId))?.status === 'starting') {
        await this.transition(state.taskId, 'running', { startedAt: new Date() }, 'running');
      }
    } else {
      await this.settleIdle(state.taskId);
    }
  }

  /**
   * What a session brings beyond its command: a prompt task's main session gets the prompt; the main session
   * and Claude Code sessions of a task with a repository get the repository (cloned first, a diff recorded at
   * exit). A local path is bundled and uploaded first (the sandbox cannot see this machine's files).
   */
  private async sessionExtras(state: SessionState): Promise<{ prompt?: string; repo?: SessionRepo }> {
    const task = await this.deps.tasks.get(state.taskId);
    if (!task) return {};
    const extras: { prompt?: string; repo?: SessionRepo } = {};
    if (state.kind === 'main' && task.prompt !== null) extras.prompt = task.prompt;
    if (task.repo && (state.kind === 'main' || state.command[0] === 'claude')) {
      const repo = { url: task.repo, branch: task.branch };
      extras.repo =
        state.kind === 'main' && repoSourceKind(task.repo) === 'path'
          ? await uploadLocalRepo(this.deps.rpc, state.sandboxId, repo)
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
      await this.transition(taskId, 'running', { statusReason: 'continued interactively' }, 'continued interactively');
    } else if (!busy && task.status === 'running') {
      await this.transition(taskId, 'idle', { statusReason: promptDoneReason(task.exitCode) }, 'no session running');
    }
  }

  async agentDisconnected(sandboxId: string): Promise<void> {
    const record = await this.deps.sandboxes.get(sandboxId);
    if (!record?.taskId) return;
    const sessions = await this.deps.sessions.listByTask(record.taskId);
    for (const s of sessions) {
      if (s.holder !== this.deps.proxyId) continue;
      await this.deps.sessions.patch(s.id, { holder: null });
      this.deps.clients
        .to(rooms.session(s.id))
        .emit('session:status', { sessionId: s.id, agentConnected: false, reason: 'sandbox reconnecting' });
    }
    const taskId = record.taskId;
    this.arm(`grace:${sandboxId}`, this.deps.agentReconnectGraceMs, async () => {
      const task = await this.deps.tasks.get(taskId);
      if (!task || isTerminal(task.status)) return;
      const main = await this.deps.sessions.get(task.mainSessionId);
      if (main?.holder) return; // It came back, maybe to another proxy.
      const status = await this.inspect(record).catch(() => null);
      const reason =
        status && status.state !== 'running'
          ? `the sandbox stopped${status.reason ? ` (${status.reason})` : ''}`
          : `the sandbox agent lost its connection and did not come back within ${Math.round(this.deps.agentReconnectGraceMs / 1000)}s`;
      await this.endTask(taskId, 'failed', { statusReason: reason });
    });
  }

  /**
   * Records what an agent reports (prompt-task lines, hook activity, diffs) on its task's timeline, in arrival
   * order per sandbox. A `result` adds its usage and model cost to the task; `activity` sets the task's.
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
    await this.event(taskId, parsed.type, event.sessionId ? { ...data, sessionId: event.sessionId } : data);
    let patch: TaskPatch | null = null;
    if (parsed.type === 'result') {
      patch = {
        usage: addUsage(task.usage, parsed.data.usage),
        modelCostUsd: Math.round((task.modelCostUsd + parsed.data.costUsd) * 1e6) / 1e6,
      };
    } else if (parsed.type === 'activity' && task.activity !== parsed.data.activity) {
      patch = { activity: parsed.data.activity };
    }
    const updated = patch ? await this.deps.tasks.update(taskId, patch) : null;
    if (updated) this.publish(updated);
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
      await this.event(task.id, 'error', { message: message.slice(0, 2000) });
      return recorded;
    }
  }

  /** Called by the hub when a session's exit is stored. */
  async onSessionExit(state: SessionState, info: ExitInfo): Promise<void> {
    // Events the agent sent before this exit (a prompt's result, the diff) go on the timeline first.
    await this.agentEvents.get(state.sandboxId);
    if (state.kind !== 'main') return this.settleIdle(state.taskId);
    let task = await this.deps.tasks.get(state.taskId);
    if (!task || isTerminal(task.status)) return;
    if (task.status === 'starting') {
      // The program exited before openSession recorded it running (a very short program): record that first,
      // since `starting` may not move to the outcome directly.
      task = (await this.transition(task.id, 'running', { startedAt: new Date() }, 'running')) ?? task;
    }
    const stopping = task.status === 'stopping';
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
      if (moved) this.publish(moved);
      else await this.transition(task.id, 'idle', patch, `prompt exited with code ${info.exitCode}`);
      return;
    }
    const status: TaskStatus = stopping ? 'stopped' : info.exitCode === 0 ? 'succeeded' : 'failed';
    const reason = info.signal ? `killed by ${info.signal}` : `exited with code ${info.exitCode}`;
    await this.endTask(task.id, status, {
      exitCode: info.exitCode,
      statusReason: stopping ? task.statusReason : reason,
    });
  }

  private async stopTask(task: Task, reason: string): Promise<Task> {
    if (isTerminal(task.status)) return task;
    const stopping = (await this.transition(task.id, 'stopping', { statusReason: reason }, reason)) ?? task;
    // A prompt that already finished ends with its own outcome; stopping only releases its sandbox.
    const final: TaskStatus =
      task.prompt !== null && task.exitCode !== null ? (task.exitCode === 0 ? 'succeeded' : 'failed') : 'stopped';
    await this.endTask(task.id, final, { statusReason: reason });
    return (await this.deps.tasks.get(task.id)) ?? stopping;
  }

  /** Moves a task to a terminal status and stops its sandbox. Safe to call more than once. */
  private async endTask(taskId: string, status: TaskStatus, patch: TaskPatch): Promise<void> {
    const endedAt = new Date();
    const current = await this.deps.tasks.get(taskId);
    const cost = current ? { computeCostUsd: this.cost.computeCostUsd(current, endedAt) } : {};
    const ended = await this.transition(taskId, status, { ...patch, ...cost, endedAt }, patch.statusReason ?? status);
    if (!ended) return;
    const main = await this.deps.sessions.get(ended.mainSessionId);
    if (main) {
      await this.deps.hub.settled(main.id);
      this.disarm(`connect:${main.sandboxId}`);
      this.disarm(`grace:${main.sandboxId}`);
      const record = await this.deps.sandboxes.get(main.sandboxId);
      if (record) await this.stopSandbox(record, patch.statusReason ?? status);
    }
  }

  private async stopSandbox(record: SandboxRecord, reason: string): Promise<void> {
    if (record.state === 'stopped') return;
    await this.deps.sandboxes.update(record.sandboxId, { state: 'stopped' });
    if (!record.ref) return;
    try {
      await this.deps.providers.get(record.provider).stop(handleOf(record), reason);
    } catch (err) {
      this.deps.log.error({ err, sandboxId: record.sandboxId }, 'stopping sandbox failed');
    }
  }

  private inspect(record: SandboxRecord) {
    return this.deps.providers.get(record.provider).inspect(handleOf(record));
  }

  private async transition(id: string, to: TaskStatus, patch: TaskPatch, reason: string): Promise<Task | null> {
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

  private async event(taskId: string, type: TaskEventType, data: Record<string, unknown>): Promise<void> {
    const ev = await this.deps.tasks.appendEvent(taskId, type, data);
    const task = await this.deps.tasks.get(taskId);
    if (task) this.deps.clients.to([rooms.task(taskId), rooms.user(task.owner), rooms.admins]).emit('task:event', ev);
  }

  private publish(task: Task): void {
    this.deps.clients.to([rooms.task(task.id), rooms.user(task.owner), rooms.admins]).emit('task:updated', task);
  }

  // ---- start-up --------------------------------------------------------------------------------

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
      if (!task || isTerminal(task.status)) {
        await this.stopSandbox(record, 'no live task');
        stopped++;
        continue;
      }
      const status = record.ref ? await this.inspect(record).catch(() => null) : null;
      if (!status || status.state === 'stopped' || status.state === 'missing') {
        await this.endTask(task.id, 'failed', { statusReason: 'the sandbox was gone after a server restart' });
        failed++;
        continue;
      }
      void this.agentDisconnected(record.sandboxId);
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
        await this.endTask(task.id, 'failed', { statusReason: 'the server restarted before the sandbox started' });
        failed++;
      }
    }
    return { stopped, failed };
  }

  private arm(key: string, ms: number, fn: () => Promise<void>): void {
    this.disarm(key);
    const timer = setTimeout(() => {
      this.timers.delete(key);
      fn().catch((err: unknown) => this.deps.log.error({ err, key }, 'task timer failed'));
    }, ms);
    timer.unref();
    this.timers.set(key, timer);
  }

  private disarm(key: string): void {
    clearTimeout(this.timers.get(key));
    this.timers.delete(key);
  }

  close(): void {
    for (const t of this.timers.values()) clearTimeout(t);
    this.timers.clear();
  }
}

function handleOf(record: SandboxRecord): SandboxHandle {
  return { sandboxId: record.sandboxId, provider: record.provider, ref: record.ref ?? '' };
}

/** The main command of a prompt task; the agent feeds the prompt on stdin (see OpenSessionRequest.prompt). */
export function promptCommand(mode: PromptPermissionMode): string[] {
  return ['claude', '-p', '--output-format', 'stream-json', '--verbose', '--permission-mode', mode];
}

/** Claude Code on a prompt task's conversation, continued interactively (a fresh one if none was recorded). */
export function continueCommand(mode: PromptPermissionMode, claudeSessionId: string | null): string[] {
  return ['claude', ...(claudeSessionId ? ['--resume', claudeSessionId] : []), '--permission-mode', mode];
}

/** Claude Code conversation ids are UUIDs; anything else from the agent is not passed on. */
const CLAUDE_SESSION_ID = /^[A-Za-z0-9][A-Za-z0-9-]{0,127}$/;

function promptDoneReason(exitCode: number | null): string {
  return exitCode === 0
    ? 'prompt done; attach to continue the conversation'
    : `prompt failed (exit ${exitCode}); attach to continue the conversation`;
}

function defaultName(command: string[] | null, prompt: string | undefined): string {
  if (prompt) return prompt.length > 60 ? `${prompt.slice(0, 57)}...` : prompt;
  return (command ?? ['claude']).join(' ').slice(0, 100);
}
