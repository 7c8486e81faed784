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
