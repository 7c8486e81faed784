import { type AgentTaskEventData, EVENT_SUMMARY_MAX_CHARS } from '@rclaude/protocol';
import type { ClaudeHookEvent } from './write-settings.js';

export type ActivityEventData = AgentTaskEventData<'activity'>;

/**
 * The hook fields rclaude reads (everything else, tool inputs and outputs included, never leaves the hook
 * command): `hook_event_name`, Notification's `notification_type` and `message`, the tool's `tool_name`, and
 * Claude's `session_id` (which pending approval a later hook settles).
 */
export const HOOK_FIELDS = ['hook_event_name', 'notification_type', 'message', 'tool_name', 'session_id'] as const;

function text(v: unknown): string | undefined {
  if (typeof v !== 'string' || !v.trim()) return undefined;
  const line = v.trim().split('\n')[0] ?? '';
  return line.length > EVENT_SUMMARY_MAX_CHARS ? `${line.slice(0, EVENT_SUMMARY_MAX_CHARS - 1)}…` : line;
}

/**
 * What a hook says about Claude's state:
 * - UserPromptSubmit, PreToolUse, PostToolUse: working (a prompt is being answered, a tool runs);
 * - Notification: waiting for the person, with its message ("Claude needs your permission to use Bash",
 *   or the 60-second idle reminder);
 * - Stop: done with the turn.
 */
export function activityFromHook(payload: Record<string, unknown>): ActivityEventData | null {
  const hook = payload.hook_event_name as ClaudeHookEvent | undefined;
  switch (hook) {
    case 'UserPromptSubmit':
    case 'PreToolUse':
    case 'PostToolUse':
      return { activity: 'working', hook };
    case 'Notification': {
      const message =
        text(payload.message) ??
        (payload.notification_type === 'permission_prompt'
          ? 'Claude needs your permission'
          : 'Claude is waiting for your input');
      return { activity: 'waiting', message, hook };
    }
    case 'Stop':
      return { activity: 'done', hook };
    default:
      return null;
  }
}

/**
 * Turns hook reports into activity events, one per change: a tool-heavy turn fires dozens of hooks, the
 * timeline gets one `working`. A new question while already waiting is a change.
 */
export class ActivityTracker {
  private readonly last = new Map<string, ActivityEventData>();
  /** The tool each session's Claude is about to run: Claude Code 2.1's permission notice does not name it. */
  private readonly tool = new Map<string, string>();

  /** The event to emit for this hook in session `key`, or null when nothing changed. */
  update(key: string, payload: Record<string, unknown>): ActivityEventData | null {
    if (payload.hook_event_name === 'PreToolUse' && typeof payload.tool_name === 'string') {
      this.tool.set(key, payload.tool_name.slice(0, 64));
    }
    let next = activityFromHook(payload);
    if (!next) return null;
    const tool = this.tool.get(key);
    if (next.activity === 'waiting' && payload.notification_type === 'permission_prompt' && tool) {
      if (next.message && !next.message.includes(tool)) next = { ...next, message: `${next.message} to use ${tool}` };
    }
    const prev = this.last.get(key);
    if (prev && prev.activity === next.activity && (next.activity !== 'waiting' || prev.message === next.message)) {
      return null;
    }
    this.last.set(key, next);
    return next;
  }

  forget(key: string): void {
    this.last.delete(key);
    this.tool.delete(key);
  }
}
