import type { PromptPermissionMode } from '@rclaude/protocol';

/** The main command of a prompt task; the agent feeds the prompt on stdin (see OpenSessionRequest.prompt). */
export function promptCommand(mode: PromptPermissionMode): string[] {
  return ['claude', '-p', '--output-format', 'stream-json', '--verbose', '--permission-mode', mode];
}

/** Claude Code on a prompt task's conversation, continued interactively (a fresh one if none was recorded). */
export function continueCommand(mode: PromptPermissionMode, claudeSessionId: string | null): string[] {
  return ['claude', ...(claudeSessionId ? ['--resume', claudeSessionId] : []), '--permission-mode', mode];
}

/** Why a finished prompt task is idle: its outcome, and that the conversation can go on. */
export function promptDoneReason(exitCode: number | null): string {
  return exitCode === 0
    ? 'prompt done; attach to continue the conversation'
    : `prompt failed (exit ${exitCode}); attach to continue the conversation`;
}

/** Flags of `claude` that pick a conversation; a resumed task's command drops them for its own. */
const CONVERSATION_FLAGS = new Set(['-c', '--continue', '-r', '--resume']);

/**
 * The main command of a resumed task. Claude Code continues its conversation (`--resume <id>` when the
 * checkpoint recorded one, else `--continue`: the latest in the workspace); a finished prompt task continues
 * interactively; any other program runs again in the restored workspace.
 */
export function resumeCommand(
  task: { command: string[] | null; prompt: string | null },
  claudeSessionId: string | null,
  mode: PromptPermissionMode,
): string[] {
  if (task.prompt !== null || task.command === null) return continueCommand(mode, claudeSessionId);
  const [program, ...args] = task.command;
  if (program !== 'claude') return task.command;
  const kept: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i] ?? '';
    if (CONVERSATION_FLAGS.has(arg)) {
      // `--resume` may take an id as its next word.
      if ((arg === '-r' || arg === '--resume') && args[i + 1] && !args[i + 1]?.startsWith('-')) i++;
      continue;
    }
    if (arg.startsWith('--resume=')) continue;
    kept.push(arg);
  }
  return ['claude', ...(claudeSessionId ? ['--resume', claudeSessionId] : ['--continue']), ...kept];
}
