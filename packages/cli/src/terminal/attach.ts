import { StringDecoder } from 'node:string_decoder';
import {
  ansiStyle,
  createClientSocket,
  createSocketTerminalTransport,
  hibernateWarning,
  plainStyle,
  TerminalConnection,
  type TerminalConnectionState,
  type TerminalExit,
  taskEventLines,
} from '@rclaude/client';
import { AppError, isTerminal, type SessionPresence, type Task } from '@rclaude/protocol';
import { CliError } from '../errors.js';
import { describeKeys, KeyWatcher } from './keys.js';
import { driveRequestText, presenceText } from './presence-text.js';
import { StatusLine } from './status-line.js';

export interface AttachOptions {
  server: string;
  token: string;
  task: Task;
  sessionId: string;
  /** `screen` for the current screen then live output; a number to replay from that offset. */
  from: number | 'screen';
  readOnly: boolean;
  detachKeys: number[];
  /** Shown while the task is queued or starting (for `rclaude run`). */
  startProgress: boolean;
  /**
   * The task is being resumed from this checkpoint (`rclaude resume`, or `attach` on a hibernated task): the
   * progress says so, and the restore's outcome is shown before the program's output.
   */
  resumingFrom?: string | undefined;
  stdin: NodeJS.ReadStream;
  stdout: NodeJS.WriteStream;
  stderr: NodeJS.WriteStream;
}

export type AttachOutcome =
  | { kind: 'exited'; exitCode: number; signal: string | null }
  | { kind: 'detached' }
  | { kind: 'dropped' }
  | { kind: 'ended'; task: Task };

/** Input typed blind (before the session can take it) is kept up to this many characters. */
const HELD_INPUT_MAX_CHARS = 256 * 1024;

/** After its task ends, how long a session's own exit may take to arrive before the task's end is reported. */
const END_GRACE_MS = 1500;

/** Re-attach soon after a drop: the socket reconnects with its own backoff, and an attach waits for it. */
const reattachBackoffMs = (attempt: number) => Math.min(4000, 100 * 2 ** Math.max(0, attempt - 1));

const exitCodeOf = (exit: TerminalExit | null): number | null => exit?.exitCode ?? null;

/**
 * Attaches the local terminal to a remote session: raw mode, the remote screen, live output acknowledged
 * only once written (so a slow terminal slows the remote program instead of filling memory), typed input
 * (held until the session can take it), resizes, detach keys, and automatic re-attach from the last byte
 * after a dropped connection. The stream itself is @rclaude/client's TerminalConnection, the one the web
 * terminal runs on; this adds the local terminal, the status line and the task's progress. The local
 * terminal is restored on every way out.
 */
