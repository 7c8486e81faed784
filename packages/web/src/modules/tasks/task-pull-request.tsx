import type { Task } from '@rclaude/protocol';
import { useMutation, useQueryClient } from '@tanstack/react-query';
import { queryKeys } from '../../api/queries.js';
import { useApp } from '../../app-context.js';
import { Button } from '../../components/button.js';
import { UploadIcon } from '../../components/icons.js';
import { InlineError, Spinner } from '../../components/states.js';
import { safeHttpUrl } from './task-timeline.js';

/** Pushes a running task's work now (`POST /api/tasks/:id/push`). */
export function usePushTask(task: Task) {
  const { api } = useApp();
  const client = useQueryClient();
  return useMutation({
    mutationFn: () => api.pushTask(task.id),
    onSuccess: () => void client.invalidateQueries({ queryKey: queryKeys.taskEvents(task.id) }),
  });
}

/** Pushes, then opens the task's pull request (or finds the open one): `POST /api/tasks/:id/pull-request`. */
export function useOpenPullRequest(task: Task) {
  const { api } = useApp();
  const client = useQueryClient();
  return useMutation({
    mutationFn: () => api.createPullRequest(task.id),
    onSuccess: () => {
      void client.invalidateQueries({ queryKey: queryKeys.taskEvents(task.id) });
      void client.invalidateQueries({ queryKey: queryKeys.task(task.id) });
    },
  });
}

/**
 * Push and Open pull request, for a live task with a repository; the pull request's link once it has one. The
 * server pushes with the user's stored GITHUB_TOKEN; errors (no token stored, nothing to push) show below.
 */
export function TaskPullRequestActions({ task }: { task: Task }) {
  const push = usePushTask(task);
  const open = useOpenPullRequest(task);
  const live = task.status === 'running' || task.status === 'idle';
  const url = safeHttpUrl(open.data?.url ?? task.pullRequest?.url);
  const number = open.data?.number ?? task.pullRequest?.number;
  if (!task.repo) return null;
  const busy = push.isPending || open.isPending;
  const error = push.error ?? open.error;
  return (
    <div className="flex flex-col items-end gap-1.5" data-testid="pull-request-actions">
      <div className="flex items-center gap-2">
        {url && (
          <a
            href={url}
            target="_blank"
            rel="noopener noreferrer"
            className="text-[13px] font-medium text-zinc-900 underline underline-offset-2 hover:text-zinc-600 dark:text-zinc-100 dark:hover:text-zinc-300"
            data-testid="pull-request-link"
          >
            Pull request #{number}
          </a>
        )}
        {live && (
          <>
            <Button
              size="sm"
              variant="ghost"
              disabled={busy}
              onClick={() => {
                open.reset();
                push.mutate();
              }}
              title="Commit the workspace as it is now and push it to the task’s branch"
              data-testid="push-task"
            >
              {push.isPending ? <Spinner label="Pushing" /> : <UploadIcon />}
              {push.isPending ? 'Pushing…' : 'Push'}
            </Button>
            <Button
              size="sm"
              disabled={busy}
              onClick={() => {
                push.reset();
                open.mutate();
              }}
              title="Push, then open a pull request on GitHub with your GITHUB_TOKEN"
              data-testid="open-pull-request"
            >
              {open.isPending ? <Spinner label="Opening the pull request" /> : null}
              {open.isPending ? 'Opening…' : url ? 'Update pull request' : 'Open pull request'}
            </Button>
          </>
        )}
      </div>
      {push.isSuccess && !busy && (
        <p className="text-xs text-zinc-500 dark:text-zinc-400" data-testid="push-result">
          {push.data.upToDate ? 'Already up to date' : 'Pushed'}: {push.data.branch} at {push.data.commit.slice(0, 12)}
        </p>
      )}
      {error ? (
        <div className="max-w-sm">
          <InlineError error={error} />
        </div>
      ) : null}
    </div>
  );
}
