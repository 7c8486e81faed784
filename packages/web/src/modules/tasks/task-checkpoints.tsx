import { formatBytes, formatCount, hibernateWarning } from '@rclaude/client';
import type { Checkpoint, CheckpointTrigger, Task, TaskEvent } from '@rclaude/protocol';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { type ReactNode, useState } from 'react';
import { applyTaskUpdate, checkpointsQuery, queryKeys, taskEventsQuery } from '../../api/queries.js';
import { useApp } from '../../app-context.js';
import { Button } from '../../components/button.js';
import { BookmarkIcon, PlayIcon } from '../../components/icons.js';
import { EmptyState, ErrorState, InlineError, Spinner } from '../../components/states.js';
import { canResume, formatAge, formatDuration, hasSandbox } from './task-format.js';
import { useNow } from './use-now.js';

const triggerLabels: Record<CheckpointTrigger, string> = {
  manual: 'Manual',
  periodic: 'Periodic',
  hibernate: 'Hibernation',
  stop: 'Stop',
  shutdown: 'Server shutdown',
  fork: 'Fork',
  import: 'Upload',
};

/** Resumes a task (from `at`, or its latest checkpoint) and puts the answer in the caches. */
export function useResumeTask(task: Task) {
  const { api } = useApp();
  const client = useQueryClient();
  return useMutation({
    mutationFn: (at?: string) => api.resumeTask(task.id, at),
    onSuccess: (resumed) => applyTaskUpdate(client, resumed),
  });
}

/** Takes a checkpoint of a running task now. */
export function useCheckpointNow(task: Task) {
  const { api } = useApp();
  const client = useQueryClient();
  return useMutation({
    mutationFn: () => api.createCheckpoint(task.id),
    onSuccess: () => void client.invalidateQueries({ queryKey: queryKeys.checkpoints(task.id) }),
  });
}

/** The task's checkpoints, newest first, each one a point it can be resumed from. */
export function CheckpointsPanel({ task }: { task: Task }) {
  const { api } = useApp();
  const checkpoints = useQuery(checkpointsQuery(api, task.id));
  const resume = useResumeTask(task);
  const now = useNow(30_000);
  const resumable = canResume(task.status);

  let body: ReactNode;
  if (checkpoints.isPending) {
    body = (
      <div className="flex items-center gap-2 p-4 text-[13px] text-zinc-500">
        <Spinner label="Loading checkpoints" /> Loading…
      </div>
    );
  } else if (checkpoints.isError) {
    body = (
      <ErrorState
        error={checkpoints.error}
        title="Could not load the checkpoints"
        onRetry={() => void checkpoints.refetch()}
      />
    );
  } else if (checkpoints.data.length === 0) {
    body = (
      <EmptyState icon={<BookmarkIcon className="size-5" />} title="No checkpoints yet">
        A checkpoint saves the workspace and Claude’s conversation. They are taken every few minutes while the task
        works, before it hibernates or stops, and when you choose Checkpoint now.
      </EmptyState>
    );
  } else {
    body = (
      <ol className="divide-y divide-zinc-100 dark:divide-zinc-800/70">
        {checkpoints.data.map((c, index) => (
          <CheckpointRow
            key={c.id}
            checkpoint={c}
            latest={index === 0}
            now={now}
            resumable={resumable}
            busy={resume.isPending}
            onResume={() => resume.mutate(c.id)}
          />
        ))}
      </ol>
    );
  }

  return (
    <section aria-label="Checkpoints" className="flex min-h-0 flex-1 flex-col" data-testid="checkpoints-panel">
      <header className="flex h-10 shrink-0 items-center border-b border-zinc-200 px-3 dark:border-zinc-800">
        <h2 className="text-[13px] font-semibold">Checkpoints</h2>
        {checkpoints.data && checkpoints.data.length > 0 && (
          <span className="ml-2 text-xs text-zinc-500 tabular-nums">{checkpoints.data.length}</span>
        )}
      </header>
      {resume.error ? (
        <div className="p-3">
          <InlineError error={resume.error} />
        </div>
      ) : null}
      <div className="min-h-0 flex-1 overflow-y-auto">{body}</div>
    </section>
  );
}

