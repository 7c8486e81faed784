import type {
  ApprovalStatus,
  Checkpoint,
  CheckpointTrigger,
  ProviderName,
  PullRequestInfo,
  SessionInfo,
  SessionKind,
  Task,
  TaskActivity,
  TaskEvent,
  TaskEventType,
  TaskStatus,
  TaskUsage,
} from '@rclaude/protocol';

/** Fields set when a task is created. */
export interface NewTask {
  id: string;
  name: string;
  owner: string;
  provider: ProviderName;
  command: string[] | null;
  prompt: string | null;
  repo: string | null;
  branch: string | null;
  /** See `Task.pushBranch`. */
  pushBranch: string | null;
  /** See `Task.pullRequestOnExit`; default false. */
  pullRequestOnExit?: boolean;
  /** See `Task.githubRepo`; default none. */
  githubRepo?: string | null;
  /** See `Task.allowHosts`; default none. */
  allowHosts?: string[];
  mainSessionId: string;
  /** See `Task.forkOf`; default none. */
  forkOf?: string | null;
}

/** Fields a status change may set alongside the status. */
export interface TaskPatch {
  activity?: TaskActivity | null;
  statusReason?: string | null;
  exitCode?: number | null;
  startedAt?: Date | null;
  endedAt?: Date | null;
  /** When the current run began after a resume (compute is billed per run); null before any resume. */
  resumedAt?: Date | null;
  computeCostUsd?: number;
  modelCostUsd?: number;
  usage?: TaskUsage | null;
  /** The task's pull request, once opened. */
  pullRequest?: PullRequestInfo | null;
}

export interface TaskFilter {
  /** Only this owner's tasks; omit for all (admin). */
  owner?: string;
  status?: TaskStatus;
  /** Substring of the name, case-insensitive. */
  q?: string;
  /** Only tasks not in a terminal state. */
  live?: boolean;
  /** Only the forks of this task. */
  forkOf?: string;
  limit: number;
}

/** Tasks and their timelines, kept forever in Postgres (or PGlite in embedded mode). */
export interface TaskStore {
  create(task: NewTask): Promise<Task>;
  get(id: string): Promise<Task | null>;
  list(filter: TaskFilter): Promise<Task[]>;
  /**
   * Moves a task to `to` if its current status may legally move there (see taskTransitions), atomically.
   * Returns the updated task, or null when the move is illegal or the task is missing.
   */
  transition(id: string, to: TaskStatus, patch?: TaskPatch): Promise<Task | null>;
  /** Updates fields without a status change (activity, cost). Returns null if missing. */
  update(id: string, patch: TaskPatch): Promise<Task | null>;
  /** Adds to the task's token usage and model cost atomically (the egress gateway's metering). Null if missing. */
  addModelUsage(id: string, usage: TaskUsage, costUsd: number): Promise<Task | null>;
  delete(id: string): Promise<boolean>;
  appendEvent(taskId: string, type: TaskEventType, data: Record<string, unknown>): Promise<TaskEvent>;
  listEvents(taskId: string, afterSeq?: number, limit?: number): Promise<TaskEvent[]>;
  /** Sums of the stored costs and token usage of `owner`'s tasks created at or after `since`. */
  costSince(owner: string, since: Date): Promise<CostTotals>;
}

/** What {@link TaskStore.costSince} adds up. Costs in USD. */
export interface CostTotals {
  tasks: number;
  computeCostUsd: number;
  modelCostUsd: number;
  usage: TaskUsage;
}

/** Where a sandbox is and how to reach it, kept in Postgres so a restarted proxy can reconcile. */
export interface SandboxRecord {
  sandboxId: string;
  taskId: string | null;
  provider: ProviderName;
  /** Provider handle (pid, task ARN, E2B sandbox id); null until started. */
  ref: string | null;
  /** sha256 of the agent token; the token itself is never stored. */
  tokenHash: string;
  /**
   * Token already used by a connected agent (reconnects of the same agent are allowed). `paused`: its task
   * hibernated and the provider keeps it paused with its memory (adr/0025); its agent may come back on a resume.
   */
  state: 'starting' | 'pooled' | 'claimed' | 'paused' | 'stopped';
  workspace: string | null;
  createdAt: Date;
}

export interface SandboxStore {
  create(rec: Omit<SandboxRecord, 'createdAt'>): Promise<void>;
  get(sandboxId: string): Promise<SandboxRecord | null>;
  getByTask(taskId: string): Promise<SandboxRecord | null>;
  update(
    sandboxId: string,
    patch: Partial<Pick<SandboxRecord, 'taskId' | 'ref' | 'state' | 'workspace' | 'tokenHash'>>,
  ): Promise<void>;
  listActive(): Promise<SandboxRecord[]>;
}

