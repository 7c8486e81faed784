import { randomBytes } from 'node:crypto';
import type {
  Ack,
  AgentApprovalAnswer,
  AgentApprovalRequest,
  AgentApprovalResult,
  AgentApprovalWithdraw,
} from '@rclaude/protocol';
import type { Logger } from 'pino';
import { approvalRequest } from './approval-input.js';
import type { ChannelConnection } from './hooks-channel.js';

/** Hook events after which Claude Code is no longer waiting for a permission it asked (the terminal answered). */
const MOVED_ON = new Set(['UserPromptSubmit', 'Stop', 'PostToolUse', 'PostToolUseFailure']);

interface Pending {
  request: AgentApprovalRequest;
  conn: ChannelConnection;
  /** Claude Code's conversation id, to match later hooks of the same Claude. */
  claudeSessionId: string | null;
  /** Whether the session has a terminal prompt that may answer first (not a `-p` prompt session). */
  interactive: boolean;
}

export interface ApprovalRelayOptions {
  /** Sends `approval:request` to the proxy (only while connected). */
  request: (req: AgentApprovalRequest, ack: (res: Ack<AgentApprovalResult>) => void) => void;
  /** Sends `approval:withdraw` to the proxy. */
  withdraw: (req: AgentApprovalWithdraw) => void;
  /** Whether the proxy connection is up and has answered hello. */
  connected: () => boolean;
  /** Whether an rclaude session runs Claude Code with `-p` (no terminal prompt to race the remote answer). */
  isPromptSession: (sessionId: string | null) => boolean;
  log: Logger;
}

/**
 * The agent's side of approvals: each waiting PermissionRequest hook (one channel connection) is a pending
 * request sent to the proxy, resent after every reconnect (same key: the proxy answers with the same approval
 * or its decision). The decision goes back to that hook as one line. When Claude Code moves on without it (the
 * person answered in the terminal), the request is withdrawn, so a later remote answer is refused.
 */
export class ApprovalRelay {
  private readonly pending = new Map<string, Pending>();

  constructor(private readonly opts: ApprovalRelayOptions) {}

  get size(): number {
    return this.pending.size;
  }

  /** A hook asked (a channel `approval` message). */
  handle(sessionId: string | null, payload: Record<string, unknown>, conn: ChannelConnection): void {
    const key = randomBytes(12).toString('base64url');
    const request = approvalRequest(key, sessionId, payload);
    const claudeSessionId = typeof payload.session_id === 'string' ? payload.session_id : null;
    this.pending.set(key, {
      request,
      conn,
      claudeSessionId,
      interactive: !this.opts.isPromptSession(sessionId),
    });
    conn.onClose(() => {
      if (!this.pending.delete(key)) return;
      // Claude Code stopped waiting (its hook timeout, the session ended): nothing can apply any more.
      if (this.opts.connected()) this.opts.withdraw({ requestKey: key, reason: 'Claude Code stopped waiting' });
    });
    if (this.opts.connected()) this.send(key);
  }

  /** The proxy's decision. */
  answer(a: AgentApprovalAnswer): void {
    const p = this.pending.get(a.requestKey);
    if (!p) return;
    this.pending.delete(a.requestKey);
    p.conn.reply({ behavior: a.behavior, message: a.message });
    p.conn.end();
  }

  /** After each hello: (re)sends every request still waiting. */
  resendAll(): void {
    for (const key of this.pending.keys()) this.send(key);
  }

  /**
   * Another hook of a Claude Code: if it shows that Claude moved on while a request of an interactive session
   * waited, the terminal answered it; the request is withdrawn and its hook released without a decision.
   */
  hookSeen(payload: Record<string, unknown>): void {
    const event = payload.hook_event_name;
    if (typeof event !== 'string' || !MOVED_ON.has(event)) return;
    const claude = typeof payload.session_id === 'string' ? payload.session_id : null;
    const tool = typeof payload.tool_name === 'string' ? payload.tool_name : null;
    for (const [key, p] of this.pending) {
      if (!p.interactive || claude === null || p.claudeSessionId !== claude) continue;
      if ((event === 'PostToolUse' || event === 'PostToolUseFailure') && tool !== p.request.tool) continue;
      this.pending.delete(key);
      p.conn.end();
      this.opts.withdraw({ requestKey: key, reason: 'answered in the terminal' });
    }
  }

  private send(key: string): void {
    const p = this.pending.get(key);
    if (!p) return;
    this.opts.request(p.request, (res) => {
      if (!this.pending.has(key)) return;
      if (!res.ok) {
        // Refused (no live task, too many pending): Claude Code falls back to its own prompt or denial.
        this.opts.log.warn({ error: res.error }, 'approval request refused by the proxy');
        this.pending.delete(key);
        p.conn.end();
        return;
      }
      const d = res.data.decision;
      if (d)
        this.answer({ requestKey: key, approvalId: res.data.approvalId, behavior: d.behavior, message: d.message });
    });
  }
}
