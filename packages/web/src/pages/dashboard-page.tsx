import type { Task } from '@rclaude/protocol';
import { useQuery } from '@tanstack/react-query';
import { useEffect, useMemo, useRef, useState } from 'react';
import { Link, useNavigate, useSearchParams } from 'react-router';
import { tasksQuery } from '../api/queries.js';
import { useApp } from '../app-context.js';
import { Button, IconButton } from '../components/button.js';
import { inputClasses } from '../components/form.js';
import { PlusIcon, SearchIcon, StopIcon, TerminalIcon, TrashIcon } from '../components/icons.js';
import { EmptyState, ErrorState } from '../components/states.js';
import { StatusBadge } from '../components/status-badge.js';
import { TaskApprovalBadge, useLiveApprovals } from '../modules/approvals/approval-card.js';
import { NewTaskDialog } from '../modules/tasks/new-task-dialog.js';
import { useTaskActions } from '../modules/tasks/task-actions.js';
import {
  countByStatusFilter,
  filterTasks,
  parseStatusFilter,
  type StatusFilter,
  statusFilterLabels,
  statusFilters,
} from '../modules/tasks/task-filter.js';
import {
  describeWork,
  formatAge,
  formatCost,
  formatDuration,
  isEnded,
  providerLabels,
  taskCostUsd,
  taskDurationMs,
} from '../modules/tasks/task-format.js';
import { useLiveTasks } from '../modules/tasks/use-live-tasks.js';
import { useNow } from '../modules/tasks/use-now.js';

