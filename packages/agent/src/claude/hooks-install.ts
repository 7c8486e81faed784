import { builtScript, shellQuote } from '../prompt/built-script.js';
import { writeClaudeSettings } from './write-settings.js';

/** The shell command Claude Code runs for each hook: this node running the built hooks-report.js. */
export function hookReporterCommand(node = process.execPath): string {
  return `${shellQuote(node)} ${shellQuote(builtScript('claude/hooks-report.js'))}`;
}

/** The PermissionRequest hook command: this node running the built approval-hook.js. */
export function approvalHookCommand(node = process.execPath): string {
  return `${shellQuote(node)} ${shellQuote(builtScript('claude/approval-hook.js'))}`;
}

/**
 * Seconds Claude Code lets the approval hook wait: the proxy's approval timeout plus a minute, so the proxy's
 * time-out (a deny Claude is told about) always comes first.
 */
export function approvalHookTimeoutSeconds(approvalTimeoutMs: number): number {
  return Math.ceil(approvalTimeoutMs / 1000) + 60;
}

/**
 * Installs rclaude's activity hooks in Claude Code's user settings under `home` (merging, idempotent), so
 * every Claude Code started in the sandbox reports working / waiting / done to the agent; with
 * `approvalTimeoutMs`, also the PermissionRequest hook that turns permission prompts into approvals.
 */
export async function installActivityHooks(home: string, approvalTimeoutMs?: number): Promise<void> {
  await writeClaudeSettings(home, { command: hookReporterCommand(), timeoutSeconds: 10 });
  if (approvalTimeoutMs) {
    await writeClaudeSettings(home, {
      command: approvalHookCommand(),
      events: ['PermissionRequest'],
      timeoutSeconds: approvalHookTimeoutSeconds(approvalTimeoutMs),
    });
  }
}
