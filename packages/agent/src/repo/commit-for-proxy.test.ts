/** `repo:commit` with the real git on repositories made here: what the proxy pushes for `rclaude push`. */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureRepository } from './clone.js';
import { COMMIT_BUNDLE_PATH, commitForProxy } from './push.js';

const env: Record<string, string> = {
  PATH: process.env.PATH ?? '/usr/bin:/bin',
  HOME: tmpdir(),
  GIT_AUTHOR_NAME: 't',
  GIT_AUTHOR_EMAIL: 't@example.com',
  GIT_COMMITTER_NAME: 't',
  GIT_COMMITTER_EMAIL: 't@example.com',
};
let root: string;
let bundle: string;
let started: string;

const git = (cwd: string, ...args: string[]) => execFileSync('git', args, { cwd, env, encoding: 'utf8' }).trim();

beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), 'rclaude-commit-'));
  const source = join(root, 'source');
  mkdirSync(source);
  git(source, 'init', '-q', '-b', 'main');
  writeFileSync(join(source, 'a.txt'), 'one\n');
  git(source, 'add', '-A');
  git(source, 'commit', '-q', '-m', 'first');
  started = git(source, 'rev-parse', 'HEAD');
  bundle = join(root, 'repo.bundle');
  git(source, 'bundle', 'create', bundle, '--all');
});

afterAll(() => rmSync(root, { recursive: true, force: true }));

async function clone(): Promise<string> {
  const ws = mkdtempSync(join(root, 'ws-'));
  mkdirSync(join(ws, '.rclaude'));
  writeFileSync(join(ws, '.rclaude', 'repo.bundle'), execFileSync('cat', [bundle]));
  await ensureRepository({
    workspace: ws,
    repo: { url: '/somewhere/repo', branch: null, bundlePath: '.rclaude/repo.bundle' },
    env,
  });
  return ws;
}

/** Fetches the bundle into a fresh repository that has the start (as the local-path push does). */
function unbundle(ws: string, full: boolean): string {
  const dest = mkdtempSync(join(root, 'dest-'));
  git(dest, 'init', '-q', '--bare');
  if (!full) git(dest, 'fetch', '-q', bundle, 'refs/heads/main:refs/heads/main');
  git(dest, 'fetch', '-q', join(ws, COMMIT_BUNDLE_PATH), 'refs/heads/b:refs/heads/b');
  return dest;
}

describe('commitForProxy', () => {
  it('says there is nothing when the workspace has not changed', async () => {
    const ws = await clone();
    const r = await commitForProxy({ workspace: ws, branch: 'b', message: 'm', full: false, env });
    expect(r).toEqual({ commit: null, started, bundlePath: null, summary: 'no changes' });
  });

  it('commits everything onto the branch without touching the index, HEAD or work tree; later pushes fast-forward', async () => {
    const ws = await clone();
    writeFileSync(join(ws, 'a.txt'), 'one\ntwo\n');
    git(ws, 'add', 'a.txt');
    writeFileSync(join(ws, 'new.txt'), 'new\n');
    const first = await commitForProxy({ workspace: ws, branch: 'b', message: 'the change', full: false, env });
    expect(first).toMatchObject({ started, bundlePath: COMMIT_BUNDLE_PATH });
    expect(first.summary).toBe('2 files changed, 2 insertions(+)');
    expect(git(ws, 'status', '--short')).toBe('M  a.txt\n?? new.txt');
    expect(git(ws, 'rev-parse', 'HEAD')).toBe(started);
    const dest = unbundle(ws, false);
    expect(git(dest, 'rev-parse', 'b')).toBe(first.commit);
    expect(git(dest, 'rev-parse', 'b^')).toBe(started);
    expect(git(dest, 'show', 'b:new.txt')).toBe('new');
    expect(git(dest, 'log', '-1', '--format=%s', 'b')).toBe('the change');

    // Nothing new: the same commit again.
    const same = await commitForProxy({ workspace: ws, branch: 'b', message: 'm', full: false, env });
    expect(same.commit).toBe(first.commit);

    // More work: on top of the first push.
    writeFileSync(join(ws, 'more.txt'), 'more\n');
    const second = await commitForProxy({ workspace: ws, branch: 'b', message: 'm', full: false, env });
    expect(git(ws, 'rev-parse', `${second.commit}^`)).toBe(first.commit);

    // Claude commits on HEAD meanwhile: the next push merges HEAD in, still a fast-forward of the branch.
    git(ws, 'add', '-A');
    git(ws, 'commit', '-q', '-m', 'claude committed');
    const head = git(ws, 'rev-parse', 'HEAD');
    writeFileSync(join(ws, 'last.txt'), 'last\n');
    const third = await commitForProxy({ workspace: ws, branch: 'b', message: 'm', full: true, env });
    expect(git(ws, 'rev-list', '--parents', '-n', '1', third.commit ?? '')).toBe(
      `${third.commit} ${second.commit} ${head}`,
    );
    // A full bundle needs nothing the receiver has.
    const fresh = unbundle(ws, true);
    expect(git(fresh, 'show', 'b:last.txt')).toBe('last');
  });

  it('refuses a branch name git would misread', async () => {
    const ws = await clone();
    await expect(commitForProxy({ workspace: ws, branch: '-x', message: 'm', full: false, env })).rejects.toThrow(
      'is not a branch name',
    );
  });
});
