/**
 * The REST route table: every HTTP route of the server, declared once. The proxy's Express adapter, the
 * OpenAPI document and the typed client in `@rclaude/client` are all derived from it, so adding a route is
 * one entry here plus its handler in the proxy.
 *
 * The table loads no schema and not zod: each route's `schemas` imports the modules its schemas live in when
 * first called, so a client that calls one route (the CLI's `ls`) loads that route's schemas only, and the
 * server loads them all once at start-up ({@link loadRouteSchemas}).
 */
import type { z } from 'zod';
import type { ErrorCode } from './errors.js';

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

/** A route's schemas: the ones the server validates with and the client parses with. */
export interface RouteSchemas {
  /** Path parameters, as a strict object of strings. */
  params?: z.ZodObject;
  /** The query string, as a strict object. A route without one refuses any query parameter. */
  query?: z.ZodObject;
  /** The JSON body (see {@link RouteSpec.bodyOptional}). */
  body?: z.ZodType;
  /** The JSON answer. */
  response?: z.ZodType;
}

/** One REST route. Its schemas are loaded on demand (see {@link RouteSpec.schemas}). */
export interface RouteSpec {
  method: HttpMethod;
  /** Express-style path, e.g. `/api/tasks/:id`; each `:param` has a schema in {@link RouteSpec.params}. */
  path: string;
  summary: string;
  tag: RouteTag;
  /** `public` routes answer without credentials; `user` routes need a token or a browser session. */
  auth: 'public' | 'user';
  /**
   * Loads the route's schemas (path parameters, query, JSON body, JSON answer), importing the modules they live
   * in; absent when the route has none. Call it through {@link routeSchemas}, which keeps each route's result.
   */
  schemas?: () => Promise<RouteSchemas>;
  /** The JSON body may be left out; it then reads as `{}`. */
  bodyOptional?: true;
  /** Largest JSON body the server reads, in bytes (default {@link DEFAULT_MAX_JSON_BODY_BYTES}). */
  maxBodyBytes?: number;
  /** A body that is not JSON: raw bytes (`octet`) or a `multipart/form-data` upload (field `file`). */
  rawBody?: 'octet' | 'multipart';
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

/** Every REST route, by name. The name is the client's method and the OpenAPI `operationId`. */
export const routes = defineRoutes({
  // ---- operations --------------------------------------------------------------------------------
  health: {
    method: 'GET',
    path: '/healthz',
    summary: 'The process is up',
    tag: 'operations',
    auth: 'public',
    schemas: async () => {
      const { z } = await import('zod');
      return { response: z.object({ ok: z.literal(true) }) };
    },
    status: 200,
    errors: [],
  },
  ready: {
    method: 'GET',
    path: '/readyz',
    summary: 'Postgres (and Redis, when configured) answer; 503 with the same body naming the failing check otherwise',
    tag: 'operations',
    auth: 'public',
    schemas: async () => {
      const { readyResponseSchema } = await import('./operations.js');
      return { response: readyResponseSchema };
    },
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
    schemas: async () => {
      const { z } = await import('zod');
      return { response: z.unknown() };
    },
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
    schemas: async () => {
      const { loginRequestSchema, loginResponseSchema } = await import('./auth.js');
      return { body: loginRequestSchema, response: loginResponseSchema };
    },
    maxBodyBytes: 100 * 1024,
    status: 200,
    errors: ['UNAUTHENTICATED', 'RATE_LIMITED'],
  },
  createBrowserSession: {
    method: 'POST',
    path: '/api/auth/session',
    summary: "Sign a browser in (a session cookie) with a login link's one-time token, or a username and password",
    tag: 'accounts',
    auth: 'public',
    schemas: async () => {
      const { browserSessionResponseSchema, createBrowserSessionRequestSchema } = await import('./auth.js');
      return { body: createBrowserSessionRequestSchema, response: browserSessionResponseSchema };
    },
    maxBodyBytes: 100 * 1024,
    status: 200,
    errors: ['UNAUTHENTICATED', 'CONFLICT', 'RATE_LIMITED'],
  },
  createLoginLink: {
    method: 'POST',
    path: '/api/auth/login-links',
    summary: 'A one-time login link token that signs a browser in as you (once, within 10 minutes)',
    tag: 'accounts',
    auth: 'user',
    schemas: async () => {
      const { loginLinkSchema } = await import('./auth.js');
      return { response: loginLinkSchema };
    },
    status: 201,
    errors: [],
  },
  getBrowserSession: {
    method: 'GET',
    path: '/api/auth/session',
    summary: 'The browser session',
    tag: 'accounts',
    auth: 'user',
    schemas: async () => {
      const { browserSessionResponseSchema } = await import('./auth.js');
      return { response: browserSessionResponseSchema };
    },
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
    schemas: async () => {
      const { userSchema } = await import('./auth.js');
      return { response: userSchema };
    },
    status: 200,
    errors: [],
  },
  agentBootstrap: {
    method: 'POST',
    path: '/api/agent/bootstrap',
    summary: "A sandbox's agent exchanges its one-time bootstrap reference for its token (agents only)",
    tag: 'operations',
    auth: 'public',
    schemas: async () => {
      const { agentBootstrapRequestSchema, agentBootstrapResponseSchema } = await import('./operations.js');
      return { body: agentBootstrapRequestSchema, response: agentBootstrapResponseSchema };
    },
    maxBodyBytes: 4096,
    status: 200,
    errors: ['UNAUTHENTICATED'],
  },
  version: {
    method: 'GET',
    path: '/api/version',
    summary: "The server's version",
    tag: 'operations',
    auth: 'user',
    schemas: async () => {
      const { versionResponseSchema } = await import('./operations.js');
      return { response: versionResponseSchema };
    },
    status: 200,
    errors: [],
  },
  listUsers: {
    method: 'GET',
    path: '/api/users',
    summary: 'All users (admin)',
    tag: 'accounts',
    auth: 'user',
    schemas: async () => {
      const { listUsersResponseSchema } = await import('./auth.js');
      return { response: listUsersResponseSchema };
    },
    status: 200,
    errors: [],
  },
  createUser: {
    method: 'POST',
    path: '/api/users',
    summary: 'Create a user (admin)',
    tag: 'accounts',
    auth: 'user',
    schemas: async () => {
      const { createUserRequestSchema, userSchema } = await import('./auth.js');
      return { body: createUserRequestSchema, response: userSchema };
    },
    maxBodyBytes: 100 * 1024,
    status: 201,
    errors: ['CONFLICT'],
  },
  setPassword: {
    method: 'PUT',
    path: '/api/users/:id/password',
    summary: "Set a user's password (admins: anyone's; others: their own)",
    tag: 'accounts',
    auth: 'user',
    schemas: async () => {
      const { z } = await import('zod');
      const { setPasswordRequestSchema, userIdSchema } = await import('./auth.js');
      return { params: z.object({ id: userIdSchema }).strict(), body: setPasswordRequestSchema };
    },
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
    schemas: async () => {
      const { listApiTokensResponseSchema } = await import('./auth.js');
      return { response: listApiTokensResponseSchema };
    },
    status: 200,
    errors: [],
  },
  createToken: {
    method: 'POST',
    path: '/api/tokens',
    summary: 'Create an API token (shown once)',
    tag: 'accounts',
    auth: 'user',
    schemas: async () => {
      const { createApiTokenRequestSchema, createApiTokenResponseSchema } = await import('./auth.js');
      return { body: createApiTokenRequestSchema, response: createApiTokenResponseSchema };
    },
    maxBodyBytes: 100 * 1024,
    status: 201,
    errors: [],
  },
  revokeToken: {
    method: 'DELETE',
    path: '/api/tokens/:id',
    summary: 'Revoke an API token',
    tag: 'accounts',
    auth: 'user',
    schemas: async () => {
      const { z } = await import('zod');
      const { apiTokenIdSchema } = await import('./auth.js');
      return { params: z.object({ id: apiTokenIdSchema }).strict() };
    },
    status: 204,
    errors: ['NOT_FOUND'],
  },
  listSecrets: {
    method: 'GET',
    path: '/api/secrets',
    summary: 'Your secrets, by name only',
    tag: 'accounts',
    auth: 'user',
    schemas: async () => {
      const { listSecretsResponseSchema } = await import('./auth.js');
      return { response: listSecretsResponseSchema };
    },
    status: 200,
    errors: [],
  },
  putSecret: {
    method: 'PUT',
    path: '/api/secrets/:name',
    summary: 'Store a secret (encrypted at rest)',
    tag: 'accounts',
    auth: 'user',
    schemas: async () => {
      const { z } = await import('zod');
      const { putSecretRequestSchema, secretInfoSchema, secretNameSchema } = await import('./auth.js');
      return {
        params: z.object({ name: secretNameSchema }).strict(),
        body: putSecretRequestSchema,
        response: secretInfoSchema,
      };
    },
    maxBodyBytes: 100 * 1024,
    status: 200,
    errors: [],
  },
  deleteSecret: {
    method: 'DELETE',
    path: '/api/secrets/:name',
    summary: 'Delete a secret',
    tag: 'accounts',
    auth: 'user',
    schemas: async () => {
      const { z } = await import('zod');
      const { secretNameSchema } = await import('./auth.js');
      return { params: z.object({ name: secretNameSchema }).strict() };
    },
    status: 204,
    errors: ['NOT_FOUND'],
  },
  listAllowHosts: {
    method: 'GET',
    path: '/api/allow-hosts',
    summary: "Hosts your tasks' sandboxes may reach besides the server's egress allow-list",
    tag: 'accounts',
    auth: 'user',
    schemas: async () => {
      const { listAllowHostsResponseSchema } = await import('./auth.js');
      return { response: listAllowHostsResponseSchema };
    },
    status: 200,
    errors: [],
  },
  addAllowHost: {
    method: 'POST',
    path: '/api/allow-hosts',
    summary: 'Add a host name or *.pattern (optionally :port) to your egress allow-list',
    tag: 'accounts',
    auth: 'user',
    schemas: async () => {
      const { addAllowHostRequestSchema, allowHostSchema } = await import('./auth.js');
      return { body: addAllowHostRequestSchema, response: allowHostSchema };
    },
    maxBodyBytes: 4 * 1024,
    status: 201,
    errors: ['CONFLICT'],
  },
  removeAllowHost: {
    method: 'DELETE',
    path: '/api/allow-hosts/:host',
    summary: 'Remove a host from your egress allow-list',
    tag: 'accounts',
    auth: 'user',
    schemas: async () => {
      const { z } = await import('zod');
      const { allowHostEntrySchema } = await import('./auth.js');
      return { params: z.object({ host: allowHostEntrySchema }).strict() };
    },
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
    schemas: async () => {
      const { createTaskRequestSchema, taskSchema } = await import('./tasks.js');
      return { body: createTaskRequestSchema, response: taskSchema };
    },
    status: 201,
    errors: ['BUDGET_EXCEEDED', 'TOO_MANY_TASKS', 'PROVIDER_UNAVAILABLE', 'SANDBOX_START_FAILED', 'FORBIDDEN'],
  },
  listTasks: {
    method: 'GET',
    path: '/api/tasks',
    summary: 'Your tasks, newest first',
    tag: 'tasks',
    auth: 'user',
    schemas: async () => {
      const { listTasksQuerySchema, listTasksResponseSchema } = await import('./tasks.js');
      return { query: listTasksQuerySchema, response: listTasksResponseSchema };
    },
    status: 200,
    errors: [],
  },
  getTask: {
    method: 'GET',
    path: '/api/tasks/:id',
    summary: 'One task',
    tag: 'tasks',
    auth: 'user',
    schemas: async () => {
      const { taskParamsSchema, taskSchema } = await import('./tasks.js');
      return { params: taskParamsSchema, response: taskSchema };
    },
    status: 200,
    errors: ['NOT_FOUND'],
  },
  deleteTask: {
    method: 'DELETE',
    path: '/api/tasks/:id',
    summary: 'Delete a task (stops it first)',
    tag: 'tasks',
    auth: 'user',
    schemas: async () => {
      const { taskParamsSchema } = await import('./tasks.js');
      return { params: taskParamsSchema };
    },
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
    schemas: async () => {
      const { stopTaskRequestSchema } = await import('./checkpoints.js');
      const { taskParamsSchema, taskSchema } = await import('./tasks.js');
      return { params: taskParamsSchema, body: stopTaskRequestSchema, response: taskSchema };
    },
    bodyOptional: true,
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
    schemas: async () => {
      const { pushTaskRequestSchema, pushTaskResponseSchema } = await import('./pull-requests.js');
      const { taskParamsSchema } = await import('./tasks.js');
      return { params: taskParamsSchema, body: pushTaskRequestSchema, response: pushTaskResponseSchema };
    },
    bodyOptional: true,
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
    schemas: async () => {
      const { pullRequestInfoSchema } = await import('./pull-request-info.js');
      const { createPullRequestRequestSchema } = await import('./pull-requests.js');
      const { taskParamsSchema } = await import('./tasks.js');
      return { params: taskParamsSchema, body: createPullRequestRequestSchema, response: pullRequestInfoSchema };
    },
    bodyOptional: true,
    status: 200,
    errors: ['NOT_FOUND', 'BAD_REQUEST', 'TASK_NOT_RUNNING', 'AGENT_UNAVAILABLE', 'CONFLICT', 'UPSTREAM_FAILED'],
  },
  createCheckpoint: {
    method: 'POST',
    path: '/api/tasks/:id/checkpoints',
    summary: "Checkpoint a running task's workspace and conversation now",
    tag: 'tasks',
    auth: 'user',
    schemas: async () => {
      const { checkpointSchema, createCheckpointRequestSchema } = await import('./checkpoints.js');
      const { taskParamsSchema } = await import('./tasks.js');
      return { params: taskParamsSchema, body: createCheckpointRequestSchema, response: checkpointSchema };
    },
    bodyOptional: true,
    status: 201,
    errors: ['NOT_FOUND', 'TASK_NOT_RUNNING', 'AGENT_UNAVAILABLE', 'CHECKPOINT_FAILED', 'CONFLICT'],
  },
  listCheckpoints: {
    method: 'GET',
    path: '/api/tasks/:id/checkpoints',
    summary: "The task's checkpoints, newest first",
    tag: 'tasks',
    auth: 'user',
    schemas: async () => {
      const { listCheckpointsResponseSchema } = await import('./checkpoints.js');
      const { taskParamsSchema } = await import('./tasks.js');
      return { params: taskParamsSchema, response: listCheckpointsResponseSchema };
    },
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
    schemas: async () => {
      const { resumeTaskRequestSchema } = await import('./checkpoints.js');
      const { taskParamsSchema, taskSchema } = await import('./tasks.js');
      return { params: taskParamsSchema, body: resumeTaskRequestSchema, response: taskSchema };
    },
    bodyOptional: true,
    status: 200,
    errors: ['NOT_FOUND', 'CONFLICT', 'BUDGET_EXCEEDED', 'TOO_MANY_TASKS', 'PROVIDER_UNAVAILABLE'],
  },
  keepTask: {
    method: 'POST',
    path: '/api/tasks/:id/keep',
    summary: 'Restart the idle clock of a running task, putting off its hibernation',
    tag: 'tasks',
    auth: 'user',
    schemas: async () => {
      const { keepTaskResponseSchema } = await import('./checkpoints.js');
      const { taskParamsSchema } = await import('./tasks.js');
      return { params: taskParamsSchema, response: keepTaskResponseSchema };
    },
    status: 200,
    errors: ['NOT_FOUND', 'TASK_NOT_RUNNING'],
  },
  createPortPreview: {
    method: 'POST',
    path: '/api/tasks/:id/ports/:port/preview',
    summary: 'A link that serves a port of the running task to a browser, through the proxy',
    tag: 'ports',
    auth: 'user',
    schemas: async () => {
      const { portParamsSchema, portPreviewSchema } = await import('./tunnels.js');
      return { params: portParamsSchema, response: portPreviewSchema };
    },
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
    schemas: async () => {
      const { forkTaskRequestSchema, forkTaskResponseSchema } = await import('./handoff.js');
      const { taskParamsSchema } = await import('./tasks.js');
      return { params: taskParamsSchema, body: forkTaskRequestSchema, response: forkTaskResponseSchema };
    },
    bodyOptional: true,
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
    schemas: async () => {
      const { taskSchema } = await import('./tasks.js');
      return { response: taskSchema };
    },
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
    schemas: async () => {
      const { z } = await import('zod');
      const { checkpointIdSchema, checkpointManifestSchema } = await import('./checkpoints.js');
      const { taskIdSchema } = await import('./tasks.js');
      return {
        params: z.object({ id: taskIdSchema, checkpoint: checkpointIdSchema }).strict(),
        response: checkpointManifestSchema,
      };
    },
    status: 200,
    errors: ['NOT_FOUND', 'CHECKPOINT_CORRUPT'],
  },
  getCheckpointBlob: {
    method: 'GET',
    path: '/api/tasks/:id/checkpoints/:checkpoint/blobs/:hash',
    summary: 'The bytes of one file of a checkpoint, by the SHA-256 its manifest gives',
    tag: 'tasks',
    auth: 'user',
    schemas: async () => {
      const { z } = await import('zod');
      const { blobHashSchema, checkpointIdSchema } = await import('./checkpoints.js');
      const { taskIdSchema } = await import('./tasks.js');
      return { params: z.object({ id: taskIdSchema, checkpoint: checkpointIdSchema, hash: blobHashSchema }).strict() };
    },
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
    schemas: async () => {
      const { listTaskEventsQuerySchema, listTaskEventsResponseSchema, taskParamsSchema } = await import('./tasks.js');
      return { params: taskParamsSchema, query: listTaskEventsQuerySchema, response: listTaskEventsResponseSchema };
    },
    status: 200,
    errors: ['NOT_FOUND'],
  },
  continueTask: {
    method: 'POST',
    path: '/api/tasks/:id/continue',
    summary: "Continue a finished prompt task's conversation in Claude Code (a new session, or the one already open)",
    tag: 'tasks',
    auth: 'user',
    schemas: async () => {
      const { sessionInfoSchema } = await import('./sessions.js');
      const { continueTaskRequestSchema } = await import('./task-events.js');
      const { taskParamsSchema } = await import('./tasks.js');
      return { params: taskParamsSchema, body: continueTaskRequestSchema, response: sessionInfoSchema };
    },
    bodyOptional: true,
    status: 201,
    errors: ['NOT_FOUND', 'CONFLICT', 'TASK_NOT_RUNNING', 'AGENT_UNAVAILABLE'],
  },
  listTaskSessions: {
    method: 'GET',
    path: '/api/tasks/:id/sessions',
    summary: "The task's sessions",
    tag: 'tasks',
    auth: 'user',
    schemas: async () => {
      const { listSessionsResponseSchema } = await import('./sessions.js');
      const { taskParamsSchema } = await import('./tasks.js');
      return { params: taskParamsSchema, response: listSessionsResponseSchema };
    },
    status: 200,
    errors: ['NOT_FOUND'],
  },
  usage: {
    method: 'GET',
    path: '/api/usage',
    summary: 'Your spending this calendar month (UTC): compute and model cost, tokens, budget',
    tag: 'tasks',
    auth: 'user',
    schemas: async () => {
      const { usageResponseSchema } = await import('./task-events.js');
      return { response: usageResponseSchema };
    },
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
    schemas: async () => {
      const { filePathQuerySchema, listFilesResponseSchema } = await import('./files.js');
      const { taskParamsSchema } = await import('./tasks.js');
      return { params: taskParamsSchema, query: filePathQuerySchema, response: listFilesResponseSchema };
    },
    status: 200,
    errors: ['NOT_FOUND', 'TASK_NOT_RUNNING', 'PATH_REFUSED', 'AGENT_UNAVAILABLE', 'TIMEOUT'],
  },
  readFile: {
    method: 'GET',
    path: '/api/tasks/:id/files/content',
    summary: 'Read a file (bytes; offset/length for ranges)',
    tag: 'files',
    auth: 'user',
    schemas: async () => {
      const { readFileQuerySchema } = await import('./files.js');
      const { taskParamsSchema } = await import('./tasks.js');
      return { params: taskParamsSchema, query: readFileQuerySchema };
    },
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
    schemas: async () => {
      const { fileTargetQuerySchema, writeFileResponseSchema } = await import('./files.js');
      const { taskParamsSchema } = await import('./tasks.js');
      return { params: taskParamsSchema, query: fileTargetQuerySchema, response: writeFileResponseSchema };
    },
    rawBody: 'octet',
    status: 200,
    errors: ['NOT_FOUND', 'TASK_NOT_RUNNING', 'PATH_REFUSED', 'PAYLOAD_TOO_LARGE', 'AGENT_UNAVAILABLE', 'TIMEOUT'],
  },
  deleteFile: {
    method: 'DELETE',
    path: '/api/tasks/:id/files',
    summary: 'Delete a file or directory',
    tag: 'files',
    auth: 'user',
    schemas: async () => {
      const { deleteFileQuerySchema } = await import('./files.js');
      const { taskParamsSchema } = await import('./tasks.js');
      return { params: taskParamsSchema, query: deleteFileQuerySchema };
    },
    status: 204,
    errors: ['NOT_FOUND', 'TASK_NOT_RUNNING', 'PATH_REFUSED', 'AGENT_UNAVAILABLE', 'TIMEOUT'],
  },
  uploadFiles: {
    method: 'POST',
    path: '/api/tasks/:id/files/upload',
    summary: 'Upload files (multipart/form-data, one part per file)',
    tag: 'files',
    auth: 'user',
    schemas: async () => {
      const { uploadFilesQuerySchema, uploadFilesResponseSchema } = await import('./files.js');
      const { taskParamsSchema } = await import('./tasks.js');
      return { params: taskParamsSchema, query: uploadFilesQuerySchema, response: uploadFilesResponseSchema };
    },
    rawBody: 'multipart',
    status: 200,
    errors: ['NOT_FOUND', 'TASK_NOT_RUNNING', 'PATH_REFUSED', 'PAYLOAD_TOO_LARGE', 'AGENT_UNAVAILABLE', 'TIMEOUT'],
  },
  downloadFile: {
    method: 'GET',
    path: '/api/tasks/:id/files/download',
    summary: 'Download a file as an attachment',
    tag: 'files',
    auth: 'user',
    schemas: async () => {
      const { fileTargetQuerySchema } = await import('./files.js');
      const { taskParamsSchema } = await import('./tasks.js');
      return { params: taskParamsSchema, query: fileTargetQuerySchema };
    },
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
    schemas: async () => {
      const { renameFileRequestSchema, renameFileResponseSchema } = await import('./files.js');
      const { taskParamsSchema } = await import('./tasks.js');
      return { params: taskParamsSchema, body: renameFileRequestSchema, response: renameFileResponseSchema };
    },
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
    schemas: async () => {
      const { syncManifestQuerySchema, syncManifestResponseSchema } = await import('./files.js');
      const { taskParamsSchema } = await import('./tasks.js');
      return { params: taskParamsSchema, query: syncManifestQuerySchema, response: syncManifestResponseSchema };
    },
    status: 200,
    errors: ['NOT_FOUND', 'TASK_NOT_RUNNING', 'PATH_REFUSED', 'AGENT_UNAVAILABLE', 'TIMEOUT'],
  },
  syncChanges: {
    method: 'GET',
    path: '/api/tasks/:id/files/changes',
    summary: 'The workspace files changed after a cursor; waits up to waitMs for one (long poll, for rclaude sync)',
    tag: 'files',
    auth: 'user',
    schemas: async () => {
      const { syncChangesQuerySchema, syncChangesResponseSchema } = await import('./files.js');
      const { taskParamsSchema } = await import('./tasks.js');
      return { params: taskParamsSchema, query: syncChangesQuerySchema, response: syncChangesResponseSchema };
    },
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
    schemas: async () => {
      const { syncApplyRequestSchema, syncApplyResponseSchema } = await import('./files.js');
      const { taskParamsSchema } = await import('./tasks.js');
      return { params: taskParamsSchema, body: syncApplyRequestSchema, response: syncApplyResponseSchema };
    },
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
    schemas: async () => {
      const { createSessionRequestSchema, sessionInfoSchema } = await import('./sessions.js');
      return { body: createSessionRequestSchema, response: sessionInfoSchema };
    },
    status: 201,
    errors: ['NOT_FOUND', 'TASK_NOT_RUNNING', 'AGENT_UNAVAILABLE'],
  },
  getSession: {
    method: 'GET',
    path: '/api/sessions/:id',
    summary: "A session's live state",
    tag: 'sessions',
    auth: 'user',
    schemas: async () => {
      const { sessionInfoSchema, sessionParamsSchema } = await import('./sessions.js');
      return { params: sessionParamsSchema, response: sessionInfoSchema };
    },
    status: 200,
    errors: ['NOT_FOUND'],
  },
  execute: {
    method: 'POST',
    path: '/api/sessions/:id/execute',
    summary: 'Run a command to completion in the sandbox',
    tag: 'sessions',
    auth: 'user',
    schemas: async () => {
      const { executeRequestSchema, executeResultSchema, sessionParamsSchema } = await import('./sessions.js');
      return { params: sessionParamsSchema, body: executeRequestSchema, response: executeResultSchema };
    },
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
    schemas: async () => {
      const { createShareRequestSchema, createShareResponseSchema } = await import('./shares.js');
      const { taskParamsSchema } = await import('./tasks.js');
      return { params: taskParamsSchema, body: createShareRequestSchema, response: createShareResponseSchema };
    },
    bodyOptional: true,
    maxBodyBytes: 4096,
    status: 201,
    errors: ['NOT_FOUND', 'CONFLICT'],
  },
  listShares: {
    method: 'GET',
    path: '/api/shares',
    summary: 'The share links you created (`?task=` for one task)',
    tag: 'shares',
    auth: 'user',
    schemas: async () => {
      const { listSharesQuerySchema, listSharesResponseSchema } = await import('./shares.js');
      return { query: listSharesQuerySchema, response: listSharesResponseSchema };
    },
    status: 200,
    errors: [],
  },
  revokeShare: {
    method: 'DELETE',
    path: '/api/shares/:shareId',
    summary: 'Revoke a share link; its viewers are cut off at once and its co-drivers revoked',
    tag: 'shares',
    auth: 'user',
    schemas: async () => {
      const { shareParamsSchema } = await import('./shares.js');
      return { params: shareParamsSchema };
    },
    status: 204,
    errors: ['NOT_FOUND'],
  },
  listDriveRequests: {
    method: 'GET',
    path: '/api/tasks/:id/drive-requests',
    summary: "Requests to type into a task through its drive links, newest first (the task's owner or an admin)",
    tag: 'shares',
    auth: 'user',
    schemas: async () => {
      const { listDriveRequestsResponseSchema } = await import('./shares.js');
      const { taskParamsSchema } = await import('./tasks.js');
      return { params: taskParamsSchema, response: listDriveRequestsResponseSchema };
    },
    status: 200,
    errors: ['NOT_FOUND'],
  },
  decideDriveRequest: {
    method: 'POST',
    path: '/api/drive-requests/:requestId',
    summary: 'Accept or refuse a pending request to type; revoke an accepted one (takes effect at once)',
    tag: 'shares',
    auth: 'user',
    schemas: async () => {
      const { decideDriveRequestSchema, driveRequestParamsSchema, driveRequestSchema } = await import('./shares.js');
      return { params: driveRequestParamsSchema, body: decideDriveRequestSchema, response: driveRequestSchema };
    },
    maxBodyBytes: 1024,
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
    schemas: async () => {
      const { shareParamsSchema, shareViewRequestSchema, shareViewSchema } = await import('./shares.js');
      return { params: shareParamsSchema, body: shareViewRequestSchema, response: shareViewSchema };
    },
    maxBodyBytes: 1024,
    status: 200,
    errors: ['UNAUTHENTICATED', 'RATE_LIMITED'],
  },
  getSessionRecording: {
    method: 'GET',
    path: '/api/sessions/:id/recording',
    summary: "A session's recording (asciicast v2): its output with timing, resizes, and timeline markers",
    tag: 'sessions',
    auth: 'user',
    schemas: async () => {
      const { recordingQuerySchema } = await import('./recordings.js');
      const { sessionParamsSchema } = await import('./sessions.js');
      return { params: sessionParamsSchema, query: recordingQuerySchema };
    },
    rawResponse: {
      type: 'application/x-asciicast',
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
    schemas: async () => {
      const { listApprovalsResponseSchema } = await import('./approvals.js');
      const { taskParamsSchema } = await import('./tasks.js');
      return { params: taskParamsSchema, response: listApprovalsResponseSchema };
    },
    status: 200,
    errors: ['NOT_FOUND'],
  },
  answerApproval: {
    method: 'POST',
    path: '/api/tasks/:id/approvals/:approvalId',
    summary: "Allow or deny a pending approval of the task's Claude Code",
    tag: 'approvals',
    auth: 'user',
    schemas: async () => {
      const { z } = await import('zod');
      const { answerApprovalRequestSchema, approvalIdSchema, approvalSchema } = await import('./approvals.js');
      const { taskIdSchema } = await import('./tasks.js');
      return {
        params: z.object({ id: taskIdSchema, approvalId: approvalIdSchema }).strict(),
        body: answerApprovalRequestSchema,
        response: approvalSchema,
      };
    },
    status: 200,
    errors: ['NOT_FOUND', 'CONFLICT'],
  },
  listMyApprovals: {
    method: 'GET',
    path: '/api/approvals',
    summary: 'Approvals of your tasks (pending by default), newest first',
    tag: 'approvals',
    auth: 'user',
    schemas: async () => {
      const { listApprovalsResponseSchema, listMyApprovalsQuerySchema } = await import('./approvals.js');
      return { query: listMyApprovalsQuerySchema, response: listApprovalsResponseSchema };
    },
    status: 200,
    errors: [],
  },
  getApproval: {
    method: 'GET',
    path: '/api/approvals/:approvalId',
    summary: 'One approval, by its id alone (with its task id)',
    tag: 'approvals',
    auth: 'user',
    schemas: async () => {
      const { z } = await import('zod');
      const { approvalIdSchema, approvalSchema } = await import('./approvals.js');
      return { params: z.object({ approvalId: approvalIdSchema }).strict(), response: approvalSchema };
    },
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
    schemas: async () => {
      const { pushConfigSchema } = await import('./push.js');
      return { response: pushConfigSchema };
    },
    status: 200,
    errors: [],
  },
  listPushSubscriptions: {
    method: 'GET',
    path: '/api/push/subscriptions',
    summary: 'Your subscribed browsers and phones',
    tag: 'notifications',
    auth: 'user',
    schemas: async () => {
      const { listPushSubscriptionsResponseSchema } = await import('./push.js');
      return { response: listPushSubscriptionsResponseSchema };
    },
    status: 200,
    errors: [],
  },
  createPushSubscription: {
    method: 'POST',
    path: '/api/push/subscriptions',
    summary: 'Subscribe this browser to notifications (updates the subscription with the same endpoint)',
    tag: 'notifications',
    auth: 'user',
    schemas: async () => {
      const { createPushSubscriptionRequestSchema, pushSubscriptionSchema } = await import('./push.js');
      return { body: createPushSubscriptionRequestSchema, response: pushSubscriptionSchema };
    },
    maxBodyBytes: 8 * 1024,
    status: 200,
    errors: ['CONFLICT'],
  },
  updatePushSubscription: {
    method: 'PUT',
    path: '/api/push/subscriptions/:id',
    summary: 'Choose what a subscription hears about, or rename it',
    tag: 'notifications',
    auth: 'user',
    schemas: async () => {
      const { pushSubscriptionParamsSchema, pushSubscriptionSchema, updatePushSubscriptionRequestSchema } =
        await import('./push.js');
      return {
        params: pushSubscriptionParamsSchema,
        body: updatePushSubscriptionRequestSchema,
        response: pushSubscriptionSchema,
      };
    },
    maxBodyBytes: 8 * 1024,
    status: 200,
    errors: ['NOT_FOUND'],
  },
  deletePushSubscription: {
    method: 'DELETE',
    path: '/api/push/subscriptions/:id',
    summary: 'Unsubscribe a browser or phone',
    tag: 'notifications',
    auth: 'user',
    schemas: async () => {
      const { pushSubscriptionParamsSchema } = await import('./push.js');
      return { params: pushSubscriptionParamsSchema };
    },
    status: 204,
    errors: ['NOT_FOUND'],
  },
  testPush: {
    method: 'POST',
    path: '/api/push/subscriptions/:id/test',
    summary: 'Send a test notification to one subscription',
    tag: 'notifications',
    auth: 'user',
    schemas: async () => {
      const { pushSubscriptionParamsSchema, testPushResponseSchema } = await import('./push.js');
      return { params: pushSubscriptionParamsSchema, response: testPushResponseSchema };
    },
    status: 200,
    errors: ['NOT_FOUND', 'RATE_LIMITED'],
  },
});

export type Routes = typeof routes;
export type RouteName = keyof Routes;

/** Every route name, in table order. */
export const routeNames = Object.keys(routes) as RouteName[];

/** A route with its schemas loaded: what the server's adapter and the OpenAPI document read. */
export type LoadedRoute = Omit<RouteSpec, 'schemas'> & RouteSchemas;

/** The schemas route `R` declares (`{}` for a route without any). */
export type SchemasOf<R extends RouteSpec> = R extends { schemas: () => Promise<infer S> } ? S : Record<never, never>;

/** Every route of the table with its schemas loaded, typed per route. */
export type LoadedRoutes = { [K in RouteName]: Omit<Routes[K], 'schemas'> & SchemasOf<Routes[K]> };

const loading = new Map<RouteName, Promise<RouteSchemas>>();

/**
 * The schemas of one route, loaded on first call (the modules they live in are imported then) and kept: what
 * a client calls before it sends a request and parses the answer.
 */
export function routeSchemas(name: RouteName): Promise<RouteSchemas> {
  let schemas = loading.get(name);
  if (!schemas) {
    const route: RouteSpec = routes[name];
    schemas = route.schemas ? route.schemas() : Promise.resolve({});
    loading.set(name, schemas);
  }
  return schemas;
}

/** Every route with its schemas: the server loads them all once at start-up, and the OpenAPI document reads them. */
export async function loadRouteSchemas(): Promise<LoadedRoutes> {
  const entries = await Promise.all(
    routeNames.map(async (name) => {
      const { schemas: _lazy, ...spec }: RouteSpec = routes[name];
      return [name, { ...spec, ...(await routeSchemas(name)) }] as const;
    }),
  );
  return Object.fromEntries(entries) as LoadedRoutes;
}

/**
 * Every code a route may answer: its own, BAD_REQUEST when it reads any input, PAYLOAD_TOO_LARGE when it
 * takes a body, the credential and origin refusals under `/api`, and INTERNAL.
 */
export function routeErrors(route: LoadedRoute): ErrorCode[] {
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
  params: SchemasOf<R> extends { params: infer P extends z.ZodType } ? z.output<P> : Empty;
  query: SchemasOf<R> extends { query: infer Q extends z.ZodType } ? z.output<Q> : Empty;
  body: SchemasOf<R> extends { body: infer B extends z.ZodType } ? z.output<B> : undefined;
};

/** What the server sends for a route: its JSON answer, or nothing (204, or an answer that is not JSON). */
export type RouteOutput<R extends RouteSpec> =
  SchemasOf<R> extends { response: infer S extends z.ZodType }
    ? z.input<S>
    : // biome-ignore lint/suspicious/noConfusingVoidType: a 204 route's handler returns its service call's Promise<void>.
      void;

/** What a client receives from a JSON route, parsed. */
export type RouteResult<R extends RouteSpec> =
  SchemasOf<R> extends { response: infer S extends z.ZodType } ? z.output<S> : undefined;
