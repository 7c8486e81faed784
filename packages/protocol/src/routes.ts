/**
 * The REST route table: every HTTP route of the server, declared once. The proxy's Express adapter, the
 * OpenAPI document and the typed client in `@rclaude/client` are all derived from it, so adding a route is
 * one entry here plus its handler in the proxy.
 */
import { z } from 'zod';
import {
  answerApprovalRequestSchema,
  approvalIdSchema,
  approvalSchema,
  listApprovalsResponseSchema,
  listMyApprovalsQuerySchema,
} from './approvals.js';
import {
  addAllowHostRequestSchema,
  allowHostEntrySchema,
  allowHostSchema,
  apiTokenIdSchema,
  browserSessionResponseSchema,
  createApiTokenRequestSchema,
  createApiTokenResponseSchema,
  createBrowserSessionRequestSchema,
  createUserRequestSchema,
  listAllowHostsResponseSchema,
  listApiTokensResponseSchema,
  listSecretsResponseSchema,
  listUsersResponseSchema,
  loginLinkSchema,
  loginRequestSchema,
  loginResponseSchema,
  putSecretRequestSchema,
  secretInfoSchema,
  secretNameSchema,
  setPasswordRequestSchema,
  userIdSchema,
  userSchema,
} from './auth.js';
import {
  blobHashSchema,
  checkpointIdSchema,
  checkpointManifestSchema,
  checkpointSchema,
  createCheckpointRequestSchema,
  keepTaskResponseSchema,
  listCheckpointsResponseSchema,
  resumeTaskRequestSchema,
  stopTaskRequestSchema,
} from './checkpoints.js';
import type { ErrorCode } from './errors.js';
import {
  deleteFileQuerySchema,
  filePathQuerySchema,
  fileTargetQuerySchema,
  listFilesResponseSchema,
  readFileQuerySchema,
  renameFileRequestSchema,
  renameFileResponseSchema,
  syncApplyRequestSchema,
  syncApplyResponseSchema,
  syncChangesQuerySchema,
  syncChangesResponseSchema,
  syncManifestQuerySchema,
  syncManifestResponseSchema,
  uploadFilesQuerySchema,
  uploadFilesResponseSchema,
  writeFileResponseSchema,
} from './files.js';
import { forkTaskRequestSchema, forkTaskResponseSchema } from './handoff.js';
import { pullRequestInfoSchema } from './pull-request-info.js';
import { createPullRequestRequestSchema, pushTaskRequestSchema, pushTaskResponseSchema } from './pull-requests.js';
import {
  createPushSubscriptionRequestSchema,
  listPushSubscriptionsResponseSchema,
  pushConfigSchema,
  pushSubscriptionIdSchema,
  pushSubscriptionSchema,
  testPushResponseSchema,
  updatePushSubscriptionRequestSchema,
} from './push.js';
import { ASCIICAST_CONTENT_TYPE, recordingQuerySchema } from './recordings.js';
import {
  createSessionRequestSchema,
  executeRequestSchema,
  executeResultSchema,
  sessionIdSchema,
  sessionInfoSchema,
} from './sessions.js';
import {
  createShareRequestSchema,
  createShareResponseSchema,
  decideDriveRequestSchema,
  driveRequestIdSchema,
  driveRequestSchema,
  listDriveRequestsResponseSchema,
  listSharesQuerySchema,
  listSharesResponseSchema,
  shareIdSchema,
  shareViewRequestSchema,
  shareViewSchema,
} from './shares.js';
import { continueTaskRequestSchema, usageResponseSchema } from './task-events.js';
import {
  createTaskRequestSchema,
  listTaskEventsQuerySchema,
  listTaskEventsResponseSchema,
  listTasksQuerySchema,
  listTasksResponseSchema,
  taskIdSchema,
  taskSchema,
} from './tasks.js';
import { portParamsSchema, portPreviewSchema } from './tunnels.js';

export type HttpMethod = 'GET' | 'POST' | 'PUT' | 'DELETE';

/**
 * What a route is about. The OpenAPI document groups routes by it; the proxy mounts the public `operations` and
 * `shares` routes before authentication.
 */
export type RouteTag =
  | 'operations'
  | 'accounts'
  | 'tasks'
  | 'files'
  | 'sessions'
  | 'shares'
  | 'approvals'
  | 'ports'
  | 'notifications';

/** One REST route. Every schema here is the one the server validates with and the client parses with. */
export interface RouteSpec {
  method: HttpMethod;
  /** Express-style path, e.g. `/api/tasks/:id`; each `:param` has a schema in {@link RouteSpec.params}. */
  path: string;
  summary: string;
  tag: RouteTag;
  /** `public` routes answer without credentials; `user` routes need a token or a browser session. */
  auth: 'public' | 'user';
  /** Path parameters, as a strict object of strings. */
  params?: z.ZodObject;
  /** The query string, as a strict object. A route without one refuses any query parameter. */
  query?: z.ZodObject;
  /** The JSON body. */
  body?: z.ZodType;
  /** The JSON body may be left out; it then reads as `{}`. */
  bodyOptional?: true;
  /** Largest JSON body the server reads, in bytes (default {@link DEFAULT_MAX_JSON_BODY_BYTES}). */
  maxBodyBytes?: number;
  /** A body that is not JSON: raw bytes (`octet`) or a `multipart/form-data` upload (field `file`). */
  rawBody?: 'octet' | 'multipart';
  /** The JSON answer. */
  response?: z.ZodType;
  /** An answer that is not JSON (bytes, text): its content type and what it holds. */
  rawResponse?: { type: string; description: string };
  /** The success status: 204 answers have no body. */
  status: 200 | 201 | 204;
  /**
   * The codes this route answers besides the ones every route may answer (see {@link routeErrors}):
   * what its service refuses with.
   */
  errors: readonly ErrorCode[];
}

