import type { CheckpointTrigger, PromptPermissionMode, Task } from '@rclaude/protocol';
import type { Logger } from 'pino';
import type { CheckpointBlobStore } from '../checkpoints/blob-store.js';
import type { Metrics } from '../metrics.js';
import type { Provider } from '../providers/types.js';
import type { CheckpointRecordStore, OutputLog, SandboxStore, SessionStore, TaskStore } from '../stores/types.js';
import type { AgentRpc } from './agent-rpc.js';
import { AgentSessions } from './agent-sessions.js';
import { CheckpointService } from './checkpoints.js';
import { CostService } from './cost.js';
import { WorkFinisher } from './finish-work.js';
import type { GitAccess } from './git-remote.js';
import { PullRequestService, type PullRequestServiceDeps } from './pull-requests.js';
import { SandboxControl } from './sandbox-control.js';
import { TaskLauncher } from './task-launcher.js';
import type { TaskPublisher } from './task-publisher.js';
import { TaskRecorder } from './task-recorder.js';
import { TaskService } from './task-service.js';
import { TaskTimers } from './task-timers.js';
import { TaskTransitions } from './task-transitions.js';
import type { SandboxClaims } from './warm-pool.js';

export interface ComposeTasksDeps {
  proxyId: string;
  tasks: TaskStore;
  sandboxes: SandboxStore;
  sessions: SessionStore;
  outputLog: OutputLog;
  providers: { get(name: Task['provider']): Provider; default: Task['provider']; active(): Provider[] };
  /** Waits until a session's stored output is final (SessionHub.settled). */
  hub: { settled(sessionId: string): Promise<void> };
  rpc: AgentRpc;
  /** Where task changes go (realtime's RoomPublisher in the server). */
  publisher: TaskPublisher;
  log: Logger;
  metrics: Metrics;
  /** The URL agents dial. */
  proxyUrl: () => string;
  /** Environment injected into every session of a user: stored secrets, then server-wide model credentials. */
  sessionEnv: (userId: string) => Promise<Record<string, string>>;
  /** The owner's git credentials and the proxy's git settings (clones of https repositories, pushes at exit). */
  git?: GitAccess;
  agentConnectTimeoutMs: number;
  agentReconnectGraceMs: number;
  maxLifetimeMs: number;
  /** How long a start-up token stays valid unused (AGENT_TOKEN_TTL_MS); default 5 minutes. */
  startupTokenTtlMs?: number;
  /** Live tasks one user may have at once (RCLAUDE_MAX_TASKS_PER_USER); default no limit. */
  maxTasksPerUser?: number;
  /** Task costs and the monthly budget. Default: the default price table and no budget. */
  cost?: CostService;
  /** Claude Code permission mode of prompt tasks. Default `bypassPermissions` (docs/tasks.md says why). */
  promptPermissionMode?: PromptPermissionMode;
  /** Pre-started sandboxes a task claims instead of starting one (RCLAUDE_WARM_POOL_SIZE); none by default. */
  warmPool?: SandboxClaims;
  /** Checkpoints (stops checkpoint first, idle tasks hibernate, resume); none: stops lose the sandbox's work. */
  checkpoints?: {
    records: CheckpointRecordStore;
    blobs: CheckpointBlobStore;
    timeoutMs: number;
    keepPerTask: number;
    /** Checkpoints older than this are deleted, except each task's newest (RCLAUDE_CHECKPOINT_MAX_AGE_DAYS); 0: never. */
    maxAgeMs?: number;
    /** Most bytes one owner's checkpoints may total (RCLAUDE_CHECKPOINT_QUOTA_BYTES); 0: unlimited. */
    quotaBytes?: number;
    /** Whether a prune frees blobs at once (default true); false when the checkpoint sweeper collects them. */
    collectOnPrune?: boolean;
    /** Largest upload that starts a task (RCLAUDE_IMPORT_MAX_BYTES). */
    importMaxBytes?: number;
  };
  /** How long a stop or a hibernation waits for the diff and the push (RCLAUDE_FINISH_TIMEOUT_MS); default 30 s. */
  finishTimeoutMs?: number;
  /** IDLE_TIMEOUT_MS, for what `keep` answers. */
  idleTimeoutMs?: number;
  /** RCLAUDE_OUTPUT_RETENTION_MS: an ended task's output is deleted this long after; 0 or none: kept. */
  outputRetentionMs?: number;
  /** Pushes and pull requests (PullRequestService); none: tasks are never pushed by the proxy. */
  pullRequests?: Pick<PullRequestServiceDeps, 'secret' | 'githubApiUrl' | 'publicUrl'>;
}

/** The task parts, wired; each consumer takes the one it calls. */
export interface TaskParts {
  /** What users ask (REST routes, client gateway, files router). */
  tasks: TaskService;
  /** The agent gateway's handshake, hello and disconnect; the hub's exit and lost-state callbacks. */
  agentSessions: AgentSessions;
  /** The agent gateway's `agent:event`. */
  recorder: TaskRecorder;
  /** Stops by the system (lifecycle). */
  transitions: TaskTransitions;
  /** Reconcile at start-up. */
  launcher: TaskLauncher;
  /** Null when the server has no checkpoint store. */
  checkpoints: CheckpointService | null;
  /** Pushes and pull requests; null when not configured. */
  pullRequests: PullRequestService | null;
  /** Cancels the pending task timers. */
  close(): void;
}

