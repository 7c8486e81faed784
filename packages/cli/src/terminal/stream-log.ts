import { createClientSocket } from '@rclaude/client';
import { type Ack, AppError, type AttachResult, isTerminal, OffsetAssembler } from '@rclaude/protocol';
import { CliError } from '../errors.js';

/** After its task ends, how long a followed session's own exit may take to arrive before the stream ends anyway. */
const END_GRACE_MS = 1500;

/**
 * Writes a session's stored output from its first retained byte, as a read-only viewer. Without `follow`
 * it stops at the end stored when it started; with `follow` it goes on until the session exits or, given
 * `task`, the task ends (a stopped task's session never reports an exit). Resumes from the last byte
 * written after a dropped connection. Returns the session's exit code if it has exited.
 */
export function streamLog(opts: {
  server: string;
  token: string;
  sessionId: string;
  follow: boolean;
  out: NodeJS.WritableStream;
  /** The task the session belongs to; `ended` says whether it has already reached a terminal status. */
  task?: { id: string; ended: () => Promise<boolean> };
  /** Told about bytes the bounded output log no longer holds (they are skipped). */
  warn?: (message: string) => void;
}): Promise<number | null> {
  const socket = createClientSocket({ baseUrl: opts.server, token: opts.token, reconnectionDelayMs: 250 });
  let assembler: OffsetAssembler | null = null;
  let target = Number.POSITIVE_INFINITY;
  let exitCode: number | null = null;
  let pending = 0;
  /** An attach is on its way; output gaps until it is answered are expected. */
  let attaching = false;
  let endTimer: NodeJS.Timeout | undefined;
  return new Promise((resolve, reject) => {
    let done = false;
    const finish = (err?: Error) => {
      if (done) return;
      done = true;
      clearTimeout(endTimer);
      socket.disconnect();
      if (err) reject(err);
      else resolve(exitCode);
    };
    const check = () => {
      if (assembler && assembler.next >= target && pending === 0) finish();
    };

    /** `final`: the task has ended, so the end stored now is the end of the output. */
    const attach = (final: boolean) => {
      attaching = true;
      const from = assembler?.next ?? 0;
      socket.emit('session:attach', { sessionId: opts.sessionId, from, readOnly: true }, (res: Ack<AttachResult>) => {
        attaching = false;
        if (!res.ok) return finish(AppError.from(res.error));
        const { session, from: start } = res.data;
        if (start > from) {
          opts.warn?.(`${start - from} bytes of output are no longer kept; continuing from byte ${start}`);
        }
        if (!assembler) assembler = new OffsetAssembler(start);
        else if (start > assembler.next) assembler.next = start;
        if (session.status === 'exited') {
          exitCode = session.exitCode;
          target = session.outputEnd;
        } else if (!opts.follow || final) {
          target = Math.min(target, session.outputEnd);
        }
        check();
      });
    };
    const taskEnded = () => {
      if (endTimer || done) return;
      // The session's exit (and the output before it) usually follows its task's end; give it a moment.
      endTimer = setTimeout(() => {
        if (!done && target === Number.POSITIVE_INFINITY) attach(true);
      }, END_GRACE_MS);
    };

    socket.on('connect', () => {
      attach(endTimer !== undefined);
      const task = opts.task;
      if (!opts.follow || !task) return;
      socket.emit('task:subscribe', { taskId: task.id }, (res) => {
        if (!res.ok) return finish(AppError.from(res.error));
        // It may have ended before we subscribed, when no update would tell us.
        task.ended().then(
          (ended) => ended && taskEnded(),
          () => undefined,
        );
      });
    });
    socket.on('connect_error', (err) => {
      const data = (err as Error & { data?: { code?: string; message?: string } }).data;
      if (data?.code) return finish(new AppError(data.code as 'UNAUTHENTICATED', data.message ?? err.message));
      if (!assembler) finish(new CliError(`cannot reach the rclaude server at ${opts.server} (${err.message})`));
    });
    socket.on('pty:output', (sessionId, offset, data) => {
      if (sessionId !== opts.sessionId || !assembler) return;
      const fresh = assembler.accept(offset, new Uint8Array(data));
      if (fresh === 'gap') {
        // The log dropped bytes we had not read yet: attach again from where we are to learn where it resumes.
        if (!attaching) attach(endTimer !== undefined);
        return;
      }
      if (fresh.byteLength === 0) return;
      const upTo = assembler.next;
      pending++;
      opts.out.write(fresh, () => {
        pending--;
        socket.emit('pty:ack', { sessionId: opts.sessionId, offset: upTo });
        check();
      });
    });
    socket.on('pty:exit', (info) => {
      if (info.sessionId !== opts.sessionId) return;
      exitCode = info.exitCode;
      target = info.endOffset;
      check();
    });
    socket.on('task:updated', (task) => {
      if (task.id === opts.task?.id && isTerminal(task.status)) taskEnded();
    });
  });
}
