import { isResumable, isTerminal, type Task, taskStatuses } from '@rclaude/protocol/tasks';
import { apiClientFor } from '../api.js';
import { CliError, EXIT } from '../errors.js';
import { safeJson, safeText } from '../output.js';
import { age, printTable } from '../table.js';
import { parseDetachKeys } from '../terminal/keys.js';

/**
 * The terminal side of `attach` (Socket.io, the terminal connection, resume), loaded when it runs: `ls`,
 * `stop`, `rm` and `exec` only call REST routes and start without it.
 */
async function attachModules() {
  const [attach, promptView, checkpoints, run] = await Promise.all([
    import('../terminal/attach.js'),
    import('../terminal/prompt-view.js'),
    import('./checkpoints.js'),
    import('./run.js'),
  ]);
  return { ...attach, ...promptView, ...checkpoints, ...run };
}

interface Common {
  server?: string;
  json?: boolean;
}

/** `rclaude attach ID`. */
export async function attachCommand(
  ref: string,
  opts: Common & { readOnly?: boolean; detachKeys: string; session?: string },
): Promise<number> {
  const detachKeys = parseDetachKeys(opts.detachKeys);
  const api = apiClientFor(opts);
  const task = await api.resolveTask(ref);
  if (opts.session) return attachSession(api, task, opts, detachKeys);
  const { attachAfterResume, attachTerminal, offerResume, report, resumeTask, sessionForAttach, settleAfterExit } =
    await attachModules();
  if (!opts.readOnly && isResumable(task.status)) {
    // Attaching to a hibernated task means working in it again: it is resumed, as it was left. An ended one is
    // resumed when the person says so; otherwise its last screen is shown read-only, as before.
    if (task.status === 'hibernated' || (await offerResume(api, task))) {
      const resumed = await resumeTask(api, task, undefined, true);
      return attachAfterResume(api, resumed.task, resumed, detachKeys);
    }
  }
  // A finished prompt task opens Claude Code on its conversation; anything else shows its main session.
  const { sessionId } = opts.readOnly
    ? { sessionId: task.mainSessionId }
    : await sessionForAttach(
        api,
        task,
        process.stdout.columns ? { cols: process.stdout.columns, rows: process.stdout.rows } : {},
      );
  const outcome = await attachTerminal({
    server: api.server,
    token: api.token,
    task,
    sessionId,
    from: 'screen',
    readOnly: opts.readOnly === true || isTerminal(task.status),
    detachKeys,
    startProgress: task.status === 'queued' || task.status === 'starting',
    stdin: process.stdin,
    stdout: process.stdout,
    stderr: process.stderr,
  });
  return report(await settleAfterExit(api, task, sessionId, outcome), task.id);
}

/** `rclaude attach ID --session S`: another session of the task (a shell), from its screen. */
async function attachSession(
  api: ReturnType<typeof apiClientFor>,
  task: Task,
  opts: { readOnly?: boolean; session?: string },
  detachKeys: number[],
): Promise<number> {
  const sessionId = await api.resolveSession(task, opts.session);
  const { attachTerminal, report, settleAfterExit } = await attachModules();
  const outcome = await attachTerminal({
    server: api.server,
    token: api.token,
    task,
    sessionId,
    from: 'screen',
    readOnly: opts.readOnly === true || isTerminal(task.status),
    detachKeys,
    startProgress: false,
    stdin: process.stdin,
    stdout: process.stdout,
    stderr: process.stderr,
  });
  return report(await settleAfterExit(api, task, sessionId, outcome), task.id);
}

/** `rclaude ls`. */
export async function lsCommand(opts: Common & { all?: boolean; status?: string }): Promise<number> {
  if (opts.status && !taskStatuses.includes(opts.status as Task['status'])) {
    throw new CliError(`unknown status "${opts.status}"`, 1, `use one of: ${taskStatuses.join(', ')}`);
  }
  const tasks = await apiClientFor(opts).listTasks({
    limit: 500,
    ...(opts.status ? { status: opts.status as Task['status'] } : {}),
    ...(opts.all ? { all: true } : {}),
  });
  if (opts.json) {
    process.stdout.write(`${safeJson(tasks, 2)}\n`);
    return EXIT.ok;
  }
  if (tasks.length === 0) {
    process.stdout.write('no tasks yet; start one with `rclaude run`\n');
    return EXIT.ok;
  }
  const rows = tasks.map((t) => [
    t.id,
    truncate(safeText(t.name), 40),
    t.activity && t.status === 'running' ? `${t.status} (${t.activity})` : t.status,
    t.provider,
    age(t.createdAt),
    duration(t),
    `$${(t.computeCostUsd + t.modelCostUsd).toFixed(2)}`,
    t.exitCode === null ? '' : String(t.exitCode),
  ]);
  // The pull request column only when a listed task has one, so the table stays narrow otherwise.
  const withPr = tasks.some((t) => t.pullRequest);
  printTable(
    ['ID', 'NAME', 'STATUS', 'PROVIDER', 'CREATED', 'DURATION', 'COST', 'EXIT', ...(withPr ? ['PULL REQUEST'] : [])],
    withPr ? rows.map((row, i) => [...row, safeText(tasks[i]?.pullRequest?.url ?? '')]) : rows,
  );
  return EXIT.ok;
}