export function attachTerminal(opts: AttachOptions): Promise<AttachOutcome> {
  const { stdin, stdout, stderr } = opts;
  const tty = stdin.isTTY === true && stdout.isTTY === true;
  const status = new StatusLine(stderr, stderr.isTTY === true);
  const keys = new KeyWatcher(opts.detachKeys);
  const decoder = new StringDecoder('utf8');
  let endedTask: Task | null = null;
  let endTimer: NodeJS.Timeout | undefined;
  let attachedOnce = false;
  let seenOutput = false;
  let interrupts = 0;

  const socket = createClientSocket({
    baseUrl: opts.server,
    token: opts.token,
    reconnectionDelayMs: 250,
    reconnectionDelayMaxMs: 4000,
  });

  const startingText = (task: Task) =>
    opts.resumingFrom
      ? `starting sandbox (${task.provider}) to restore ${opts.resumingFrom}`
      : `starting sandbox (${task.provider})`;

  return new Promise<AttachOutcome>((resolve, reject) => {
    let done = false;
    const connection = new TerminalConnection({
      transport: createSocketTerminalTransport(socket, opts.sessionId),
      from: opts.from,
      readOnly: opts.readOnly,
      maxHeldInputChars: HELD_INPUT_MAX_CHARS,
      backoffMs: reattachBackoffMs,
      size: () => (stdout.columns && stdout.rows ? { cols: stdout.columns, rows: stdout.rows } : null),
      sink: {
        reset: () => {
          if (tty) stdout.write('\x1b[H\x1b[2J\x1b[3J');
        },
        write: (data, rendered) => {
          if (!seenOutput && data.length > 0) {
            seenOutput = true;
            status.clear();
          }
          stdout.write(data, () => rendered());
        },
      },
      onChange: (state) => onState(state),
    });
    let previous = connection.state;

    const cleanup = () => {
      status.clear();
      clearTimeout(endTimer);
      stdin.off('data', onInput);
      stdin.off('end', onEnd);
      stdout.off('resize', onResize);
      process.off('SIGINT', onSigint);
      process.off('SIGTERM', onSigterm);
      process.off('exit', restore);
      restore();
      stdin.pause();
      connection.dispose();
      socket.disconnect();
    };
    const finish = (outcome: AttachOutcome | Error) => {
      if (done) return;
      done = true;
      // Let pending writes reach the terminal before restoring it.
      stdout.write('', () => {
        cleanup();
        if (outcome instanceof Error) reject(outcome);
        else resolve(outcome);
      });
    };
    const restore = () => {
      if (tty && stdin.isRaw) stdin.setRawMode(false);
    };

    const maybeFinish = () => {
      const { exit, complete } = connection.state;
      const exitCode = exitCodeOf(exit);
      if (complete && exitCode !== null) {
        finish({ kind: 'exited', exitCode, signal: exit?.signal ?? null });
      } else if (endedTask && exitCode === null && !endTimer) {
        // The task ended without an exit of this session (stopped, or its sandbox failed): give a late
        // pty:exit a moment to arrive, then report the task's end.
        const task = endedTask;
        endTimer = setTimeout(() => {
          if (!done && exitCodeOf(connection.state.exit) === null) finish({ kind: 'ended', task });
        }, END_GRACE_MS);
        endTimer.unref();
      }
    };

    const onState = (state: TerminalConnectionState) => {
      if (done) return;
      const prev = previous;
      previous = state;
      if (state.status === 'failed') {
        finish(new AppError(state.errorCode ?? 'INTERNAL', state.error ?? 'cannot attach to the session'));
        return;
      }
      const waiting = (s: TerminalConnectionState) =>
        s.status === 'reconnecting' || (s.status === 'connecting' && s.attempt > 0);
      const live = (s: TerminalConnectionState) => s.status === 'connected' || s.status === 'exited';
      if (live(state) && !live(prev)) {
        if (!attachedOnce) {
          attachedOnce = true;
          if (tty && !opts.startProgress) {
            status.note(
              `attached to ${opts.task.id}${opts.readOnly ? ' (read-only)' : ''} · detach: ${describeKeys(opts.detachKeys)} · drop connection: Enter ~ .`,
            );
          }
        } else {
          status.clear();
        }
      } else if (waiting(state) && !waiting(prev)) {
        status.show(attachedOnce ? 'connection lost; reconnecting…' : `cannot attach yet (${state.error}); retrying…`);
      }
      if (state.agentConnected !== prev.agentConnected) {
        if (!state.agentConnected) status.show(state.agentReason ?? 'sandbox disconnected; waiting for it…');
        else if (seenOutput) status.clear();
      }
      maybeFinish();
    };

    const sendInput = (text: string) => {
      if (text) connection.input(text);
    };
    const onInput = (chunk: Buffer) => {
      for (const action of keys.feed(chunk)) {
        if ('detach' in action) return finish({ kind: 'detached' });
        if ('drop' in action) return finish({ kind: 'dropped' });
        sendInput(decoder.write(action.send));
      }
    };
    const onEnd = () => {
      // Piped stdin ran out: an end-of-file for the remote program (it reads in cooked mode).
      sendInput('\x04');
    };
    const onResize = () => {
      if (stdout.columns && stdout.rows) connection.resize(stdout.columns, stdout.rows);
    };
    const onSigint = () => {
      // Only reached when not in raw mode (piped input): forward once, give up on the second.
      interrupts++;
      if (interrupts > 1) return finish(new CliError('interrupted', 2));
      connection.signal('SIGINT');
    };
    const onSigterm = () => finish(new CliError('terminated', 2));

    socket.on('connect', () => {
      socket.emit('task:subscribe', { taskId: opts.task.id }, () => undefined);
    });
    socket.on('connect_error', (err) => {
      const data = (err as Error & { data?: { code?: string; message?: string } }).data;
      if (data?.code === 'UNAUTHENTICATED' || data?.code === 'ORIGIN_REFUSED') {
        return finish(new AppError(data.code, data.message ?? err.message));
      }
      if (!attachedOnce)
        return finish(
          new CliError(
            `cannot reach the rclaude server at ${opts.server} (${err.message})`,
            1,
            'is it running? start it with `rclaude server`',
          ),
        );
    });
    socket.on('task:updated', (task) => {
      if (task.id !== opts.task.id) return;
      if (opts.startProgress && !seenOutput) {
        if (task.status === 'queued' || task.status === 'starting') status.progress(startingText(task));
        else if (task.status === 'running')
          status.progress(
            opts.resumingFrom ? `restoring ${opts.resumingFrom}, then the program` : 'starting the program',
          );
      }
      if (isTerminal(task.status)) {
        endedTask = task;
        maybeFinish();
      }
    });
    socket.on('task:event', (event) => {
      if (event.taskId !== opts.task.id) return;
      const warning = hibernateWarning(event);
      if (warning) {
        // No input and no output for a while: a bell and a line. Any key is input, which restarts the idle clock.
        const at = new Date(warning.hibernateAt).toLocaleTimeString([], { hour12: false });
        stderr.write('\x07');
        status.note(
          opts.readOnly
            ? `idle: hibernating at ${at} (its work is checkpointed first); \`rclaude keep ${opts.task.id}\` keeps it running`
            : `idle: hibernating at ${at} (its work is checkpointed first); press any key to keep it running`,
        );
        return;
      }
      if (event.type === 'restore') {
        // The restored checkpoint, before the program's first output: what came back, how old it was.
        const style = stderr.isTTY === true ? ansiStyle : plainStyle;
        status.clear();
        for (const line of taskEventLines(event, { style })) stderr.write(`${line}\r\n`);
        return;
      }
      // An approval asked, answered elsewhere or timed out: a line (and a bell for a new one), so whoever is attached
      // knows the terminal prompt may already be decided.
      if (event.type.startsWith('approval_')) {
        const [line] = taskEventLines(event, { style: plainStyle });
        if (!line) return;
        if (event.type === 'approval_requested') stderr.write('\x07');
        status.note(line.startsWith('\x07') ? line.slice(1) : line);
        return;
      }
      // Claude is waiting for the person (a permission prompt, a question): a bell and a line, before any idle stop.
      if (event.type !== 'activity' || event.data.activity !== 'waiting') return;
      const message = typeof event.data.message === 'string' ? event.data.message : 'Claude is waiting for input';
      stderr.write('\x07');
      status.note(`waiting for input: ${message}`);
    });
    // Co-driving (docs/sharing.md): who is attached, and requests to type, as status lines (names escaped).
    let presence: SessionPresence | null = null;
    socket.on('session:presence', (p) => {
      if (p.sessionId !== opts.sessionId) return;
      const line = presenceText(p, presence);
      presence = p;
      if (line) status.note(line);
    });
    socket.on('share:drive-request', (r) => {
      if (r.taskId !== opts.task.id) return;
      if (r.state === 'pending') stderr.write('\x07');
      status.note(driveRequestText(r));
    });
    socket.on('session:error', (info) => {
      if (info.sessionId && info.sessionId !== opts.sessionId) return;
      status.note(`${info.event}: ${info.error.message}`);
    });

    if (opts.startProgress) status.progress(startingText(opts.task));
    if (tty) {
      stdin.setRawMode(true);
      process.on('exit', restore);
    } else {
      process.on('SIGINT', onSigint);
    }
    process.on('SIGTERM', onSigterm);
    stdin.on('data', onInput);
    stdin.on('end', onEnd);
    stdin.resume();
    stdout.on('resize', onResize);
    connection.start();
  });
}