function CheckpointRow({
  checkpoint: c,
  latest,
  now,
  resumable,
  busy,
  onResume,
}: {
  checkpoint: Checkpoint;
  latest: boolean;
  now: number;
  resumable: boolean;
  busy: boolean;
  onResume: () => void;
}) {
  return (
    <li className="flex items-center gap-3 px-3 py-2.5" data-testid="checkpoint-row" data-checkpoint-id={c.id}>
      <div className="min-w-0 flex-1">
        <div className="flex items-baseline gap-2 text-[13px]">
          <time dateTime={c.createdAt} title={new Date(c.createdAt).toLocaleString()} className="font-medium">
            {formatAge(c.createdAt, now)}
          </time>
          <span className="text-xs text-zinc-500 dark:text-zinc-400">{triggerLabels[c.trigger]}</span>
          {latest && (
            <span className="rounded bg-indigo-50 px-1.5 text-[11px] font-medium text-indigo-700 dark:bg-indigo-950/60 dark:text-indigo-300">
              latest
            </span>
          )}
        </div>
        <p className="mt-0.5 text-xs text-zinc-500 tabular-nums dark:text-zinc-400">
          {formatCount(c.files)} files · {formatBytes(c.bytes)} · uploaded {formatBytes(c.uploadedBytes)}
          <span className="ml-2 font-mono text-[11px] text-zinc-400 dark:text-zinc-500">{c.id}</span>
        </p>
      </div>
      <Button
        size="sm"
        variant="ghost"
        disabled={!resumable || busy}
        title={
          resumable ? 'Start a new sandbox from this checkpoint' : 'Stop the task first to go back to a checkpoint'
        }
        onClick={onResume}
        data-testid="resume-from-checkpoint"
      >
        <PlayIcon />
        Resume from here
      </Button>
    </li>
  );
}

/**
 * The idle warning the server sends before it hibernates a task, while it still applies: the task is live, it
 * is the latest thing that happened (anything after it, but a checkpoint, was activity), and its time is not
 * long past. Null otherwise.
 */
export function pendingHibernation(
  task: Pick<Task, 'status'>,
  events: readonly Pick<TaskEvent, 'seq' | 'type' | 'data'>[],
  now: number,
): { seq: number; message: string; hibernateAt: number } | null {
  if (!hasSandbox(task.status)) return null;
  for (let i = events.length - 1; i >= 0; i--) {
    const event = events[i];
    if (!event) continue;
    const warning = hibernateWarning(event);
    if (warning) return warning.hibernateAt > now - 10_000 ? { seq: event.seq, ...warning } : null;
    if (event.type !== 'checkpoint') return null;
  }
  return null;
}

/** A banner with a countdown when an idle task is about to hibernate, and a button that keeps it running. */
export function HibernateBanner({ task }: { task: Task }) {
  const { api } = useApp();
  const events = useQuery(taskEventsQuery(api, task.id));
  const now = useNow(1000);
  const [keptSeq, setKeptSeq] = useState<number | null>(null);
  const keep = useMutation({ mutationFn: () => api.keepTask(task.id) });
  const pending = pendingHibernation(task, events.data ?? [], now);
  if (!pending || pending.seq === keptSeq) return null;
  const left = pending.hibernateAt - now;
  return (
    <div
      role="alert"
      data-testid="hibernate-warning"
      className="flex shrink-0 flex-wrap items-center gap-x-3 gap-y-2 border-b border-indigo-100 bg-indigo-50 px-3 py-2 text-[13px] text-indigo-800 dark:border-indigo-900/60 dark:bg-indigo-950/40 dark:text-indigo-200"
    >
      <p className="min-w-0 flex-1">
        {left > 0 ? (
          <>
            Idle: this task hibernates in <span className="font-semibold tabular-nums">{formatDuration(left)}</span>.
            Its work is checkpointed and its sandbox released; Resume brings it back.
          </>
        ) : (
          'Idle: this task is hibernating…'
        )}
      </p>
      {keep.error ? <InlineError error={keep.error} /> : null}
      <Button
        size="sm"
        variant="primary"
        disabled={keep.isPending || left <= 0}
        onClick={() => keep.mutate(undefined, { onSuccess: () => setKeptSeq(pending.seq) })}
        data-testid="keep-running"
      >
        {keep.isPending ? 'Keeping…' : 'Keep running'}
      </Button>
    </div>
  );
}
