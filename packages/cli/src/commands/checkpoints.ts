import { createInterface } from 'node:readline/promises';
import { formatBytes, formatCount, formatRunDuration, formatSpan } from '@rclaude/client';
import { AppError, type Checkpoint, isResumable, isTerminal, type Task } from '@rclaude/protocol';
import type { ApiClient } from '../api.js';
import { apiClientFor } from '../api.js';
import { CliError, EXIT } from '../errors.js';
import { safeJson, safeText, suggestCommand } from '../output.js';
import { printTable } from '../table.js';
import { attachTerminal } from '../terminal/attach.js';
import { parseDetachKeys } from '../terminal/keys.js';
import { report, settleAfterExit } from './run.js';

interface Common {
  server?: string;
  json?: boolean;
}

/** `rclaude checkpoint ID`: checkpoints a running task now and says what it holds. */
export async function checkpointCommand(ref: string, opts: Common): Promise<number> {
  const api = apiClientFor(opts);
  const task = await api.resolveTask(ref);
  if (isTerminal(task.status)) {
    throw new CliError(
      `task ${task.id} is ${task.status}: it has no sandbox to checkpoint`,
      EXIT.error,
      `its checkpoints: ${suggestCommand('rclaude', 'checkpoints', task.id)}`,
    );
  }
  if (!opts.json && process.stderr.isTTY) process.stderr.write(`checkpointing ${task.id}…\n`);
  const checkpoint = await api.createCheckpoint(task.id).catch((err: unknown) => {
    if (err instanceof AppError && err.code === 'CHECKPOINT_FAILED') {
      throw new CliError(err.message, EXIT.error, 'the task runs on unchanged; its timeline says more');
    }
    throw err;
  });
  process.stdout.write(opts.json ? `${safeJson(checkpoint)}\n` : `${describeCheckpoint(checkpoint)}\n`);
  return EXIT.ok;
}

/** `cp_x: 1,234 files, 56 MB (uploaded 1.2 MB) in 0.4s`. */
export function describeCheckpoint(c: Checkpoint): string {
  return `${safeText(c.id)}: ${formatCount(c.files)} files, ${formatBytes(c.bytes)} (uploaded ${formatBytes(c.uploadedBytes)}) in ${formatRunDuration(c.durationMs)}`;
}

/** `rclaude checkpoints ID`: the task's checkpoints, newest first. */
export async function checkpointsCommand(ref: string, opts: Common): Promise<number> {
  const api = apiClientFor(opts);
  const task = await api.resolveTask(ref);
  const checkpoints = await api.listCheckpoints(task.id);
  if (opts.json) {
    process.stdout.write(`${safeJson(checkpoints, 2)}\n`);
    return EXIT.ok;
  }
  if (checkpoints.length === 0) {
    process.stdout.write(
      isTerminal(task.status)
        ? `task ${task.id} has no checkpoints: its work was not saved before it ended\n`
        : `task ${task.id} has no checkpoints yet; take one with ${suggestCommand('rclaude', 'checkpoint', task.id)}\n`,
    );
    return EXIT.ok;
  }
  const now = Date.now();
  printTable(
    ['ID', 'CREATED', 'TRIGGER', 'FILES', 'SIZE', 'UPLOADED', 'TOOK'],
    checkpoints.map((c) => [
      c.id,
      `${formatSpan(now - Date.parse(c.createdAt))} ago`,
      c.trigger,
      formatCount(c.files),
      formatBytes(c.bytes),
      formatBytes(c.uploadedBytes),
      formatRunDuration(c.durationMs),
    ]),
  );
  if (isResumable(task.status) && process.stdout.isTTY) {
    process.stdout.write(
      `\nresume from one with ${suggestCommand('rclaude', 'resume', task.id, '--at', checkpoints[0]?.id ?? 'cp_…')}\n`,
    );
  }
  return EXIT.ok;
}

/** `rclaude keep ID`: restarts a running task's idle clock. */
export async function keepCommand(ref: string, opts: Common): Promise<number> {
  const api = apiClientFor(opts);
  const task = await api.resolveTask(ref);
  if (task.status === 'hibernated') {
    throw new CliError(
      `task ${task.id} has already hibernated`,
      EXIT.error,
      `bring it back with ${suggestCommand('rclaude', 'attach', task.id)} (or \`rclaude resume ${task.id} --detach\`)`,
    );
  }
  const kept = await api.keepTask(task.id);
  if (opts.json) {
    process.stdout.write(`${safeJson(kept)}\n`);
  } else if (kept.hibernateAt) {
    const at = Date.parse(kept.hibernateAt);
    process.stdout.write(
      `${task.id} kept: it hibernates at ${new Date(at).toLocaleTimeString([], { hour12: false })} (in ${formatSpan(at - Date.now())}) if nothing happens by then\n`,
    );
  } else {
    process.stdout.write(`${task.id} kept: idle tasks do not hibernate on this server\n`);
  }
  return EXIT.ok;
}

export interface ResumeOptions extends Common {
  at?: string;
  detach?: boolean;
  detachKeys: string;
}

