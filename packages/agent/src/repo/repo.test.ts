/** Cloning and diffing with the real git, on repositories made here. No network: bundles and local paths. */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BASE_CONFIG_KEY, ensureRepository } from './clone.js';
import { CHANGES_DIFF_PATH, describeChanges, parseNumstat, recordChanges } from './diff.js';
import { gitCredentialConfig, gitEnv } from './git-credentials.js';
import { commitAndPush, PUSH_BUNDLE_PATH, pushCommitMessage } from './push.js';

const env: Record<string, string> = {
  PATH: process.env.PATH ?? '/usr/bin:/bin',
  HOME: tmpdir(),
  GIT_AUTHOR_NAME: 't',
  GIT_AUTHOR_EMAIL: 't@example.com',
  GIT_COMMITTER_NAME: 't',
  GIT_COMMITTER_EMAIL: 't@example.com',
};
let root: string;
let source: string;
let bundle: string;

const git = (cwd: string, ...args: string[]) => execFileSync('git', args, { cwd, env, encoding: 'utf8' });

beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), 'rclaude-repo-'));
  source = join(root, 'source');
  mkdirSync(source);
  git(source, 'init', '-q', '-b', 'main');
  writeFileSync(join(source, 'a.txt'), 'one\ntwo\nthree\n');
  writeFileSync(join(source, 'gone.txt'), 'bye\n');
  writeFileSync(join(source, '.gitignore'), 'ignored/\n');
  mkdirSync(join(source, '.rclaude'));
  writeFileSync(join(source, '.rclaude', 'repo-own.txt'), 'the repository has its own .rclaude folder\n');
  git(source, 'add', '-A');
  git(source, 'commit', '-q', '-m', 'first');
  git(source, 'checkout', '-q', '-b', 'dev');
  writeFileSync(join(source, 'dev.txt'), 'dev\n');
  git(source, 'add', '-A');
  git(source, 'commit', '-q', '-m', 'dev');
  git(source, 'checkout', '-q', 'main');
  bundle = join(root, 'repo.bundle');
  git(source, 'bundle', 'create', bundle, '--all');
});

afterAll(() => rmSync(root, { recursive: true, force: true }));

/** A workspace holding the bundle where the proxy uploads it. */
function workspaceWithBundle(): string {
  const ws = mkdtempSync(join(root, 'ws-'));
  mkdirSync(join(ws, '.rclaude'));
  writeFileSync(join(ws, '.rclaude', 'repo.bundle'), readFileSync(bundle));
  return ws;
}

describe('ensureRepository', () => {
  it('clones a bundle at a branch into the workspace, then knows it is there', async () => {
    const ws = workspaceWithBundle();
    const progress: Buffer[] = [];
    const sink = { write: (d: Buffer) => progress.push(Buffer.from(d)) } as unknown as NodeJS.WritableStream;
    const repo = { url: source, branch: 'dev', bundlePath: '.rclaude/repo.bundle' };
    expect(await ensureRepository({ workspace: ws, repo, env, progress: sink })).toBe('cloned');
    expect(readFileSync(join(ws, 'dev.txt'), 'utf8')).toBe('dev\n');
    expect(git(ws, 'rev-parse', '--abbrev-ref', 'HEAD').trim()).toBe('dev');
    expect(git(ws, 'config', BASE_CONFIG_KEY).trim()).toBe(git(ws, 'rev-parse', 'HEAD').trim());
    expect(git(ws, 'remote', 'get-url', 'origin').trim()).toBe(source);
    // The bundle is gone, the repository's own .rclaude files arrived, and git does not see the folder.
    expect(existsSync(join(ws, '.rclaude', 'repo.bundle'))).toBe(false);
    expect(readFileSync(join(ws, '.rclaude', 'repo-own.txt'), 'utf8')).toContain('own');
    expect(git(ws, 'status', '--porcelain')).toBe('');
    expect(Buffer.concat(progress).toString()).toMatch(/Cloning into/);
    expect(await ensureRepository({ workspace: ws, repo, env })).toBe('present');
  });

  it('refuses a bundle outside the workspace and a local path without a bundle', async () => {
    const ws = mkdtempSync(join(root, 'ws-'));
    await expect(
      ensureRepository({ workspace: ws, repo: { url: source, branch: null, bundlePath: '../repo.bundle' }, env }),
    ).rejects.toThrow(/not a file in the workspace/);
    await expect(ensureRepository({ workspace: ws, repo: { url: source, branch: null }, env })).rejects.toThrow(
      /only reachable through a bundle/,
    );
    await expect(
      ensureRepository({ workspace: ws, repo: { url: 'ext::sh -c touch% /tmp/pwned', branch: null }, env }),
    ).rejects.toThrow(/neither an https URL nor a local path/);
  });

  it('reports a clone that fails (an unknown branch) with git’s reason, leaving no scratch behind', async () => {
    const ws = workspaceWithBundle();
    const repo = { url: source, branch: 'no-such-branch', bundlePath: '.rclaude/repo.bundle' };
    await expect(ensureRepository({ workspace: ws, repo, env })).rejects.toThrow(/git clone failed \(exit 128\)/);
    expect(existsSync(join(ws, '.git'))).toBe(false);
    expect(spawnSync('ls', ['-A', join(ws, '.rclaude')], { encoding: 'utf8' }).stdout.trim()).toBe('repo.bundle');
  });
});

