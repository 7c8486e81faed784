import {
  type AgentApprovalAnswer,
  type AgentApprovalRequest,
  type AgentApprovalResult,
  type AnswerApprovalRequest,
  AppError,
  type Approval,
  type ApprovalDecision,
  EVENT_SUMMARY_MAX_CHARS,
  isTerminal,
  type TaskEventType,
} from '@rclaude/protocol';
import type { Logger } from 'pino';
import type { ApprovalOutcome, ApprovalRecord, ApprovalStore, SandboxRecord, TaskStore } from '../stores/types.js';
import type { AuthContext } from './auth-context.js';
import { newId } from './ids.js';
import { TokenBucket } from './token-bucket.js';

/** What subscribers of {@link ApprovalService.subscribe} hear: a new pending approval, or its end. */
export type ApprovalChange =
  | { kind: 'requested'; approval: Approval; owner: string; taskName: string | null }
  | { kind: 'settled'; approval: Approval; owner: string };

export interface ApprovalServiceDeps {
  approvals: ApprovalStore;
  tasks: Pick<TaskStore, 'get'>;
  /** Records a line on the task's timeline and pushes it to its viewers (TaskTransitions.event). */
  timeline: (taskId: string, type: TaskEventType, data: Record<string, unknown>) => Promise<void>;
  /** Sends a decision to the sandbox's agent, on whichever proxy holds it. */
  toAgent: (sandboxId: string, answer: AgentApprovalAnswer) => void;
  /** RCLAUDE_APPROVAL_TIMEOUT_MS: an unanswered request is denied after this long. */
  timeoutMs: number;
  /** How often this proxy looks for expired approvals (those it holds no timer for). Default 5 s. */
  sweepMs?: number;
  now?: () => number;
  log: Logger;
}

/** Most approvals one task may have pending at once; more are denied at once (a runaway loop). */
export const MAX_PENDING_PER_SANDBOX = 20;
/**
 * New approvals one sandbox may ask for: a burst of this many, then one more every {@link APPROVAL_REFILL_MS}.
 * Claude Code asks one at a time and waits for each; a sandbox asking faster (a loop of requests and
 * withdrawals) is refused, so it cannot fill the timeline and the owner's phone with notifications.
 */
export const APPROVAL_BURST = 10;
export const APPROVAL_REFILL_MS = 6_000;

const DECISION_OF: Record<ApprovalRecord['status'], ApprovalDecision> = {
  pending: 'deny',
  allowed: 'allow',
  denied: 'deny',
  timed_out: 'deny',
  withdrawn: 'deny',
};

/** The API's view of a record. */
export function publicApproval(r: ApprovalRecord): Approval {
  return {
    id: r.id,
    taskId: r.taskId,
    sessionId: r.sessionId,
    tool: r.tool,
    summary: r.summary,
    input: r.input,
    reason: r.reason,
    status: r.status,
    createdAt: r.createdAt.toISOString(),
    expiresAt: r.expiresAt.toISOString(),
    answeredAt: r.answeredAt?.toISOString() ?? null,
    answeredBy: r.answeredByName,
    message: r.message,
  };
}

/** The one line people read: `Bash: npm test`, `Write: src/x.ts`. */
export function approvalSummary(tool: string, input: Record<string, string>): string {
  const main =
    input.command ?? input.file_path ?? input.notebook_path ?? input.url ?? input.path ?? input.pattern ?? input.query;
  const text = main ? `${tool}: ${main.replace(/\s+/g, ' ').trim()}` : tool;
  return text.length > EVENT_SUMMARY_MAX_CHARS ? `${text.slice(0, EVENT_SUMMARY_MAX_CHARS - 1)}…` : text;
}

/**
 * Approvals: Claude Code's permission requests held as pending decisions on a task. The state machine is one
 * atomic transition in the store (pending -> allowed | denied | timed_out | withdrawn, at most once), so an
 * answer racing a time-out, or two answers from two proxies, settle it exactly once; the loser gets CONFLICT.
 * Every settlement is recorded on the timeline and sent to the sandbox's agent, which hands it to the hook.
 */
export class ApprovalService {
  private readonly listeners = new Set<(change: ApprovalChange) => void>();
  private readonly timers = new Map<string, NodeJS.Timeout>();
  private sweeper: NodeJS.Timeout | undefined;
  private readonly now: () => number;
  /** Per sandbox: the new approvals it may still ask for. */
  private readonly allowance = new Map<string, TokenBucket>();
  /** Per sandbox: requests are taken one after another, so the pending count is checked without a race. */
  private readonly queues = new Map<string, Promise<unknown>>();

  constructor(private readonly deps: ApprovalServiceDeps) {
    this.now = deps.now ?? Date.now;
  }

