/**
 * Exit codes and the CLI's own error. No imports: every command loads this, `rclaude --version` included;
 * turning a thrown error into a message is describe-error.ts, loaded only when a command fails.
 */

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