/** Largest JSON body of a route that does not set its own `maxBodyBytes`. */
export const DEFAULT_MAX_JSON_BODY_BYTES = 1024 * 1024;

/** Keeps each entry's literal types (method, status) so the adapter and the client can type from them. */
function defineRoutes<const T extends Record<string, RouteSpec>>(table: T): T {
  return table;
}

const taskParams = z.object({ id: taskIdSchema }).strict();
const sessionParams = z.object({ id: sessionIdSchema }).strict();
const pushSubscriptionParams = z.object({ id: pushSubscriptionIdSchema }).strict();

/** `GET /readyz`: each dependency's check (`database`, and `redis` when configured). */
export const readyResponseSchema = z.object({
  ok: z.boolean(),
  checks: z.record(
    z.string(),
    // Whether each dependency answered; why not is in the server log, never in the answer.
    z.object({ ok: z.boolean() }).strict(),
  ),
});
export type ReadyResponse = z.infer<typeof readyResponseSchema>;

/** `GET /api/version`: which server the client talks to. */
export const versionResponseSchema = z.object({
  /** The server's version (its package version, e.g. `0.1.0`). */
  version: z.string(),
});
export type VersionResponse = z.infer<typeof versionResponseSchema>;

/**
 * `POST /api/agent/bootstrap`: a sandbox's agent exchanges the one-time bootstrap reference it was started with
 * (providers whose start-up values pass through a cloud API, e.g. ECS task overrides) for its agent token. The
 * reference dies at the exchange, or unused after AGENT_TOKEN_TTL_MS.
 */
export const agentBootstrapRequestSchema = z
  .object({ sandboxId: z.string().min(1).max(64), bootstrap: z.string().min(1).max(256) })
  .strict();
export type AgentBootstrapRequest = z.infer<typeof agentBootstrapRequestSchema>;
export const agentBootstrapResponseSchema = z.object({
  /** The token the agent presents at its Socket.io handshake (single-use too: replaced at that handshake). */
  token: z.string(),
});
export type AgentBootstrapResponse = z.infer<typeof agentBootstrapResponseSchema>;

/** `GET /api/tasks/:id/sessions`. */
export const listSessionsResponseSchema = z.object({ sessions: z.array(sessionInfoSchema) });

const shareParams = z.object({ shareId: shareIdSchema }).strict();
const driveRequestParams = z.object({ requestId: driveRequestIdSchema }).strict();

