import { builtScript, shellQuote } from '../prompt/built-script.js';
import { writeClaudeSettings } from './write-settings.js';

/** The shell command Claude Code runs for each hook: this node running the built hooks-report.js. */
export function hookReporterCommand(node = process.execPath): string {
  return `${shellQuote(node)} ${shellQuote(builtScript('claude/hooks-report.js'))}`;
}

/**
 * Installs rclaude's activity hooks in Claude Code's user settings under `home` (merging, idempotent), so
 * every Claude Code started in the sandbox reports working / waiting / done to the agent.
 */
export async function installActivityHooks(home: string): Promise<void> {
  await writeClaudeSettings(home, { command: hookReporterCommand(), timeoutSeconds: 10 });
}
