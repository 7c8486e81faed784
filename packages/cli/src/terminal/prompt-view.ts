import { ansiStyle, createClientSocket, plainStyle, taskEventText } from '@rclaude/client';
import { AppError, isTerminal, type Task, type TaskEvent } from '@rclaude/protocol';
import type { ApiClient } from '../api.js';
import { CliError, EXIT } from '../errors.js';
import { safeJson, safeText, suggestCommand } from '../output.js';
import { StatusLine } from './status-line.js';

export interface PromptViewOptions {
  api: ApiClient;
  task: Task;
  /** Events as JSON lines (for scripts) instead of the readable view. */
  json: boolean;
  out: NodeJS.WritableStream & { isTTY?: boolean };
  err: NodeJS.WriteStream;
}

function str(v: unknown): string {
  return typeof v === 'string' ? v : '';
}

/**
 * One event as the `-p` view shows it, through the one task-event renderer of @rclaude/client (the agent's
 * PTY view uses it too): here a diff's line names the `rclaude cp` that downloads the full diff.
 */
export function formatPromptEvent(event: Pick<TaskEvent, 'type' | 'data'>, taskId: string, color: boolean): string {
  return taskEventText(event, { taskId, style: color ? ansiStyle : plainStyle });
}

/** The prompt has run its course: it finished (idle, sandbox kept for continuing) or the task ended. */
function settled(task: Task): boolean {
  return task.exitCode !== null || task.status === 'idle' || isTerminal(task.status);
}

/**
 * `rclaude run -p`: streams a prompt task's timeline until the prompt is over, then returns the exit code:
 * the prompt's (0 on success, non-zero on an error result), or 1 when the task ended without one (stopped,
 * sandbox lost). Live `task:event`s are shown in `seq` order; a gap (a reconnect, events recorded before the
 * subscription) is filled from `GET /api/tasks/:id/events`, so nothing is skipped or shown twice.
 */
export function viewPrompt(opts: PromptViewOptions): Promise<number> {
  const { api, out, err } = opts;
  const taskId = opts.task.id;
  const color = out.isTTY === true;
  const status = new StatusLine(err, err.isTTY === true);
  let last = 0;
  let task = opts.task;
  let catching: Promise<void> | null = null;
  let again = false;

  const show = (event: TaskEvent) => {
    if (event.seq <= last) return;
    last = event.seq;
    if (opts.json) {
      out.write(`${safeJson(event)}\n`);
      return;
    }
    if (event.type === 'status') {
      const to = str(event.data.status);
      if (to === 'queued' || to === 'starting') status.progress(`starting sandbox (${task.provider})`);
      else if (to === 'running') status.progress('starting Claude Code');
      return;
    }
    const text = formatPromptEvent(event, taskId, color);
    if (text) {
      status.clear();
      out.write(text);
    }
  };

  /** Fetches everything after `last` (serialized; a request while one runs makes it go round once more). */
  const catchUp = (): Promise<void> => {
    if (catching) {
      again = true;
      return catching;
    }
    catching = (async () => {
      do {
        again = false;
        for (;;) {
          const { events } = await api.events(taskId, last);
          for (const e of events) show(e);
          if (events.length === 0) break;
        }
      } while (again);
    })().finally(() => {
      catching = null;
    });
    return catching;
  };

  return new Promise<number>((resolve, reject) => {
    let done = false;
    const socket = createClientSocket({
      baseUrl: api.server,
      token: api.token,
      reconnectionDelayMs: 250,
      reconnectionDelayMaxMs: 4000,
    });
    const onSigint = () => {
      finish(
        new CliError(
          `interrupted; the task keeps running. See it with: ${suggestCommand('rclaude', 'attach', taskId)}`,
          130,
        ),
      );
    };
    const finish = (result: number | Error) => {
      if (done) return;
      done = true;
      status.clear();
      process.off('SIGINT', onSigint);
      socket.disconnect();
      if (result instanceof Error) reject(result);
      else out.write('', () => resolve(result));
    };
    const check = async () => {
      if (done || !settled(task)) return;
      await catchUp();
      if (done) return;
      if (task.exitCode !== null) {
        if (!opts.json && err.isTTY) {
          err.write(
            ansiStyle.dim(
              `continue the conversation: ${suggestCommand('rclaude', 'attach', taskId)} · release the sandbox: ${suggestCommand('rclaude', 'stop', taskId)}\n`,
            ),
          );
        }
        return finish(task.exitCode);
      }
      if (!opts.json)
        err.write(
          `rclaude: task ${safeText(taskId)} ${task.status}${task.statusReason ? `: ${safeText(task.statusReason)}` : ''}\n`,
        );
      finish(EXIT.error);
    };
    const fail = (e: unknown) => finish(e instanceof Error ? e : new Error(String(e)));

    socket.on('connect', () => {
      socket.emit('task:subscribe', { taskId }, (res) => {
        if (!res.ok) return finish(AppError.from(res.error));
        // Subscribed: what was recorded before is fetched, what comes after arrives live.
        api
          .getTask(taskId)
          .then((t) => {
            task = t;
            return catchUp();
          })
          .then(check)
          .catch(fail);
      });
    });
    socket.on('connect_error', (e) => {
      const data = (e as Error & { data?: { code?: string; message?: string } }).data;
      if (data?.code === 'UNAUTHENTICATED' || data?.code === 'ORIGIN_REFUSED') {
        finish(new AppError(data.code, data.message ?? e.message));
      } else {
        status.show('connection lost; reconnecting…');
      }
    });
    socket.on('task:event', (event) => {
      if (event.taskId !== taskId || event.seq <= last) return;
      if (event.seq === last + 1 && !catching) show(event);
      else catchUp().catch(fail);
    });
    socket.on('task:updated', (t) => {
      if (t.id !== taskId) return;
      task = t;
      check().catch(fail);
    });
    process.on('SIGINT', onSigint);
    if (!opts.json) status.progress(`starting sandbox (${task.provider})`);
  });
}

/**
 * The session `rclaude attach` should open for a task: for a prompt task whose prompt has finished, a
 * Claude Code session continuing its conversation (created, or the one already open); otherwise its main
 * session.
 */
export async function sessionForAttach(
  api: ApiClient,
  task: Task,
  size: { cols?: number; rows?: number },
): Promise<{ sessionId: string; continued: boolean }> {
  if (task.prompt === null || (task.status !== 'idle' && task.status !== 'running')) {
    return { sessionId: task.mainSessionId, continued: false };
  }
  try {
    const session = await api.continueTask(task.id, size);
    return { sessionId: session.id, continued: true };
  } catch (e) {
    // The prompt is still running: watch it.
    if (e instanceof AppError && e.code === 'CONFLICT') return { sessionId: task.mainSessionId, continued: false };
    throw e;
  }
}