describe('recordChanges', () => {
  it('counts modified, added, deleted, binary and committed changes, but not ignored files or .rclaude', async () => {
    const ws = workspaceWithBundle();
    await ensureRepository({
      workspace: ws,
      repo: { url: source, branch: null, bundlePath: '.rclaude/repo.bundle' },
      env,
    });
    git(ws, 'config', 'user.name', 't');
    git(ws, 'config', 'user.email', 't@example.com');
    writeFileSync(join(ws, 'a.txt'), 'one\n2\nthree\nfour\n');
    unlinkSync(join(ws, 'gone.txt'));
    writeFileSync(join(ws, 'new.txt'), 'fresh\n');
    writeFileSync(join(ws, 'blob.bin'), Buffer.from([0, 1, 2, 3, 0, 255]));
    mkdirSync(join(ws, 'ignored'));
    writeFileSync(join(ws, 'ignored', 'x.txt'), 'ignored\n');
    writeFileSync(join(ws, '.rclaude', 'scratch.txt'), 'not a change\n');
    // Something committed after the clone still counts: the diff is against where the task started.
    writeFileSync(join(ws, 'committed.txt'), 'c\n');
    git(ws, 'add', 'committed.txt');
    git(ws, 'commit', '-q', '-m', 'claude committed');
    // And what the user staged stays staged exactly as it was.
    git(ws, 'add', 'new.txt');
    const staged = git(ws, 'diff', '--cached', '--name-only');

    const summary = await recordChanges(ws, env);
    expect(summary).toEqual({
      files: [
        { path: 'a.txt', additions: 2, deletions: 1 },
        { path: 'blob.bin', additions: null, deletions: null },
        { path: 'committed.txt', additions: 1, deletions: 0 },
        { path: 'gone.txt', additions: 0, deletions: 1 },
        { path: 'new.txt', additions: 1, deletions: 0 },
      ],
      filesChanged: 5,
      additions: 4,
      deletions: 2,
      diffPath: CHANGES_DIFF_PATH,
      diffBytes: expect.any(Number),
      summary: '5 files changed, +4 -2',
    });
    const full = readFileSync(join(ws, CHANGES_DIFF_PATH), 'utf8');
    expect(full).toContain('+four\n');
    expect(full).toContain('deleted file mode');
    expect(full).toMatch(/Binary files .*blob\.bin differ/);
    expect(full).not.toContain('scratch.txt');
    expect(summary?.diffBytes).toBe(Buffer.byteLength(full));
    expect(git(ws, 'diff', '--cached', '--name-only')).toBe(staged);
  });

  it('says no changes for an untouched clone, and nothing at all outside a repository', async () => {
    const ws = workspaceWithBundle();
    await ensureRepository({
      workspace: ws,
      repo: { url: source, branch: null, bundlePath: '.rclaude/repo.bundle' },
      env,
    });
    expect(await recordChanges(ws, env)).toMatchObject({ filesChanged: 0, files: [], summary: 'no changes' });
    expect(await recordChanges(mkdtempSync(join(root, 'plain-')), env)).toBeNull();
  });

  it('diffs a repository with no commit yet against the empty tree', async () => {
    const ws = mkdtempSync(join(root, 'unborn-'));
    git(ws, 'init', '-q');
    writeFileSync(join(ws, 'first.txt'), 'a\nb\n');
    mkdirSync(join(ws, '.rclaude'));
    writeFileSync(join(ws, '.rclaude', 'changes.diff'), 'old\n');
    expect(await recordChanges(ws, env)).toMatchObject({
      files: [{ path: 'first.txt', additions: 2, deletions: 0 }],
      summary: '1 file changed, +2 -0',
    });
  });
});

