import type { Task } from '@rclaude/protocol';
import { isEnded } from './task-format.js';

/** The dashboard's status filter: every task, the ones still going, or one of the end states. */
export const statusFilters = ['all', 'active', 'succeeded', 'failed', 'stopped'] as const;
export type StatusFilter = (typeof statusFilters)[number];

export const statusFilterLabels: Record<StatusFilter, string> = {
  all: 'All',
  active: 'Active',
  succeeded: 'Succeeded',
  failed: 'Failed',
  stopped: 'Stopped',
};

/** Reads the filter from a URL parameter; anything unknown means `all`. */
export function parseStatusFilter(value: string | null | undefined): StatusFilter {
  return (statusFilters as readonly string[]).includes(value ?? '') ? (value as StatusFilter) : 'all';
}

export function matchesStatusFilter(task: Pick<Task, 'status'>, filter: StatusFilter): boolean {
  switch (filter) {
    case 'all':
      return true;
    case 'active':
      return !isEnded(task.status);
    case 'succeeded':
    case 'failed':
    case 'stopped':
      return task.status === filter;
  }
}

/**
 * Search: every word of the query must appear in the task's name (case-insensitive), or the query is a
 * prefix of the task's id (what the CLI prints).
 */
export function matchesSearch(task: Pick<Task, 'id' | 'name'>, query: string): boolean {
  const words = query.trim().toLowerCase().split(/\s+/).filter(Boolean);
  if (words.length === 0) return true;
  const name = task.name.toLowerCase();
  if (words.every((w) => name.includes(w))) return true;
  return words.length === 1 && task.id.startsWith(words[0] ?? '');
}

/** The tasks to show, newest first. */
export function filterTasks<T extends Task>(tasks: readonly T[], filter: { status: StatusFilter; query: string }): T[] {
  return tasks
    .filter((t) => matchesStatusFilter(t, filter.status) && matchesSearch(t, filter.query))
    .sort((a, b) => Date.parse(b.createdAt) - Date.parse(a.createdAt));
}

/** How many tasks each filter would show (for the counts beside the filter buttons). */
export function countByStatusFilter(tasks: readonly Pick<Task, 'status'>[]): Record<StatusFilter, number> {
  const counts: Record<StatusFilter, number> = { all: 0, active: 0, succeeded: 0, failed: 0, stopped: 0 };
  for (const task of tasks) {
    for (const filter of statusFilters) if (matchesStatusFilter(task, filter)) counts[filter] += 1;
  }
  return counts;
}
