import { randomBytes } from 'node:crypto';
import { appendFile, lstat, mkdir, readdir, rename, rm, rmdir, stat } from 'node:fs/promises';
import { join, relative, resolve, sep } from 'node:path';
import { repoSourceKind, type SessionRepo } from '@rclaude/protocol';
import { git, runGit } from './git.js';
import { gitEnv } from './git-env.js';

/** rclaude's own folder in the workspace: the uploaded bundle, clone scratch space, the full diff. */
export const RCLAUDE_DIR = '.rclaude';
/** Git config key holding the commit the task started from; diffs are taken against it. */
export const BASE_CONFIG_KEY = 'rclaude.base';

export interface EnsureRepositoryOptions {
  workspace: string;
  repo: SessionRepo;
  /** The session's environment (it holds no git credentials: the proxy cloned the repository). */
  env: Record<string, string>;
  /** Clone progress goes here (the session's terminal). */
  progress?: NodeJS.WritableStream;
}

/**
 * Makes the workspace a clone of `repo`, unless it already is one (a second session, an agent restart, a
 * checkpoint restored). The proxy uploaded the repository as a bundle (a path on its machine, or an https
 * repository it cloned with the owner's token, adr/0024): clones it into a scratch folder inside the workspace
 * and moves the result up, so files rclaude keeps there do not make git refuse a non-empty folder. Then points
 * `origin` at the real URL (no credentials: the sandbox has none), records the starting commit for diffs and
 * keeps `.rclaude/` out of git's view.
 */
export async function ensureRepository(opts: EnsureRepositoryOptions): Promise<'cloned' | 'present'> {
  const { workspace, repo } = opts;
  if (await exists(join(workspace, '.git'))) return 'present';
  const bundle = await bundleOf(workspace, repo);
  const scratch = join(workspace, RCLAUDE_DIR, `clone-${randomBytes(6).toString('hex')}`);
  await mkdir(join(workspace, RCLAUDE_DIR), { recursive: true });
  const env = gitEnv(opts.env);
  try {
    const args = ['clone', '--progress', '--no-hardlinks'];
    if (repo.branch) args.push('--branch', repo.branch);
    await git([...args, '--', bundle, scratch], {
      cwd: workspace,
      env,
      ...(opts.progress ? { progress: opts.progress } : {}),
    });
    await moveInto(scratch, workspace);
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
  const inRepo = { cwd: workspace, env };
  await rm(bundle, { force: true });
  await git(['remote', 'set-url', 'origin', repo.url], inRepo);
  // The clone's origin/* refs came from the bundle, which holds the remote's: `git log origin/main` reads as in
  // a clone of the URL.
  const head = await runGit(['rev-parse', '--verify', '-q', 'HEAD'], inRepo);
  if (head.code === 0) await git(['config', BASE_CONFIG_KEY, head.stdout.trim()], inRepo);
  await appendFile(join(workspace, '.git', 'info', 'exclude'), `\n/${RCLAUDE_DIR}/\n`);
  return 'cloned';
}

/** The bundle the proxy uploaded for `repo`, checked to be a file in the workspace. */
async function bundleOf(workspace: string, repo: SessionRepo): Promise<string> {
  if (repo.bundlePath === undefined) {
    const kind = repoSourceKind(repo.url);
    throw new Error(
      kind === 'path'
        ? `a local path (${repo.url}) is only reachable through a bundle the server uploads`
        : kind === 'https' || kind === 'http'
          ? `the server clones ${repo.url} for the sandbox, which holds no git credentials; it sent no bundle`
          : 'the repository is neither an https URL nor a local path',
    );
  }
  const bundle = resolve(workspace, repo.bundlePath);
  const rel = relative(workspace, bundle);
  if (rel.startsWith('..') || rel.startsWith(sep) || !(await stat(bundle)).isFile()) {
    throw new Error(`the repository bundle ${repo.bundlePath} is not a file in the workspace`);
  }
  return bundle;
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
