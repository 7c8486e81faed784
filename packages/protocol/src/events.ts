/**
 * Socket.io contracts. Two namespaces:
 * - `/client`: the CLI and the web app (auth: `{ token }` in the handshake, or the browser session cookie).
 * - `/agent`: the agent inside each sandbox (auth: `{ sandboxId, token }`, single-use per sandbox).
 *
 * Events are `noun:verb`. Requests that can fail take an acknowledgement callback answered with {@link Ack}.
 * Output bytes travel as binary attachments, never as JSON strings.
 */
import { z } from 'zod';
import type {
  AgentApprovalAnswer,
  AgentApprovalRequest,
  AgentApprovalResult,
  AgentApprovalWithdraw,
} from './approvals.js';
import type {
  AgentCheckpointRequest,
  AgentCheckpointResult,
  AgentRestoreRequest,
  AgentRestoreResult,
} from './checkpoints.js';
import type { AckCallback, ErrorInfo } from './errors.js';
import type {
  AgentFileReadResult,
  AgentFileWrite,
  FileEntry,
  SyncApplyRequest,
  SyncApplyResponse,
  SyncChangesResponse,
  SyncManifestResponse,
} from './files.js';
import type {
  AgentRepoCommitRequest,
  AgentRepoCommitResult,
  AgentRepoFinishRequest,
  AgentRepoFinishResult,
} from './pull-requests.js';
import type { ExecuteResult, SessionInfo, SessionKind } from './sessions.js';
import { sessionIdSchema } from './sessions.js';
import type { DriveRequest, SessionPresence, SharedTaskStatus } from './shares.js';
import type { SessionRepo } from './task-events.js';
import type { Task, TaskEvent } from './tasks.js';
import type { AgentTunnelRequest, AgentTunnelResult } from './tunnels.js';

const offsetSchema = z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER);
const dimSchema = z.number().int().min(1).max(1000);

/** Signals a client may send to a session's foreground process group. */
export const ptySignalSchema = z.enum([
  'SIGINT',
  'SIGTERM',
  'SIGKILL',
  'SIGHUP',
  'SIGQUIT',
  'SIGTSTP',
  'SIGCONT',
  'SIGUSR1',
  'SIGUSR2',
  'SIGWINCH',
]);
export type PtySignal = z.infer<typeof ptySignalSchema>;

/** Largest `pty:input` data a client may send in one event (bytes of UTF-8). */
export const MAX_INPUT_FRAME_BYTES = 64 * 1024;

// ---- /client namespace -------------------------------------------------------------------------

export const attachRequestSchema = z
  .object({
    sessionId: sessionIdSchema,
    /**
     * Where to start: a byte offset (replay from there, e.g. after a reconnect), or `screen` for the
     * current screen contents followed by live output (what a fresh attach wants).
     */
    from: z.union([offsetSchema, z.literal('screen')]).default('screen'),
    /** Read-only viewers see output but their input and resizes are refused. */
    readOnly: z.boolean().default(false),
    cols: dimSchema.optional(),
    rows: dimSchema.optional(),
  })
  .strict();
export type AttachRequest = z.input<typeof attachRequestSchema>;

export interface ScreenSnapshot {
  /** Serialized terminal state (escape sequences that redraw the screen and recent scrollback). */
  data: string;
  /** The output offset the snapshot reflects; live output continues from here. */
  offset: number;
  cols: number;
  rows: number;
}

export interface AttachResult {
  session: SessionInfo;
  /** Present when `from: 'screen'` was asked and a snapshot could be had. */
  screen: ScreenSnapshot | null;
  /** `pty:output` for this attachment starts at this offset. */
  from: number;
}

export const inputRequestSchema = z
  .object({ sessionId: sessionIdSchema, data: z.string().max(MAX_INPUT_FRAME_BYTES) })
  .strict();
