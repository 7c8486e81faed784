import type { ProviderName, Task, TaskActivity, TaskStatus } from '@rclaude/protocol';

/** How providers are named to people. */
export const providerLabels: Record<ProviderName, string> = {
  local: 'Local',
  ecs: 'AWS ECS',
  e2b: 'E2B',
  docker: 'Docker',
};

/** Colour family of a status badge; the badge component maps each to light and dark colours. */
export type StatusTone = 'neutral' | 'progress' | 'live' | 'waiting' | 'calm' | 'success' | 'danger';

export interface StatusMeta {
  label: string;
  tone: StatusTone;
  /** Whether the task may still change (shows a pulsing dot). */
  active: boolean;
}

const statusMeta: Record<TaskStatus, StatusMeta> = {
  queued: { label: 'Queued', tone: 'neutral', active: true },
  starting: { label: 'Starting', tone: 'progress', active: true },
  running: { label: 'Running', tone: 'live', active: true },
  idle: { label: 'Idle', tone: 'waiting', active: true },
  stopping: { label: 'Stopping', tone: 'progress', active: true },
  // Not active (no sandbox, nothing changes until a resume), but not over either: a calm, resumable state.
  hibernated: { label: 'Hibernated', tone: 'calm', active: false },
  succeeded: { label: 'Succeeded', tone: 'success', active: false },
  failed: { label: 'Failed', tone: 'danger', active: false },
  stopped: { label: 'Stopped', tone: 'neutral', active: false },
};

const activityLabel: Record<TaskActivity, string> = {
  working: 'Working',
  waiting: 'Needs input',
  done: 'Done',
};

/**
 * Whether a status holds no sandbox (hibernated, succeeded, failed, stopped). Mirrors the protocol's `isTerminal` through the
 * exhaustive table above, so the browser bundle does not pull in the protocol's schema library; a test
 * checks the two agree.
 */
export function isEnded(status: TaskStatus): boolean {
  return !statusMeta[status].active;
}

/**
 * Whether a task in this status can be resumed in a new sandbox from a checkpoint: hibernated or ended (the
 * server answers CONFLICT when it has no checkpoint). Mirrors the protocol's `isResumable`; a test checks.
 */
export function canResume(status: TaskStatus): boolean {
  return isEnded(status);
}

/** Whether the task has a sandbox that can be checkpointed, kept or browsed now. */
export function hasSandbox(status: TaskStatus): boolean {
  return status === 'running' || status === 'idle';
}

/** Providers in the order the New task form offers them. */
export const providerOptions = Object.keys(providerLabels) as ProviderName[];

/** Whether a string from an event payload names a task status. */
export function isTaskStatus(value: string): value is TaskStatus {
  return Object.hasOwn(statusMeta, value);
}

/** How a status (and, while running, what Claude Code is doing) is shown. */
export function describeStatus(status: TaskStatus, activity: TaskActivity | null = null): StatusMeta {
  const meta = statusMeta[status];
  if (status === 'running' && activity) {
    return { ...meta, label: activityLabel[activity], tone: activity === 'waiting' ? 'waiting' : 'live' };
  }
  return meta;
}

/**
 * A compact duration: `0s`, `45s`, `3m 07s`, `2h 05m`, `3d 4h`. Negative or non-finite input counts as 0
 * (clocks of browser and server disagree by a little).
 */
export function formatDuration(ms: number): string {
  const totalSeconds = Number.isFinite(ms) && ms > 0 ? Math.floor(ms / 1000) : 0;
  const days = Math.floor(totalSeconds / 86_400);
  const hours = Math.floor((totalSeconds % 86_400) / 3600);
  const minutes = Math.floor((totalSeconds % 3600) / 60);
  const seconds = totalSeconds % 60;
  if (days > 0) return `${days}d ${hours}h`;
  if (hours > 0) return `${hours}h ${pad(minutes)}m`;
  if (minutes > 0) return `${minutes}m ${pad(seconds)}s`;
  return `${seconds}s`;
}

/** How long the task has run: from its start to its end, or to `now` while it runs; null before it starts. */
export function taskDurationMs(task: Pick<Task, 'startedAt' | 'endedAt'>, now: number): number | null {
  if (!task.startedAt) return null;
  const start = Date.parse(task.startedAt);
  const end = task.endedAt ? Date.parse(task.endedAt) : now;
  if (Number.isNaN(start) || Number.isNaN(end)) return null;
  return Math.max(0, end - start);
}

/** `just now`, `5m ago`, `3h ago`, `2d ago`, then a date such as `12 Mar 2025`. */
export function formatAge(iso: string, now: number): string {
  const then = Date.parse(iso);
  if (Number.isNaN(then)) return '';
  const seconds = Math.max(0, Math.floor((now - then) / 1000));
  if (seconds < 45) return 'just now';
  if (seconds < 3600) return `${Math.max(1, Math.round(seconds / 60))}m ago`;
  if (seconds < 86_400) return `${Math.floor(seconds / 3600)}h ago`;
  if (seconds < 30 * 86_400) return `${Math.floor(seconds / 86_400)}d ago`;
  return new Date(then).toLocaleDateString('en-GB', { day: 'numeric', month: 'short', year: 'numeric' });
}

/** Dollars with cents; amounts under a cent but above zero show as `<$0.01` so they do not read as free. */
export function formatCost(usd: number): string {
  if (!Number.isFinite(usd) || usd <= 0) return '$0.00';
  if (usd < 0.01) return '<$0.01';
  return `$${usd.toLocaleString('en-US', { minimumFractionDigits: 2, maximumFractionDigits: 2 })}`;
}

/** What a task has cost so far: sandbox compute plus model usage. */
export function taskCostUsd(task: Pick<Task, 'computeCostUsd' | 'modelCostUsd'>): number {
  return task.computeCostUsd + task.modelCostUsd;
}

/** What a task runs, in one line: its prompt, or its command as a shell would show it. */
export function describeWork(task: Pick<Task, 'command' | 'prompt'>): string {
  if (task.prompt) return task.prompt;
  if (task.command) return task.command.map(quoteArg).join(' ');
  return 'claude';
}

function quoteArg(arg: string): string {
  return /^[\w@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replaceAll("'", `'\\''`)}'`;
}

function pad(n: number): string {
  return n.toString().padStart(2, '0');
}
