import { spawn } from 'node:child_process';
import { constants } from 'node:os';
import { createInterface } from 'node:readline';
import type { AgentTaskEvent } from '@rclaude/protocol';
import type { EventChannelClient } from '../claude/hooks-channel.js';
import { ensureRepository } from '../repo/clone.js';
import { claimFinish, finishRepository } from '../repo/finish.js';
import { renderEvent } from './render.js';
import type { SessionRunSpec } from './run-spec.js';
import { eventsFromStreamLine, parseStreamLine } from './stream-json.js';

export interface SessionRunnerIo {
  /** The session's terminal. */
  stdout: NodeJS.WritableStream;
  env: Record<string, string>;
  /** The agent's event channel; null when there is none (events are then only shown). */
  channel: EventChannelClient | null;
  color: boolean;
}

/**
 * Runs in a session's PTY, between the agent and the program, when there is more to do than start it:
 * 1. clones the task's repository into the workspace (progress on the terminal);
 * 2. runs the program: as is (stdio inherited, so an interactive Claude Code owns the terminal), or for a
 *    prompt task as `claude -p` with the prompt on stdin, turning each stream-json line into a task event
 *    sent to the agent and a readable line on the terminal;
 * 3. records the repository's changes as a `diff` event, and commits and pushes them to a new branch when the
 *    task asked for it (a `push` event): repo/finish.ts, unless the agent did it first for a stop or a
 *    hibernation (the spec's `finishMarker` exists then).
 * Resolves with the exit code the session should report: the program's, or 1 when a prompt ended in error.
 */
export async function runSession(spec: SessionRunSpec, io: SessionRunnerIo): Promise<number> {
  const emit = (event: AgentTaskEvent) => {
    io.channel?.send({ kind: 'event', sessionId: spec.sessionId, type: event.type, data: event.data });
    const text = renderEvent(event, { color: io.color });
    if (text) io.stdout.write(text);
  };
  if (spec.repo) {
    try {
      const done = await ensureRepository({
        workspace: spec.workspace,
        repo: spec.repo,
        env: io.env,
        progress: io.stdout,
      });
      if (done === 'cloned') {
        emit({
          type: 'info',
          data: { message: `cloned ${spec.repo.url}${spec.repo.branch ? ` (branch ${spec.repo.branch})` : ''}` },
        });
      }
    } catch (err) {
      emit({
        type: 'error',
        data: { message: `could not clone the repository: ${(err as Error).message}`.slice(0, 2000) },
      });
      await io.channel?.flush();
      return 1;
    }
  }
  const code = spec.prompt === null ? await runInherited(spec, io) : await runPrompt(spec, spec.prompt, io, emit);
  // The agent may have done this already, when the sandbox was stopped or hibernated before the program exited.
  if (spec.repo && (!spec.finishMarker || (await claimFinish(spec.finishMarker)))) {
    await finishRepository(
      { workspace: spec.workspace, repo: spec.repo, prompt: spec.prompt },
      { env: io.env, when: 'exited' },
      emit,
    );
  }
  await io.channel?.flush();
  return code;
}

function exitCodeOf(code: number | null, signal: NodeJS.Signals | null): number {
  if (code !== null) return code;
  return 128 + (signal ? (constants.signals[signal] ?? 0) : 0);
}

/** Runs the program on the terminal itself and waits for it. */
function runInherited(spec: SessionRunSpec, io: SessionRunnerIo): Promise<number> {
  const [program, ...args] = spec.command as [string, ...string[]];
  return new Promise((resolve) => {
    const child = spawn(program, args, { cwd: spec.workspace, env: io.env, stdio: 'inherit' });
    child.on('error', (err) => {
      io.stdout.write(`rclaude: cannot run ${program}: ${err.message}\n`);
      resolve(127);
    });
    child.on('exit', (code, signal) => resolve(exitCodeOf(code, signal)));
  });
}

/** Runs `claude -p` with the prompt on stdin and turns its stream-json lines into events. */
function runPrompt(
  spec: SessionRunSpec,
  prompt: string,
  io: SessionRunnerIo,
  emit: (event: AgentTaskEvent) => void,
): Promise<number> {
  const [program, ...args] = spec.command as [string, ...string[]];
  return new Promise((resolve) => {
    const child = spawn(program, args, { cwd: spec.workspace, env: io.env, stdio: ['pipe', 'pipe', 'inherit'] });
    let result: AgentTaskEvent | null = null;
    let failed = false;
    child.on('error', (err) => {
      failed = true;
      emit({ type: 'error', data: { message: `cannot run Claude Code: ${err.message}`.slice(0, 2000) } });
    });
    child.stdin.on('error', () => undefined);
    child.stdin.end(prompt);
    const lines = createInterface({ input: child.stdout, crlfDelay: Number.POSITIVE_INFINITY });
    lines.on('line', (line) => {
      const parsed = parseStreamLine(line);
      if (parsed === null) {
        if (line.trim()) io.stdout.write(`${line}\n`);
        return;
      }
      for (const event of eventsFromStreamLine(parsed, { workspace: spec.workspace })) {
        if (event.type === 'result') result = event;
        emit(event);
      }
    });
    child.on('close', (code, signal) => {
      const exit = failed ? 127 : exitCodeOf(code, signal);
      const final = result as AgentTaskEvent | null;
      if (final?.type !== 'result') {
        if (!failed)
          emit({ type: 'error', data: { message: `Claude Code exited with code ${exit} without a result` } });
        resolve(exit === 0 ? 1 : exit);
      } else {
        resolve(final.data.ok ? exit : exit === 0 ? 1 : exit);
      }
    });
  });
}