export const resizeRequestSchema = z.object({ sessionId: sessionIdSchema, cols: dimSchema, rows: dimSchema }).strict();
export const outputAckSchema = z.object({ sessionId: sessionIdSchema, offset: offsetSchema }).strict();
export const signalRequestSchema = z.object({ sessionId: sessionIdSchema, signal: ptySignalSchema }).strict();
export const detachRequestSchema = z.object({ sessionId: sessionIdSchema }).strict();
export const taskSubscribeSchema = z.union([
  z.object({ taskId: z.string().min(1).max(64) }).strict(),
  z.object({ all: z.literal(true) }).strict(),
]);

export interface ExitInfo {
  sessionId: string;
  exitCode: number;
  signal: string | null;
  /** Total bytes the session produced; a client has everything once it has rendered up to here. */
  endOffset: number;
}

export interface SessionStatusInfo {
  sessionId: string;
  agentConnected: boolean;
  /** Human-readable: "agent reconnecting", "sandbox stopped". */
  reason: string | null;
}

export interface ClientToServerEvents {
  'session:attach': (req: AttachRequest, ack: AckCallback<AttachResult>) => void;
  'session:detach': (req: { sessionId: string }) => void;
  'pty:input': (req: { sessionId: string; data: string }) => void;
  'pty:resize': (req: { sessionId: string; cols: number; rows: number }) => void;
  /** Flow control: the client has rendered output up to `offset`. */
  'pty:ack': (req: { sessionId: string; offset: number }) => void;
  'pty:signal': (req: { sessionId: string; signal: PtySignal }) => void;
  'task:subscribe': (req: { taskId: string } | { all: true }, ack: AckCallback<null>) => void;
  /** A signed-in user on a drive link asks the owner to let them type (answers their request, new or open). */
  'share:drive': (req: Record<string, never>, ack: AckCallback<DriveRequest>) => void;
}

export interface ServerToClientEvents {
  'pty:output': (sessionId: string, offset: number, data: Uint8Array) => void;
  'pty:exit': (info: ExitInfo) => void;
  'session:status': (info: SessionStatusInfo) => void;
  /** A refused event (bad payload, read-only input, unknown session). */
  'session:error': (info: { sessionId: string | null; event: string; error: ErrorInfo }) => void;
  'task:updated': (task: Task) => void;
  'task:event': (event: TaskEvent) => void;
  /** To share-link viewers only: the shared task's name and status (they never get `task:updated`). */
  'share:task': (status: SharedTaskStatus) => void;
  /**
   * A drive request, new or decided: to the task's room (its owner's clients) and to the asking user's sockets
   * on that link.
   */
  'share:drive-request': (request: DriveRequest) => void;
  /** Who is attached to a session (not sent to anonymous view-link viewers). */
  'session:presence': (presence: SessionPresence) => void;
}

// ---- /agent namespace --------------------------------------------------------------------------

export const agentAuthSchema = z
  .object({
    sandboxId: z.string().min(1).max(128),
    token: z.string().min(16).max(512),
    /** Agent package version, for diagnostics. */
    version: z.string().max(64).optional(),
  })
  .strict();
export type AgentAuth = z.infer<typeof agentAuthSchema>;

export const agentSessionReportSchema = z.object({
  sessionId: sessionIdSchema,
  /** Bytes produced so far. */
  produced: offsetSchema,
  /** Oldest byte the agent still holds (it can resend from here). */
  retainedFrom: offsetSchema,
  exit: z.object({ exitCode: z.number().int(), signal: z.string().nullable() }).nullable(),
});
export type AgentSessionReport = z.infer<typeof agentSessionReportSchema>;

export const agentHelloSchema = z.object({ sessions: z.array(agentSessionReportSchema).max(1000) }).strict();
export type AgentHello = z.infer<typeof agentHelloSchema>;

