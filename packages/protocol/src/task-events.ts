/**
 * What prompt tasks, hooks and repositories put on a task's timeline, and the usage endpoint. The agent
 * sends these as `agent:event` data; the proxy validates them with {@link parseAgentTaskEvent} before it
 * stores them (`TaskStore.appendEvent`) and pushes them (`task:event`).
 */
import { z } from 'zod';
import { taskActivitySchema, taskUsageSchema } from './tasks.js';

/** Longest text (assistant message, result text) an event carries; longer text is cut by the agent. */
export const EVENT_TEXT_MAX_CHARS = 16_000;
/** Longest one-line summary (tool input, tool result, hook message). */
export const EVENT_SUMMARY_MAX_CHARS = 500;
/** Most files listed in a `diff` event; the totals still count every file. */
export const DIFF_EVENT_MAX_FILES = 500;

const count = z.number().int().nonnegative();
const summary = z.string().max(EVENT_SUMMARY_MAX_CHARS);

/** `assistant_text`: a text block of one of Claude's messages, as it arrives. */
export const assistantTextEventSchema = z.object({ text: z.string().max(EVENT_TEXT_MAX_CHARS) });

/** `tool_use`: Claude called a tool. `input` keeps a few short string fields (file_path, command, pattern...). */
export const toolUseEventSchema = z.object({
  id: z.string().max(128).nullable(),
  name: z.string().min(1).max(128),
  /** One line for people: `Write proof.txt`, `Bash npm test`. */
  summary,
  input: z.record(z.string().max(64), summary).optional(),
});

/** `tool_result`: the tool's answer went back to Claude. */
export const toolResultEventSchema = z.object({
  toolUseId: z.string().max(128).nullable(),
  ok: z.boolean(),
  /** First line of the result (or of the error). */
  summary,
});

/** `result`: the final line of a `claude -p` run. Durations in ms, cost in USD as Claude Code reports it. */
export const resultEventSchema = z.object({
  ok: z.boolean(),
  /** Claude Code's subtype: `success`, `error_max_turns`, `error_during_execution`, ... */
  subtype: z.string().max(64),
  turns: count,
  durationMs: z.number().nonnegative(),
  durationApiMs: z.number().nonnegative().nullable(),
  costUsd: z.number().nonnegative(),
  usage: taskUsageSchema,
  /** The final answer, or the error. */
  text: z.string().max(EVENT_TEXT_MAX_CHARS),
  /** Claude Code's conversation id (what `claude --resume` takes). */
  claudeSessionId: z.string().max(128).nullable(),
});

/** `activity`: Claude Code's hooks say it is working, waiting for the person (with the question), or done. */
export const activityEventSchema = z.object({
  activity: taskActivitySchema,
  message: summary.optional(),
  /** The hook event that caused it (`Notification`, `Stop`, ...). */
  hook: z.string().max(64).optional(),
});

/** One changed file of a `diff` event; `additions`/`deletions` are null for a binary file. */
export const diffFileSchema = z.object({
  path: z.string().max(4096),
  additions: count.nullable(),
  deletions: count.nullable(),
});

/** `diff`: what changed in the task's repository since it was cloned (untracked files included). */
export const diffEventSchema = z.object({
  files: z.array(diffFileSchema).max(DIFF_EVENT_MAX_FILES),
  filesChanged: count,
  additions: count,
  deletions: count,
  /** Workspace-relative path of the full unified diff, readable through the file API. */
  diffPath: z.string().max(4096),
  diffBytes: count,
  /** `2 files changed, +10 -3`. */
  summary,
});

/** `push`: the task's changes, committed to a new branch and pushed (or brought back by the proxy). */
export const pushEventSchema = z.object({
  branch: z.string().max(255),
  commit: z.string().regex(/^[0-9a-f]{40}(?:[0-9a-f]{24})?$/),
  /** The repository the branch is in now; null while it exists only in the sandbox. */
  pushedTo: z.string().max(2048).nullable(),
  /**
   * A bundle of the branch in the workspace, left for the proxy, which pushes it (the sandbox holds no git
   * credentials and cannot reach the server's files, adr/0024) and records the event without it.
   */
  bundlePath: z.string().max(4096).optional(),
});

export type PushEventData = z.infer<typeof pushEventSchema>;

/** `error`: something went wrong that is not a status change (a failed clone, Claude Code crashing). */
export const errorEventSchema = z.object({ message: z.string().max(2000) });

/** `info`: a note for the timeline (Claude Code started with this model, a repository was cloned). */
export const infoEventSchema = z.object({
  message: z.string().max(2000),
  model: z.string().max(128).optional(),
  claudeSessionId: z.string().max(128).optional(),
  version: z.string().max(64).optional(),
});

/**
 * `approval_requested` (recorded by the proxy, never accepted from an agent): Claude Code asks permission for a
 * tool call; it waits until the approval is answered or expires (see approvals.ts).
 */
export const approvalRequestedEventSchema = z.object({
  approvalId: z.string().max(64),
  tool: z.string().min(1).max(128),
  summary,
  input: z.record(z.string().max(64), summary).optional(),
  reason: z.string().max(EVENT_SUMMARY_MAX_CHARS).nullable(),
  expiresAt: z.string().max(64),
});

/** `approval_answered` (proxy only): the decision, who gave it (null when it timed out to deny). */
export const approvalAnsweredEventSchema = z.object({
  approvalId: z.string().max(64),
  decision: z.enum(['allow', 'deny']),
  by: z.string().max(128).nullable(),
  timedOut: z.boolean(),
});

