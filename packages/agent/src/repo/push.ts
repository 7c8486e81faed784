import { lstat, rm } from 'node:fs/promises';
import { join } from 'node:path';
import {
  type AgentRepoCommitResult,
  AppError,
  branchNameSchema,
  REPO_COMMIT_SUMMARY_MAX_CHARS,
} from '@rclaude/protocol';
import { BASE_CONFIG_KEY, RCLAUDE_DIR } from './clone.js';
import { withEverythingStaged } from './diff.js';
import { EMPTY_TREE, git, type RunGitOptions, runGit } from './git.js';
import { gitEnv } from './git-env.js';

/** Where the push at a session's end leaves the branch's bundle for the proxy (apart from `repo:commit`'s). */
export const PUSH_BUNDLE_PATH = `${RCLAUDE_DIR}/push.bundle`;

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
  /** Where the bundle goes in the workspace; default COMMIT_BUNDLE_PATH. */
  bundlePath?: string;
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
  const bundlePath = opts.bundlePath ?? COMMIT_BUNDLE_PATH;
  const base: RunGitOptions = { cwd: workspace, env: gitEnv(opts.env) };
  await rm(join(workspace, bundlePath), { force: true });
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
  await git(['bundle', 'create', '-q', bundlePath, ref, ...since], base);
  const stat = (await runGit(['diff', '--shortstat', started ?? EMPTY_TREE, commit], base)).stdout.trim();
  return {
    commit,
    started,
    bundlePath,
    summary: (stat || 'no changes').slice(0, REPO_COMMIT_SUMMARY_MAX_CHARS),
  };
}
