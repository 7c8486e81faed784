import { open } from 'node:fs/promises';
import { join } from 'node:path';
import type { AgentTaskEvent, SessionRepo } from '@rclaude/protocol';
import { recordChanges } from './diff.js';
import { commitAndPush, pushCommitMessage } from './push.js';

/** What a session's work is recorded from: its workspace, repository and prompt. */
export interface FinishSpec {
  workspace: string;
  repo: SessionRepo;
  /** The prompt of a prompt task (the commit message's subject), null for an interactive one. */
  prompt: string | null;
}

export interface FinishIo {
  /** The session's environment (secrets included): the credential helper reads the token from it. */
  env: Record<string, string>;
  /** git's push progress goes here (the session's terminal); none: dropped. */
  progress?: NodeJS.WritableStream;
  /** What ends the session, for the commit message. */
  when: 'exited' | 'stopped' | 'hibernated';
}

/**
 * Records what a session changed in its repository as a `diff` event, then, when its task asked for a push,
 * commits the changes to the new branch and pushes it (a `push` event, or an `info` when nothing changed).
 * Failures are `error` events, never a rejection. The one path for both ends of a session: the session runner
 * when the program exits, the agent when the proxy stops or hibernates the sandbox first (`repo:finish`).
 */
export async function finishRepository(
  spec: FinishSpec,
  io: FinishIo,
  emit: (event: AgentTaskEvent) => void,
): Promise<void> {
  try {
    const diff = await recordChanges(spec.workspace, io.env);
    if (diff) emit({ type: 'diff', data: diff });
  } catch (err) {
    emit({
      type: 'error',
      data: { message: `could not record the changes: ${(err as Error).message}`.slice(0, 2000) },
    });
  }
  const branch = spec.repo.pushBranch;
  if (!branch) return;
  try {
    const pushed = await commitAndPush({
      workspace: spec.workspace,
      repo: spec.repo,
      branch,
      env: io.env,
      message: pushCommitMessage(spec.prompt, io.when),
      ...(io.progress ? { progress: io.progress } : {}),
    });
    if (pushed) emit({ type: 'push', data: pushed });
    else emit({ type: 'info', data: { message: `nothing to push to ${branch}: no changes` } });
  } catch (err) {
    emit({
      type: 'error',
      data: { message: `could not push branch ${branch}: ${(err as Error).message}`.slice(0, 2000) },
    });
  }
}

/** The file whose creation claims a session's finish (in the agent's private runtime folder). */
export function finishMarkerPath(runtimeDir: string, sessionId: string): string {
  return join(runtimeDir, `finished-${sessionId.replace(/[^A-Za-z0-9_-]/g, '_')}`);
}

/**
 * Claims the finish of a session: true for the first caller (the marker file is created exclusively), false
 * for any later one, which then leaves the diff and the push to the first.
 */
export async function claimFinish(markerPath: string): Promise<boolean> {
  try {
    const handle = await open(markerPath, 'wx', 0o600);
    await handle.close();
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw err;
  }
}