describe('parseNumstat / describeChanges', () => {
  it('reads -z numstat records, paths with tabs and newlines included', () => {
    expect(parseNumstat('3\t1\ta b.txt\0-\t-\timg.png\x001\t0\tweird\tname\n.txt\0')).toEqual([
      { path: 'a b.txt', additions: 3, deletions: 1 },
      { path: 'img.png', additions: null, deletions: null },
      { path: 'weird\tname\n.txt', additions: 1, deletions: 0 },
    ]);
    expect(describeChanges(1, 1, 0)).toBe('1 file changed, +1 -0');
  });
});

describe('git credentials', () => {
  it('offers GITHUB_TOKEN to github.com only, GIT_TOKEN to the repository host only, nothing over http', () => {
    const tokens = { GITHUB_TOKEN: 'ghp_x', GIT_TOKEN: 'glpat_y' };
    expect(gitCredentialConfig('https://github.com/o/r.git', tokens).map((e) => e.key)).toEqual([
      'credential.https://github.com.helper',
    ]);
    expect(gitCredentialConfig('https://gitlab.example.com/o/r.git', tokens).map((e) => e.key)).toEqual([
      'credential.https://gitlab.example.com.helper',
    ]);
    expect(gitCredentialConfig('https://gitlab.example.com/o/r.git', { GITHUB_TOKEN: 'ghp_x' })).toEqual([]);
    expect(gitCredentialConfig('http://github.com/o/r.git', tokens)).toEqual([]);
    // The token itself is never in the configuration, only the variable's name.
    for (const e of gitCredentialConfig('https://github.com/o/r.git', tokens)) expect(e.value).not.toContain('ghp_x');
  });

  it('answers git with the token from the environment, through the helper', () => {
    const withToken = gitEnv({ ...env, GITHUB_TOKEN: 'ghp_secret123' }, 'https://github.com/o/r.git');
    const fill = (host: string) =>
      spawnSync('git', ['credential', 'fill'], {
        env: withToken,
        input: `protocol=https\nhost=${host}\n\n`,
        encoding: 'utf8',
      });
    expect(fill('github.com').stdout).toContain('username=x-access-token\npassword=ghp_secret123\n');
    // Another host gets nothing (git gives up rather than prompting).
    expect(fill('evil.example.com').stdout).not.toContain('ghp_secret123');
    expect(withToken).toMatchObject({
      GIT_TERMINAL_PROMPT: '0',
      GIT_ALLOW_PROTOCOL: 'https:http:file',
      GIT_CONFIG_COUNT: '1',
    });
  });
});

