import type { Approval } from '@rclaude/protocol';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useEffect } from 'react';
import type { ApiClient } from '../../api/api-client.js';
import { useApp, useSocket } from '../../app-context.js';
import { Button } from '../../components/button.js';
import { InlineError } from '../../components/states.js';
import { formatDuration } from '../tasks/task-format.js';
import { useNow } from '../tasks/use-now.js';

/** The query of a task's approvals; refetched whenever the task's timeline says one changed. */
export function approvalsQuery(api: ApiClient, taskId: string) {
  return { queryKey: ['task', taskId, 'approvals'] as const, queryFn: () => api.listApprovals(taskId) };
}

/**
 * The query of the caller's pending approvals (the dashboard's badges): one fetch shared by every row, kept fresh
 * by `approval_*` events rather than by refetching when a row appears.
 */
export function myApprovalsQuery(api: ApiClient) {
  return { queryKey: ['approvals', 'pending'] as const, queryFn: () => api.listMyApprovals(), staleTime: 60_000 };
}

/** Keeps approval queries fresh: any `approval_*` event refetches them. */
export function useLiveApprovals(): void {
  const socket = useSocket();
  const client = useQueryClient();
  useEffect(() => {
    const onEvent = (event: { taskId: string; type: string }) => {
      if (!event.type.startsWith('approval_')) return;
      void client.invalidateQueries({ queryKey: ['task', event.taskId, 'approvals'] });
      void client.invalidateQueries({ queryKey: ['approvals', 'pending'] });
    };
    socket.on('task:event', onEvent);
    return () => {
      socket.off('task:event', onEvent);
    };
  }, [socket, client]);
}

/** Pending approvals of a task, each a card with Approve / Deny; nothing when none is pending. */
export function ApprovalCards({ taskId }: { taskId: string }) {
  const { api } = useApp();
  useLiveApprovals();
  const approvals = useQuery(approvalsQuery(api, taskId));
  const pending = (approvals.data ?? []).filter((a) => a.status === 'pending');
  if (pending.length === 0) return null;
  return (
    <div className="flex shrink-0 flex-col gap-2 border-b border-amber-200 bg-amber-50 px-3 py-3 sm:px-6 dark:border-amber-900/60 dark:bg-amber-950/30">
      {pending.map((a) => (
        <ApprovalCard key={a.id} approval={a} />
      ))}
    </div>
  );
}

function ApprovalCard({ approval }: { approval: Approval }) {
  const { api } = useApp();
  const client = useQueryClient();
  const now = useNow(1000);
  const answer = useMutation({
    mutationFn: (decision: 'allow' | 'deny') => api.answerApproval(approval.taskId, approval.id, decision),
    onSettled: () => client.invalidateQueries({ queryKey: ['task', approval.taskId, 'approvals'] }),
  });
  const left = Date.parse(approval.expiresAt) - now;
  const detail = approval.input.command ?? approval.input.file_path ?? approval.input.url ?? null;
  return (
    <section
      role="alert"
      aria-label={`Approval ${approval.id}`}
      data-testid="approval-card"
      className="rounded-xl border border-amber-300 bg-white p-3 shadow-sm dark:border-amber-800 dark:bg-zinc-900"
    >
      <p className="text-[13px] font-medium text-amber-900 dark:text-amber-200">
        Claude wants to use <span className="font-semibold">{approval.tool}</span>
        {left > 0 ? (
          <span className="font-normal text-amber-700 dark:text-amber-400">
            {' '}
            · denied in <span className="tabular-nums">{formatDuration(left)}</span> unless answered
          </span>
        ) : null}
      </p>
      {detail ? (
        <pre className="mt-2 max-h-40 overflow-auto rounded-lg bg-zinc-100 px-3 py-2 font-mono text-[13px] break-all whitespace-pre-wrap text-zinc-900 dark:bg-zinc-800 dark:text-zinc-100">
          {detail}
        </pre>
      ) : null}
      {approval.reason ? <p className="mt-2 text-[13px] text-zinc-600 dark:text-zinc-400">{approval.reason}</p> : null}
      {answer.error ? <InlineError error={answer.error} /> : null}
      <div className="mt-3 grid grid-cols-2 gap-2 sm:flex sm:justify-end">
        <Button
          variant="danger"
          className="h-11 sm:h-9"
          disabled={answer.isPending}
          onClick={() => answer.mutate('deny')}
        >
          Deny
        </Button>
        <Button
          variant="primary"
          className="h-11 sm:h-9"
          disabled={answer.isPending}
          onClick={() => answer.mutate('allow')}
        >
          Approve
        </Button>
      </div>
    </section>
  );
}

/**
 * How many approvals of a task wait for the caller, as a small badge for the dashboard's task row; nothing when
 * none does. Every row shares one query of the caller's pending approvals.
 */
export function TaskApprovalBadge({ taskId }: { taskId: string }) {
  const { api } = useApp();
  const mine = useQuery(myApprovalsQuery(api));
  const count = (mine.data ?? []).filter((a) => a.taskId === taskId).length;
  if (count === 0) return null;
  return (
    <span
      data-testid="approval-badge"
      title={`${count} approval${count === 1 ? '' : 's'} waiting for you`}
      className="inline-flex items-center rounded-full bg-amber-100 px-2 py-0.5 text-[11px] font-semibold text-amber-800 dark:bg-amber-900/50 dark:text-amber-200"
    >
      {count} to approve
    </span>
  );
}