/** `rclaude resume ID [--at cp_…]`: a new sandbox from a checkpoint, then attached like `rclaude run`. */
export async function resumeCommand(ref: string, opts: ResumeOptions): Promise<number> {
  const detachKeys = parseDetachKeys(opts.detachKeys);
  const api = apiClientFor(opts);
  const task = await api.resolveTask(ref);
  if (!isResumable(task.status)) {
    if (opts.at || opts.detach) {
      throw new CliError(
        `task ${task.id} is ${task.status}: only a hibernated or ended task can be resumed`,
        EXIT.error,
        opts.at
          ? `stop it first (${suggestCommand('rclaude', 'stop', task.id)}), then resume it --at a checkpoint`
          : `attach to it: ${suggestCommand('rclaude', 'attach', task.id)}`,
      );
    }
    process.stderr.write(`task ${task.id} is ${task.status}: attaching to it\n`);
    return attachAfterResume(api, task, { from: 'screen', resumingFrom: undefined }, detachKeys);
  }
  const resumed = await resumeTask(api, task, opts.at, opts.json !== true || !opts.detach);
  if (opts.detach) {
    process.stdout.write(opts.json ? `${safeJson(resumed.task)}\n` : `${safeText(resumed.task.id)}\n`);
    return EXIT.ok;
  }
  return attachAfterResume(api, resumed.task, resumed, detachKeys);
}

export interface Resumed {
  task: Task;
  /** The checkpoint it restores (when known before the restore event). */
  resumingFrom: string | undefined;
  /** Where the attach starts: the end of the output before the resume, so only new output shows. */
  from: number | 'screen';
}

/**
 * Resumes `task` from `at` or its latest checkpoint, with this terminal's size; says which checkpoint on
 * stderr when `say`. CONFLICT without a checkpoint comes back as the server's plain reason.
 */
export async function resumeTask(api: ApiClient, task: Task, at: string | undefined, say: boolean): Promise<Resumed> {
  const [checkpoints, outputEnd] = await Promise.all([
    api.listCheckpoints(task.id).catch(() => [] as Checkpoint[]),
    api
      .getSession(task.mainSessionId)
      .then((s) => s.outputEnd)
      .catch(() => undefined),
  ]);
  const chosen = at ? checkpoints.find((c) => c.id === at) : checkpoints[0];
  const resumed = await api
    .resumeTask(task.id, {
      ...(at ? { at } : {}),
      ...(process.stdout.columns && process.stdout.rows
        ? { cols: process.stdout.columns, rows: process.stdout.rows }
        : {}),
    })
    .catch((err: unknown) => {
      if (err instanceof AppError && err.code === 'CONFLICT') {
        throw new CliError(err.message, EXIT.error, `start a new task with ${suggestCommand('rclaude', 'run')}`);
      }
      throw err;
    });
  // Only a paused sandbox resumed with its memory comes back running at once (adr/0025): nothing is restored,
  // and its terminal is the one that was left, so the attach starts from its screen.
  if (resumed.status === 'running') {
    if (say) process.stderr.write(`waking ${task.id}: its paused sandbox resumed, as it was left\n`);
    return { task: resumed, resumingFrom: undefined, from: 'screen' };
  }
  if (say) {
    const source = chosen
      ? ` from ${chosen.id} (${chosen.trigger}, taken ${formatSpan(Date.now() - Date.parse(chosen.createdAt))} ago)`
      : '';
    process.stderr.write(
      `${task.status === 'hibernated' ? 'waking' : 'resuming'} ${task.id}: a new sandbox${source}\n`,
    );
  }
  return { task: resumed, resumingFrom: chosen?.id ?? at, from: outputEnd ?? 'screen' };
}

/** Attaches this terminal to a task's main session as `rclaude run` does, with progress while it starts. */
export async function attachAfterResume(
  api: ApiClient,
  task: Task,
  resumed: Pick<Resumed, 'from' | 'resumingFrom'>,
  detachKeys: number[],
): Promise<number> {
  const outcome = await attachTerminal({
    server: api.server,
    token: api.token,
    task,
    sessionId: task.mainSessionId,
    from: resumed.from,
    readOnly: false,
    detachKeys,
    startProgress: task.status === 'queued' || task.status === 'starting',
    resumingFrom: resumed.resumingFrom,
    stdin: process.stdin,
    stdout: process.stdout,
    stderr: process.stderr,
  });
  return report(await settleAfterExit(api, task, task.mainSessionId, outcome), task.id);
}

/**
 * Asks on this terminal whether to resume an ended task from its latest checkpoint (for `rclaude attach`).
 * False without a terminal, without a checkpoint, or on anything but yes.
 */
export async function offerResume(api: ApiClient, task: Task): Promise<boolean> {
  if (!process.stdin.isTTY || !process.stderr.isTTY) return false;
  const [latest] = await api.listCheckpoints(task.id).catch(() => [] as Checkpoint[]);
  if (!latest) return false;
  const why = task.statusReason ? ` (${safeText(task.statusReason)})` : '';
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  try {
    const answer = await rl.question(
      `task ${task.id} ${task.status}${why}.\nResume it in a new sandbox from ${latest.id}, taken ${formatSpan(Date.now() - Date.parse(latest.createdAt))} ago? [y/N] `,
    );
    return /^y(es)?$/i.test(answer.trim());
  } finally {
    rl.close();
  }
}