/** Live session state (Redis hash `rclaude:session:<id>`, or in-process). */
export interface SessionState {
  id: string;
  taskId: string;
  sandboxId: string;
  kind: SessionKind;
  command: string[];
  status: SessionInfo['status'];
  cols: number;
  rows: number;
  exitCode: number | null;
  /** Proxy id currently holding the agent connection, or null. */
  holder: string | null;
  /** Extra environment for the process (task env; never secrets, which are fetched at open time). */
  env?: Record<string, string>;
  /** A main session of a resumed task: the checkpoint its new sandbox restores before the program starts. */
  restore?: string;
  /** A main session run again after a resume: its output goes on after the earlier output, no prompt is fed. */
  resumed?: boolean;
  /** When a person last typed into it (ms since the epoch, written at most every few seconds): the idle clock. */
  lastInputAt?: number;
}

export interface SessionStore {
  put(state: SessionState): Promise<void>;
  get(id: string): Promise<SessionState | null>;
  patch(id: string, patch: Partial<Omit<SessionState, 'id'>>): Promise<void>;
  listByTask(taskId: string): Promise<SessionState[]>;
  delete(id: string): Promise<void>;
  /** Attached-client counting across proxies: `key` identifies one client attachment. */
  addClient(id: string, key: string): Promise<number>;
  removeClient(id: string, key: string): Promise<number>;
  countClients(id: string): Promise<number>;
  /** Final screen of an exited session, kept for late viewers. */
  putScreen(id: string, screen: { data: string; offset: number; cols: number; rows: number }): Promise<void>;
  getScreen(id: string): Promise<{ data: string; offset: number; cols: number; rows: number } | null>;
}

/** A stored piece of a session's output with the time it was produced (ms since the epoch; 0 when unknown). */
export interface TimedChunk {
  offset: number;
  at: number;
  data: Uint8Array;
}

/** A terminal size change of a session, for its recording (ms since the epoch). */
export interface RecordedResize {
  at: number;
  cols: number;
  rows: number;
}

/** Resizes kept per session: a window dragged about makes many, and only a recording's shape needs them. */
export const MAX_RECORDED_RESIZES = 1000;

/**
 * A session's PTY output, addressed by byte offset and bounded by bytes (oldest dropped first).
 * Redis: a Stream per session (`rclaude:output:<id>`) whose entry ids are offsets, each entry with its time, and
 * a list of resizes (`rclaude:rec:<id>`). Embedded: a ring.
 */
export interface OutputLog {
  /**
   * Appends `data` that starts at byte `offset`. Idempotent: bytes before the current end are dropped
   * (a resend after reconnect), so the log never doubles. A gap (offset > end) throws. Returns the new end.
   * `at` is when the bytes were produced (ms since the epoch, already clamped by the caller), kept with them
   * for the session's recording; left out, the bytes have no time of their own (0).
   */
  append(sessionId: string, offset: number, data: Uint8Array, at?: number): Promise<number>;
  /**
   * Like {@link OutputLog.read}, but as the stored chunks with the time each was produced, cut to the range
   * asked for: what a recording is derived from. `offset` says where the first chunk begins.
   */
  readTimed(sessionId: string, from: number, maxBytes: number): Promise<{ offset: number; chunks: TimedChunk[] }>;
  /**
   * Notes that the session's terminal was resized at `at` (ms since the epoch), for its recording. The newest
   * {@link MAX_RECORDED_RESIZES} are kept; they follow the log's retention and deletion.
   */
  recordResize(sessionId: string, resize: RecordedResize): Promise<void>;
  /** The resizes noted, oldest first. */
  resizes(sessionId: string): Promise<RecordedResize[]>;
  /** `start`: oldest offset still held; `end`: total bytes stored. Both 0 for an unknown session. */
  bounds(sessionId: string): Promise<{ start: number; end: number }>;
  /**
   * Up to `maxBytes` contiguous bytes from `from` (or from `start` if `from` was trimmed away).
   * `offset` says where the returned bytes begin; empty data at `end`.
   */
  read(sessionId: string, from: number, maxBytes: number): Promise<{ offset: number; data: Uint8Array }>;
  /**
   * Declares the bytes between the current end and `offset` lost for good (Redis restarted without
   * persistence and the agent no longer holds them): the log empties and continues at `offset`, so the
   * agent's resend from there is not refused as a gap. No-op when `offset` <= end. Returns the new end.
   */
  skipTo(sessionId: string, offset: number): Promise<number>;
  /**
   * Keeps the session's log for `ms` more (it is then deleted, whatever was appended meanwhile), or, with
   * null, for as long as the session exists. An ended task's output goes after its retention period.
   * The session's recording data (times, resizes) goes with it.
   */
  retain(sessionId: string, ms: number | null): Promise<void>;
  delete(sessionId: string): Promise<void>;
}