/** Every REST route, by name. The name is the client's method and the OpenAPI `operationId`. */
export const routes = defineRoutes({
  // ---- operations --------------------------------------------------------------------------------
  health: {
    method: 'GET',
    path: '/healthz',
    summary: 'The process is up',
    tag: 'operations',
    auth: 'public',
    response: z.object({ ok: z.literal(true) }),
    status: 200,
    errors: [],
  },
  ready: {
    method: 'GET',
    path: '/readyz',
    summary: 'Postgres (and Redis, when configured) answer; 503 with the same body naming the failing check otherwise',
    tag: 'operations',
    auth: 'public',
    response: readyResponseSchema,
    status: 200,
    errors: [],
  },
  metrics: {
    method: 'GET',
    path: '/metrics',
    summary: 'Prometheus metrics of this proxy process',
    tag: 'operations',
    auth: 'public',
    rawResponse: { type: 'text/plain', description: 'Prometheus text exposition format' },
    status: 200,
    errors: [],
  },
  openapi: {
    method: 'GET',
    path: '/api/openapi.json',
    summary: 'This document',
    tag: 'operations',
    auth: 'public',
    response: z.unknown(),
    status: 200,
    errors: [],
  },

  // ---- accounts ----------------------------------------------------------------------------------
  login: {
    method: 'POST',
    path: '/api/auth/login',
    summary: 'Sign in with a password; returns an API token',
    tag: 'accounts',
    auth: 'public',
    body: loginRequestSchema,
    maxBodyBytes: 100 * 1024,
    response: loginResponseSchema,
    status: 200,
    errors: ['UNAUTHENTICATED', 'RATE_LIMITED'],
  },
  createBrowserSession: {
    method: 'POST',
    path: '/api/auth/session',
    summary: "Sign a browser in (a session cookie) with a login link's one-time token, or a username and password",
    tag: 'accounts',
    auth: 'public',
    body: createBrowserSessionRequestSchema,
    maxBodyBytes: 100 * 1024,
    response: browserSessionResponseSchema,
    status: 200,
    errors: ['UNAUTHENTICATED', 'CONFLICT', 'RATE_LIMITED'],
  },
  createLoginLink: {
    method: 'POST',
    path: '/api/auth/login-links',
    summary: 'A one-time login link token that signs a browser in as you (once, within 10 minutes)',
    tag: 'accounts',
    auth: 'user',
    response: loginLinkSchema,
    status: 201,
    errors: [],
  },
  getBrowserSession: {
    method: 'GET',
    path: '/api/auth/session',
    summary: 'The browser session',
    tag: 'accounts',
    auth: 'user',
    response: browserSessionResponseSchema,
    status: 200,
    errors: [],
  },
  endBrowserSession: {
    method: 'DELETE',
    path: '/api/auth/session',
    summary: 'Sign out',
    tag: 'accounts',
    auth: 'user',
    status: 204,
    errors: [],
  },
  me: {
    method: 'GET',
    path: '/api/me',
    summary: 'The signed-in user',
    tag: 'accounts',
    auth: 'user',
    response: userSchema,
    status: 200,
    errors: [],
  },
  agentBootstrap: {
    method: 'POST',
    path: '/api/agent/bootstrap',
    summary: "A sandbox's agent exchanges its one-time bootstrap reference for its token (agents only)",
    tag: 'operations',
    auth: 'public',
    body: agentBootstrapRequestSchema,
    maxBodyBytes: 4096,
    response: agentBootstrapResponseSchema,
    status: 200,
    errors: ['UNAUTHENTICATED'],
  },
  version: {
    method: 'GET',
    path: '/api/version',
    summary: "The server's version",
    tag: 'operations',
    auth: 'user',
    response: versionResponseSchema,
    status: 200,
    errors: [],
  },
  listUsers: {
    method: 'GET',
    path: '/api/users',
    summary: 'All users (admin)',
    tag: 'accounts',
    auth: 'user',
    response: listUsersResponseSchema,
    status: 200,
    errors: [],
  },
  createUser: {
    method: 'POST',
    path: '/api/users',
    summary: 'Create a user (admin)',
    tag: 'accounts',
    auth: 'user',
    body: createUserRequestSchema,
    maxBodyBytes: 100 * 1024,
    response: userSchema,
    status: 201,
    errors: ['CONFLICT'],
  },
  setPassword: {
    method: 'PUT',
    path: '/api/users/:id/password',
    summary: "Set a user's password (admins: anyone's; others: their own)",
    tag: 'accounts',
    auth: 'user',
    params: z.object({ id: userIdSchema }).strict(),
    body: setPasswordRequestSchema,
    maxBodyBytes: 100 * 1024,
    status: 204,
    errors: ['NOT_FOUND'],
  },
  listTokens: {
    method: 'GET',
    path: '/api/tokens',
    summary: 'Your API tokens',
    tag: 'accounts',
    auth: 'user',
    response: listApiTokensResponseSchema,
    status: 200,
    errors: [],
  },
  createToken: {
    method: 'POST',
    path: '/api/tokens',
    summary: 'Create an API token (shown once)',
    tag: 'accounts',
    auth: 'user',
    body: createApiTokenRequestSchema,
    maxBodyBytes: 100 * 1024,
    response: createApiTokenResponseSchema,
    status: 201,
    errors: [],
  },
  revokeToken: {
    method: 'DELETE',
    path: '/api/tokens/:id',
    summary: 'Revoke an API token',
    tag: 'accounts',
    auth: 'user',
    params: z.object({ id: apiTokenIdSchema }).strict(),
    status: 204,
    errors: ['NOT_FOUND'],
  },
  listSecrets: {
    method: 'GET',
    path: '/api/secrets',
    summary: 'Your secrets, by name only',
    tag: 'accounts',
    auth: 'user',
    response: listSecretsResponseSchema,
    status: 200,
    errors: [],
  },
  putSecret: {
    method: 'PUT',
    path: '/api/secrets/:name',
    summary: 'Store a secret (encrypted at rest)',
    tag: 'accounts',
    auth: 'user',
    params: z.object({ name: secretNameSchema }).strict(),
    body: putSecretRequestSchema,
    maxBodyBytes: 100 * 1024,
    response: secretInfoSchema,
    status: 200,
    errors: [],
  },
  deleteSecret: {
    method: 'DELETE',
    path: '/api/secrets/:name',
    summary: 'Delete a secret',
    tag: 'accounts',
    auth: 'user',
    params: z.object({ name: secretNameSchema }).strict(),
    status: 204,
    errors: ['NOT_FOUND'],
  },
  listAllowHosts: {
    method: 'GET',
    path: '/api/allow-hosts',
    summary: "Hosts your tasks' sandboxes may reach besides the server's egress allow-list",
    tag: 'accounts',
    auth: 'user',
    response: listAllowHostsResponseSchema,
    status: 200,
    errors: [],
  },
  addAllowHost: {
    method: 'POST',
    path: '/api/allow-hosts',
    summary: 'Add a host name or *.pattern (optionally :port) to your egress allow-list',
    tag: 'accounts',
    auth: 'user',
    body: addAllowHostRequestSchema,
    maxBodyBytes: 4 * 1024,
    response: allowHostSchema,
    status: 201,
    errors: ['CONFLICT'],
  },
  removeAllowHost: {
    method: 'DELETE',
    path: '/api/allow-hosts/:host',
    summary: 'Remove a host from your egress allow-list',
    tag: 'accounts',
    auth: 'user',
    params: z.object({ host: allowHostEntrySchema }).strict(),
    status: 204,
    errors: ['NOT_FOUND'],
  },

  // ---- tasks -------------------------------------------------------------------------------------
  createTask: {
    method: 'POST',
    path: '/api/tasks',
    summary: 'Create a task: starts a sandbox running Claude Code or a command',
    tag: 'tasks',
    auth: 'user',
    body: createTaskRequestSchema,
    response: taskSchema,
    status: 201,
    errors: ['BUDGET_EXCEEDED', 'TOO_MANY_TASKS', 'PROVIDER_UNAVAILABLE', 'SANDBOX_START_FAILED', 'FORBIDDEN'],
  },
  listTasks: {
    method: 'GET',
    path: '/api/tasks',
    summary: 'Your tasks, newest first',
    tag: 'tasks',
    auth: 'user',
    query: listTasksQuerySchema,
    response: listTasksResponseSchema,
    status: 200,
    errors: [],
  },
  getTask: {
    method: 'GET',
    path: '/api/tasks/:id',
    summary: 'One task',
    tag: 'tasks',
    auth: 'user',
    params: taskParams,
    response: taskSchema,
    status: 200,
    errors: ['NOT_FOUND'],
  },
  deleteTask: {
    method: 'DELETE',
    path: '/api/tasks/:id',
    summary: 'Delete a task (stops it first)',
    tag: 'tasks',
    auth: 'user',
    params: taskParams,
    status: 204,
    errors: ['NOT_FOUND'],
  },
  stopTask: {
    method: 'POST',
    path: '/api/tasks/:id/stop',
    summary:
      'Stop a task and its sandbox, after a checkpoint of its work (a failed checkpoint keeps the sandbox unless `force`)',
    tag: 'tasks',
    auth: 'user',
    params: taskParams,
    body: stopTaskRequestSchema,
    bodyOptional: true,
    response: taskSchema,
    status: 200,
    errors: ['NOT_FOUND', 'CHECKPOINT_FAILED'],
  },
  pushTask: {
    method: 'POST',
    path: '/api/tasks/:id/push',
    summary:
      "Commit a running task's workspace to a branch and push it to the task's repository now, with the caller's GITHUB_TOKEN",
    tag: 'tasks',
    auth: 'user',
    params: taskParams,
    body: pushTaskRequestSchema,
    bodyOptional: true,
    response: pushTaskResponseSchema,
    status: 200,
    errors: ['NOT_FOUND', 'BAD_REQUEST', 'TASK_NOT_RUNNING', 'AGENT_UNAVAILABLE', 'CONFLICT', 'UPSTREAM_FAILED'],
  },
  createPullRequest: {
    method: 'POST',
    path: '/api/tasks/:id/pull-request',
    summary:
      "Push a running task's work, then open a GitHub pull request for its branch (or answer the one already open)",
    tag: 'tasks',
    auth: 'user',
    params: taskParams,
    body: createPullRequestRequestSchema,
    bodyOptional: true,
    response: pullRequestInfoSchema,
    status: 200,
    errors: ['NOT_FOUND', 'BAD_REQUEST', 'TASK_NOT_RUNNING', 'AGENT_UNAVAILABLE', 'CONFLICT', 'UPSTREAM_FAILED'],
  },
  createCheckpoint: {
    method: 'POST',
    path: '/api/tasks/:id/checkpoints',
    summary: "Checkpoint a running task's workspace and conversation now",
    tag: 'tasks',
    auth: 'user',
    params: taskParams,
    body: createCheckpointRequestSchema,
    bodyOptional: true,
    response: checkpointSchema,
    status: 201,
    errors: ['NOT_FOUND', 'TASK_NOT_RUNNING', 'AGENT_UNAVAILABLE', 'CHECKPOINT_FAILED', 'CONFLICT'],
  },
  listCheckpoints: {
    method: 'GET',
    path: '/api/tasks/:id/checkpoints',
    summary: "The task's checkpoints, newest first",
    tag: 'tasks',
    auth: 'user',
    params: taskParams,
    response: listCheckpointsResponseSchema,
    status: 200,
    errors: ['NOT_FOUND'],
  },
  resumeTask: {
    method: 'POST',
    path: '/api/tasks/:id/resume',
    summary:
      'Resume a hibernated or ended task in a new sandbox from its latest checkpoint (or `at`), continuing its conversation',
    tag: 'tasks',
    auth: 'user',
    params: taskParams,
    body: resumeTaskRequestSchema,
    bodyOptional: true,
    response: taskSchema,
    status: 200,
    errors: ['NOT_FOUND', 'CONFLICT', 'BUDGET_EXCEEDED', 'TOO_MANY_TASKS', 'PROVIDER_UNAVAILABLE'],
  },
  keepTask: {
    method: 'POST',
    path: '/api/tasks/:id/keep',
    summary: 'Restart the idle clock of a running task, putting off its hibernation',
    tag: 'tasks',
    auth: 'user',
    params: taskParams,
    response: keepTaskResponseSchema,
    status: 200,
    errors: ['NOT_FOUND', 'TASK_NOT_RUNNING'],
  },
  createPortPreview: {
    method: 'POST',
    path: '/api/tasks/:id/ports/:port/preview',
    summary: 'A link that serves a port of the running task to a browser, through the proxy',
    tag: 'ports',
    auth: 'user',
    params: portParamsSchema,
    response: portPreviewSchema,
    status: 201,
    errors: ['NOT_FOUND', 'TASK_NOT_RUNNING'],
  },
  // ---- moving work: forks and uploads (docs/moving-work.md) -------------------------------------
  forkTask: {
    method: 'POST',
    path: '/api/tasks/:id/fork',
    summary:
      "Start new tasks from a task's latest checkpoint (a running task is checkpointed first), each continuing its conversation",
    tag: 'tasks',
    auth: 'user',
    params: taskParams,
    body: forkTaskRequestSchema,
    bodyOptional: true,
    response: forkTaskResponseSchema,
    status: 201,
    errors: ['NOT_FOUND', 'CONFLICT', 'CHECKPOINT_FAILED', 'BUDGET_EXCEEDED', 'TOO_MANY_TASKS', 'PROVIDER_UNAVAILABLE'],
  },
  importTask: {
    method: 'POST',
    path: '/api/imports',
    summary:
      'Start a task from an uploaded workspace (and conversation): a tar of a header (manifest) and the blobs it names',
    tag: 'tasks',
    auth: 'user',
    rawBody: 'octet',
    response: taskSchema,
    status: 201,
    errors: [
      'CONFLICT',
      'CHECKPOINT_CORRUPT',
      'BUDGET_EXCEEDED',
      'TOO_MANY_TASKS',
      'PROVIDER_UNAVAILABLE',
      'FORBIDDEN',
    ],
  },
  getCheckpointManifest: {
    method: 'GET',
    path: '/api/tasks/:id/checkpoints/:checkpoint/manifest',
    summary: "A checkpoint's manifest: every folder, file (size, SHA-256) and link of its workspace and conversation",
    tag: 'tasks',
    auth: 'user',
    params: z.object({ id: taskIdSchema, checkpoint: checkpointIdSchema }).strict(),
    response: checkpointManifestSchema,
    status: 200,
    errors: ['NOT_FOUND', 'CHECKPOINT_CORRUPT'],
  },
  getCheckpointBlob: {
    method: 'GET',
    path: '/api/tasks/:id/checkpoints/:checkpoint/blobs/:hash',
    summary: 'The bytes of one file of a checkpoint, by the SHA-256 its manifest gives',
    tag: 'tasks',
    auth: 'user',
    params: z.object({ id: taskIdSchema, checkpoint: checkpointIdSchema, hash: blobHashSchema }).strict(),
    rawResponse: { type: 'application/octet-stream', description: "The blob's bytes" },
    status: 200,
    errors: ['NOT_FOUND'],
  },
  listTaskEvents: {
    method: 'GET',
    path: '/api/tasks/:id/events',
    summary: "The task's timeline",
    tag: 'tasks',
    auth: 'user',
    params: taskParams,
    query: listTaskEventsQuerySchema,
    response: listTaskEventsResponseSchema,
    status: 200,
    errors: ['NOT_FOUND'],
  },
  continueTask: {
    method: 'POST',
    path: '/api/tasks/:id/continue',
    summary: "Continue a finished prompt task's conversation in Claude Code (a new session, or the one already open)",
    tag: 'tasks',
    auth: 'user',
    params: taskParams,
    body: continueTaskRequestSchema,
    bodyOptional: true,
    response: sessionInfoSchema,
    status: 201,
    errors: ['NOT_FOUND', 'CONFLICT', 'TASK_NOT_RUNNING', 'AGENT_UNAVAILABLE'],
  },
  listTaskSessions: {
    method: 'GET',
    path: '/api/tasks/:id/sessions',
    summary: "The task's sessions",
    tag: 'tasks',
    auth: 'user',
    params: taskParams,
    response: listSessionsResponseSchema,
    status: 200,
    errors: ['NOT_FOUND'],
  },
  usage: {
    method: 'GET',
    path: '/api/usage',
    summary: 'Your spending this calendar month (UTC): compute and model cost, tokens, budget',
    tag: 'tasks',
    auth: 'user',
    response: usageResponseSchema,
    status: 200,
    errors: [],
  },

  // ---- files (relayed to the task's agent) ----------------------------------------------------------
  listFiles: {
    method: 'GET',
    path: '/api/tasks/:id/files',
    summary: 'List a workspace directory',
    tag: 'files',
    auth: 'user',
    params: taskParams,
    query: filePathQuerySchema,
    response: listFilesResponseSchema,
    status: 200,
    errors: ['NOT_FOUND', 'TASK_NOT_RUNNING', 'PATH_REFUSED', 'AGENT_UNAVAILABLE', 'TIMEOUT'],
  },
  readFile: {
    method: 'GET',
    path: '/api/tasks/:id/files/content',
    summary: 'Read a file (bytes; offset/length for ranges)',
    tag: 'files',
    auth: 'user',
    params: taskParams,
    query: readFileQuerySchema,
    rawResponse: {
      type: 'application/octet-stream',
      description: 'The bytes asked for; X-File-Size is the whole size',
    },
    status: 200,
    errors: ['NOT_FOUND', 'TASK_NOT_RUNNING', 'PATH_REFUSED', 'PAYLOAD_TOO_LARGE', 'AGENT_UNAVAILABLE', 'TIMEOUT'],
  },
  writeFile: {
    method: 'PUT',
    path: '/api/tasks/:id/files/content',
    summary: 'Write a file (raw body)',
    tag: 'files',
    auth: 'user',
    params: taskParams,
    query: fileTargetQuerySchema,
    rawBody: 'octet',
    response: writeFileResponseSchema,
    status: 200,
    errors: ['NOT_FOUND', 'TASK_NOT_RUNNING', 'PATH_REFUSED', 'PAYLOAD_TOO_LARGE', 'AGENT_UNAVAILABLE', 'TIMEOUT'],
  },
  deleteFile: {
    method: 'DELETE',
    path: '/api/tasks/:id/files',
    summary: 'Delete a file or directory',
    tag: 'files',
    auth: 'user',
    params: taskParams,
    query: deleteFileQuerySchema,
    status: 204,
    errors: ['NOT_FOUND', 'TASK_NOT_RUNNING', 'PATH_REFUSED', 'AGENT_UNAVAILABLE', 'TIMEOUT'],
  },
  uploadFiles: {
    method: 'POST',
    path: '/api/tasks/:id/files/upload',
    summary: 'Upload files (multipart/form-data, one part per file)',
    tag: 'files',
    auth: 'user',
    params: taskParams,
    query: uploadFilesQuerySchema,
    rawBody: 'multipart',
    response: uploadFilesResponseSchema,
    status: 200,
    errors: ['NOT_FOUND', 'TASK_NOT_RUNNING', 'PATH_REFUSED', 'PAYLOAD_TOO_LARGE', 'AGENT_UNAVAILABLE', 'TIMEOUT'],
  },
  downloadFile: {
    method: 'GET',
    path: '/api/tasks/:id/files/download',
    summary: 'Download a file as an attachment',
    tag: 'files',
    auth: 'user',
    params: taskParams,
    query: fileTargetQuerySchema,
    rawResponse: { type: 'application/octet-stream', description: 'The file, with Content-Disposition: attachment' },
    status: 200,
    errors: ['NOT_FOUND', 'TASK_NOT_RUNNING', 'PATH_REFUSED', 'AGENT_UNAVAILABLE', 'TIMEOUT'],
  },

  renameFile: {
    method: 'POST',
    path: '/api/tasks/:id/files/rename',
    summary: 'Move a file (replaces a file at the target, never a folder)',
    tag: 'files',
    auth: 'user',
    params: taskParams,
    body: renameFileRequestSchema,
    response: renameFileResponseSchema,
    status: 200,
    errors: ['NOT_FOUND', 'TASK_NOT_RUNNING', 'PATH_REFUSED', 'CONFLICT', 'AGENT_UNAVAILABLE', 'TIMEOUT'],
  },
  syncManifest: {
    method: 'GET',
    path: '/api/tasks/:id/files/manifest',
    summary:
      "A page of the workspace's files, symlinks and folders with size, mtime, sha256, exec bit (for rclaude sync)",
    tag: 'files',
    auth: 'user',
    params: taskParams,
    query: syncManifestQuerySchema,
    response: syncManifestResponseSchema,
    status: 200,
    errors: ['NOT_FOUND', 'TASK_NOT_RUNNING', 'PATH_REFUSED', 'AGENT_UNAVAILABLE', 'TIMEOUT'],
  },
  syncChanges: {
    method: 'GET',
    path: '/api/tasks/:id/files/changes',
    summary: 'The workspace files changed after a cursor; waits up to waitMs for one (long poll, for rclaude sync)',
    tag: 'files',
    auth: 'user',
    params: taskParams,
    query: syncChangesQuerySchema,
    response: syncChangesResponseSchema,
    status: 200,
    errors: ['NOT_FOUND', 'TASK_NOT_RUNNING', 'AGENT_UNAVAILABLE', 'TIMEOUT'],
  },
  syncApply: {
    method: 'POST',
    path: '/api/tasks/:id/files/sync-apply',
    summary:
      'One change of rclaude sync (put, link, mkdir, chmod, delete), made only if the path still holds what was expected',
    tag: 'files',
    auth: 'user',
    params: taskParams,
    body: syncApplyRequestSchema,
    response: syncApplyResponseSchema,
    status: 200,
    errors: ['NOT_FOUND', 'TASK_NOT_RUNNING', 'PATH_REFUSED', 'CONFLICT', 'AGENT_UNAVAILABLE', 'TIMEOUT'],
  },

  // ---- sessions ----------------------------------------------------------------------------------
  createSession: {
    method: 'POST',
    path: '/api/sessions',
    summary: "Open another PTY in a running task's sandbox",
    tag: 'sessions',
    auth: 'user',
    body: createSessionRequestSchema,
    response: sessionInfoSchema,
    status: 201,
    errors: ['NOT_FOUND', 'TASK_NOT_RUNNING', 'AGENT_UNAVAILABLE'],
  },
  getSession: {
    method: 'GET',
    path: '/api/sessions/:id',
    summary: "A session's live state",
    tag: 'sessions',
    auth: 'user',
    params: sessionParams,
    response: sessionInfoSchema,
    status: 200,
    errors: ['NOT_FOUND'],
  },
  execute: {
    method: 'POST',
    path: '/api/sessions/:id/execute',
    summary: 'Run a command to completion in the sandbox',
    tag: 'sessions',
    auth: 'user',
    params: sessionParams,
    body: executeRequestSchema,
    response: executeResultSchema,
    status: 200,
    errors: ['NOT_FOUND', 'TASK_NOT_RUNNING', 'AGENT_UNAVAILABLE', 'TIMEOUT'],
  },

  // ---- share links -------------------------------------------------------------------------------
  createShare: {
    method: 'POST',
    path: '/api/tasks/:id/shares',
    summary:
      'Create a share link to a task, read-only or (`kind: drive`) for signed-in co-drivers (the URL carries its secret after #, shown once)',
    tag: 'shares',
    auth: 'user',
    params: taskParams,
    body: createShareRequestSchema,
    bodyOptional: true,
    maxBodyBytes: 4096,
    response: createShareResponseSchema,
    status: 201,
    errors: ['NOT_FOUND', 'CONFLICT'],
  },
  listShares: {
    method: 'GET',
    path: '/api/shares',
    summary: 'The share links you created (`?task=` for one task)',
    tag: 'shares',
    auth: 'user',
    query: listSharesQuerySchema,
    response: listSharesResponseSchema,
    status: 200,
    errors: [],
  },
  revokeShare: {
    method: 'DELETE',
    path: '/api/shares/:shareId',
    summary: 'Revoke a share link; its viewers are cut off at once and its co-drivers revoked',
    tag: 'shares',
    auth: 'user',
    params: shareParams,
    status: 204,
    errors: ['NOT_FOUND'],
  },
  listDriveRequests: {
    method: 'GET',
    path: '/api/tasks/:id/drive-requests',
    summary: "Requests to type into a task through its drive links, newest first (the task's owner or an admin)",
    tag: 'shares',
    auth: 'user',
    params: taskParams,
    response: listDriveRequestsResponseSchema,
    status: 200,
    errors: ['NOT_FOUND'],
  },
  decideDriveRequest: {
    method: 'POST',
    path: '/api/drive-requests/:requestId',
    summary: 'Accept or refuse a pending request to type; revoke an accepted one (takes effect at once)',
    tag: 'shares',
    auth: 'user',
    params: driveRequestParams,
    body: decideDriveRequestSchema,
    maxBodyBytes: 1024,
    response: driveRequestSchema,
    status: 200,
    errors: ['NOT_FOUND', 'CONFLICT'],
  },
  shareView: {
    method: 'POST',
    path: '/api/share/:shareId/view',
    summary:
      "A shared task's name, status, main session and timeline, for the holder of the link's secret (no account)",
    tag: 'shares',
    auth: 'public',
    params: shareParams,
    body: shareViewRequestSchema,
    maxBodyBytes: 1024,
    response: shareViewSchema,
    status: 200,
    errors: ['UNAUTHENTICATED', 'RATE_LIMITED'],
  },
  getSessionRecording: {
    method: 'GET',
    path: '/api/sessions/:id/recording',
    summary: "A session's recording (asciicast v2): its output with timing, resizes, and timeline markers",
    tag: 'sessions',
    auth: 'user',
    params: sessionParams,
    query: recordingQuerySchema,
    rawResponse: {
      type: ASCIICAST_CONTENT_TYPE,
      description: 'A header line, then one `[seconds, "o"|"r"|"m", text]` event per line, streamed',
    },
    status: 200,
    errors: ['NOT_FOUND'],
  },
  // ---- approvals (docs/approvals.md) ------------------------------------------------------------
  listApprovals: {
    method: 'GET',
    path: '/api/tasks/:id/approvals',
    summary: "The task's approvals: pending and recently answered, newest first",
    tag: 'approvals',
    auth: 'user',
    params: taskParams,
    response: listApprovalsResponseSchema,
    status: 200,
    errors: ['NOT_FOUND'],
  },
  answerApproval: {
    method: 'POST',
    path: '/api/tasks/:id/approvals/:approvalId',
    summary: "Allow or deny a pending approval of the task's Claude Code",
    tag: 'approvals',
    auth: 'user',
    params: z.object({ id: taskIdSchema, approvalId: approvalIdSchema }).strict(),
    body: answerApprovalRequestSchema,
    response: approvalSchema,
    status: 200,
    errors: ['NOT_FOUND', 'CONFLICT'],
  },
  listMyApprovals: {
    method: 'GET',
    path: '/api/approvals',
    summary: 'Approvals of your tasks (pending by default), newest first',
    tag: 'approvals',
    auth: 'user',
    query: listMyApprovalsQuerySchema,
    response: listApprovalsResponseSchema,
    status: 200,
    errors: [],
  },
  getApproval: {
    method: 'GET',
    path: '/api/approvals/:approvalId',
    summary: 'One approval, by its id alone (with its task id)',
    tag: 'approvals',
    auth: 'user',
    params: z.object({ approvalId: approvalIdSchema }).strict(),
    response: approvalSchema,
    status: 200,
    errors: ['NOT_FOUND'],
  },
  // ---- notifications (Web Push) ------------------------------------------------------------------
  getPushConfig: {
    method: 'GET',
    path: '/api/push/config',
    summary: "The server's VAPID public key and the kinds of notification",
    tag: 'notifications',
    auth: 'user',
    response: pushConfigSchema,
    status: 200,
    errors: [],
  },
  listPushSubscriptions: {
    method: 'GET',
    path: '/api/push/subscriptions',
    summary: 'Your subscribed browsers and phones',
    tag: 'notifications',
    auth: 'user',
    response: listPushSubscriptionsResponseSchema,
    status: 200,
    errors: [],
  },
  createPushSubscription: {
    method: 'POST',
    path: '/api/push/subscriptions',
    summary: 'Subscribe this browser to notifications (updates the subscription with the same endpoint)',
    tag: 'notifications',
    auth: 'user',
    body: createPushSubscriptionRequestSchema,
    maxBodyBytes: 8 * 1024,
    response: pushSubscriptionSchema,
    status: 200,
    errors: ['CONFLICT'],
  },
  updatePushSubscription: {
    method: 'PUT',
    path: '/api/push/subscriptions/:id',
    summary: 'Choose what a subscription hears about, or rename it',
    tag: 'notifications',
    auth: 'user',
    params: pushSubscriptionParams,
    body: updatePushSubscriptionRequestSchema,
    maxBodyBytes: 8 * 1024,
    response: pushSubscriptionSchema,
    status: 200,
    errors: ['NOT_FOUND'],
  },
  deletePushSubscription: {
    method: 'DELETE',
    path: '/api/push/subscriptions/:id',
    summary: 'Unsubscribe a browser or phone',
    tag: 'notifications',
    auth: 'user',
    params: pushSubscriptionParams,
    status: 204,
    errors: ['NOT_FOUND'],
  },
  testPush: {
    method: 'POST',
    path: '/api/push/subscriptions/:id/test',
    summary: 'Send a test notification to one subscription',
    tag: 'notifications',
    auth: 'user',
    params: pushSubscriptionParams,
    response: testPushResponseSchema,
    status: 200,
    errors: ['NOT_FOUND', 'RATE_LIMITED'],
  },
});

