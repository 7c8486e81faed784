import { isNetworkError } from '@rclaude/client/rest';
import { AppError, type ErrorCode } from '@rclaude/protocol';
import { CliError, EXIT } from './errors.js';

const hints: Partial<Record<ErrorCode, string>> = {
  UNAUTHENTICATED: 'run `rclaude login` (or set RCLAUDE_TOKEN)',
  NOT_FOUND: 'list your tasks with `rclaude ls`',
  TASK_NOT_RUNNING:
    'the task has no sandbox now: `rclaude resume ID` brings back a hibernated or ended one, `rclaude run` starts a new one',
  CHECKPOINT_CORRUPT: 'resume from another checkpoint: `rclaude checkpoints ID`, then `rclaude resume ID --at cp_…`',
  PROVIDER_UNAVAILABLE: 'check the server configuration (docs/configuration.md)',
  RATE_LIMITED: 'wait a moment and try again',
  TOO_MANY_TASKS: 'list your live tasks with `rclaude ls` and stop one with `rclaude stop ID`',
};

/**
 * Turns anything thrown into what the user sees and the exit code. Every UNAUTHENTICATED exits 4, the
 * server's own and a reverse proxy's non-JSON 401 alike (the client maps both to the same AppError).
 */
export function describe(err: unknown): { message: string; hint?: string | undefined; exitCode: number } {
  if (err instanceof CliError) return { message: err.message, hint: err.hint, exitCode: err.exitCode };
  if (isNetworkError(err)) {
    return {
      message: err.message,
      hint: 'is it running? start it with `rclaude server`, or point at another with --server / RCLAUDE_SERVER',
      exitCode: EXIT.error,
    };
  }
  if (err instanceof AppError) {
    return {
      message: err.message,
      hint: hints[err.code],
      exitCode: err.code === 'UNAUTHENTICATED' ? EXIT.auth : EXIT.error,
    };
  }
  return { message: err instanceof Error ? err.message : String(err), exitCode: EXIT.error };
}