  /** Starts the periodic sweep for expired approvals (after a restart, or created on another proxy). */
  start(): void {
    if (this.sweeper) return;
    this.sweeper = setInterval(() => void this.expireDue(), this.deps.sweepMs ?? 5000);
    this.sweeper.unref();
    void this.expireDue();
  }

  close(): void {
    clearInterval(this.sweeper);
    this.sweeper = undefined;
    for (const t of this.timers.values()) clearTimeout(t);
    this.timers.clear();
  }

  /** Hears every approval requested or settled on this proxy (each change is heard on exactly one proxy). */
  subscribe(listener: (change: ApprovalChange) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** An agent's `approval:request`: records it (once per request key) and says where it stands. */
  request(sandbox: SandboxRecord, req: AgentApprovalRequest): Promise<AgentApprovalResult> {
    const id = sandbox.sandboxId;
    const run = (this.queues.get(id) ?? Promise.resolve()).then(() => this.requestNow(sandbox, req));
    const tail = run.catch(() => undefined);
    this.queues.set(id, tail);
    void tail.then(() => {
      if (this.queues.get(id) === tail) this.queues.delete(id);
    });
    return run;
  }

  /** Takes one new approval out of the sandbox's allowance; false when it has none left. */
  private takeAllowance(sandboxId: string): boolean {
    let bucket = this.allowance.get(sandboxId);
    if (!bucket) {
      bucket = new TokenBucket(1000 / APPROVAL_REFILL_MS, { burst: APPROVAL_BURST, now: this.now });
      this.allowance.set(sandboxId, bucket);
      if (this.allowance.size > 10_000) this.allowance.delete(this.allowance.keys().next().value ?? '');
    }
    return bucket.take();
  }

  private async requestNow(sandbox: SandboxRecord, req: AgentApprovalRequest): Promise<AgentApprovalResult> {
    const existing = await this.deps.approvals.findByRequest(sandbox.sandboxId, req.requestKey);
    if (existing) return this.resultOf(existing);
    const task = sandbox.taskId ? await this.deps.tasks.get(sandbox.taskId) : null;
    if (!task || isTerminal(task.status) || task.status === 'stopping')
      throw new AppError('CONFLICT', 'this sandbox has no live task');
    const pending = await this.deps.approvals.listPendingBySandbox(sandbox.sandboxId);
    if (pending.length >= MAX_PENDING_PER_SANDBOX) {
      throw new AppError('CONFLICT', `more than ${MAX_PENDING_PER_SANDBOX} approvals pending`);
    }
    if (!this.takeAllowance(sandbox.sandboxId)) {
      throw new AppError('RATE_LIMITED', 'this sandbox asks for approvals faster than a person can answer them');
    }
    const { record, created } = await this.deps.approvals.create({
      id: `ap_${newId(12)}`,
      taskId: task.id,
      owner: task.owner,
      sandboxId: sandbox.sandboxId,
      requestKey: req.requestKey,
      sessionId: req.sessionId,
      tool: req.tool,
      summary: approvalSummary(req.tool, req.input),
      input: req.input,
      reason: req.reason,
      expiresAt: new Date(this.now() + this.deps.timeoutMs),
    });
    if (!created) return this.resultOf(record);
    this.arm(record);
    await this.deps.timeline(task.id, 'approval_requested', {
      approvalId: record.id,
      tool: record.tool,
      summary: record.summary,
      ...(Object.keys(record.input).length > 0 ? { input: record.input } : {}),
      reason: record.reason?.slice(0, EVENT_SUMMARY_MAX_CHARS) ?? null,
      expiresAt: record.expiresAt.toISOString(),
    });
    this.emit({ kind: 'requested', approval: publicApproval(record), owner: task.owner, taskName: task.name });
    return this.resultOf(record);
  }

  /** A person's answer. Another user's task (or an approval of another task) is NOT_FOUND; a settled one CONFLICT. */
  async answer(auth: AuthContext, taskId: string, approvalId: string, body: AnswerApprovalRequest): Promise<Approval> {
    const record = await this.visible(auth, approvalId);
    if (record.taskId !== taskId) throw new AppError('NOT_FOUND', `no approval ${approvalId} on task ${taskId}`);
    const settled = await this.settle(record, {
      status: body.decision === 'allow' ? 'allowed' : 'denied',
      by: auth.userId,
      byName: auth.username,
      message: body.message ?? null,
    });
    if (!settled) {
      const now = await this.deps.approvals.get(approvalId);
      throw new AppError('CONFLICT', `approval ${approvalId} is already ${now?.status.replace('_', ' ') ?? 'gone'}`);
    }
    return publicApproval(settled);
  }

  /** The agent says Claude Code no longer waits (the person answered in the terminal). */
  async withdraw(sandboxId: string, requestKey: string, reason: string): Promise<void> {
    const record = await this.deps.approvals.findByRequest(sandboxId, requestKey);
    if (record?.status !== 'pending') return;
    await this.settle(record, { status: 'withdrawn', message: reason.slice(0, 200) });
  }

  /** Denies every pending approval whose time is up. Returns how many this call settled. */
  async expireDue(): Promise<number> {
    let settled = 0;
    try {
      const due = await this.deps.approvals.listExpired(new Date(this.now()), 100);
      for (const record of due) if (await this.settle(record, { status: 'timed_out' })) settled++;
    } catch (err) {
      this.deps.log.error({ err }, 'expiring approvals failed');
    }
    return settled;
  }

  async listForTask(auth: AuthContext, taskId: string): Promise<Approval[]> {
    const task = await this.deps.tasks.get(taskId);
    if (!task || (task.owner !== auth.userId && auth.role !== 'admin'))
      throw new AppError('NOT_FOUND', `no task ${taskId}`);
    return (await this.deps.approvals.listByTask(taskId, 100)).map(publicApproval);
  }

  /** The caller's approvals (an admin's too: only their own tasks'), newest first. */
  async listMine(auth: AuthContext, q: { status: 'pending' | 'all'; limit: number }): Promise<Approval[]> {
    const records = await this.deps.approvals.listByOwner(auth.userId, {
      pendingOnly: q.status === 'pending',
      limit: q.limit,
    });
    return records.map(publicApproval);
  }

  async getOne(auth: AuthContext, approvalId: string): Promise<Approval> {
    return publicApproval(await this.visible(auth, approvalId));
  }

  private async visible(auth: AuthContext, approvalId: string): Promise<ApprovalRecord> {
    const record = await this.deps.approvals.get(approvalId);
    if (!record || (record.owner !== auth.userId && auth.role !== 'admin')) {
      throw new AppError('NOT_FOUND', `no approval ${approvalId}`);
    }
    return record;
  }

  private resultOf(record: ApprovalRecord): AgentApprovalResult {
    return {
      approvalId: record.id,
      expiresAt: record.expiresAt.toISOString(),
      ...(record.status === 'pending'
        ? {}
        : { decision: { behavior: DECISION_OF[record.status], message: messageFor(record) } }),
    };
  }

  /** The one transition; the winner records it, tells the agent and the subscribers. */
  private async settle(record: ApprovalRecord, outcome: ApprovalOutcome): Promise<ApprovalRecord | null> {
    const settled = await this.deps.approvals.settle(record.id, outcome, new Date(this.now()));
    if (!settled) return null;
    clearTimeout(this.timers.get(record.id));
    this.timers.delete(record.id);
    if (settled.status !== 'withdrawn') {
      this.deps.toAgent(settled.sandboxId, {
        requestKey: settled.requestKey,
        approvalId: settled.id,
        behavior: DECISION_OF[settled.status],
        message: messageFor(settled),
      });
    }
    try {
      if (settled.status === 'withdrawn') {
        await this.deps.timeline(settled.taskId, 'approval_withdrawn', {
          approvalId: settled.id,
          reason: (settled.message ?? 'Claude Code stopped waiting').slice(0, EVENT_SUMMARY_MAX_CHARS),
        });
      } else {
        await this.deps.timeline(settled.taskId, 'approval_answered', {
          approvalId: settled.id,
          decision: DECISION_OF[settled.status],
          by: settled.answeredByName,
          timedOut: settled.status === 'timed_out',
        });
      }
    } catch (err) {
      this.deps.log.error({ err, approvalId: settled.id }, 'recording an approval answer failed');
    }
    this.emit({ kind: 'settled', approval: publicApproval(settled), owner: settled.owner });
    return settled;
  }

  private arm(record: ApprovalRecord): void {
    const delay = Math.max(0, record.expiresAt.getTime() - this.now());
    const timer = setTimeout(() => {
      this.timers.delete(record.id);
      void this.settle(record, { status: 'timed_out' }).catch((err: unknown) =>
        this.deps.log.error({ err, approvalId: record.id }, 'expiring an approval failed'),
      );
    }, delay);
    timer.unref();
    this.timers.set(record.id, timer);
  }

  private emit(change: ApprovalChange): void {
    for (const l of this.listeners) {
      try {
        l(change);
      } catch (err) {
        this.deps.log.error({ err }, 'an approval listener failed');
      }
    }
  }
}

/** What Claude is told with a denial. */
function messageFor(r: ApprovalRecord): string | null {
  if (r.status === 'timed_out') return 'Nobody answered this permission request in time: denied.';
  if (r.status === 'denied') return r.message ?? `Denied by ${r.answeredByName ?? 'the task owner'}.`;
  if (r.status === 'withdrawn') return r.message;
  return r.message;
}
