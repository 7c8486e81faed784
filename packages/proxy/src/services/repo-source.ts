import { execFile } from 'node:child_process';
import { mkdtemp, open, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import {
  AppError,
  branchNameSchema,
  type ProviderName,
  repoSourceKind,
  repoUrlHasCredentials,
  type SessionRepo,
} from '@rclaude/protocol';
import type { AgentRpc } from './agent-rpc.js';

/** Where the proxy puts a local repository's bundle in the workspace (the agent clones from it, then deletes it). */
export const REPO_BUNDLE_PATH = '.rclaude/repo.bundle';
const UPLOAD_CHUNK_BYTES = 512 * 1024;

function runGit(args: string[]): Promise<{ ok: boolean; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      'git',
      args,
      { env: { ...process.env, GIT_TERMINAL_PROMPT: '0' }, maxBuffer: 1024 * 1024, timeout: 120_000 },
      (err, stdout, stderr) => resolve({ ok: !err, stdout, stderr }),
    );
  });
}

/**
 * Checks a task's `repo` and `branch` before anything starts:
 * - https (or http) URLs, without credentials in them: a token belongs in the user's secrets
 *   (GITHUB_TOKEN, GIT_TOKEN), from where the agent's credential helper reads it; the URL is stored in the
 *   database and shown in listings.
 * - an absolute path on this machine, for the local provider and admins only: the server reads it as its
 *   own OS user, so it is as privileged as the server's files. It must be a git repository with commits.
 */
export async function validateRepo(
  repo: string,
  branch: string | null,
  ctx: { provider: ProviderName; admin: boolean },
): Promise<void> {
  if (branch !== null && !branchNameSchema.safeParse(branch).success) {
    throw new AppError('BAD_REQUEST', `invalid branch "${branch}"`);
  }
  const kind = repoSourceKind(repo);
  if (kind === null) {
    throw new AppError(
      'BAD_REQUEST',
      'the repository must be an https:// URL (or, on the local provider, an absolute path)',
    );
  }
  if (kind !== 'path') {
    if (repoUrlHasCredentials(repo)) {
      throw new AppError(
        'BAD_REQUEST',
        'do not put credentials in the repository URL: store the token as a secret (GITHUB_TOKEN, or GIT_TOKEN for other hosts) and it is used to clone',
      );
    }
    return;
  }
  if (ctx.provider !== 'local') {
    throw new AppError(
      'BAD_REQUEST',
      'a local path as repository works on the local provider only; use an https:// URL',
    );
  }
  if (!ctx.admin) throw new AppError('FORBIDDEN', 'only admins may clone a path on the server machine');
  const dir = path.resolve(repo);
  const check = await runGit([
    '-c',
    `safe.directory=${dir}`,
    '-C',
    dir,
    'rev-parse',
    '--verify',
    '-q',
    branch ? `refs/heads/${branch}` : 'HEAD',
  ]);
  if (!check.ok) {
    throw new AppError(
      'BAD_REQUEST',
      branch
        ? `${repo} is not a git repository with a branch ${branch}`
        : `${repo} is not a git repository with commits`,
    );
  }
}

/**
 * Bundles the local repository `dir` (all its branches and tags) and writes the bundle into the sandbox's
 * workspace through the agent's file RPC, so the same clone path serves every provider. Returns the
 * session's repo for `session:open`.
 */
export async function uploadLocalRepo(
  rpc: AgentRpc,
  sandboxId: string,
  repo: { url: string; branch: string | null },
): Promise<SessionRepo> {
  const dir = path.resolve(repo.url);
  const scratch = await mkdtemp(path.join(tmpdir(), 'rclaude-bundle-'));
  try {
    const file = path.join(scratch, 'repo.bundle');
    const made = await runGit(['-c', `safe.directory=${dir}`, '-C', dir, 'bundle', 'create', file, '--all']);
    if (!made.ok) {
      throw new AppError(
        'SANDBOX_START_FAILED',
        `could not bundle ${repo.url}: ${made.stderr.trim().split('\n').at(-1) ?? ''}`,
      );
    }
    const handle = await open(file, 'r');
    try {
      const buffer = Buffer.alloc(UPLOAD_CHUNK_BYTES);
      let first = true;
      for (;;) {
        const { bytesRead } = await handle.read(buffer, 0, UPLOAD_CHUNK_BYTES, null);
        if (bytesRead === 0 && !first) break;
        await rpc.call(sandboxId, 'files:write', {
          path: REPO_BUNDLE_PATH,
          data: new Uint8Array(buffer.subarray(0, bytesRead)),
          mode: first ? 'truncate' : 'append',
        });
        first = false;
        if (bytesRead < UPLOAD_CHUNK_BYTES) break;
      }
    } finally {
      await handle.close();
    }
    return { url: repo.url, branch: repo.branch, bundlePath: REPO_BUNDLE_PATH };
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}
