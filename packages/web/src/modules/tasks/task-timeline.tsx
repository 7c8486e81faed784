import { taskEventLines } from '@rclaude/client';
import type { TaskEvent, TaskEventType } from '@rclaude/protocol';
import { useQuery } from '@tanstack/react-query';
import { type ReactNode, useEffect, useRef, useState } from 'react';
import { taskEventsQuery } from '../../api/queries.js';
import { useApp } from '../../app-context.js';
import { ListIcon } from '../../components/icons.js';
import { EmptyState, ErrorState, Spinner } from '../../components/states.js';
import { describeStatus, formatCost, isTaskStatus } from './task-format.js';

const typeLabels: Record<TaskEventType, string> = {
  status: 'Status',
  output: 'Output',
  assistant_text: 'Claude',
  tool_use: 'Tool',
  tool_result: 'Result',
  result: 'Finished',
  activity: 'Activity',
  diff: 'Changes',
  push: 'Branch',
  pull_request: 'Pull request',
  error: 'Error',
  info: 'Info',
  checkpoint: 'Checkpoint',
  restore: 'Restored',
  approval_requested: 'Approval',
  approval_answered: 'Approval',
  approval_withdrawn: 'Approval',
};

const typeDots: Record<TaskEventType, string> = {
  status: 'bg-sky-500',
  output: 'bg-zinc-400',
  assistant_text: 'bg-ember-500',
  tool_use: 'bg-violet-500',
  tool_result: 'bg-violet-300 dark:bg-violet-700',
  result: 'bg-emerald-500',
  activity: 'bg-amber-500',
  diff: 'bg-teal-500',
  push: 'bg-teal-600',
  pull_request: 'bg-emerald-600',
  error: 'bg-red-500',
  info: 'bg-zinc-400',
  checkpoint: 'bg-indigo-400',
  restore: 'bg-indigo-600',
  approval_requested: 'bg-amber-600',
  approval_answered: 'bg-amber-400',
  approval_withdrawn: 'bg-zinc-400',
};

function str(value: unknown): string | null {
  return typeof value === 'string' && value.trim() ? value : null;
}

function num(value: unknown): number | null {
  return typeof value === 'number' && Number.isFinite(value) ? value : null;
}

/** One line (or paragraph) describing an event, from whatever its data holds. */
export function summarizeEvent(event: Pick<TaskEvent, 'type' | 'data'>): string {
  const d = event.data;
  switch (event.type) {
    case 'status': {
      const to = str(d.to) ?? str(d.status);
      if (!to) break;
      const label = isTaskStatus(to) ? describeStatus(to).label : to;
      const reason = str(d.reason);
      const redundant =
        !reason || reason.toLowerCase() === to.toLowerCase() || reason.toLowerCase() === label.toLowerCase();
      return redundant ? label : `${label} · ${reason}`;
    }
    case 'tool_use': {
      const summary = str(d.summary);
      if (summary) return summary;
      const name = str(d.name) ?? 'tool';
      const input = (d.input ?? {}) as Record<string, unknown>;
      const detail =
        str(input.command) ?? str(input.file_path) ?? str(input.path) ?? str(input.pattern) ?? str(input.url);
      return detail ? `${name}: ${detail}` : name;
    }
    case 'tool_result': {
      const summary = str(d.summary);
      if (summary) return d.ok === false ? `Failed: ${summary}` : summary;
      break;
    }
    case 'result': {
      const cost = num(d.costUsd) ?? num(d.total_cost_usd);
      const failed = d.ok === false || d.is_error === true;
      const text = str(d.text) ?? str(d.result) ?? (failed ? 'Ended with an error' : 'Done');
      return cost === null ? text : `${text} · ${formatCost(cost)}`;
    }
    case 'activity': {
      const activity = str(d.activity);
      const message = str(d.message);
      if (activity === 'waiting') return message ? `Waiting for you: ${message}` : 'Waiting for input';
      if (activity) return activity === 'working' ? 'Working' : 'Done';
      break;
    }
    case 'checkpoint':
    case 'restore': {
      // The CLI's words for them (files, sizes, how old a restored checkpoint was, what did not come back).
      const lines = taskEventLines(event);
      const [first = '', ...rest] = lines;
      const text = [first.charAt(0).toUpperCase() + first.slice(1), ...rest.map((l) => l.trim())].join('\n');
      if (text) return text;
      break;
    }
    case 'approval_requested': {
      const what = str(d.summary) ?? str(d.tool) ?? 'a tool call';
      const reason = str(d.reason);
      return `Claude asks to run ${what}${reason ? ` (${reason})` : ''}`;
    }
    case 'approval_answered': {
      if (d.timedOut === true) return 'Nobody answered in time: denied';
      const by = str(d.by);
      return `${d.decision === 'allow' ? 'Allowed' : 'Denied'}${by ? ` by ${by}` : ''}`;
    }
    case 'approval_withdrawn':
      return `Withdrawn: ${str(d.reason) ?? 'Claude Code stopped waiting'}`;
    case 'push': {
      const branch = str(d.branch) ?? 'a branch';
      const commit = (str(d.commit) ?? '').slice(0, 12);
      const to = str(d.pushedTo);
      return to ? `Pushed ${branch} (${commit}) to ${to}` : `Committed to ${branch} (${commit}), not pushed`;
    }
    case 'pull_request': {
      const what = d.created === false ? 'Pushed to the open pull request' : 'Opened pull request';
      return `${what} #${num(d.number) ?? '?'} (${str(d.branch) ?? '?'} → ${str(d.base) ?? '?'})`;
    }
    default:
      break;
  }
  const text = str(d.summary) ?? str(d.text) ?? str(d.message) ?? str(d.content) ?? str(d.reason) ?? str(d.path);
  if (text) return text;
  const json = JSON.stringify(d);
  return json === '{}' ? typeLabels[event.type] : json;
}

