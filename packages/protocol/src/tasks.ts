import { z } from 'zod';
import { githubRepoSchema, pullRequestInfoSchema } from './pull-request-info.js';

/** Sandbox providers a task can run on. */
export const providerNames = ['local', 'ecs', 'e2b', 'docker'] as const;
export const providerNameSchema = z.enum(providerNames);
export type ProviderName = z.infer<typeof providerNameSchema>;

/**
 * Task lifecycle. `running` carries an {@link TaskActivity} sub-state. `hibernated` and the terminal states
 * hold no sandbox; a resume from a checkpoint moves any of them back to `starting` (a new sandbox).
 * See {@link taskTransitions} for the legal moves; docs/architecture.md draws the machine.
 */
export const taskStatuses = [
  'queued',
  'starting',
  'running',
  'idle',
  'stopping',
  'hibernated',
  'succeeded',
  'failed',
  'stopped',
] as const;
export const taskStatusSchema = z.enum(taskStatuses);
export type TaskStatus = z.infer<typeof taskStatusSchema>;

/** What Claude Code is doing inside a running task, as reported by its hooks. */
export const taskActivitySchema = z.enum(['working', 'waiting', 'done']);
export type TaskActivity = z.infer<typeof taskActivitySchema>;

/** Statuses that hold no sandbox and are not live: nothing runs until a resume (see {@link resumableStatuses}). */
export const terminalStatuses: readonly TaskStatus[] = ['hibernated', 'succeeded', 'failed', 'stopped'];

/** Statuses a task can be resumed from, given a checkpoint: a new sandbox restores it and goes on. */
export const resumableStatuses: readonly TaskStatus[] = ['hibernated', 'succeeded', 'failed', 'stopped'];

/**
 * Legal status transitions; anything else is refused by the task store. `stopping -> hibernated` is an idle
 * task whose work was checkpointed and whose sandbox was released; each no-sandbox status goes back to
 * `starting` on a resume, and `hibernated` to `stopped` when the user stops it for good.
 */
export const taskTransitions: Record<TaskStatus, readonly TaskStatus[]> = {
  queued: ['starting', 'stopping', 'failed', 'stopped'],
  starting: ['running', 'stopping', 'failed', 'stopped'],
  running: ['idle', 'stopping', 'succeeded', 'failed', 'stopped'],
  idle: ['running', 'stopping', 'succeeded', 'failed', 'stopped'],
  stopping: ['stopped', 'failed', 'succeeded', 'hibernated'],
  hibernated: ['starting', 'stopped'],
  succeeded: ['starting'],
  failed: ['starting'],
  stopped: ['starting'],
};

export function canTransition(from: TaskStatus, to: TaskStatus): boolean {
  return taskTransitions[from].includes(to);
}

/** Whether a task in this status holds no sandbox (hibernated or ended). */
export function isTerminal(status: TaskStatus): boolean {
  return terminalStatuses.includes(status);
}

export function isResumable(status: TaskStatus): boolean {
  return resumableStatuses.includes(status);
}

/** Task ids are short lowercase base32 strings; the CLI accepts any unique prefix. */
export const taskIdSchema = z.string().regex(/^[a-z0-9]{4,32}$/, 'a task id is 4 to 32 lowercase letters and digits');

export const taskNameSchema = z
  .string()
  .trim()
  .min(1)
  .max(100)
  .regex(/^[^\u0000-\u001f\u007f]*$/, 'a name has no control characters');

/** A command as argv; the first element is the program. */
export const commandSchema = z
  .array(z.string().max(64 * 1024))
  .min(1)
  .max(1000)
  .refine((argv) => (argv[0] ?? '').length > 0, 'the program name is empty');

export const createTaskRequestSchema = z
  .object({
    name: taskNameSchema.optional(),
    provider: providerNameSchema.optional(),
    /** argv to run in the main PTY; defaults to `claude`. Exclusive with `prompt`. */
    command: commandSchema.optional(),
    /** A non-interactive Claude Code prompt (`claude -p`). Exclusive with `command`. */
    prompt: z.string().min(1).max(100_000).optional(),
    repo: z.string().min(1).max(2048).optional(),
    branch: z.string().min(1).max(255).optional(),
    /**
     * Commit the repository's changes to a new branch when the main process exits and push it there:
     * `true` names it `rclaude/<task id>`. The branch must not exist yet.
     */
    push: z.union([z.literal(true), z.string().min(1).max(255)]).optional(),
    /**
     * When the main process exits, push the changes (to the `push` branch, default `rclaude/<task id>`) and open
     * a pull request on GitHub with the user's GITHUB_TOKEN (docs/pull-requests.md).
     */
    pullRequest: z.boolean().optional(),
    /** The GitHub repository (`owner/name`) pull requests go to, when `repo` does not name one. */
    githubRepo: githubRepoSchema.optional(),
    /** Initial terminal size, so the first screen is drawn at the right width. */
    cols: z.number().int().min(1).max(1000).optional(),
    rows: z.number().int().min(1).max(1000).optional(),
    /** Extra environment for the main process (not secrets: those come from the user's stored secrets). */
    env: z.record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/), z.string().max(32 * 1024)).optional(),
    /**
     * Hosts this task's sandbox may reach through the egress gateway, added to the server's allow-list: names
     * (`example.com`) or patterns of subdomains (`*.example.com`), each with an optional `:port`. Addresses, ranges
     * and `*` are for an admin's RCLAUDE_EGRESS_ALLOW only; names still resolve to public addresses only.
     */
    allowHosts: z.array(z.string().min(1).max(255)).max(32).optional(),
  })
  .strict()
  .refine((b) => !(b.command && b.prompt), { message: 'give a command or a prompt, not both' });