/**
 * Cross-proxy notifications (Redis pub/sub, or an in-process emitter): "session S has output up to X",
 * "task T changed". Payloads are small JSON; bytes go through the OutputLog.
 */
export interface Bus {
  /** True when other processes (other proxies) get what is published; false for the in-process bus. */
  readonly shared: boolean;
  publish(channel: string, message: string): Promise<void>;
  /** Returns an unsubscribe function. Handlers run for messages published by any proxy, this one included. */
  subscribe(channel: string, handler: (message: string) => void): Promise<() => Promise<void>>;
  close(): Promise<void>;
}

/** A checkpoint's record (its manifest and blobs are in the checkpoint blob store). */
export interface CheckpointRecord extends Checkpoint {
  owner: string;
  /** The sandbox that makes (or made) it: the only one whose agent may upload it. */
  sandboxId: string;
  /** `pending` from the proxy's request until the agent uploaded its manifest. */
  state: 'pending' | 'complete';
}

/** Checkpoint records (table `checkpoints`), on Postgres or the embedded PGlite. */
export interface CheckpointRecordStore {
  /** Records a checkpoint the proxy is about to ask for (`pending`). */
  begin(rec: {
    id: string;
    taskId: string;
    owner: string;
    sandboxId: string;
    trigger: CheckpointTrigger;
  }): Promise<void>;
  get(id: string): Promise<CheckpointRecord | null>;
  /** Adds to the bytes a pending checkpoint uploaded. */
  addUploaded(id: string, bytes: number): Promise<void>;
  /** Marks a pending checkpoint complete with its totals; null when it is not pending (or missing). */
  complete(
    id: string,
    totals: { files: number; bytes: number; durationMs: number; claudeSessionId: string | null },
  ): Promise<CheckpointRecord | null>;
  /** A task's complete checkpoints, newest first. */
  list(taskId: string, limit?: number): Promise<CheckpointRecord[]>;
  /** Every checkpoint (pending or complete) of an owner, newest first: for retention and garbage collection. */
  listByOwner(owner: string): Promise<CheckpointRecord[]>;
  /** Every owner with at least one checkpoint (pending or complete), for the sweeper. */
  owners(): Promise<string[]>;
  delete(id: string): Promise<void>;
}

/** An approval's record: what the API shows, plus who may see it and which sandbox asked. */
export interface ApprovalRecord {
  id: string;
  taskId: string;
  owner: string;
  sandboxId: string;
  /** The agent's key of the request (unique per sandbox): a resend finds the same record. */
  requestKey: string;
  sessionId: string | null;
  tool: string;
  summary: string;
  input: Record<string, string>;
  reason: string | null;
  status: ApprovalStatus;
  createdAt: Date;
  expiresAt: Date;
  answeredAt: Date | null;
  /** User id and name of who answered; null while pending, on a time-out or a withdrawal. */
  answeredBy: string | null;
  answeredByName: string | null;
  message: string | null;
}

/** How a pending approval ends: an answer by a user, a time-out, or a withdrawal by the agent. */
export type ApprovalOutcome =
  | { status: 'allowed' | 'denied'; by: string; byName: string; message: string | null }
  | { status: 'timed_out' }
  | { status: 'withdrawn'; message: string | null };

/**
 * Approvals (table `approvals`), on Postgres or the embedded PGlite. `settle` is the state machine's one
 * transition: pending -> allowed | denied | timed_out | withdrawn, atomically and at most once.
 */
export interface ApprovalStore {
  /**
   * Records a pending approval, or returns the one already recorded for the same sandbox and request key
   * (`created: false`), whatever its status.
   */
  create(
    rec: Omit<ApprovalRecord, 'status' | 'createdAt' | 'answeredAt' | 'answeredBy' | 'answeredByName' | 'message'>,
  ): Promise<{ record: ApprovalRecord; created: boolean }>;
  get(id: string): Promise<ApprovalRecord | null>;
  findByRequest(sandboxId: string, requestKey: string): Promise<ApprovalRecord | null>;
  /** Ends a pending approval; null when it is not pending (already settled) or missing. */
  settle(id: string, outcome: ApprovalOutcome, at: Date): Promise<ApprovalRecord | null>;
  /** A task's approvals, newest first. */
  listByTask(taskId: string, limit: number): Promise<ApprovalRecord[]>;
  /** An owner's approvals (all owners when null), newest first; only pending ones with `pendingOnly`. */
  listByOwner(owner: string | null, opts: { pendingOnly: boolean; limit: number }): Promise<ApprovalRecord[]>;
  /** Pending approvals whose expiry is at or before `now`, oldest first. */
  listExpired(now: Date, limit: number): Promise<ApprovalRecord[]>;
  /** Pending approvals of a sandbox. */
  listPendingBySandbox(sandboxId: string): Promise<ApprovalRecord[]>;
}