const LONG_TEXT = 600;

/** An http(s) URL safe to link to (a pull request's, as the server stored it), else null. */
export function safeHttpUrl(value: unknown): string | null {
  if (typeof value !== 'string') return null;
  try {
    const url = new URL(value);
    return url.protocol === 'https:' || url.protocol === 'http:' ? url.href : null;
  } catch {
    return null;
  }
}

/** The task's events, oldest first, kept live by `task:event`. */
export function TaskTimeline({ taskId }: { taskId: string }) {
  const { api } = useApp();
  const events = useQuery(taskEventsQuery(api, taskId));
  return (
    <TimelineView
      events={events.data ?? []}
      placeholder={
        events.isPending ? (
          <div className="flex items-center gap-2 p-4 text-[13px] text-zinc-500">
            <Spinner label="Loading timeline" /> Loading…
          </div>
        ) : events.isError ? (
          <ErrorState error={events.error} title="Could not load the timeline" onRetry={() => void events.refetch()} />
        ) : null
      }
    />
  );
}

/**
 * A timeline of events, oldest first, that sticks to the bottom while you are there (the task page's, and a
 * share link's). `placeholder` (loading, an error) shows instead of the events.
 */
export function TimelineView({ events, placeholder = null }: { events: TaskEvent[]; placeholder?: ReactNode }) {
  const scrollRef = useRef<HTMLDivElement>(null);
  const atBottom = useRef(true);
  const count = events.length;

  useEffect(() => {
    const el = scrollRef.current;
    if (el && atBottom.current && count > 0) el.scrollTop = el.scrollHeight;
  }, [count]);

  return (
    <section aria-label="Timeline" className="flex min-h-0 flex-1 flex-col">
      <header className="flex h-10 shrink-0 items-center border-b border-zinc-200 px-3 dark:border-zinc-800">
        <h2 className="text-[13px] font-semibold">Timeline</h2>
        {count > 0 && <span className="ml-2 text-xs text-zinc-500 tabular-nums">{count}</span>}
      </header>
      <div
        ref={scrollRef}
        className="min-h-0 flex-1 overflow-y-auto"
        onScroll={(e) => {
          const el = e.currentTarget;
          atBottom.current = el.scrollHeight - el.scrollTop - el.clientHeight < 24;
        }}
      >
        {placeholder ??
          (count === 0 ? (
            <EmptyState icon={<ListIcon className="size-5" />} title="Nothing yet">
              Status changes, Claude’s messages and tool calls appear here as they happen.
            </EmptyState>
          ) : (
            <ol className="relative px-3 py-3">
              {events.map((event, index) => (
                <TimelineItem key={event.seq} event={event} last={index === count - 1} />
              ))}
            </ol>
          ))}
      </div>
    </section>
  );
}

/** One entry of a timeline. */
function TimelineItem({ event, last }: { event: TaskEvent; last: boolean }) {
  const [expanded, setExpanded] = useState(false);
  const summary = summarizeEvent(event);
  const long = summary.length > LONG_TEXT;
  const shown = long && !expanded ? `${summary.slice(0, LONG_TEXT)}…` : summary;
  const time = new Date(event.at);
  return (
    <li className="relative flex gap-3 pb-3" data-event-type={event.type}>
      {!last && (
        <span className="absolute top-3 bottom-0 left-[3.5px] w-px bg-zinc-200 dark:bg-zinc-800" aria-hidden="true" />
      )}
      <span
        className={`relative mt-1.5 size-2 shrink-0 rounded-full ring-4 ring-white dark:ring-zinc-950 ${typeDots[event.type]}`}
      />
      <div className="min-w-0 flex-1">
        <div className="flex items-baseline gap-2 text-xs">
          <span className="font-medium text-zinc-700 dark:text-zinc-300">{typeLabels[event.type]}</span>
          <time
            dateTime={event.at}
            className="text-zinc-400 tabular-nums dark:text-zinc-500"
            title={time.toLocaleString()}
          >
            {time.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', second: '2-digit' })}
          </time>
        </div>
        <p
          className={`mt-0.5 text-[13px] break-words whitespace-pre-wrap ${
            event.type === 'error' || (event.type === 'checkpoint' && typeof event.data.error === 'string')
              ? 'text-red-700 dark:text-red-300'
              : 'text-zinc-600 dark:text-zinc-400'
          } ${event.type === 'tool_use' || event.type === 'output' ? 'font-mono text-[12px]' : ''}`}
        >
          {shown}
        </p>
        {event.type === 'pull_request' && safeHttpUrl(event.data.url) && (
          <a
            href={safeHttpUrl(event.data.url) ?? undefined}
            target="_blank"
            rel="noopener noreferrer"
            className="mt-0.5 block truncate text-[13px] font-medium text-zinc-900 underline underline-offset-2 hover:text-zinc-600 dark:text-zinc-100 dark:hover:text-zinc-300"
          >
            {safeHttpUrl(event.data.url)}
          </a>
        )}
        {long && (
          <button
            type="button"
            onClick={() => setExpanded((v) => !v)}
            className="mt-1 text-xs font-medium text-zinc-500 hover:text-zinc-900 dark:hover:text-zinc-100"
          >
            {expanded ? 'Show less' : 'Show all'}
          </button>
        )}
      </div>
    </li>
  );
}