/** The signed-in home: every task of the user, live. Filter and search live in the URL. */
export function DashboardPage() {
  const { api } = useApp();
  const navigate = useNavigate();
  const [params, setParams] = useSearchParams();
  const status = parseStatusFilter(params.get('status'));
  const query = params.get('q') ?? '';
  const [creating, setCreating] = useState(false);
  const searchRef = useRef<HTMLInputElement>(null);
  const tasks = useQuery(tasksQuery(api));
  useLiveApprovals();
  const now = useNow(1000);
  const actions = useTaskActions();
  useLiveTasks();

  useEffect(() => {
    document.title = 'Tasks · rclaude';
  }, []);

  // "/" jumps to the search box, as on most sites with a list to search.
  useEffect(() => {
    const onKey = (event: KeyboardEvent) => {
      const target = event.target as HTMLElement | null;
      const typing = target && (target.isContentEditable || ['INPUT', 'TEXTAREA', 'SELECT'].includes(target.tagName));
      if (event.key === '/' && !typing && !event.metaKey && !event.ctrlKey) {
        event.preventDefault();
        searchRef.current?.focus();
      }
    };
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, []);

  const setParam = (key: 'status' | 'q', value: string) => {
    setParams(
      (current) => {
        const next = new URLSearchParams(current);
        if (!value || (key === 'status' && value === 'all')) next.delete(key);
        else next.set(key, value);
        return next;
      },
      { replace: true },
    );
  };

  const all = tasks.data ?? [];
  const visible = useMemo(() => filterTasks(all, { status, query }), [all, status, query]);
  const counts = useMemo(() => countByStatusFilter(all), [all]);

  return (
    <div className="min-h-0 flex-1 overflow-y-auto">
      <div className="mx-auto w-full max-w-6xl px-4 py-6 sm:px-6 sm:py-8">
        <div className="flex flex-wrap items-end justify-between gap-3">
          <div>
            <h1 className="text-xl font-semibold tracking-tight">Tasks</h1>
            <p className="mt-0.5 text-[13px] text-zinc-500 dark:text-zinc-400">
              Each task runs in its own sandbox. Updates appear here as they happen.
            </p>
          </div>
          <Button variant="primary" onClick={() => setCreating(true)}>
            <PlusIcon />
            New task
          </Button>
        </div>

        <div className="mt-6 flex flex-col gap-3 sm:flex-row sm:items-center sm:justify-between">
          <fieldset className="-mx-1 flex gap-1 overflow-x-auto px-1 pb-1 sm:pb-0">
            <legend className="sr-only">Filter by status</legend>
            {statusFilters.map((filter) => (
              <FilterButton
                key={filter}
                filter={filter}
                count={counts[filter]}
                selected={status === filter}
                onSelect={() => setParam('status', filter)}
              />
            ))}
          </fieldset>
          <div className="relative sm:w-72">
            <SearchIcon className="pointer-events-none absolute top-1/2 left-3 size-4 -translate-y-1/2 text-zinc-400" />
            <input
              ref={searchRef}
              type="search"
              aria-label="Search tasks by name"
              placeholder="Search by name or id"
              value={query}
              onChange={(e) => setParam('q', e.target.value)}
              className={`h-9 pr-8 pl-9 ${inputClasses}`}
            />
            <kbd className="pointer-events-none absolute top-1/2 right-2.5 hidden -translate-y-1/2 rounded border border-zinc-200 px-1.5 font-mono text-[11px] text-zinc-400 sm:block dark:border-zinc-700">
              /
            </kbd>
          </div>
        </div>

        <section
          aria-label="Task list"
          aria-busy={tasks.isPending}
          className="mt-4 overflow-hidden rounded-xl border border-zinc-200 bg-white shadow-xs dark:border-zinc-800 dark:bg-zinc-900/40"
        >
          {tasks.isPending ? (
            <LoadingRows />
          ) : tasks.isError ? (
            <ErrorState error={tasks.error} title="Could not load your tasks" onRetry={() => void tasks.refetch()} />
          ) : all.length === 0 ? (
            <EmptyState
              icon={<TerminalIcon className="size-5" />}
              title="No tasks yet"
              action={
                <Button variant="primary" size="sm" onClick={() => setCreating(true)}>
                  <PlusIcon />
                  New task
                </Button>
              }
            >
              Start one here, or from your terminal with{' '}
              <code className="rounded bg-zinc-100 px-1 py-0.5 font-mono text-[12px] dark:bg-zinc-800">
                rclaude run
              </code>
              . It shows up here right away.
            </EmptyState>
          ) : visible.length === 0 ? (
            <EmptyState
              icon={<SearchIcon className="size-5" />}
              title="No tasks match"
              action={
                <Button size="sm" onClick={() => setParams(new URLSearchParams(), { replace: true })}>
                  Clear filters
                </Button>
              }
            >
              {query ? `Nothing named like “${query}”` : 'Nothing'}
              {status !== 'all' ? ` among ${statusFilterLabels[status].toLowerCase()} tasks` : ''}.
            </EmptyState>
          ) : (
            <TaskTable tasks={visible} now={now} onStop={actions.requestStop} onDelete={actions.requestDelete} />
          )}
        </section>
      </div>
      {creating && (
        <NewTaskDialog onClose={() => setCreating(false)} onCreated={(task) => navigate(`/tasks/${task.id}`)} />
      )}
      {actions.dialog}
    </div>
  );
}

function FilterButton({
  filter,
  count,
  selected,
  onSelect,
}: {
  filter: StatusFilter;
  count: number;
  selected: boolean;
  onSelect: () => void;
}) {
  return (
    <button
      type="button"
      aria-pressed={selected}
      onClick={onSelect}
      className={`flex h-8 shrink-0 items-center gap-1.5 rounded-lg px-3 text-[13px] font-medium transition-colors ${
        selected
          ? 'bg-zinc-900 text-white dark:bg-zinc-100 dark:text-zinc-900'
          : 'text-zinc-600 hover:bg-zinc-100 hover:text-zinc-900 dark:text-zinc-400 dark:hover:bg-zinc-800/80 dark:hover:text-zinc-100'
      }`}
    >
      {statusFilterLabels[filter]}
      <span
        className={`rounded-full px-1.5 text-[11px] tabular-nums ${
          selected ? 'bg-white/20 dark:bg-zinc-900/15' : 'bg-zinc-100 text-zinc-500 dark:bg-zinc-800 dark:text-zinc-400'
        }`}
      >
        {count}
      </span>
    </button>
  );
}

const th = 'px-4 py-2.5 text-left text-[11px] font-medium tracking-wide text-zinc-500 uppercase dark:text-zinc-400';

function TaskTable({
  tasks,
  now,
  onStop,
  onDelete,
}: {
  tasks: Task[];
  now: number;
  onStop: (task: Task) => void;
  onDelete: (task: Task) => void;
}) {
  return (
    <table className="w-full table-fixed border-collapse">
      <thead className="border-b border-zinc-200 bg-zinc-50/70 dark:border-zinc-800 dark:bg-zinc-900/60">
        <tr>
          <th scope="col" className={th}>
            Task
          </th>
          <th scope="col" className={`${th} w-32`}>
            Status
          </th>
          <th scope="col" className={`${th} hidden w-24 lg:table-cell`}>
            Provider
          </th>
          <th scope="col" className={`${th} hidden w-24 md:table-cell`}>
            Created
          </th>
          <th scope="col" className={`${th} hidden w-24 md:table-cell`}>
            Duration
          </th>
          <th scope="col" className={`${th} hidden w-20 text-right sm:table-cell`}>
            Cost
          </th>
          <th scope="col" className={`${th} w-12 sm:w-14`}>
            <span className="sr-only">Actions</span>
          </th>
        </tr>
      </thead>
      <tbody className="divide-y divide-zinc-100 dark:divide-zinc-800/80">
        {tasks.map((task) => (
          <TaskRow key={task.id} task={task} now={now} onStop={onStop} onDelete={onDelete} />
        ))}
      </tbody>
    </table>
  );
}

function TaskRow({
  task,
  now,
  onStop,
  onDelete,
}: {
  task: Task;
  now: number;
  onStop: (task: Task) => void;
  onDelete: (task: Task) => void;
}) {
  const duration = taskDurationMs(task, now);
  const ended = isEnded(task.status);
  const cell = 'px-4 py-3 align-middle';
  return (
    <tr data-task-id={task.id} className="group relative transition-colors hover:bg-zinc-50 dark:hover:bg-zinc-800/30">
      <td className={cell}>
        <Link
          to={`/tasks/${task.id}`}
          className="block truncate font-medium text-zinc-900 after:absolute after:inset-0 after:content-[''] focus-visible:outline-none dark:text-zinc-100 [&:focus-visible]:after:rounded-md [&:focus-visible]:after:outline-2 [&:focus-visible]:after:-outline-offset-2 [&:focus-visible]:after:outline-ember-500"
        >
          {task.name}
        </Link>
        <p
          className="mt-0.5 truncate font-mono text-[12px] text-zinc-500 dark:text-zinc-400"
          title={describeWork(task)}
        >
          {describeWork(task)}
        </p>
        <p className="mt-1 text-[12px] text-zinc-500 md:hidden dark:text-zinc-400">
          {formatAge(task.createdAt, now)}
          {duration !== null && ` · ${formatDuration(duration)}`}
          <span className="sm:hidden"> · {formatCost(taskCostUsd(task))}</span>
        </p>
      </td>
      <td className={cell}>
        <StatusBadge status={task.status} activity={task.activity} />
        <TaskApprovalBadge taskId={task.id} />
        {task.statusReason && ended && (
          <p className="mt-1 truncate text-[11px] text-zinc-500 dark:text-zinc-400" title={task.statusReason}>
            {task.statusReason}
          </p>
        )}
      </td>
      <td className={`${cell} hidden text-[13px] text-zinc-600 lg:table-cell dark:text-zinc-400`}>
        {providerLabels[task.provider]}
      </td>
      <td className={`${cell} hidden text-[13px] text-zinc-600 md:table-cell dark:text-zinc-400`}>
        <time dateTime={task.createdAt} title={new Date(task.createdAt).toLocaleString()}>
          {formatAge(task.createdAt, now)}
        </time>
      </td>
      <td className={`${cell} hidden text-[13px] text-zinc-600 tabular-nums md:table-cell dark:text-zinc-400`}>
        {duration === null ? '—' : formatDuration(duration)}
      </td>
      <td
        className={`${cell} hidden text-right text-[13px] text-zinc-600 tabular-nums sm:table-cell dark:text-zinc-400`}
      >
        {formatCost(taskCostUsd(task))}
      </td>
      <td className={`${cell} relative z-10 text-right`}>
        {ended ? (
          <IconButton
            label={`Delete ${task.name}`}
            icon={<TrashIcon />}
            onClick={() => onDelete(task)}
            className="opacity-70 group-hover:opacity-100 hover:text-red-600 focus-visible:opacity-100 dark:hover:text-red-400"
          />
        ) : (
          <IconButton
            label={`Stop ${task.name}`}
            icon={<StopIcon />}
            disabled={task.status === 'stopping'}
            onClick={() => onStop(task)}
            className="opacity-70 group-hover:opacity-100 hover:text-red-600 focus-visible:opacity-100 dark:hover:text-red-400"
          />
        )}
      </td>
    </tr>
  );
}

function LoadingRows() {
  return (
    <div className="divide-y divide-zinc-100 dark:divide-zinc-800" role="status" aria-label="Loading tasks">
      {[0, 1, 2, 3].map((i) => (
        <div key={i} className="flex items-center gap-4 px-4 py-4">
          <div className="flex-1 space-y-2">
            <div className="h-3.5 w-48 animate-pulse rounded bg-zinc-200 dark:bg-zinc-800" />
            <div className="h-3 w-72 max-w-full animate-pulse rounded bg-zinc-100 dark:bg-zinc-800/60" />
          </div>
          <div className="h-5 w-20 animate-pulse rounded-full bg-zinc-100 dark:bg-zinc-800/60" />
        </div>
      ))}
    </div>
  );
}
