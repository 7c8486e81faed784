import type { ApprovalService } from '../services/approvals.js';
import type { Handlers, TaggedRouteName } from './mount-routes.js';

export type ApprovalHandlers = Handlers<TaggedRouteName<'approvals'>>;

/** Handlers of the `approvals` routes: one service call each (ownership is checked by the service). */
export function createApprovalHandlers(approvals: ApprovalService): ApprovalHandlers {
  return {
    listApprovals: async ({ params }, ctx) => ({ approvals: await approvals.listForTask(ctx.auth(), params.id) }),
    answerApproval: async ({ params, body }, ctx) => approvals.answer(ctx.auth(), params.id, params.approvalId, body),
    listMyApprovals: async ({ query }, ctx) => ({ approvals: await approvals.listMine(ctx.auth(), query) }),
    getApproval: async ({ params }, ctx) => approvals.getOne(ctx.auth(), params.approvalId),
  };
}
