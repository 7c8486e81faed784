import {
  type AgentApprovalRequest,
  APPROVAL_INPUT_MAX_FIELDS,
  APPROVAL_REASON_MAX_CHARS,
  EVENT_SUMMARY_MAX_CHARS,
} from '@rclaude/protocol';

/** Tool input fields an approval shows, in order of interest: what the call runs, writes or fetches. */
const INPUT_FIELDS = [
  'command',
  'file_path',
  'notebook_path',
  'path',
  'url',
  'pattern',
  'query',
  'old_string',
  'new_string',
  'content',
  'prompt',
] as const;

function cut(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

/**
 * The fields of Claude Code's PermissionRequest hook input an approval keeps: the tool, a few short string
 * fields of its input (the command, the file...), Claude's description of the call as the reason, and Claude's
 * session id. Everything else (file contents beyond a summary) stays in the sandbox.
 */
export function approvalFields(input: Record<string, unknown>): {
  tool: string;
  input: Record<string, string>;
  reason: string | null;
  claudeSessionId: string | null;
} {
  const tool = typeof input.tool_name === 'string' && input.tool_name ? cut(input.tool_name, 128) : 'unknown';
  const raw = typeof input.tool_input === 'object' && input.tool_input !== null ? input.tool_input : {};
  const fields: Record<string, string> = {};
  for (const key of INPUT_FIELDS) {
    if (Object.keys(fields).length >= APPROVAL_INPUT_MAX_FIELDS) break;
    const v: unknown = (raw as Record<string, unknown>)[key];
    if (typeof v === 'string' && v.length > 0) fields[key] = cut(v, EVENT_SUMMARY_MAX_CHARS);
  }
  const description: unknown = (raw as Record<string, unknown>).description;
  return {
    tool,
    input: fields,
    reason:
      typeof description === 'string' && description.trim() ? cut(description.trim(), APPROVAL_REASON_MAX_CHARS) : null,
    claudeSessionId: typeof input.session_id === 'string' ? input.session_id.slice(0, 128) : null,
  };
}

/** The request the agent sends for a hook's payload (already cut by {@link approvalFields}). */
export function approvalRequest(
  requestKey: string,
  sessionId: string | null,
  payload: Record<string, unknown>,
): AgentApprovalRequest {
  const f = approvalFields(payload);
  return { requestKey, sessionId, tool: f.tool, input: f.input, reason: f.reason };
}

/** The hook's stdout for a decision (Claude Code 2.1's PermissionRequest output). */
export function decisionOutput(behavior: 'allow' | 'deny', message: string | null): string {
  const decision = behavior === 'allow' ? { behavior } : { behavior, message: message ?? 'Denied through rclaude.' };
  return JSON.stringify({ hookSpecificOutput: { hookEventName: 'PermissionRequest', decision } });
}