export type CreateTaskRequest = z.infer<typeof createTaskRequestSchema>;

export const taskUsageSchema = z.object({
  inputTokens: z.number().int().nonnegative(),
  outputTokens: z.number().int().nonnegative(),
  cacheReadTokens: z.number().int().nonnegative(),
  cacheCreationTokens: z.number().int().nonnegative(),
});
export type TaskUsage = z.infer<typeof taskUsageSchema>;

/** A task as the API returns it. Timestamps are ISO 8601 strings. */
export const taskSchema = z.object({
  id: z.string(),
  name: z.string(),
  owner: z.string(),
  provider: providerNameSchema,
  command: z.array(z.string()).nullable(),
  prompt: z.string().nullable(),
  repo: z.string().nullable(),
  branch: z.string().nullable(),
  /** The new branch the task's changes are pushed to when it ends, if the user asked for it. */
  pushBranch: z.string().nullable(),
  /** Open a pull request when the main process exits (`rclaude run --pr`). */
  pullRequestOnExit: z.boolean().optional(),
  /** The GitHub repository given at creation (`--github-repo`), if any. */
  githubRepo: z.string().nullable().optional(),
  /** The task's pull request, once one is opened (`rclaude pr`). */
  pullRequest: pullRequestInfoSchema.nullable().optional(),
  /** Hosts added to the server's egress allow-list for this task (see CreateTaskRequest.allowHosts). */
  allowHosts: z.array(z.string()).optional(),
  status: taskStatusSchema,
  activity: taskActivitySchema.nullable(),
  /** Why the task is in its status, for people: "exited with code 3", "idle for 30 min". */
  statusReason: z.string().nullable(),
  exitCode: z.number().int().nullable(),
  /** The session running the task's main process (Claude Code or the given command). */
  mainSessionId: z.string(),
  createdAt: z.string(),
  startedAt: z.string().nullable(),
  endedAt: z.string().nullable(),
  /** When the current run began, if the task was resumed from a checkpoint (absent or null: never resumed). */
  resumedAt: z.string().nullable().optional(),
  /** The task this one was forked from (`rclaude fork`), if any. */
  forkOf: z.string().nullable().optional(),
  computeCostUsd: z.number().nonnegative(),
  modelCostUsd: z.number().nonnegative(),
  usage: taskUsageSchema.nullable(),
});
export type Task = z.infer<typeof taskSchema>;

export const listTasksQuerySchema = z
  .object({
    status: taskStatusSchema.optional(),
    q: z.string().max(100).optional(),
    /** Only the forks of this task. */
    forkOf: taskIdSchema.optional(),
    limit: z.coerce.number().int().min(1).max(500).default(100),
    /** `all=true` lets an admin see every user's tasks. */
    all: z
      .enum(['true', 'false'])
      .transform((v) => v === 'true')
      .optional(),
  })
  .strict();
export type ListTasksQuery = z.infer<typeof listTasksQuerySchema>;

export const listTasksResponseSchema = z.object({ tasks: z.array(taskSchema) });
export type ListTasksResponse = z.infer<typeof listTasksResponseSchema>;

export const taskEventTypes = [
  'status',
  'output',
  'assistant_text',
  'tool_use',
  'tool_result',
  'result',
  'activity',
  'diff',
  'push',
  'pull_request',
  'checkpoint',
  'restore',
  'error',
  'info',
  'approval_requested',
  'approval_answered',
  'approval_withdrawn',
] as const;
export const taskEventTypeSchema = z.enum(taskEventTypes);
export type TaskEventType = z.infer<typeof taskEventTypeSchema>;

/** One entry of a task's timeline. `seq` increases per task; clients resume with `after=seq`. */
export const taskEventSchema = z.object({
  seq: z.number().int().nonnegative(),
  taskId: z.string(),
  type: taskEventTypeSchema,
  at: z.string(),
  data: z.record(z.string(), z.unknown()),
});
export type TaskEvent = z.infer<typeof taskEventSchema>;

export const listTaskEventsQuerySchema = z.object({ after: z.coerce.number().int().nonnegative().optional() }).strict();
export const listTaskEventsResponseSchema = z.object({ events: z.array(taskEventSchema) });

/** Path parameters of the routes under `/api/tasks/:id`. */
export const taskParamsSchema = z.object({ id: taskIdSchema }).strict();