/** `rclaude stop ID [--force]`: the server checkpoints the task first; `--force` stops it even if that fails. */
export async function stopCommand(ref: string, opts: Common & { force?: boolean }): Promise<number> {
  const api = apiClientFor(opts);
  const task = await api.resolveTask(ref);
  if (!opts.json && process.stderr.isTTY && (task.status === 'running' || task.status === 'idle')) {
    process.stderr.write(`checkpointing ${task.id}, then stopping it…\n`);
  }
  // A failed checkpoint refuses the stop with CHECKPOINT_FAILED, whose message says the task runs on and names
  // `rclaude stop --force`.
  const stopped = await api.stopTask(task.id, { force: opts.force === true });
  process.stdout.write(opts.json ? `${safeJson(stopped)}\n` : `${stopped.id} ${stopped.status}\n`);
  return EXIT.ok;
}

/** `rclaude rm ID`. */
export async function rmCommand(ref: string, opts: Common): Promise<number> {
  const api = apiClientFor(opts);
  const task = await api.resolveTask(ref);
  await api.deleteTask(task.id);
  process.stdout.write(`${safeText(task.id)} deleted\n`);
  return EXIT.ok;
}

/** `rclaude exec ID -- CMD`: runs CMD to completion in the task's sandbox; exits with its code. */
export async function execCommand(ref: string, argv: string[], opts: Common & { timeout?: string }): Promise<number> {
  // With pass-through options the separator reaches us when it follows the task id.
  const command = argv[0] === '--' ? argv.slice(1) : argv;
  if (command.length === 0) throw new CliError('nothing to run', 1, 'usage: rclaude exec ID -- COMMAND [ARGS...]');
  const api = apiClientFor(opts);
  const task = await api.resolveTask(ref);
  const timeoutMs = opts.timeout ? parseDuration(opts.timeout) : undefined;
  const result = await api.execute(task.mainSessionId, {
    command: command.length === 1 ? (command[0] as string) : command,
    ...(timeoutMs ? { timeoutMs } : {}),
  });
  if (opts.json) {
    process.stdout.write(`${safeJson(result)}\n`);
    return EXIT.ok;
  }
  process.stdout.write(result.stdout);
  process.stderr.write(result.stderr);
  if (result.truncated) process.stderr.write('rclaude: output was cut at 1 MiB per stream\n');
  if (result.timedOut) process.stderr.write(`rclaude: timed out after ${timeoutMs ?? 60_000} ms\n`);
  return result.exitCode;
}

/** `rclaude logs ID [-f] [--session S] [--cast]`. */
export async function logsCommand(
  ref: string,
  opts: Common & { follow?: boolean; cast?: boolean; session?: string },
): Promise<number> {
  if (opts.cast) {
    if (opts.follow)
      throw new CliError('--cast and --follow do not go together', EXIT.error, 'a recording is what is stored now');
    return (await import('./recordings.js')).writeCast(ref, opts);
  }
  const api = apiClientFor(opts);
  const task = await api.resolveTask(ref);
  const sessionId = opts.session ? await api.resolveSession(task, opts.session) : task.mainSessionId;
  const { streamLog } = await import('../terminal/stream-log.js');
  await streamLog({
    server: api.server,
    token: api.token,
    sessionId,
    // An ended task has nothing more to follow.
    follow: opts.follow === true && !isTerminal(task.status),
    out: process.stdout,
    task: { id: task.id, ended: async () => isTerminal((await api.getTask(task.id)).status) },
    warn: (message) => process.stderr.write(`rclaude: ${message}\n`),
  });
  return EXIT.ok;
}

/** At most `max` characters, the last one an ellipsis when cut. */
function truncate(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

export function parseDuration(text: string): number {
  const m = /^(\d+)(ms|s|m|h)?$/.exec(text.trim());
  if (!m) throw new CliError(`invalid duration "${text}"`, 1, 'use e.g. 500ms, 30s, 5m, 1h');
  const n = Number(m[1]);
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[(m[2] ?? 's') as 'ms'];
  return n * unit;
}

function duration(t: Task): string {
  if (!t.startedAt) return '-';
  const ms = (t.endedAt ? Date.parse(t.endedAt) : Date.now()) - Date.parse(t.startedAt);
  const s = Math.floor(ms / 1000);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}
