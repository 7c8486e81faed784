import { StringDecoder } from 'node:string_decoder';
import {
  type Ack,
  AppError,
  type AttachResult,
  type ClientToServerEvents,
  type ExitInfo,
  isTerminal,
  MAX_INPUT_FRAME_BYTES,
  OffsetAssembler,
  type ServerToClientEvents,
  type Task,
} from '@rclaude/protocol';
import { io, type Socket } from 'socket.io-client';
import { CliError } from '../errors.js';
import { describeKeys, KeyWatcher } from './keys.js';
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
  stdin: NodeJS.ReadStream;
  stdout: NodeJS.WriteStream;
  stderr: NodeJS.WriteStream;
}

export type AttachOutcome =
  | { kind: 'exited'; exitCode: number; signal: string | null }
  | { kind: 'detached' }
  | { kind: 'dropped' }
  | { kind: 'ended'; task: Task };

type ClientSocket = Socket<ServerToClientEvents, ClientToServerEvents>;

/**
 * Attaches the local terminal to a remote session: raw mode, the remote screen, live output acknowledged
 * only once written (so a slow terminal slows the remote program instead of filling memory), typed input,
 * resizes, detach keys, and automatic re-attach from the last byte after a dropped connection. The local
 * terminal is restored on every way out.
 */
