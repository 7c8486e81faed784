import { apiClientFor } from '../api.js';
import { CliError, EXIT } from '../errors.js';
import { suggestCommand } from '../output.js';
import { attachTerminal } from '../terminal/attach.js';
import { parseDetachKeys } from '../terminal/keys.js';
import { report } from './run.js';

/**
 * `rclaude shell ID [-- CMD...]`: opens another session in the task's sandbox (a login shell, or CMD) and
 * attaches this terminal to it like `attach`; exits with its program's exit code like `run`.
 */
export async function shellCommand(
  ref: string,
  argv: string[],
  opts: { server?: string; detachKeys: string },
): Promise<number> {
  const detachKeys = parseDetachKeys(opts.detachKeys);
  // With pass-through options the separator reaches us when it follows the task id.
  const command = argv[0] === '--' ? argv.slice(1) : argv;
  const api = apiClientFor(opts);
  const task = await api.resolveTask(ref);
  if (task.status !== 'running' && task.status !== 'idle') {
    throw new CliError(
      `task ${task.id} is ${task.status}: a shell needs its sandbox running`,
      EXIT.error,
      task.status === 'queued' || task.status === 'starting'
        ? 'wait a moment and try again'
        : `${suggestCommand('rclaude', 'resume', task.id)} brings it back, if it has a checkpoint`,
    );
  }
  const session = await api.createSession({
    taskId: task.id,
    ...(command.length ? { command } : {}),
    ...(process.stdout.columns && process.stdout.rows
      ? { cols: process.stdout.columns, rows: process.stdout.rows }
      : {}),
  });
  const outcome = await attachTerminal({
    server: api.server,
    token: api.token,
    task,
    sessionId: session.id,
    from: 0,
    readOnly: false,
    detachKeys,
    startProgress: false,
    stdin: process.stdin,
    stdout: process.stdout,
    stderr: process.stderr,
  });
  if (outcome.kind === 'detached' || outcome.kind === 'dropped') {
    process.stderr.write(
      `\r\nthe shell ${session.id} keeps running; its output is in \`rclaude logs ${task.id} --session ${session.id}\`\r\n`,
    );
  }
  return report(outcome, task.id);
}
