import { spawn } from 'node:child_process';

/** What a finished git command left behind. Output is kept up to {@link GIT_OUTPUT_MAX_BYTES} per stream. */
export interface GitResult {
  code: number;
  stdout: string;
  stderr: string;
}

const GIT_OUTPUT_MAX_BYTES = 4 * 1024 * 1024;

export interface RunGitOptions {
  cwd: string;
  env: Record<string, string>;
  /** Where git's stderr (progress) is copied as it arrives, e.g. the session's terminal. */
  progress?: NodeJS.WritableStream;
}

/** Runs `git ...args` without a shell. Never rejects for a non-zero exit: callers decide what failure means. */
export function runGit(args: string[], opts: RunGitOptions): Promise<GitResult> {
  return new Promise((resolve, reject) => {
    const child = spawn('git', args, { cwd: opts.cwd, env: opts.env, stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let outBytes = 0;
    let errBytes = 0;
    child.stdout.on('data', (d: Buffer) => {
      if (outBytes < GIT_OUTPUT_MAX_BYTES) out.push(d);
      outBytes += d.length;
    });
    child.stderr.on('data', (d: Buffer) => {
      opts.progress?.write(d);
      if (errBytes < GIT_OUTPUT_MAX_BYTES) err.push(d);
      errBytes += d.length;
    });
    child.on('error', reject);
    child.on('close', (code, signal) => {
      resolve({
        code: code ?? (signal ? 128 : 1),
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8'),
      });
    });
  });
}

/** Runs git and returns its stdout; a non-zero exit throws with git's own last line. */
export async function git(args: string[], opts: RunGitOptions): Promise<string> {
  const result = await runGit(args, opts);
  if (result.code !== 0) {
    const why = result.stderr.trim().split('\n').at(-1) ?? '';
    throw new Error(`git ${args[0] ?? ''} failed (exit ${result.code})${why ? `: ${why}` : ''}`);
  }
  return result.stdout;
}

/** The tree of a repository with no commit, for diffing an unborn branch. */
export const EMPTY_TREE = '4b825dc642cb6eb9a060e54bf8d69288fbee4904';
