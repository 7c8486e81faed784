import { AppError, type ErrorCode } from '@rclaude/protocol';

/** Exit codes, as gh uses them. A remote command's own exit code is passed through instead where it applies. */
export const EXIT = { ok: 0, error: 1, cancelled: 2, auth: 4 } as const;

/** A failure the CLI reports as one line (and maybe a hint), never as a stack trace. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: number = EXIT.error,
    readonly hint?: string,
  ) {
    super(message);
    this.name = 'CliError';
  }
}

const hints: Partial<Record<ErrorCode, string>> = {
  UNAUTHENTICATED: 'run `rclaude login` (or set RCLAUDE_TOKEN)',
  NOT_FOUND: 'list your tasks with `rclaude ls`',
  TASK_NOT_RUNNING: 'the task has ended; start a new one with `rclaude run`',
  PROVIDER_UNAVAILABLE: 'check the server configuration (docs/configuration.md)',
  RATE_LIMITED: 'wait a moment and try again',
};

/** Turns anything thrown into what the user sees and the exit code. */
export function describe(err: unknown): { message: string; hint?: string | undefined; exitCode: number } {
  if (err instanceof CliError) return { message: err.message, hint: err.hint, exitCode: err.exitCode };
  if (err instanceof AppError) {
    return {
      message: err.message,
      hint: hints[err.code],
      exitCode: err.code === 'UNAUTHENTICATED' ? EXIT.auth : EXIT.error,
    };
  }
  return { message: err instanceof Error ? err.message : String(err), exitCode: EXIT.error };
}
