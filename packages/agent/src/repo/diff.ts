import { randomBytes } from 'node:crypto';
import { copyFile, lstat, mkdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type AgentTaskEventData, DIFF_EVENT_MAX_FILES } from '@rclaude/protocol';
import { BASE_CONFIG_KEY, RCLAUDE_DIR } from './clone.js';
import { EMPTY_TREE, git, type RunGitOptions, runGit } from './git.js';

/** Where the full diff is written, relative to the workspace (downloadable through the file API). */
export const CHANGES_DIFF_PATH = `${RCLAUDE_DIR}/changes.diff`;

export type DiffSummary = AgentTaskEventData<'diff'>;

/**
 * What changed in the workspace's repository since the task cloned it: committed, staged, unstaged and
 * untracked (not ignored) changes alike. Writes the full unified diff to {@link CHANGES_DIFF_PATH} and returns
 * the summary for the `diff` event, or null when the workspace is not a git repository.
 *
 * Untracked files are included by staging everything into a throwaway copy of the index, so the user's own
 * index (what they staged) is left exactly as it was.
 */
export async function recordChanges(workspace: string, env: Record<string, string>): Promise<DiffSummary | null> {
  if (!(await lstat(join(workspace, '.git')).catch(() => null))) return null;
  const plain = { cwd: workspace, env: { ...env, GIT_TERMINAL_PROMPT: '0' } };
  const base = await baseCommit(plain);
  return withEverythingStaged(plain, base, async (opts) => {
    const numstat = await git(['diff', '--cached', '--no-renames', '--numstat', '-z', base], opts);
    await mkdir(join(workspace, RCLAUDE_DIR), { recursive: true });
    const diffFile = join(workspace, CHANGES_DIFF_PATH);
    await git(['diff', '--cached', '--no-renames', '--no-color', `--output=${diffFile}`, base], opts);
    const files = parseNumstat(numstat);
    const additions = files.reduce((n, f) => n + (f.additions ?? 0), 0);
    const deletions = files.reduce((n, f) => n + (f.deletions ?? 0), 0);
    return {
      files: files.slice(0, DIFF_EVENT_MAX_FILES),
      filesChanged: files.length,
      additions,
      deletions,
      diffPath: CHANGES_DIFF_PATH,
      diffBytes: (await stat(diffFile)).size,
      summary: describeChanges(files.length, additions, deletions),
    };
  });
}

/**
 * Runs `fn` with a throwaway copy of the index holding everything in the work tree (untracked files too,
 * ignored ones not), so the user's own index (what they staged) is left exactly as it was. rclaude's own
 * folder never counts (whether or not the clone excluded it, and even when the repository tracks files
 * there): its entries go back to what `since` has (a commit, or {@link EMPTY_TREE} for none).
 */
export async function withEverythingStaged<T>(
  opts: RunGitOptions,
  since: string,
  fn: (staged: RunGitOptions) => Promise<T>,
): Promise<T> {
  const index = join(tmpdir(), `rclaude-index-${randomBytes(6).toString('hex')}`);
  const staged = { ...opts, env: { ...opts.env, GIT_INDEX_FILE: index } };
  try {
    const realIndex = join(opts.cwd, '.git', 'index');
    if (await lstat(realIndex).catch(() => null)) await copyFile(realIndex, index);
    await git(['add', '-A'], staged);
    if (since === EMPTY_TREE) await git(['rm', '-r', '-q', '--cached', '--ignore-unmatch', '--', RCLAUDE_DIR], staged);
    else await git(['reset', '-q', since, '--', RCLAUDE_DIR], staged);
    return await fn(staged);
  } finally {
    await rm(index, { force: true });
  }
}

async function baseCommit(opts: RunGitOptions): Promise<string> {
  const recorded = await runGit(['config', '--get', BASE_CONFIG_KEY], opts);
  if (recorded.code === 0 && recorded.stdout.trim()) return recorded.stdout.trim();
  const head = await runGit(['rev-parse', '--verify', '-q', 'HEAD'], opts);
  return head.code === 0 ? head.stdout.trim() : EMPTY_TREE;
}

/** `git diff --numstat -z` (renames off): `added\tdeleted\tpath\0` per file, `-` counts for binary files. */
export function parseNumstat(text: string): DiffSummary['files'] {
  const files: DiffSummary['files'] = [];
  for (const record of text.split('\0')) {
    const m = /^(-|\d+)\t(-|\d+)\t([\s\S]+)$/.exec(record);
    if (!m) continue;
    files.push({
      path: m[3] as string,
      additions: m[1] === '-' ? null : Number(m[1]),
      deletions: m[2] === '-' ? null : Number(m[2]),
    });
  }
  return files;
}

export function describeChanges(files: number, additions: number, deletions: number): string {
  if (files === 0) return 'no changes';
  return `${files} file${files === 1 ? '' : 's'} changed, +${additions} -${deletions}`;
}
