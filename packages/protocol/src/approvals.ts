/**
 * Approvals: a permission request of Claude Code (a tool call it would ask the person about), held as a
 * pending decision on the task until its owner (or an admin) allows or denies it, or it times out to deny.
 * See docs/approvals.md and adr/0013.
 */
import { z } from 'zod';
import { EVENT_SUMMARY_MAX_CHARS } from './task-events.js';
import { taskIdSchema } from './tasks.js';

/** An approval id: `ap_` and 12 lowercase base32 characters (unguessable enough to never collide). */
export const approvalIdSchema = z.string().regex(/^ap_[a-z2-7]{12}$/, 'an approval id looks like ap_xxxxxxxxxxxx');

/** What the person decides. */
export const approvalDecisionSchema = z.enum(['allow', 'deny']);
export type ApprovalDecision = z.infer<typeof approvalDecisionSchema>;

/**
 * Where an approval is: `pending` until exactly one of allowed / denied (someone answered), `timed_out`
 * (nobody answered in RCLAUDE_APPROVAL_TIMEOUT_MS: denied), `withdrawn` (Claude Code stopped waiting: the
 * person answered in the terminal, or the session ended).
 */
export const approvalStatuses = ['pending', 'allowed', 'denied', 'timed_out', 'withdrawn'] as const;
export const approvalStatusSchema = z.enum(approvalStatuses);
export type ApprovalStatus = z.infer<typeof approvalStatusSchema>;

/** Most input fields an approval keeps (the command, the file path, ...), each cut to a summary. */
export const APPROVAL_INPUT_MAX_FIELDS = 8;
/** Longest reason text (Claude's description of the call). */
export const APPROVAL_REASON_MAX_CHARS = 500;
/** Longest message an answer carries back to Claude. */
export const APPROVAL_MESSAGE_MAX_CHARS = 1000;

const summary = z.string().max(EVENT_SUMMARY_MAX_CHARS);
/** A few short string fields of the tool input (`command`, `file_path`, `url`...). */
export const approvalInputSchema = z
  .record(z.string().max(64), summary)
  .refine((r) => Object.keys(r).length <= APPROVAL_INPUT_MAX_FIELDS, 'too many input fields');

/** One approval as the API shows it. */
export const approvalSchema = z.object({
  id: approvalIdSchema,
  taskId: taskIdSchema,
  /** The session whose Claude Code asked, or null when unknown. */
  sessionId: z.string().nullable(),
  /** The tool Claude Code wants to use: `Bash`, `Write`, `WebFetch`, an MCP tool... */
  tool: z.string().min(1).max(128),
  /** One line for people: `Bash: npm test`, `Write: src/x.ts`. */
  summary,
  input: approvalInputSchema,
  /** Why, in Claude's words (the tool call's description), or null. */
  reason: z.string().max(APPROVAL_REASON_MAX_CHARS).nullable(),
  status: approvalStatusSchema,
  createdAt: z.string(),
  /** When it times out to deny (ISO 8601). */
  expiresAt: z.string(),
  answeredAt: z.string().nullable(),
  /** User name of who answered; null while pending, on a time-out or a withdrawal. */
  answeredBy: z.string().nullable(),
  /** The message given with the answer (sent to Claude with a denial). */
  message: z.string().max(APPROVAL_MESSAGE_MAX_CHARS).nullable(),
});
export type Approval = z.infer<typeof approvalSchema>;

/** `GET /api/tasks/:id/approvals` and `GET /api/approvals`: newest first. */
export const listApprovalsResponseSchema = z.object({ approvals: z.array(approvalSchema) });
export type ListApprovalsResponse = z.infer<typeof listApprovalsResponseSchema>;

/** `GET /api/approvals`: `pending` (default) or every recent one. */
export const listMyApprovalsQuerySchema = z
  .object({
    status: z.enum(['pending', 'all']).default('pending'),
    limit: z.coerce.number().int().min(1).max(200).default(50),
  })
  .strict();

/** `POST /api/tasks/:id/approvals/:approvalId`. */
export const answerApprovalRequestSchema = z
  .object({ decision: approvalDecisionSchema, message: z.string().max(APPROVAL_MESSAGE_MAX_CHARS).optional() })
  .strict();
export type AnswerApprovalRequest = z.infer<typeof answerApprovalRequestSchema>;

// ---- agent <-> proxy -----------------------------------------------------------------------------

/**
 * `approval:request` (agent -> proxy, acknowledged): Claude Code in a session asks for a permission. The agent
 * sends it again after a reconnect with the same `requestKey`, and gets the same approval (or its answer).
 */
export const agentApprovalRequestSchema = z
  .object({
    /** Chosen by the agent, unique per request: makes a resend idempotent. */
    requestKey: z.string().regex(/^[A-Za-z0-9_-]{8,64}$/),
    sessionId: z.string().max(64).nullable(),
    tool: z.string().min(1).max(128),
    input: approvalInputSchema,
    reason: z.string().max(APPROVAL_REASON_MAX_CHARS).nullable(),
  })
  .strict();
export type AgentApprovalRequest = z.infer<typeof agentApprovalRequestSchema>;

/** The proxy's answer to `approval:request`: the approval, and its decision once there is one. */
export interface AgentApprovalResult {
  approvalId: string;
  expiresAt: string;
  /** Present when already decided (a resend after the answer): deny for a time-out or a withdrawal. */
  decision?: { behavior: ApprovalDecision; message: string | null };
}

/** `approval:answer` (proxy -> agent, to the sandbox's room): the decision for a request. */
export interface AgentApprovalAnswer {
  requestKey: string;
  approvalId: string;
  behavior: ApprovalDecision;
  message: string | null;
}

/** `approval:withdraw` (agent -> proxy): Claude Code no longer waits for this request (answered in its terminal). */
export const agentApprovalWithdrawSchema = z
  .object({ requestKey: z.string().regex(/^[A-Za-z0-9_-]{8,64}$/), reason: z.string().max(200) })
  .strict();
export type AgentApprovalWithdraw = z.infer<typeof agentApprovalWithdrawSchema>;
