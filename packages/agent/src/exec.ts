import { spawn } from 'node:child_process';
import { constants } from 'node:os';
import path from 'node:path';
import { type AgentExecRequest, AppError, type ExecuteResult } from '@rclaude/protocol';

/** stdout and stderr are each kept up to this many bytes; the rest is counted but dropped. */
export const EXEC_OUTPUT_CAP_BYTES = 1024 * 1024;

/**
 * Runs a command to completion in the workspace (no PTY) and returns its exit code and output. A string is
 * a shell command line; an array is an argv run without a shell. The command runs in its own process group
 * so a timeout kills everything it started.
 */
export function runCommand(
  req: AgentExecRequest,
  opts: { workspace: string; env: Record<string, string> },
): Promise<ExecuteResult> {
  const cwd = req.cwd ? path.resolve(opts.workspace, req.cwd) : opts.workspace;
  if (cwd !== opts.workspace && !cwd.startsWith(opts.workspace + path.sep)) {
    return Promise.reject(new AppError('PATH_REFUSED', 'cwd must stay inside the workspace'));
  }
  const [file, ...args] = typeof req.command === 'string' ? ['/bin/sh', '-c', req.command] : req.command;
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const child = spawn(file as string, args, {
      cwd,
      env: { ...opts.env, ...req.env },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    const out = collector();
    const err = collector();
    child.stdout.on('data', out.push);
    child.stderr.on('data', err.push);
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      killGroup(child.pid, 'SIGKILL');
    }, req.timeoutMs);
    child.on('error', (e: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      if (e.code === 'ENOENT') reject(new AppError('BAD_REQUEST', `command not found: ${file}`));
      else reject(new AppError('INTERNAL', `could not run ${file}`, { cause: e }));
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({
        exitCode: code ?? 128 + signalNumber(signal),
        signal: signal ?? null,
        stdout: out.text(),
        stderr: err.text(),
        truncated: out.truncated() || err.truncated(),
        timedOut,
        durationMs: Math.round(performance.now() - started),
      });
    });
  });
}

function collector() {
  const parts: Buffer[] = [];
  let kept = 0;
  let dropped = 0;
  return {
    push: (b: Buffer) => {
      const room = EXEC_OUTPUT_CAP_BYTES - kept;
      if (room > 0) {
        parts.push(b.length > room ? b.subarray(0, room) : b);
        kept += Math.min(room, b.length);
      }
      dropped += Math.max(0, b.length - Math.max(room, 0));
    },
    text: () => Buffer.concat(parts).toString('utf8'),
    truncated: () => dropped > 0,
  };
}

function killGroup(pid: number | undefined, signal: NodeJS.Signals): void {
  if (!pid) return;
  try {
    process.kill(-pid, signal);
  } catch {
    // Already exited.
  }
}

function signalNumber(signal: NodeJS.Signals | null): number {
  return signal ? (constants.signals[signal] ?? 0) : 0;
}
