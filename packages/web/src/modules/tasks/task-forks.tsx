import { diffEventSchema, type Task, type TaskEvent } from '@rclaude/protocol';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import type { ReactNode } from 'react';
import { Link } from 'react-router';
import { taskEventsQuery } from '../../api/queries.js';
import { useApp } from '../../app-context.js';
import { Button } from '../../components/button.js';
import { ListIcon, PlusIcon } from '../../components/icons.js';
import { EmptyState, ErrorState, InlineError, Spinner } from '../../components/states.js';
import { StatusBadge } from '../../components/status-badge.js';
import { formatCost, taskCostUsd } from './task-format.js';

/** The query of a task's forks (`GET /api/tasks?forkOf=`), refreshed while any of them is live. */
function forksQueryKey(taskId: string) {
  return ['task', taskId, 'forks'] as const;
}

/** The summary of a task's latest `diff` event (`2 files changed, +10 -3`), or null before its first. */
export function latestDiffSummary(events: readonly Pick<TaskEvent, 'type' | 'data'>[]): string | null {
  for (let i = events.length - 1; i >= 0; i--) {
    const event = events[i];
    if (event?.type !== 'diff') continue;
    const parsed = diffEventSchema.safeParse(event.data);
    if (parsed.success) return parsed.data.summary;
  }
  return null;
}

/**
 * The Forks tab: the task's forks side by side (status, cost, the summary of their latest diff) with a link to
 * each, and a button that forks the task once more (docs/moving-work.md).
 */
export function ForksPanel({ task }: { task: Task }) {
  const { api } = useApp();
  const client = useQueryClient();
  const forks = useQuery({
    queryKey: forksQueryKey(task.id),
    queryFn: () => api.listForks(task.id),
    refetchInterval: (q) => (q.state.data?.some((t) => t.endedAt === null) ? 5000 : false),
  });
  const fork = useMutation({
    mutationFn: () => api.forkTask(task.id),
    onSuccess: () => void client.invalidateQueries({ queryKey: forksQueryKey(task.id) }),
  });

  let body: ReactNode;
  if (forks.isPending) {
    body = (
      <div className="flex items-center gap-2 p-4 text-[13px] text-zinc-500">
        <Spinner label="Loading forks" /> Loading…
      </div>
    );
  } else if (forks.isError) {
    body = <ErrorState error={forks.error} title="Could not load the forks" onRetry={() => void forks.refetch()} />;
  } else if (forks.data.length === 0) {
    body = (
      <EmptyState icon={<ListIcon className="size-5" />} title="No forks yet">
        A fork is a new task started from this task’s latest checkpoint, continuing its conversation in a sandbox of its
        own. Fork it here, or with <code className="font-mono text-xs">rclaude fork {task.id} -n 3 -p …</code>.
      </EmptyState>
    );
  } else {
    body = (
      <ul className="grid grid-cols-1 gap-3 p-3 sm:grid-cols-2" data-testid="forks">
        {forks.data.map((f) => (
          <ForkCard key={f.id} fork={f} />
        ))}
      </ul>
    );
  }

  return (
    <section aria-label="Forks" className="flex min-h-0 flex-1 flex-col" data-testid="forks-panel">
      <header className="flex h-10 shrink-0 items-center gap-2 border-b border-zinc-200 px-3 dark:border-zinc-800">
        <h2 className="text-[13px] font-semibold">Forks</h2>
        {forks.data && forks.data.length > 0 && (
          <span className="text-xs text-zinc-500 tabular-nums">{forks.data.length}</span>
        )}
        <Button
          size="sm"
          variant="ghost"
          className="ml-auto"
          disabled={fork.isPending}
          title="Start a new task from the latest checkpoint, continuing the conversation"
          onClick={() => fork.mutate()}
          data-testid="fork-task"
        >
          <PlusIcon />
          {fork.isPending ? 'Forking…' : 'Fork'}
        </Button>
      </header>
      {fork.error ? (
        <div className="p-3">
          <InlineError error={fork.error} />
        </div>
      ) : null}
      <div className="min-h-0 flex-1 overflow-y-auto">{body}</div>
    </section>
  );
}

function ForkCard({ fork }: { fork: Task }) {
  const { api } = useApp();
  const events = useQuery(taskEventsQuery(api, fork.id));
  const diff = latestDiffSummary(events.data ?? []);
  return (
    <li
      className="flex min-w-0 flex-col gap-1.5 rounded-lg border border-zinc-200 p-3 text-[13px] dark:border-zinc-800"
      data-testid="fork-card"
      data-task-id={fork.id}
    >
      <div className="flex min-w-0 items-center gap-2">
        <Link
          to={`/tasks/${fork.id}`}
          className="min-w-0 flex-1 truncate font-medium text-zinc-900 hover:underline dark:text-zinc-100"
        >
          {fork.name}
        </Link>
        <StatusBadge status={fork.status} activity={fork.activity} />
      </div>
      <p className="text-xs text-zinc-500 tabular-nums dark:text-zinc-400">
        {formatCost(taskCostUsd(fork))}
        <span className="ml-2 font-mono text-[11px] text-zinc-400 dark:text-zinc-500">{fork.id}</span>
      </p>
      <p className="text-xs text-zinc-600 dark:text-zinc-300">
        {diff ?? (events.isPending ? 'Loading its changes…' : 'No diff recorded yet')}
      </p>
      <Link
        to={`/tasks/${fork.id}`}
        className="text-xs font-medium text-indigo-600 hover:underline dark:text-indigo-400"
      >
        Open (its page makes a pull request)
      </Link>
    </li>
  );
}
