import {
  AppError,
  type ClientToServerEvents,
  isTerminal,
  type ServerToClientEvents,
  type SessionInfo,
  type Task,
  type TaskEvent,
} from '@rclaude/protocol';
import { io, type Socket } from 'socket.io-client';
import type { ApiClient } from '../api.js';
import { CliError, EXIT } from '../errors.js';
import { StatusLine } from './status-line.js';

export interface PromptViewOptions {
  api: ApiClient;
  task: Task;
  /** Events as JSON lines (for scripts) instead of the readable view. */
  json: boolean;
  out: NodeJS.WritableStream & { isTTY?: boolean };
  err: NodeJS.WriteStream;
}

type ClientSocket = Socket<ServerToClientEvents, ClientToServerEvents>;

const paint = (on: boolean) => ({
  dim: (s: string) => (on ? `\x1b[2m${s}\x1b[0m` : s),
  bold: (s: string) => (on ? `\x1b[1m${s}\x1b[0m` : s),
  red: (s: string) => (on ? `\x1b[31m${s}\x1b[0m` : s),
  green: (s: string) => (on ? `\x1b[32m${s}\x1b[0m` : s),
  cyan: (s: string) => (on ? `\x1b[36m${s}\x1b[0m` : s),
});

function str(v: unknown): string {
  return typeof v === 'string' ? v : '';
}

function num(v: unknown): number {
  return typeof v === 'number' && Number.isFinite(v) ? v : 0;
}

function usd(v: number): string {
  return v >= 1 ? `$${v.toFixed(2)}` : `$${v.toFixed(4)}`;
}

function seconds(ms: number): string {
  return ms < 60_000
    ? `${(ms / 1000).toFixed(1)}s`
    : `${Math.floor(ms / 60_000)}m${String(Math.round((ms % 60_000) / 1000)).padStart(2, '0')}s`;
}

/**
 * One event as the `-p` view shows it: Claude's text as it arrives, one line per tool call (and a line for a
 * failed tool), the closing summary with turns, time, tokens and cost, the diff summary, the pushed branch.
 * '' for events that add nothing (status changes, output, working/done activity).
 */
export function formatPromptEvent(event: Pick<TaskEvent, 'type' | 'data'>, taskId: string, color: boolean): string {
  const c = paint(color);
  const d = event.data;
  switch (event.type) {
    case 'info':
      return `${c.dim(str(d.message))}\n`;
    case 'assistant_text':
      return `${c.bold('●')} ${str(d.text).replace(/\n/g, '\n  ')}\n`;
    case 'tool_use':
      return `${c.cyan('→')} ${str(d.summary) || str(d.name)}\n`;
    case 'tool_result':
      return d.ok === false ? `  ${c.red('✗')} ${str(d.summary)}\n` : '';
    case 'result': {
      const u = (d.usage ?? {}) as Record<string, unknown>;
      const input = num(u.inputTokens) + num(u.cacheReadTokens) + num(u.cacheCreationTokens);
      const turns = num(d.turns);
      const facts = `${turns} turn${turns === 1 ? '' : 's'} · ${seconds(num(d.durationMs))} · ${input} in / ${num(u.outputTokens)} out tokens · ${usd(num(d.costUsd))}`;
      return d.ok === true
        ? `${c.green('✓ done')} ${c.dim(facts)}\n`
        : `${c.red(`✗ ${str(d.text) || str(d.subtype) || 'error'}`)}\n${c.dim(facts)}\n`;
    }
    case 'diff': {
      const changed = num(d.filesChanged) > 0;
      const where = changed ? ` · full diff: rclaude cp ${taskId}:${str(d.diffPath)} .` : '';
      return `${c.dim(`changes: ${str(d.summary)}${where}`)}\n`;
    }
    case 'push':
      return d.pushedTo === null
        ? `${c.dim(`committed to branch ${str(d.branch)} (${str(d.commit).slice(0, 12)}), not pushed`)}\n`
        : `${c.dim(`pushed branch ${str(d.branch)} (${str(d.commit).slice(0, 12)}) to ${str(d.pushedTo)}`)}\n`;
    case 'activity':
      return d.activity === 'waiting' ? `\x07${c.bold('?')} waiting for input: ${str(d.message)}\n` : '';
    case 'error':
      return `${c.red(`error: ${str(d.message)}`)}\n`;
    default:
      return '';
  }
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
      out.write(`${JSON.stringify(event)}\n`);
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
    const socket: ClientSocket = io(`${api.server}/client`, {
      transports: ['websocket'],
      auth: { token: api.token },
      reconnectionDelay: 250,
      reconnectionDelayMax: 4000,
    });
    const onSigint = () => {
      finish(new CliError(`interrupted; the task keeps running. See it with: rclaude attach ${taskId}`, 130));
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
            paint(true).dim(
              `continue the conversation: rclaude attach ${taskId} · release the sandbox: rclaude stop ${taskId}\n`,
            ),
          );
        }
        return finish(task.exitCode);
      }
      if (!opts.json)
        err.write(`rclaude: task ${taskId} ${task.status}${task.statusReason ? `: ${task.statusReason}` : ''}\n`);
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
    const session = await api.request<SessionInfo>('POST', `/api/tasks/${encodeURIComponent(task.id)}/continue`, size);
    return { sessionId: session.id, continued: true };
  } catch (e) {
    // The prompt is still running: watch it.
    if (e instanceof AppError && e.code === 'CONFLICT') return { sessionId: task.mainSessionId, continued: false };
    throw e;
  }
}
