import type { PushEventData, SessionRepo } from '@rclaude/protocol';
import { BASE_CONFIG_KEY, RCLAUDE_DIR } from './clone.js';
import { withEverythingStaged } from './diff.js';
import { EMPTY_TREE, git, type RunGitOptions, runGit } from './git.js';
import { gitEnv } from './git-credentials.js';

/** Where the branch is bundled for the proxy when the repository is a path on the server's machine. */
export const PUSH_BUNDLE_PATH = `${RCLAUDE_DIR}/push.bundle`;

export interface CommitAndPushOptions {
  workspace: string;
  repo: SessionRepo;
  branch: string;
  /** The session's environment (secrets included): the credential helper reads the token from it. */
  env: Record<string, string>;
  /** The commit message. */
  message: string;
  /** git's push progress goes here (the session's terminal). */
  progress?: NodeJS.WritableStream;
}

/**
 * Commits what changed in the workspace (as the `diff` event counts it: untracked files too, ignored files and
 * `.rclaude/` not) to the new branch `branch`, on top of HEAD as it is now (so commits Claude made are
 * included), without touching the work tree, the index or HEAD. Then pushes the branch to `origin`, refusing
 * to replace a branch of that name there. A repository cloned from a bundle (a path on the server's machine)
 * is out of the sandbox's reach: the branch is bundled into the workspace instead, for the proxy to fetch.
 * Returns null when nothing changed since the task started.
 */
export async function commitAndPush(opts: CommitAndPushOptions): Promise<PushEventData | null> {
  const { workspace, repo, branch } = opts;
  const ref = `refs/heads/${branch}`;
  const fromBundle = repo.bundlePath !== undefined;
  const base: RunGitOptions = { cwd: workspace, env: gitEnv(opts.env, fromBundle ? null : repo.url) };
  const head = (await runGit(['rev-parse', '--verify', '-q', 'HEAD'], base)).stdout.trim();
  const tree = await withEverythingStaged(base, head || EMPTY_TREE, async (staged) =>
    (await git(['write-tree'], staged)).trim(),
  );
  const headTree = head ? (await git(['rev-parse', `${head}^{tree}`], base)).trim() : '';
  let commit = head;
  if (tree !== headTree) {
    const parents = head ? ['-p', head] : [];
    const committer = { ...base, env: { ...base.env, ...(await identity(base)) } };
    commit = (await git(['commit-tree', tree, ...parents, '-m', opts.message], committer)).trim();
  }
  const started = (await runGit(['config', '--get', BASE_CONFIG_KEY], base)).stdout.trim();
  if (!commit || commit === started) return null;
  // An empty old value: the branch must not exist in the clone either.
  await git(['update-ref', '-m', 'rclaude: task changes', ref, commit, ''], base);
  if (fromBundle) {
    await git(['bundle', 'create', '-q', PUSH_BUNDLE_PATH, ref, ...(started ? ['--not', started] : [])], base);
    return { branch, commit, pushedTo: null, bundlePath: PUSH_BUNDLE_PATH };
  }
  // `--force-with-lease=REF:` with nothing after the colon: push only if the remote has no such branch.
  await git(['push', '--porcelain', `--force-with-lease=${ref}:`, 'origin', `${ref}:${ref}`], {
    ...base,
    ...(opts.progress ? { progress: opts.progress } : {}),
  });
  return { branch, commit, pushedTo: repo.url };
}

/** An author and committer for the commit when the user has configured none (a fresh sandbox has none). */
async function identity(opts: RunGitOptions): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  const name = opts.env.GIT_AUTHOR_NAME ?? (await runGit(['config', 'user.name'], opts)).stdout.trim();
  const email = opts.env.GIT_AUTHOR_EMAIL ?? (await runGit(['config', 'user.email'], opts)).stdout.trim();
  if (!name) Object.assign(out, { GIT_AUTHOR_NAME: 'rclaude', GIT_COMMITTER_NAME: 'rclaude' });
  if (!email) Object.assign(out, { GIT_AUTHOR_EMAIL: 'rclaude@localhost', GIT_COMMITTER_EMAIL: 'rclaude@localhost' });
  return out;
}

/** A commit message for a task's changes: the prompt's first line, or a plain one for interactive tasks. */
export function pushCommitMessage(prompt: string | null): string {
  const first = prompt?.trim().split('\n', 1)[0]?.trim() ?? '';
  const subject = first ? (first.length > 72 ? `${first.slice(0, 71)}…` : first) : 'Changes from an rclaude task';
  return `${subject}\n\nCommitted by rclaude when the task's program exited.${prompt && first !== prompt.trim() ? `\n\nPrompt:\n${prompt.trim()}` : ''}\n`;
}
