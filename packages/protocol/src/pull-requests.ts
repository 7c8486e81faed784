import { z } from 'zod';
import { commitIdSchema as commitSchema, githubRepoSchema } from './pull-request-info.js';
import { branchNameSchema } from './task-events.js';

/**
 * Pushing a task's work and opening a pull request for it (docs/pull-requests.md, adr/0015). The proxy asks the
 * task's agent to commit the workspace onto the task's branch and hand it over as a git bundle; the proxy pushes
 * it with the user's stored GITHUB_TOKEN and opens the pull request through the GitHub REST API. The token never
 * goes to the sandbox for this.
 */

/** `POST /api/tasks/:id/push`: commit the workspace now and push it to `branch` (default the task's branch). */
export const pushTaskRequestSchema = z
  .object({
    /** A new or earlier-pushed branch; default the task's `--push` branch, else `rclaude/<task id>`. */
    branch: branchNameSchema.optional(),
  })
  .strict();
export type PushTaskRequest = z.infer<typeof pushTaskRequestSchema>;

/** What a push did (also the `push` event's data). */
export const pushTaskResponseSchema = z.object({
  branch: z.string(),
  commit: commitSchema,
  /** The repository pushed to: the task's repository URL or path. */
  pushedTo: z.string(),
  /** True when the branch already held this commit: nothing new was pushed. */
  upToDate: z.boolean(),
});
export type PushTaskResponse = z.infer<typeof pushTaskResponseSchema>;

/** `POST /api/tasks/:id/pull-request`: push now, then open (or find) the pull request for the task's branch. */
export const createPullRequestRequestSchema = z
  .object({
    /** Default: the first line of the prompt, else the task's name. */
    title: z.string().trim().min(1).max(256).optional(),
    draft: z.boolean().optional(),
    /** The branch to merge into; default the branch the task started from, else the repository's default. */
    base: branchNameSchema.optional(),
    /** The branch to push and open the pull request from; as for a push. */
    branch: branchNameSchema.optional(),
    /** The GitHub repository, when the task's repository URL does not name one (or names another). */
    githubRepo: githubRepoSchema.optional(),
  })
  .strict();
export type CreatePullRequestRequest = z.infer<typeof createPullRequestRequestSchema>;

/** Proxy -> agent `repo:commit`: commit the workspace onto `branch` and bundle it for the proxy to push. */
export interface AgentRepoCommitRequest {
  branch: string;
  /** The commit message, used when a new commit is needed. */
  message: string;
  /** Bundle the branch's whole history (the proxy has none of it), not only what the task added. */
  full: boolean;
}

/** Most characters of the change summary an agent's `repo:commit` answer carries. */
export const REPO_COMMIT_SUMMARY_MAX_CHARS = 200;

/**
 * The agent's answer to `repo:commit` (validated by the proxy: a sandbox may lie). `commit` null: nothing changed
 * since the task started.
 */
export const agentRepoCommitResultSchema = z
  .object({
    commit: commitSchema.nullable(),
    /** The commit the task started from (the base of the bundle), null for a repository without commits. */
    started: commitSchema.nullable(),
    /** Workspace-relative path of the bundle holding `refs/heads/<branch>`; null when `commit` is null. */
    bundlePath: z.string().max(4096).nullable(),
    /** `2 files changed, +10 -3` between `started` and `commit`. */
    summary: z.string().max(REPO_COMMIT_SUMMARY_MAX_CHARS),
  })
  .strict();
export type AgentRepoCommitResult = z.infer<typeof agentRepoCommitResultSchema>;

/**
 * Proxy -> agent `repo:finish`, before a stop or a hibernation releases the sandbox: record the session's diff,
 * and push when its task asked for it, as the session runner does when the program exits (the same code, once
 * per session: whichever of the two comes first does it).
 */
export interface AgentRepoFinishRequest {
  sessionId: string;
  /** What is ending the session, for the commit message: `stopped`, `hibernated`. */
  why: 'stopped' | 'hibernated';
}

/** Most events an agent's `repo:finish` answer may carry (a diff, a push or an info, errors). */
export const REPO_FINISH_MAX_EVENTS = 8;

/**
 * The agent's answer to `repo:finish` (validated by the proxy). `recorded`: done now, `events` are what the
 * session runner would have sent (the proxy records them before the sandbox goes); `session`: the session's own
 * runner was already doing it (its events came over the usual channel); `none`: the session has no repository
 * or is unknown to the agent.
 */
export const agentRepoFinishResultSchema = z
  .object({
    state: z.enum(['recorded', 'session', 'none']),
    events: z
      .array(z.object({ type: z.string().min(1).max(64), data: z.record(z.string(), z.unknown()) }).strict())
      .max(REPO_FINISH_MAX_EVENTS),
  })
  .strict();
export type AgentRepoFinishResult = z.infer<typeof agentRepoFinishResultSchema>;
