import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { type AgentTaskEvent, repoSourceKind, type SessionRepo } from '@rclaude/protocol';
import { recordChanges } from './diff.js';
import { commitForProxy, PUSH_BUNDLE_PATH, pushCommitMessage } from './push.js';

/** What a session's work is recorded from: its workspace, repository and prompt. */
export interface FinishSpec {
  workspace: string;
  repo: SessionRepo;
  /** The prompt of a prompt task (the commit message's subject), null for an interactive one. */
  prompt: string | null;
}

export interface FinishIo {
  /** The session's environment (a committer identity may be in it). */
  env: Record<string, string>;
  /** What ends the session, for the commit message. */
  when: 'exited' | 'stopped' | 'hibernated';
}

/**
 * Records what a session changed in its repository as a `diff` event, then, when its task asked for a push,
 * commits the changes to the branch and bundles it for the proxy to push (a `push` event, or an `info` when
 * nothing changed).
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
    // The sandbox holds no git credentials (adr/0024): the branch is committed on top of its last push (a branch
    // restored from a checkpoint included) and bundled for the proxy, which pushes it. Its whole history when the
    // remote is not on this machine's disk: the proxy keeps no copy of it.
    const made = await commitForProxy({
      workspace: spec.workspace,
      branch,
      message: pushCommitMessage(spec.prompt, io.when),
      full: repoSourceKind(spec.repo.url) !== 'path',
      env: io.env,
      bundlePath: PUSH_BUNDLE_PATH,
    });
    if (made.commit === null || made.bundlePath === null) {
      emit({ type: 'info', data: { message: `nothing to push to ${branch}: no changes` } });
      return;
    }
    emit({ type: 'push', data: { branch, commit: made.commit, pushedTo: null, bundlePath: made.bundlePath } });
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
