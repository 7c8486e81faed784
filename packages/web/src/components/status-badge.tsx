import type { TaskActivity, TaskStatus } from '@rclaude/protocol';
import { describeStatus, type StatusTone } from '../modules/tasks/task-format.js';

const toneClasses: Record<StatusTone, { badge: string; dot: string }> = {
  neutral: {
    badge: 'bg-zinc-100 text-zinc-700 ring-zinc-200 dark:bg-zinc-800/70 dark:text-zinc-300 dark:ring-zinc-700',
    dot: 'bg-zinc-400',
  },
  progress: {
    badge: 'bg-sky-50 text-sky-800 ring-sky-200 dark:bg-sky-950/60 dark:text-sky-300 dark:ring-sky-900',
    dot: 'bg-sky-500',
  },
  live: {
    badge:
      'bg-emerald-50 text-emerald-800 ring-emerald-200 dark:bg-emerald-950/60 dark:text-emerald-300 dark:ring-emerald-900',
    dot: 'bg-emerald-500',
  },
  waiting: {
    badge: 'bg-amber-50 text-amber-800 ring-amber-200 dark:bg-amber-950/60 dark:text-amber-300 dark:ring-amber-900',
    dot: 'bg-amber-500',
  },
  calm: {
    badge:
      'bg-indigo-50 text-indigo-700 ring-indigo-200 dark:bg-indigo-950/60 dark:text-indigo-300 dark:ring-indigo-900',
    dot: 'bg-indigo-400',
  },
  success: {
    badge:
      'bg-emerald-600 text-white ring-emerald-600 dark:bg-emerald-500/20 dark:text-emerald-200 dark:ring-emerald-700',
    dot: 'bg-white dark:bg-emerald-300',
  },
  danger: {
    badge: 'bg-red-50 text-red-700 ring-red-200 dark:bg-red-950/60 dark:text-red-300 dark:ring-red-900',
    dot: 'bg-red-500',
  },
};

/** A task's status as a coloured pill; active states pulse. `data-status` carries the raw status for tests. */
export function StatusBadge({ status, activity = null }: { status: TaskStatus; activity?: TaskActivity | null }) {
  const meta = describeStatus(status, activity);
  const tone = toneClasses[meta.tone];
  return (
    <span
      data-status={status}
      className={`inline-flex items-center gap-1.5 rounded-full px-2 py-0.5 text-xs font-medium ring-1 ring-inset ${tone.badge}`}
    >
      <span className="relative flex size-1.5" aria-hidden="true">
        {meta.active && (
          <span className={`absolute inline-flex size-full animate-ping rounded-full opacity-60 ${tone.dot}`} />
        )}
        <span className={`relative inline-flex size-1.5 rounded-full ${tone.dot}`} />
      </span>
      {meta.label}
    </span>
  );
}
