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
import { type Bytes, readAgentFile, writeAgentFile } from './agent-files.js';
import type { AgentRpc } from './agent-rpc.js';
import { inRepo as inRepoArgs, lastLine, runGit } from './git.js';
import { bundleRemoteRepo, type GitAccess, gitCredentialFor, remoteTarget } from './git-remote.js';

/** Where the proxy puts a repository's bundle in the workspace (the agent clones from it, then deletes it). */
export const REPO_BUNDLE_PATH = '.rclaude/repo.bundle';
/** Bytes per `files:read`/`files:write` RPC, as the file routes use. */
const CHUNK_BYTES = 512 * 1024;

/**
 * Checks a task's `repo` and `branch` before anything starts:
 * - https (or http) URLs, without credentials in them: a token belongs in the user's secrets
 *   (GITHUB_TOKEN, GIT_TOKEN), which the proxy clones and pushes with; the URL is stored in the database and
 *   shown in listings.
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
    ...inRepoArgs(dir),
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
 * Makes a task's repository a bundle in the sandbox's workspace, for the agent to clone from (the same path for
 * every provider; the sandbox neither sees this machine's files nor holds git credentials, adr/0024):
 * - a local path: bundled (all its branches and tags) as the server's OS user;
 * - an https URL: cloned by the proxy with the owner's token for that host (git-remote.ts), then bundled.
 * The bundle goes into the workspace through the agent's file RPC. Returns the session's repo for `session:open`.
 */
export async function uploadRepo(
  rpc: AgentRpc,
  sandboxId: string,
  repo: { url: string; branch: string | null },
  remote: { owner: string; access: GitAccess | null },
): Promise<SessionRepo> {
  const scratch = await mkdtemp(path.join(tmpdir(), 'rclaude-bundle-'));
  try {
    const file = path.join(scratch, 'repo.bundle');
    if (repoSourceKind(repo.url) === 'path') {
      const made = await runGit([...inRepoArgs(path.resolve(repo.url)), 'bundle', 'create', file, '--all']);
      if (!made.ok) {
        throw new AppError('SANDBOX_START_FAILED', `could not bundle ${repo.url}: ${lastLine(made.stderr)}`);
      }
    } else {
      const access = remote.access;
      const githubHost = access?.githubHost ?? 'github.com';
      const pin = await remoteTarget(repo.url, remote.owner, access, 'SANDBOX_START_FAILED', 'clone');
      const credential = access ? gitCredentialFor(repo.url, await access.secrets(remote.owner), githubHost) : null;
      await bundleRemoteRepo(repo.url, repo.branch, credential, file, {
        githubHost,
        pin,
        ...(access ? { insteadOf: access.insteadOf } : {}),
      });
    }
    await writeAgentFile(rpc, sandboxId, REPO_BUNDLE_PATH, fileChunks(file));
    return { url: repo.url, branch: repo.branch, bundlePath: REPO_BUNDLE_PATH };
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}

/** Most bytes of a pushed branch's bundle the proxy takes back from a sandbox. */
export const PUSH_BUNDLE_MAX_BYTES = 1024 * 1024 * 1024;

/**
 * Copies the workspace file `agentPath` of a sandbox to `file` on this machine, through the agent's file RPC.
 * Throws (the sandbox may send anything) once more than `maxBytes` arrive.
 */
export async function copyAgentFile(
  rpc: AgentRpc,
  sandboxId: string,
  agentPath: string,
  file: string,
  maxBytes: number,
): Promise<void> {
  const out = await open(file, 'w');
  try {
    for (let offset = 0; ; ) {
      const chunk = await readAgentFile(rpc, sandboxId, agentPath, offset, CHUNK_BYTES);
      await out.write(chunk.data);
      offset += chunk.data.byteLength;
      if (offset > maxBytes) throw new AppError('PAYLOAD_TOO_LARGE', 'the pushed branch is too large');
      if (chunk.eof || chunk.data.byteLength === 0) break;
    }
  } finally {
    await out.close();
  }
}

/** A file's bytes in chunks the agent's `files:write` takes. */
async function* fileChunks(file: string): AsyncGenerator<Bytes> {
  const handle = await open(file, 'r');
  try {
    for (;;) {
      const chunk = new Uint8Array(CHUNK_BYTES);
      const { bytesRead } = await handle.read(chunk, 0, CHUNK_BYTES, null);
      if (bytesRead === 0) return;
      yield chunk.subarray(0, bytesRead);
    }
  } finally {
    await handle.close();
  }
}