/** `approval_withdrawn` (proxy only): Claude Code stopped waiting (answered in its terminal, session over). */
export const approvalWithdrawnEventSchema = z.object({
  approvalId: z.string().max(64),
  reason: summary,
});

/** The event types an agent may send, each with its data schema. `status` and `output` are the proxy's own. */
export const agentTaskEventSchemas = {
  assistant_text: assistantTextEventSchema,
  tool_use: toolUseEventSchema,
  tool_result: toolResultEventSchema,
  result: resultEventSchema,
  activity: activityEventSchema,
  diff: diffEventSchema,
  push: pushEventSchema,
  error: errorEventSchema,
  info: infoEventSchema,
} as const;
export type AgentTaskEventType = keyof typeof agentTaskEventSchemas;
export type AgentTaskEventData<T extends AgentTaskEventType> = z.infer<(typeof agentTaskEventSchemas)[T]>;

/** A validated agent event, as a discriminated union. */
export type AgentTaskEvent = {
  [T in AgentTaskEventType]: { type: T; data: AgentTaskEventData<T> };
}[AgentTaskEventType];

/** Validates an agent event; unknown types and malformed data give null (unknown fields are dropped). */
export function parseAgentTaskEvent(type: string, data: unknown): AgentTaskEvent | null {
  if (!Object.hasOwn(agentTaskEventSchemas, type)) return null;
  const schema = agentTaskEventSchemas[type as AgentTaskEventType];
  const parsed = schema.safeParse(data);
  return parsed.success ? ({ type, data: parsed.data } as AgentTaskEvent) : null;
}

// ---- repositories ------------------------------------------------------------------------------

/**
 * Where a task's repository comes from: `https` (or `http`) URLs are cloned by the agent inside the sandbox;
 * an absolute `path` on the server's machine is bundled by the proxy and cloned from that bundle (local
 * provider, admins only). Anything else (ssh, `ext::`, `file://`, relative paths) is refused.
 */
export type RepoSourceKind = 'https' | 'http' | 'path';

/** `scheme://authority...` of an http(s) URL, without relying on a URL class (this package has no DOM or Node types). */
const HTTP_URL = /^(https?):\/\/([^/?#\s]*)([^\s]*)$/i;

/** The kind of a repository reference, or null when it is not one rclaude accepts. */
export function repoSourceKind(url: string): RepoSourceKind | null {
  if (/[\u0000-\u001f\u007f]/.test(url)) return null;
  if (url.startsWith('/')) return 'path';
  const m = HTTP_URL.exec(url);
  const authority = m?.[2] ?? '';
  const host = authority.slice(authority.lastIndexOf('@') + 1).replace(/:\d*$/, '');
  if (!m || !/^[A-Za-z0-9.-]+$|^\[[0-9A-Fa-f:.]+\]$/.test(host)) return null;
  return (m[1] ?? '').toLowerCase() === 'https' ? 'https' : 'http';
}

/** True when a URL carries a user name or password (tokens belong in the user's secrets, not in URLs). */
export function repoUrlHasCredentials(url: string): boolean {
  const m = HTTP_URL.exec(url);
  return (m?.[2] ?? '').includes('@');
}

/** A git branch name rclaude passes to git: no leading dash, no `..`, no spaces or control characters. */
export const branchNameSchema = z
  .string()
  .min(1)
  .max(255)
  .regex(/^(?!-)(?!.*\.\.)[A-Za-z0-9._/+-]+$/, 'not a branch name git would accept here');

/**
 * The repository of a session (proxy -> agent, in `session:open`). The agent clones it into the workspace
 * before the command starts unless the workspace already is a clone, and records a `diff` event when the
 * command exits (then a `push` event, when asked). `bundlePath` (workspace-relative) names the git bundle the
 * proxy uploaded to clone from (a local path, or an https repository the proxy cloned with the owner's token:
 * adr/0024); the main session always has one.
 */
export interface SessionRepo {
  url: string;
  branch: string | null;
  bundlePath?: string;
  /** Commit the changes to this new branch when the command exits, and push it (a `push` event). */
  pushBranch?: string;
}

// ---- prompt tasks --------------------------------------------------------------------------------

/**
 * Claude Code permission modes a prompt task may run under. See docs/tasks.md for why the default is
 * `bypassPermissions`.
 */
export const promptPermissionModes = ['bypassPermissions', 'acceptEdits', 'default', 'plan'] as const;
export type PromptPermissionMode = (typeof promptPermissionModes)[number];

// ---- usage ---------------------------------------------------------------------------------------

/** `GET /api/usage`: the caller's spending this calendar month (UTC), live tasks counted so far. */
export const usageResponseSchema = z.object({
  userId: z.string(),
  /** Start of the month, inclusive, and of the next, exclusive (ISO 8601). */
  periodStart: z.string(),
  periodEnd: z.string(),
  /** Tasks created in the period. */
  tasks: count,
  computeCostUsd: z.number().nonnegative(),
  modelCostUsd: z.number().nonnegative(),
  totalCostUsd: z.number().nonnegative(),
  usage: taskUsageSchema,
  /** RCLAUDE_MONTHLY_BUDGET_USD, or null when there is none. */
  budgetUsd: z.number().nonnegative().nullable(),
  remainingUsd: z.number().nullable(),
});
export type UsageResponse = z.infer<typeof usageResponseSchema>;

/** `POST /api/tasks/:id/continue`: the terminal size of the Claude Code session that continues a prompt task. */
export const continueTaskRequestSchema = z
  .object({
    cols: z.number().int().min(1).max(1000).optional(),
    rows: z.number().int().min(1).max(1000).optional(),
  })
  .strict();
export type ContinueTaskRequest = z.infer<typeof continueTaskRequestSchema>;
