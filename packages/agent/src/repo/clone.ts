import { randomBytes } from 'node:crypto';
import { appendFile, lstat, mkdir, readdir, rename, rm, rmdir, stat } from 'node:fs/promises';
import { join, relative, resolve, sep } from 'node:path';
import { repoSourceKind, type SessionRepo } from '@rclaude/protocol';
import { git, runGit } from './git.js';
import { gitCredentialConfig, gitEnv } from './git-credentials.js';

/** rclaude's own folder in the workspace: the uploaded bundle, clone scratch space, the full diff. */
export const RCLAUDE_DIR = '.rclaude';
/** Git config key holding the commit the task started from; diffs are taken against it. */
export const BASE_CONFIG_KEY = 'rclaude.base';

export interface EnsureRepositoryOptions {
  workspace: string;
  repo: SessionRepo;
  /** The session's environment (secrets included): credentials are read from it by a helper, at git's request. */
  env: Record<string, string>;
  /** Clone progress goes here (the session's terminal). */
  progress?: NodeJS.WritableStream;
}

/**
 * Makes the workspace a clone of `repo`, unless it already is one (a second session, or an agent restart).
 * Clones into a scratch folder inside the workspace and moves the result up, so files rclaude keeps there
 * (the uploaded bundle) do not make git refuse a non-empty folder. Records the starting commit for diffs,
 * keeps `.rclaude/` out of git's view, and leaves the credential helper in the clone's config (it names the
 * variable, not the token) so Claude Code can push with the same secret.
 */
export async function ensureRepository(opts: EnsureRepositoryOptions): Promise<'cloned' | 'present'> {
  const { workspace, repo } = opts;
  if (await exists(join(workspace, '.git'))) return 'present';
  const source = await cloneSource(workspace, repo);
  const scratch = join(workspace, RCLAUDE_DIR, `clone-${randomBytes(6).toString('hex')}`);
  await mkdir(join(workspace, RCLAUDE_DIR), { recursive: true });
  const env = gitEnv(opts.env, source.credentialsFor);
  try {
    const args = ['clone', '--progress', '--no-hardlinks'];
    if (repo.branch) args.push('--branch', repo.branch);
    await git([...args, '--', source.location, scratch], {
      cwd: workspace,
      env,
      ...(opts.progress ? { progress: opts.progress } : {}),
    });
    await moveInto(scratch, workspace);
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
  const inRepo = { cwd: workspace, env };
  if (repo.bundlePath) {
    await rm(source.location, { force: true });
    await git(['remote', 'set-url', 'origin', repo.url], inRepo);
  }
  const head = await runGit(['rev-parse', '--verify', '-q', 'HEAD'], inRepo);
  if (head.code === 0) await git(['config', BASE_CONFIG_KEY, head.stdout.trim()], inRepo);
  for (const { key, value } of gitCredentialConfig(repo.url, opts.env)) await git(['config', key, value], inRepo);
  await appendFile(join(workspace, '.git', 'info', 'exclude'), `\n/${RCLAUDE_DIR}/\n`);
  return 'cloned';
}

/** What to hand `git clone`, and which URL credentials may be offered to. */
async function cloneSource(
  workspace: string,
  repo: SessionRepo,
): Promise<{ location: string; credentialsFor: string | null }> {
  if (repo.bundlePath !== undefined) {
    const bundle = resolve(workspace, repo.bundlePath);
    const rel = relative(workspace, bundle);
    if (rel.startsWith('..') || rel.startsWith(sep) || !(await stat(bundle)).isFile()) {
      throw new Error(`the repository bundle ${repo.bundlePath} is not a file in the workspace`);
    }
    return { location: bundle, credentialsFor: null };
  }
  const kind = repoSourceKind(repo.url);
  if (kind === 'https' || kind === 'http') return { location: repo.url, credentialsFor: repo.url };
  throw new Error(
    kind === 'path'
      ? `a local path (${repo.url}) is only reachable through a bundle the server uploads`
      : 'the repository is neither an https URL nor a local path',
  );
}

/** Moves every entry of `from` into `to`, merging folders that exist on both sides; then removes `from`. */
async function moveInto(from: string, to: string): Promise<void> {
  for (const name of await readdir(from)) {
    const src = join(from, name);
    const dst = join(to, name);
    const there = await lstat(dst).catch(() => null);
    if (!there) {
      await rename(src, dst);
    } else if (there.isDirectory() && (await lstat(src)).isDirectory()) {
      await moveInto(src, dst);
    } else {
      throw new Error(`the workspace already holds ${name}; cannot clone over it`);
    }
  }
  await rmdir(from);
}

async function exists(path: string): Promise<boolean> {
  return (await lstat(path).catch(() => null)) !== null;
}
