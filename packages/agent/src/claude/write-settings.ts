import { join } from 'node:path';
import { isJsonObject, type JsonObject, updateJsonFile } from './json-file.js';

/**
 * Claude Code hook events rclaude listens to for agent-aware status:
 * - UserPromptSubmit: a prompt was sent (working).
 * - PreToolUse / PostToolUse: a tool is about to run / has run (`tool_name`, `tool_input`, `tool_response`).
 * - Notification: Claude needs the person (`notification_type` `permission_prompt`, or idle for 60 s).
 * - Stop: the turn is over (`last_assistant_message`).
 */
export const claudeHookEvents = ['Notification', 'Stop', 'UserPromptSubmit', 'PreToolUse', 'PostToolUse'] as const;
/**
 * PermissionRequest: Claude Code would ask the person about a tool call (never in bypassPermissions mode, nor for
 * what its rules allow); the hook may answer `{decision: {behavior: 'allow' | 'deny'}}`. rclaude's approval hook.
 */
export type ClaudeHookEvent = (typeof claudeHookEvents)[number] | 'PermissionRequest';

/** Tool events take a matcher; `*` matches every tool. */
const TOOL_EVENTS: ReadonlySet<ClaudeHookEvent> = new Set(['PreToolUse', 'PostToolUse', 'PermissionRequest']);

/** The hook command to install. */
export interface ClaudeHooks {
  /**
   * Shell command run on each event. Claude Code writes the event as one JSON object on its stdin
   * (`hook_event_name`, `session_id`, `cwd`, `transcript_path`, plus the event's own fields) and runs it
   * with the workspace as cwd and `CLAUDE_PROJECT_DIR` set. Exit 0 and print nothing to stay neutral.
   */
  command: string;
  /** Which events run it. Default: all of {@link claudeHookEvents}. */
  events?: readonly ClaudeHookEvent[];
  /** Claude Code kills the command after this many seconds. Default 10. */
  timeoutSeconds?: number;
}

function commandsOf(group: unknown): string[] {
  if (!isJsonObject(group) || !Array.isArray(group.hooks)) return [];
  return group.hooks.map((h) => (isJsonObject(h) && typeof h.command === 'string' ? h.command : ''));
}

/**
 * Installs `hooks.command` as a Claude Code hook in `$HOME/.claude/settings.json` (the user settings of
 * Claude Code 2.1: `hooks.<Event>[] = { matcher?, hooks: [{ type: 'command', command, timeout }] }`).
 * Merges: other settings and other hooks stay; a group holding only this same command is replaced rather
 * than repeated, so calling it again is harmless.
 */
export async function writeClaudeSettings(home: string, hooks: ClaudeHooks): Promise<void> {
  const events = hooks.events ?? claudeHookEvents;
  const hook = { type: 'command', command: hooks.command, timeout: hooks.timeoutSeconds ?? 10 };
  await updateJsonFile(join(home, '.claude', 'settings.json'), (settings) => {
    const all: JsonObject = isJsonObject(settings.hooks) ? settings.hooks : {};
    for (const event of events) {
      const groups = Array.isArray(all[event]) ? (all[event] as unknown[]) : [];
      const others = groups.filter((g) => {
        const commands = commandsOf(g);
        return !(commands.length > 0 && commands.every((c) => c === hooks.command));
      });
      const group = TOOL_EVENTS.has(event) ? { matcher: '*', hooks: [hook] } : { hooks: [hook] };
      all[event] = [...others, group];
    }
    settings.hooks = all;
    return settings;
  });
}