export interface AgentHelloResult {
  /** For each session the proxy knows: the offset it has stored; the agent resends from there. */
  sessions: { sessionId: string; stored: number }[];
  /** Sessions the proxy does not know (or that were closed): the agent kills and forgets them. */
  forget: string[];
  /**
   * A fresh agent token replacing the one just used: agent tokens are single-use, so a reconnect presents
   * this one and the old one is dead.
   */
  token?: string;
  /**
   * The sandbox's egress key: the agent presents it (with the sandbox id) on each tunnelled connection to the
   * proxy's egress gateway (`/agent/egress`), which adds the real model credential. Stable for the sandbox's
   * life; absent from a proxy without a gateway.
   */
  egressKey?: string;
  /**
   * RCLAUDE_APPROVAL_TIMEOUT_MS: how long a permission request waits for an answer before it is denied. The
   * agent gives Claude Code's approval hook a longer timeout than this.
   */
  approvalTimeoutMs?: number;
}

/**
 * The egress gateway: each TCP connection a sandbox process opens to its agent's loopback endpoint becomes one
 * WebSocket to this path of the proxy (over the agent socket, or the proxy URL), authenticated by the headers
 * {@link EGRESS_SANDBOX_HEADER} (the sandbox id) and `authorization: Bearer <egressKey>`.
 */
export const AGENT_EGRESS_PATH = '/agent/egress';
export const EGRESS_SANDBOX_HEADER = 'x-rclaude-sandbox';

export interface OpenSessionRequest {
  sessionId: string;
  kind: SessionKind;
  command: string[];
  /**
   * Added to the agent's environment (user secrets, task env). Model credentials are never here: the agent
   * points sessions at its egress tunnel with a placeholder key instead.
   */
  env: Record<string, string>;
  /** Working directory relative to the workspace root. */
  cwd: string | null;
  cols: number;
  rows: number;
  /** Resume output numbering from here (0 for a new session). */
  startOffset: number;
  /**
   * A prompt task's prompt: `command` is then a `claude -p ... --output-format stream-json` argv that gets
   * the prompt on its stdin; the agent turns each output line into an `agent:event` and shows a readable
   * rendering in the PTY. Absent for ordinary sessions.
   */
  prompt?: string;
  /** The task's repository: cloned before the command starts, and a `diff` event recorded when it exits. */
  repo?: SessionRepo;
}

export const agentOutputExitSchema = z
  .object({
    sessionId: sessionIdSchema,
    exitCode: z.number().int(),
    signal: z.string().nullable(),
    endOffset: offsetSchema,
  })
  .strict();

export const agentEventSchema = z
  .object({
    sessionId: sessionIdSchema.nullable(),
    type: z.string().min(1).max(64),
    data: z.record(z.string(), z.unknown()),
  })
  .strict();
export type AgentEvent = z.infer<typeof agentEventSchema>;

export interface AgentExecRequest {
  command: string | string[];
  timeoutMs: number;
  cwd: string | null;
  env: Record<string, string>;
}

export interface AgentToProxyEvents {
  'agent:hello': (hello: AgentHello, ack: AckCallback<AgentHelloResult>) => void;
  /**
   * Output from `offset`. `at` is when the agent read it (ms since the epoch, the sandbox's clock): the proxy
   * keeps it for the recording, clamped to its own receive time and never before the previous frame's.
   */
  'pty:output': (sessionId: string, offset: number, data: Uint8Array, at?: number) => void;
  'pty:exit': (info: ExitInfo) => void;
  /** Something the proxy should record on the task's timeline (hook reports, prompt-task JSON lines). */
  'agent:event': (event: AgentEvent) => void;
  /** Claude Code asks a permission (see approvals.ts); resent with the same key after a reconnect. */
  'approval:request': (req: AgentApprovalRequest, ack: AckCallback<AgentApprovalResult>) => void;
  /** Claude Code stopped waiting for a request (the person answered in the terminal). */
  'approval:withdraw': (req: AgentApprovalWithdraw) => void;
}