describe('commitAndPush', () => {
  /** A clone of the source (from its bundle) whose origin is a bare repository it can push to. */
  async function cloneWithOrigin(): Promise<{ ws: string; origin: string }> {
    const origin = mkdtempSync(join(root, 'origin-'));
    execFileSync('git', ['clone', '-q', '--bare', source, origin], { env });
    const ws = workspaceWithBundle();
    await ensureRepository({
      workspace: ws,
      repo: { url: source, branch: null, bundlePath: '.rclaude/repo.bundle' },
      env,
    });
    git(ws, 'remote', 'set-url', 'origin', origin);
    return { ws, origin };
  }

  it('commits every change on top of HEAD to a new branch and pushes it, leaving HEAD, index and files alone', async () => {
    const { ws, origin } = await cloneWithOrigin();
    writeFileSync(join(ws, 'committed.txt'), 'claude committed this\n');
    git(ws, 'add', 'committed.txt');
    git(ws, 'commit', '-q', '-m', 'claude committed');
    const head = git(ws, 'rev-parse', 'HEAD').trim();
    writeFileSync(join(ws, 'a.txt'), 'one\n2\nthree\n');
    writeFileSync(join(ws, 'new.txt'), 'fresh\n');
    git(ws, 'add', 'new.txt');
    writeFileSync(join(ws, 'untracked.txt'), 'untracked\n');
    writeFileSync(join(ws, '.rclaude', 'scratch.txt'), 'not a change\n');
    const status = git(ws, 'status', '--porcelain');

    const pushed = await commitAndPush({
      workspace: ws,
      repo: { url: origin, branch: null },
      branch: 'rclaude/t1',
      env,
      message: pushCommitMessage('please fix it\nin detail'),
    });
    expect(pushed).toEqual({ branch: 'rclaude/t1', commit: expect.stringMatching(/^[0-9a-f]{40}$/), pushedTo: origin });
    const commit = pushed?.commit as string;
    expect(git(origin, 'rev-parse', 'refs/heads/rclaude/t1').trim()).toBe(commit);
    expect(git(origin, 'rev-parse', `${commit}^`).trim()).toBe(head);
    expect(git(origin, 'show', `${commit}:a.txt`)).toBe('one\n2\nthree\n');
    expect(git(origin, 'ls-tree', '-r', '--name-only', commit).split('\n')).toEqual(
      expect.arrayContaining(['new.txt', 'untracked.txt', 'committed.txt', '.rclaude/repo-own.txt']),
    );
    expect(git(origin, 'ls-tree', '-r', '--name-only', commit)).not.toContain('scratch.txt');
    expect(git(origin, 'log', '-1', '--format=%s%n%b', commit)).toContain('please fix it\n');
    // The workspace is as it was: same branch, same HEAD, same staged and unstaged changes.
    expect(git(ws, 'rev-parse', '--abbrev-ref', 'HEAD').trim()).toBe('main');
    expect(git(ws, 'rev-parse', 'HEAD').trim()).toBe(head);
    expect(git(ws, 'status', '--porcelain')).toBe(status);
  });

  it('never replaces a branch that exists, here or on the remote', async () => {
    const first = await cloneWithOrigin();
    writeFileSync(join(first.ws, 'x.txt'), 'x\n');
    const opts = { workspace: first.ws, repo: { url: first.origin, branch: null }, env, message: 'm' };
    await commitAndPush({ ...opts, branch: 'taken' });
    await expect(commitAndPush({ ...opts, branch: 'taken' })).rejects.toThrow(/update-ref/);
    // Another clone pushing the same name to the same remote is refused by the lease.
    const ws2 = workspaceWithBundle();
    await ensureRepository({
      workspace: ws2,
      repo: { url: source, branch: null, bundlePath: '.rclaude/repo.bundle' },
      env,
    });
    git(ws2, 'remote', 'set-url', 'origin', first.origin);
    writeFileSync(join(ws2, 'y.txt'), 'y\n');
    const before = git(first.origin, 'rev-parse', 'refs/heads/taken').trim();
    await expect(commitAndPush({ ...opts, workspace: ws2, branch: 'taken' })).rejects.toThrow(/git push failed/);
    expect(git(first.origin, 'rev-parse', 'refs/heads/taken').trim()).toBe(before);
  });

  it('bundles the branch for the proxy when the repository came as a bundle, with a default identity', async () => {
    const ws = workspaceWithBundle();
    const repo = { url: source, branch: null, bundlePath: '.rclaude/repo.bundle' };
    await ensureRepository({ workspace: ws, repo, env });
    writeFileSync(join(ws, 'b.txt'), 'b\n');
    // A fresh sandbox: no identity in the environment or the config.
    const bare = { PATH: env.PATH as string, HOME: mkdtempSync(join(root, 'home-')) };
    const pushed = await commitAndPush({ workspace: ws, repo, branch: 'rclaude/t2', env: bare, message: 'm' });
    expect(pushed).toEqual({
      branch: 'rclaude/t2',
      commit: expect.any(String),
      pushedTo: null,
      bundlePath: PUSH_BUNDLE_PATH,
    });
    const home = mkdtempSync(join(root, 'home-'));
    execFileSync('git', ['clone', '-q', '--bare', source, home], { env });
    git(home, 'fetch', '-q', join(ws, PUSH_BUNDLE_PATH), 'refs/heads/rclaude/t2:refs/heads/rclaude/t2');
    expect(git(home, 'rev-parse', 'refs/heads/rclaude/t2').trim()).toBe(pushed?.commit);
    expect(git(home, 'log', '-1', '--format=%an <%ae>', 'rclaude/t2').trim()).toBe('rclaude <rclaude@localhost>');
  });

  it('pushes nothing when nothing changed', async () => {
    const { ws, origin } = await cloneWithOrigin();
    expect(
      await commitAndPush({
        workspace: ws,
        repo: { url: origin, branch: null },
        branch: 'rclaude/t3',
        env,
        message: 'm',
      }),
    ).toBeNull();
    expect(spawnSync('git', ['rev-parse', '--verify', '-q', 'refs/heads/rclaude/t3'], { cwd: origin }).status).not.toBe(
      0,
    );
  });

  it('writes the prompt’s first line as the subject, cut to 72 characters', () => {
    expect(pushCommitMessage(null).split('\n')[0]).toBe('Changes from an rclaude task');
    expect(pushCommitMessage('fix it').split('\n')[0]).toBe('fix it');
    expect(pushCommitMessage('x'.repeat(100)).split('\n')[0]).toHaveLength(72);
  });
});