export function attachTerminal(opts: AttachOptions): Promise<AttachOutcome> {
  const { stdin, stdout, stderr } = opts;
  const tty = stdin.isTTY === true && stdout.isTTY === true;
  const status = new StatusLine(stderr, stderr.isTTY === true);
  const keys = new KeyWatcher(opts.detachKeys);
  const decoder = new StringDecoder('utf8');
  let assembler: OffsetAssembler | null = null;
  let exit: ExitInfo | null = null;
  let endedTask: Task | null = null;
  let attachedOnce = false;
  let seenOutput = false;
  let interrupts = 0;
  let writing = 0;

  const socket: ClientSocket = io(`${opts.server}/client`, {
    transports: ['websocket'],
    auth: { token: opts.token },
    reconnectionDelay: 250,
    reconnectionDelayMax: 4000,
  });

  return new Promise<AttachOutcome>((resolve, reject) => {
    let done = false;
    const cleanup = () => {
      status.clear();
      stdin.off('data', onInput);
      stdin.off('end', onEnd);
      stdout.off('resize', onResize);
      process.off('SIGINT', onSigint);
      process.off('SIGTERM', onSigterm);
      process.off('exit', restore);
      restore();
      stdin.pause();
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

    /**
     * Input typed while nothing could receive it (before the attach is answered, before the process exists,
     * while the sandbox's agent or this connection is away) waits here and goes out, in order, once the
     * session can take it again. Bounded: a person does not type megabytes blind.
     */
    let held: string[] = [];
    let heldBytes = 0;
    /** Attached, and the session's process is running with its agent connected. */
    let inputOpen = false;
    const HELD_MAX_BYTES = 256 * 1024;
    const sendInput = (text: string) => {
      if (!text || opts.readOnly) return;
      if (!inputOpen) {
        if (heldBytes + text.length > HELD_MAX_BYTES) return;
        held.push(text);
        heldBytes += text.length;
        return;
      }
      for (let i = 0; i < text.length; i += MAX_INPUT_FRAME_BYTES / 4) {
        socket.emit('pty:input', { sessionId: opts.sessionId, data: text.slice(i, i + MAX_INPUT_FRAME_BYTES / 4) });
      }
    };
    const openInput = () => {
      inputOpen = true;
      const queued = held;
      held = [];
      heldBytes = 0;
      for (const text of queued) sendInput(text);
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
      if (!opts.readOnly && stdout.columns && stdout.rows) {
        socket.emit('pty:resize', { sessionId: opts.sessionId, cols: stdout.columns, rows: stdout.rows });
      }
    };
    const onSigint = () => {
      // Only reached when not in raw mode (piped input): forward once, give up on the second.
      interrupts++;
      if (interrupts > 1) return finish(new CliError('interrupted', 2));
      socket.emit('pty:signal', { sessionId: opts.sessionId, signal: 'SIGINT' });
    };
    const onSigterm = () => finish(new CliError('terminated', 2));

    const maybeFinish = () => {
      if (exit && assembler && assembler.next >= exit.endOffset && writing === 0) {
        finish({ kind: 'exited', exitCode: exit.exitCode, signal: exit.signal });
      } else if (endedTask && !exit) {
        // The task ended without an exit of this session (stopped, or its sandbox failed): give a late
        // pty:exit a moment to arrive, then report the task's end.
        const task = endedTask;
        setTimeout(() => !done && !exit && finish({ kind: 'ended', task }), 1500).unref();
      }
    };

    const attach = (from: number | 'screen') => {
      socket.emit(
        'session:attach',
        {
          sessionId: opts.sessionId,
          from,
          readOnly: opts.readOnly,
          ...(stdout.columns && stdout.rows ? { cols: stdout.columns, rows: stdout.rows } : {}),
        },
        (res: Ack<AttachResult>) => {
          if (!res.ok) {
            if (res.error.code === 'BAD_REQUEST' && from !== 'screen') return attach('screen');
            return finish(AppError.from(res.error));
          }
          const { screen, from: start, session } = res.data;
          if (screen?.data) {
            if (tty) stdout.write('\x1b[H\x1b[2J\x1b[3J');
            stdout.write(screen.data);
            seenOutput = true;
          }
          assembler = new OffsetAssembler(start);
          if (session.status === 'running' && session.agentConnected) openInput();
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
          if (session.status === 'exited' && session.exitCode !== null && !exit) {
            exit = { sessionId: session.id, exitCode: session.exitCode, signal: null, endOffset: session.outputEnd };
          }
          maybeFinish();
        },
      );
    };

    socket.on('connect', () => {
      socket.emit('task:subscribe', { taskId: opts.task.id }, () => undefined);
      attach(assembler ? assembler.next : opts.from);
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
      status.show('connection lost; reconnecting…');
    });
    socket.on('disconnect', (reason) => {
      inputOpen = false;
      if (!done && reason !== 'io client disconnect') status.show('connection lost; reconnecting…');
    });
    socket.on('pty:output', (sessionId, offset, data) => {
      if (sessionId !== opts.sessionId || !assembler) return;
      const fresh = assembler.accept(offset, new Uint8Array(data));
      if (fresh === 'gap') {
        // Bytes we never saw were dropped from the bounded log: redraw from the current screen.
        socket.emit('session:detach', { sessionId: opts.sessionId });
        assembler = null;
        return attach('screen');
      }
      if (fresh.byteLength === 0) return;
      if (!seenOutput) {
        seenOutput = true;
        status.clear();
      }
      const upTo = assembler.next;
      writing++;
      stdout.write(fresh, () => {
        writing--;
        socket.emit('pty:ack', { sessionId: opts.sessionId, offset: upTo });
        maybeFinish();
      });
    });
    socket.on('pty:exit', (info) => {
      if (info.sessionId !== opts.sessionId) return;
      exit = info;
      maybeFinish();
    });
    socket.on('task:updated', (task) => {
      if (task.id !== opts.task.id) return;
      if (opts.startProgress && !seenOutput) {
        if (task.status === 'queued' || task.status === 'starting')
          status.progress(`starting sandbox (${task.provider})`);
        else if (task.status === 'running') status.progress('starting the program');
      }
      if (isTerminal(task.status)) {
        endedTask = task;
        maybeFinish();
      }
    });
    socket.on('task:event', (event) => {
      // Claude is waiting for the person (a permission prompt, a question): a bell and a line, before any idle stop.
      if (event.taskId !== opts.task.id || event.type !== 'activity' || event.data.activity !== 'waiting') return;
      const message = typeof event.data.message === 'string' ? event.data.message : 'Claude is waiting for input';
      stderr.write('\x07');
      status.note(`waiting for input: ${message}`);
    });
    socket.on('session:status', (info) => {
      if (info.sessionId !== opts.sessionId) return;
      if (!info.agentConnected) {
        inputOpen = false;
        status.show(info.reason ?? 'sandbox disconnected; waiting for it…');
      } else {
        if (seenOutput) status.clear();
        if (assembler) openInput();
      }
    });
    socket.on('session:error', (info) => {
      if (info.sessionId && info.sessionId !== opts.sessionId) return;
      status.note(`${info.event}: ${info.error.message}`);
    });

    if (opts.startProgress) status.progress(`starting sandbox (${opts.task.provider})`);
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
  });
}
