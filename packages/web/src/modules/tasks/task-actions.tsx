import { AppError, type Task } from '@rclaude/protocol';
import { useMutation, useQueryClient } from '@tanstack/react-query';
import { type ReactNode, useState } from 'react';
import { applyTaskRemoval, applyTaskUpdate } from '../../api/queries.js';
import { useApp } from '../../app-context.js';
import { ConfirmDialog } from '../../components/dialog.js';

type Pending = { kind: 'stop' | 'delete'; task: Task } | null;

export interface TaskActions {
  requestStop: (task: Task) => void;
  requestDelete: (task: Task) => void;
  /** The confirmation dialog to render (null while none is open). */
  dialog: ReactNode;
}

/** Stop and delete, each behind a confirmation that says what will happen. */
export function useTaskActions(options: { onDeleted?: (task: Task) => void } = {}): TaskActions {
  const { api } = useApp();
  const client = useQueryClient();
  const [pending, setPending] = useState<Pending>(null);

  const stop = useMutation({
    mutationFn: ({ task, force }: { task: Task; force: boolean }) => api.stopTask(task.id, { force }),
    onSuccess: (task) => {
      applyTaskUpdate(client, task);
      setPending(null);
    },
  });
  const remove = useMutation({
    mutationFn: async (task: Task) => {
      await api.deleteTask(task.id);
      return task;
    },
    onSuccess: (task) => {
      setPending(null);
      applyTaskRemoval(client, task.id);
      options.onDeleted?.(task);
    },
  });

  const close = () => {
    setPending(null);
    stop.reset();
    remove.reset();
  };

  let dialog: ReactNode = null;
  if (pending?.kind === 'stop') {
    // The server checkpoints before it stops; when that fails the task runs on, and stopping anyway loses the
    // work since its last checkpoint: asked as a second question, with the reason.
    const checkpointFailed = stop.error instanceof AppError && stop.error.code === 'CHECKPOINT_FAILED';
    dialog = checkpointFailed ? (
      <ConfirmDialog
        title={`Stop “${pending.task.name}” anyway?`}
        description={
          <>
            Its work could not be checkpointed, so the task is still running. Stopping it anyway loses everything since
            its last checkpoint.
            <span className="mt-2 block text-xs text-zinc-500 dark:text-zinc-400" data-testid="stop-checkpoint-error">
              {stop.error instanceof Error ? stop.error.message : ''}
            </span>
          </>
        }
        confirmLabel="Stop anyway"
        danger
        busy={stop.isPending}
        onConfirm={() => stop.mutate({ task: pending.task, force: true })}
        onCancel={close}
      />
    ) : (
      <ConfirmDialog
        title={`Stop “${pending.task.name}”?`}
        description="Its sandbox shuts down, after a checkpoint of its work, and the running program ends. The timeline stays viewable, and Resume brings the task back from the checkpoint."
        confirmLabel="Stop task"
        danger
        busy={stop.isPending}
        error={stop.error}
        onConfirm={() => stop.mutate({ task: pending.task, force: false })}
        onCancel={close}
      />
    );
  } else if (pending?.kind === 'delete') {
    dialog = (
      <ConfirmDialog
        title={`Delete “${pending.task.name}”?`}
        description="The task, its timeline and its terminal history are removed for good. This cannot be undone."
        confirmLabel="Delete task"
        danger
        busy={remove.isPending}
        error={remove.error}
        onConfirm={() => remove.mutate(pending.task)}
        onCancel={close}
      />
    );
  }

  return {
    requestStop: (task) => setPending({ kind: 'stop', task }),
    requestDelete: (task) => setPending({ kind: 'delete', task }),
    dialog,
  };
}
