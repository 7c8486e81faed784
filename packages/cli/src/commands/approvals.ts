import { formatSpan } from '@rclaude/client';
import { AppError, type Approval, type ApprovalDecision, approvalIdSchema } from '@rclaude/protocol';
import { apiClientFor } from '../api.js';
import { CliError, EXIT } from '../errors.js';
import { safeJson, safeText, suggestCommand } from '../output.js';
import { printTable } from '../table.js';

interface Common {
  server?: string;
  json?: boolean;
}

/** `pending, 9m left`, `allowed by alice`, `timed out (denied)`. */
export function describeApprovalStatus(a: Approval, now = Date.now()): string {
  switch (a.status) {
    case 'pending':
      return `pending, ${formatSpan(Math.max(0, Date.parse(a.expiresAt) - now))} left`;
    case 'allowed':
      return `allowed by ${a.answeredBy ?? '?'}`;
    case 'denied':
      return `denied by ${a.answeredBy ?? '?'}`;
    case 'timed_out':
      return 'timed out (denied)';
    case 'withdrawn':
      return 'withdrawn (answered in the terminal)';
  }
}

/**
 * `rclaude approvals [TASK]`: the pending approvals of all your tasks, or every recent approval of one task.
 */
export async function approvalsCommand(ref: string | undefined, opts: Common): Promise<number> {
  const api = apiClientFor(opts);
  const approvals = ref
    ? (await api.call('listApprovals', { params: { id: (await api.resolveTask(ref)).id } })).approvals
    : (await api.call('listMyApprovals', { query: { status: 'pending' } })).approvals;
  if (opts.json) {
    process.stdout.write(`${safeJson(approvals, 2)}\n`);
    return EXIT.ok;
  }
  if (approvals.length === 0) {
    process.stdout.write(ref ? 'this task has no approvals\n' : 'no approvals are waiting for you\n');
    return EXIT.ok;
  }
  printTable(
    ['ID', 'TASK', 'STATUS', 'REQUEST'],
    approvals.map((a) => [a.id, a.taskId, describeApprovalStatus(a), safeText(a.summary)]),
  );
  const first = approvals.find((a) => a.status === 'pending');
  if (first && process.stdout.isTTY) {
    process.stdout.write(
      `\nanswer with ${suggestCommand('rclaude', 'approve', first.id)} or ${suggestCommand('rclaude', 'deny', first.id)}\n`,
    );
  }
  return EXIT.ok;
}

async function answer(id: string, decision: ApprovalDecision, opts: Common & { message?: string }): Promise<number> {
  if (!approvalIdSchema.safeParse(id).success) {
    throw new CliError(
      `"${id}" is not an approval id`,
      EXIT.error,
      `list them with ${suggestCommand('rclaude', 'approvals')}`,
    );
  }
  const api = apiClientFor(opts);
  const approval = await api.call('getApproval', { params: { approvalId: id } });
  const answered = await api
    .call('answerApproval', {
      params: { id: approval.taskId, approvalId: id },
      body: { decision, ...(opts.message ? { message: opts.message } : {}) },
    })
    .catch((err: unknown) => {
      if (err instanceof AppError && err.code === 'CONFLICT') {
        throw new CliError(err.message, EXIT.error, `see ${suggestCommand('rclaude', 'approvals', approval.taskId)}`);
      }
      throw err;
    });
  process.stdout.write(
    opts.json
      ? `${safeJson(answered)}\n`
      : `${safeText(answered.id)} ${describeApprovalStatus(answered)}: ${safeText(answered.summary)}\n`,
  );
  return EXIT.ok;
}

/** `rclaude approve ID [-m MSG]`. */
export function approveCommand(id: string, opts: Common & { message?: string }): Promise<number> {
  return answer(id, 'allow', opts);
}

/** `rclaude deny ID [-m MSG]`. */
export function denyCommand(id: string, opts: Common & { message?: string }): Promise<number> {
  return answer(id, 'deny', opts);
}
