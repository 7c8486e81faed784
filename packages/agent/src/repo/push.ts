import { lstat, rm } from 'node:fs/promises';
import { join } from 'node:path';
import {
  type AgentRepoCommitResult,
  AppError,
  branchNameSchema,
  type PushEventData,
  REPO_COMMIT_SUMMARY_MAX_CHARS,
  type SessionRepo,
} from '@rclaude/protocol';
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
export function pushCommitMessage(prompt: string | null, when: 'exited' | 'stopped' | 'hibernated' = 'exited'): string {
  const first = prompt?.trim().split('\n', 1)[0]?.trim() ?? '';
  const subject = first ? (first.length > 72 ? `${first.slice(0, 71)}…` : first) : 'Changes from an rclaude task';
  const moment = when === 'exited' ? "the task's program exited" : `the task was ${when}`;
  return `${subject}\n\nCommitted by rclaude when ${moment}.${prompt && first !== prompt.trim() ? `\n\nPrompt:\n${prompt.trim()}` : ''}\n`;
}

/** Where `repo:commit` leaves the bundle of the branch for the proxy (removed by the next `repo:commit`). */
export const COMMIT_BUNDLE_PATH = `${RCLAUDE_DIR}/branch.bundle`;

export interface CommitForProxyOptions {
  workspace: string;
  branch: string;
  message: string;
  /** Bundle the whole history of the branch, not only what the task added (the proxy has no copy of it). */
  full: boolean;
  /** The agent's environment (a committer identity may be in it). No credentials are needed: nothing leaves. */
  env: Record<string, string>;
}

/**
 * `repo:commit`: commits the workspace as it is now (as the `diff` event counts it) onto `branch` of the clone,
 * without touching the work tree, the index or HEAD, and bundles the branch into the workspace for the proxy,
 * which pushes it with the user's credentials (the sandbox needs none). Called again later, it builds on the
 * branch's earlier commit, so each push is a fast-forward of the last: a new commit on top of the branch, with
 * HEAD as a second parent when Claude committed since (the branch then holds those commits too).
 */
export async function commitForProxy(opts: CommitForProxyOptions): Promise<AgentRepoCommitResult> {
  const { workspace, branch } = opts;
  if (!branchNameSchema.safeParse(branch).success) throw new AppError('BAD_REQUEST', `${branch} is not a branch name`);
  if (!(await lstat(join(workspace, '.git')).catch(() => null))) {
    throw new AppError('BAD_REQUEST', 'the workspace is not a git repository');
  }
  const ref = `refs/heads/${branch}`;
  const base: RunGitOptions = { cwd: workspace, env: gitEnv(opts.env, null) };
  await rm(join(workspace, COMMIT_BUNDLE_PATH), { force: true });
  const started = (await runGit(['config', '--get', BASE_CONFIG_KEY], base)).stdout.trim() || null;
  const head = (await runGit(['rev-parse', '--verify', '-q', 'HEAD'], base)).stdout.trim();
  const tip = (await runGit(['rev-parse', '--verify', '-q', ref], base)).stdout.trim();
  const tree = await withEverythingStaged(base, head || EMPTY_TREE, async (staged) =>
    (await git(['write-tree'], staged)).trim(),
  );
  const treeOf = async (commit: string) => (commit ? (await git(['rev-parse', `${commit}^{tree}`], base)).trim() : '');
  const isAncestor = async (a: string, b: string) =>
    (await runGit(['merge-base', '--is-ancestor', a, b], base)).code === 0;
  let parents: string[];
  if (tip) {
    const headIn = !head || (await isAncestor(head, tip));
    parents = headIn ? [tip] : [tip, head];
    if (headIn && tree === (await treeOf(tip))) parents = [];
  } else {
    parents = head ? [head] : [];
    if (head && tree === (await treeOf(head))) parents = [];
  }
  let commit = tip || head;
  if (parents.length > 0 || !commit) {
    const committer = { ...base, env: { ...base.env, ...(await identity(base)) } };
    const args = parents.flatMap((p) => ['-p', p]);
    commit = (await git(['commit-tree', tree, ...args, '-m', opts.message], committer)).trim();
  }
  if (commit === started) return { commit: null, started, bundlePath: null, summary: 'no changes' };
  await git(['update-ref', '-m', 'rclaude: task changes', ref, commit, tip], base);
  const since = started && !opts.full ? ['--not', started] : [];
  await git(['bundle', 'create', '-q', COMMIT_BUNDLE_PATH, ref, ...since], base);
  const stat = (await runGit(['diff', '--shortstat', started ?? EMPTY_TREE, commit], base)).stdout.trim();
  return {
    commit,
    started,
    bundlePath: COMMIT_BUNDLE_PATH,
    summary: (stat || 'no changes').slice(0, REPO_COMMIT_SUMMARY_MAX_CHARS),
  };
}