export interface ProxyToAgentEvents {
  'session:open': (req: OpenSessionRequest, ack: AckCallback<{ pid: number }>) => void;
  'session:close': (req: { sessionId: string }) => void;
  'session:screen': (req: { sessionId: string }, ack: AckCallback<ScreenSnapshot>) => void;
  'pty:input': (req: { sessionId: string; data: string }) => void;
  'pty:resize': (req: { sessionId: string; cols: number; rows: number }) => void;
  'pty:signal': (req: { sessionId: string; signal: PtySignal }) => void;
  /** Durability: the proxy has stored output up to `offset`; the agent may drop what is before it. */
  'pty:stored': (req: { sessionId: string; offset: number }) => void;
  /** Pacing: viewer `viewerId` has rendered up to `offset`. The fastest live viewer sets the pace. */
  'pty:consumed': (req: { sessionId: string; viewerId: string; offset: number }) => void;
  'pty:viewer-gone': (req: { sessionId: string; viewerId: string }) => void;
  'exec:run': (req: AgentExecRequest, ack: AckCallback<ExecuteResult>) => void;
  'files:list': (req: { path: string }, ack: AckCallback<{ path: string; entries: FileEntry[] }>) => void;
  'files:stat': (req: { path: string }, ack: AckCallback<FileEntry>) => void;
  'files:read': (req: { path: string; offset: number; length: number }, ack: AckCallback<AgentFileReadResult>) => void;
  'files:write': (req: AgentFileWrite, ack: AckCallback<{ path: string; size: number }>) => void;
  'files:delete': (req: { path: string; recursive: boolean }, ack: AckCallback<null>) => void;
  /** Sync (ADR 0022): a page of the workspace's regular files with their sha256. */
  'files:manifest': (req: { after?: string }, ack: AckCallback<SyncManifestResponse>) => void;
  /** Sync: the workspace's changes after `cursor`, waiting up to `waitMs` for one (long poll). */
  'files:changes': (req: { cursor?: number; waitMs: number }, ack: AckCallback<SyncChangesResponse>) => void;
  'files:rename': (req: { from: string; to: string }, ack: AckCallback<{ path: string }>) => void;
  /** Sync: one change made only if the path still holds what the client last saw (compare-and-swap). */
  'files:sync-apply': (req: SyncApplyRequest, ack: AckCallback<SyncApplyResponse>) => void;
  /** Pack the workspace into a checkpoint and upload it (see AGENT_CHECKPOINTS_PATH). */
  'checkpoint:create': (req: AgentCheckpointRequest, ack: AckCallback<AgentCheckpointResult>) => void;
  /** Restore a checkpoint into this sandbox (before its main session opens). */
  'checkpoint:restore': (req: AgentRestoreRequest, ack: AckCallback<AgentRestoreResult>) => void;
  /** Commit the workspace onto a branch of the clone and bundle it for the proxy to push (pull-requests.ts). */
  'repo:commit': (req: AgentRepoCommitRequest, ack: AckCallback<AgentRepoCommitResult>) => void;
  /** Record a session's diff (and push it when its task asked) before its sandbox is released (pull-requests.ts). */
  'repo:finish': (req: AgentRepoFinishRequest, ack: AckCallback<AgentRepoFinishResult>) => void;
  /** The decision of a pending approval (sent to the sandbox's room, from any proxy). */
  'approval:answer': (answer: AgentApprovalAnswer) => void;
  /** The sandbox is being stopped: end every session and exit. */
  'agent:shutdown': () => void;
  /** Open the agent's leg of a tunnel (ssh or a loopback port): upgrade a connection to AGENT_TUNNEL_PATH. */
  'tunnel:open': (req: AgentTunnelRequest, ack: AckCallback<AgentTunnelResult>) => void;
}

/** Agent-side: output that has not been acknowledged as stored is kept up to this many bytes, then the PTY pauses. */
export const AGENT_UNSTORED_HIGH_WATERMARK = 8 * 1024 * 1024;