export type Routes = typeof routes;
export type RouteName = keyof Routes;

/** Every route name, in table order. */
export const routeNames = Object.keys(routes) as RouteName[];

/**
 * Every code a route may answer: its own, BAD_REQUEST when it reads any input, PAYLOAD_TOO_LARGE when it
 * takes a body, the credential and origin refusals under `/api`, and INTERNAL.
 */
export function routeErrors(route: RouteSpec): ErrorCode[] {
  const codes = new Set<ErrorCode>(route.errors);
  if (route.params || route.query || route.body || route.rawBody || route.path.startsWith('/api/'))
    codes.add('BAD_REQUEST');
  if (route.body || route.rawBody) codes.add('PAYLOAD_TOO_LARGE');
  if (route.path.startsWith('/api/')) {
    codes.add('ORIGIN_REFUSED');
    if (route.auth === 'user') {
      codes.add('UNAUTHENTICATED');
      // A browser session without its CSRF header, or an admin-only answer.
      codes.add('FORBIDDEN');
    }
  }
  codes.add('INTERNAL');
  return [...codes];
}

// ---- types derived from the table ------------------------------------------------------------------

type Empty = Record<never, never>;

/** Path parameters, query and body of a route as the server sees them after validation. */
export type RouteInput<R extends RouteSpec> = {
  params: R extends { params: infer P extends z.ZodType } ? z.output<P> : Empty;
  query: R extends { query: infer Q extends z.ZodType } ? z.output<Q> : Empty;
  body: R extends { body: infer B extends z.ZodType } ? z.output<B> : undefined;
};

/** What the server sends for a route: its JSON answer, or nothing (204, or an answer that is not JSON). */
// biome-ignore lint/suspicious/noConfusingVoidType: a 204 route's handler returns its service call's Promise<void>.
export type RouteOutput<R extends RouteSpec> = R extends { response: infer S extends z.ZodType } ? z.input<S> : void;

/** What a client receives from a JSON route, parsed. */
export type RouteResult<R extends RouteSpec> = R extends { response: infer S extends z.ZodType }
  ? z.output<S>
  : undefined;