/**
 * Builds tasks from their parts: timers and sandbox control first, then transitions (publishing through
 * `publisher`), the recorder, agent sessions, the launcher, and the user-facing TaskService. Each part gets
 * only the narrow interfaces of the others it calls, so the graph has no cycle.
 */
export function composeTasks(deps: ComposeTasksDeps): TaskParts {
  const { tasks, sandboxes, sessions, outputLog, providers, rpc, log, metrics, publisher } = deps;
  const promptPermissionMode = deps.promptPermissionMode ?? 'bypassPermissions';
  const cost =
    deps.cost ??
    new CostService({
      tasks,
      prices: {},
      sizeOf: (name) => {
        try {
          return providers.get(name).size;
        } catch {
          return null;
        }
      },
      monthlyBudgetUsd: null,
    });
  const timers = new TaskTimers(log);
  const sandboxControl = new SandboxControl({ sandboxes, providers, log });
  // Transitions checkpoint before stops; the checkpoint service records on their timeline: built just after.
  let checkpoints: CheckpointService | null = null;
  // The finisher records through the recorder, which writes on the transitions' timeline: built after both.
  let finisher: WorkFinisher | null = null;
  const transitions = new TaskTransitions({
    tasks,
    sandboxes,
    sessions,
    hub: deps.hub,
    cost,
    metrics,
    publisher,
    timers,
    sandboxControl,
    finishWork: (task, why) => finisher?.finish(task, why) ?? Promise.resolve(),
    ...(deps.outputRetentionMs ? { outputLog, outputRetentionMs: deps.outputRetentionMs } : {}),
    maxLifetimeMs: deps.maxLifetimeMs,
    ...(deps.checkpoints
      ? {
          checkpoint: (task: Task, trigger: CheckpointTrigger) =>
            (checkpoints as CheckpointService).take(task, trigger),
        }
      : {}),
  });
  if (deps.checkpoints) {
    checkpoints = new CheckpointService({
      tasks,
      sessions,
      records: deps.checkpoints.records,
      blobs: deps.checkpoints.blobs,
      rpc,
      timeline: transitions,
      log,
      timeoutMs: deps.checkpoints.timeoutMs,
      keepPerTask: deps.checkpoints.keepPerTask,
      maxAgeMs: deps.checkpoints.maxAgeMs ?? 0,
      quotaBytes: deps.checkpoints.quotaBytes ?? 0,
      collectOnPrune: deps.checkpoints.collectOnPrune ?? true,
    });
  }
  // Built last (it reads tasks through the TaskService); agent sessions call it when a main program exits.
  let pullRequests: PullRequestService | null = null;
  const recorder = new TaskRecorder({
    tasks,
    sandboxes,
    rpc,
    log,
    timeline: transitions,
    ...(deps.git ? { git: deps.git } : {}),
  });
  finisher = new WorkFinisher({
    sessions,
    sandboxes,
    rpc,
    recorder,
    timeline: transitions,
    log,
    timeoutMs: deps.finishTimeoutMs ?? 30_000,
  });
  const agentSessions = new AgentSessions({
    proxyId: deps.proxyId,
    tasks,
    sandboxes,
    sessions,
    outputLog,
    rpc,
    log,
    metrics,
    publisher,
    sessionEnv: deps.sessionEnv,
    ...(deps.git ? { git: deps.git } : {}),
    agentReconnectGraceMs: deps.agentReconnectGraceMs,
    promptPermissionMode,
    timers,
    sandboxControl,
    moves: transitions,
    recorder,
    ...(checkpoints
      ? { restore: checkpoints.restore.bind(checkpoints), checkpoint: (task: Task) => checkpoints.take(task, 'stop') }
      : {}),
    onMainExit: (task: Task) => pullRequests?.onMainExit(task) ?? Promise.resolve(),
  });
  const launcher = new TaskLauncher({
    tasks,
    sandboxes,
    sessions,
    providers,
    log,
    metrics,
    proxyUrl: deps.proxyUrl,
    agentConnectTimeoutMs: deps.agentConnectTimeoutMs,
    maxLifetimeMs: deps.maxLifetimeMs,
    ...(deps.startupTokenTtlMs !== undefined ? { startupTokenTtlMs: deps.startupTokenTtlMs } : {}),
    ...(deps.maxTasksPerUser !== undefined ? { maxTasksPerUser: deps.maxTasksPerUser } : {}),
    ...(deps.warmPool ? { warmPool: deps.warmPool } : {}),
    timers,
    sandboxControl,
    moves: transitions,
    agents: agentSessions,
  });
  const service = new TaskService({
    tasks,
    sessions,
    outputLog,
    providers,
    rpc,
    sessionEnv: deps.sessionEnv,
    cost,
    promptPermissionMode,
    timeline: transitions,
    launcher,
    agents: agentSessions,
    ...(checkpoints ? { checkpoints } : {}),
    ...(deps.idleTimeoutMs !== undefined ? { idleTimeoutMs: deps.idleTimeoutMs } : {}),
    ...(deps.checkpoints?.importMaxBytes !== undefined ? { importMaxBytes: deps.checkpoints.importMaxBytes } : {}),
  });
  pullRequests = deps.pullRequests
    ? new PullRequestService({
        ...deps.pullRequests,
        ...(deps.git ? { git: deps.git } : {}),
        tasks,
        sandboxes,
        rpc,
        timeline: transitions,
        log,
        getTask: (auth, id) => service.get(auth, id),
      })
    : null;
  return {
    tasks: service,
    agentSessions,
    recorder,
    transitions,
    launcher,
    checkpoints,
    pullRequests,
    close: () => timers.close(),
  };
}
