import type { Task } from '@rclaude/protocol';
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
    mutationFn: (task: Task) => api.stopTask(task.id),
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
    dialog = (
      <ConfirmDialog
        title={`Stop “${pending.task.name}”?`}
        description="Its sandbox shuts down and the running program ends. The workspace files and timeline stay viewable."
        confirmLabel="Stop task"
        danger
        busy={stop.isPending}
        error={stop.error}
        onConfirm={() => stop.mutate(pending.task)}
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
