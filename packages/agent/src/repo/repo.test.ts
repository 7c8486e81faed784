/** Cloning and diffing with the real git, on repositories made here. No network: bundles and local paths. */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AgentTaskEvent } from '@rclaude/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BASE_CONFIG_KEY, ensureRepository } from './clone.js';
import { CHANGES_DIFF_PATH, describeChanges, parseNumstat, recordChanges } from './diff.js';
import { finishRepository } from './finish.js';
import { gitEnv } from './git-env.js';
import { PUSH_BUNDLE_PATH, pushCommitMessage } from './push.js';

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
    // An https repository is the server's to clone (the sandbox holds no git credentials).
    await expect(
      ensureRepository({ workspace: ws, repo: { url: 'https://github.com/o/r.git', branch: null }, env }),
    ).rejects.toThrow(/the server clones https:\/\/github.com\/o\/r.git for the sandbox/);
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

describe('gitEnv', () => {
  it('keeps git from prompting and to https, http and file transports, and adds no credential', () => {
    const out = gitEnv({ ...env, GIT_CONFIG_COUNT: '0' });
    expect(out).toMatchObject({ GIT_TERMINAL_PROMPT: '0', GIT_ALLOW_PROTOCOL: 'https:http:file', GIT_ASKPASS: 'true' });
    expect(Object.keys(out).filter((k) => /^GIT_CONFIG_(KEY|VALUE)_/.test(k))).toEqual([]);
  });
});

describe('finishRepository', () => {
  /** A clone of the source from its bundle, as the proxy uploads it; `url` is what origin names. */
  async function cloned(url: string): Promise<string> {
    const ws = workspaceWithBundle();
    await ensureRepository({ workspace: ws, repo: { url, branch: null, bundlePath: '.rclaude/repo.bundle' }, env });
    return ws;
  }
  async function finish(ws: string, url: string, branch: string, runEnv = env): Promise<AgentTaskEvent[]> {
    const events: AgentTaskEvent[] = [];
    await finishRepository(
      { workspace: ws, repo: { url, branch: null, pushBranch: branch }, prompt: 'please fix it\nin detail' },
      { env: runEnv, when: 'exited' },
      (e) => events.push(e),
    );
    return events;
  }

  it('commits every change on top of HEAD to the branch and bundles it for the server, leaving HEAD, index and files alone', async () => {
    const ws = await cloned(source);
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

    const events = await finish(ws, source, 'rclaude/t1');
    const push = events.find((e) => e.type === 'push');
    expect(push?.data).toEqual({
      branch: 'rclaude/t1',
      commit: expect.stringMatching(/^[0-9a-f]{40}$/),
      pushedTo: null,
      bundlePath: PUSH_BUNDLE_PATH,
    });
    const commit = (push?.data as { commit: string } | undefined)?.commit ?? '';
    const home = mkdtempSync(join(root, 'home-'));
    execFileSync('git', ['clone', '-q', '--bare', source, home], { env });
    git(home, 'fetch', '-q', join(ws, PUSH_BUNDLE_PATH), 'refs/heads/rclaude/t1:refs/heads/rclaude/t1');
    expect(git(home, 'rev-parse', 'refs/heads/rclaude/t1').trim()).toBe(commit);
    expect(git(home, 'rev-parse', `${commit}^`).trim()).toBe(head);
    expect(git(home, 'show', `${commit}:a.txt`)).toBe('one\n2\nthree\n');
    expect(git(home, 'ls-tree', '-r', '--name-only', commit).split('\n')).toEqual(
      expect.arrayContaining(['new.txt', 'untracked.txt', 'committed.txt', '.rclaude/repo-own.txt']),
    );
    expect(git(home, 'ls-tree', '-r', '--name-only', commit)).not.toContain('scratch.txt');
    expect(git(home, 'log', '-1', '--format=%s%n%b', commit)).toContain('please fix it\n');
    // The workspace is as it was: same branch, same HEAD, same staged and unstaged changes.
    expect(git(ws, 'rev-parse', '--abbrev-ref', 'HEAD').trim()).toBe('main');
    expect(git(ws, 'rev-parse', 'HEAD').trim()).toBe(head);
    expect(git(ws, 'status', '--porcelain')).toBe(status);
  });

  it('bundles the whole history for an https remote, and builds on the branch when it exists already (a resumed task)', async () => {
    const url = 'https://git.example.com/o/r.git';
    const ws = await cloned(url);
    expect(git(ws, 'remote', 'get-url', 'origin').trim()).toBe(url);
    writeFileSync(join(ws, 'x.txt'), 'x\n');
    const first = (await finish(ws, url, 'taken')).find((e) => e.type === 'push')?.data as { commit: string };
    // A fresh repository takes the bundle alone: it holds every commit.
    const empty = mkdtempSync(join(root, 'empty-'));
    git(empty, 'init', '-q', '--bare');
    git(empty, 'fetch', '-q', join(ws, PUSH_BUNDLE_PATH), 'refs/heads/taken:refs/heads/taken');
    expect(git(empty, 'rev-parse', 'taken').trim()).toBe(first.commit);
    writeFileSync(join(ws, 'x.txt'), 'x again\n');
    const second = (await finish(ws, url, 'taken')).find((e) => e.type === 'push')?.data as { commit: string };
    expect(git(ws, 'rev-parse', `${second.commit}^`).trim()).toBe(first.commit);
  });

  it('commits with a default identity in a fresh sandbox', async () => {
    const ws = await cloned(source);
    writeFileSync(join(ws, 'b.txt'), 'b\n');
    const bare = { PATH: env.PATH as string, HOME: mkdtempSync(join(root, 'home-')) };
    const push = (await finish(ws, source, 'rclaude/t2', bare)).find((e) => e.type === 'push')?.data as {
      commit: string;
    };
    expect(git(ws, 'log', '-1', '--format=%an <%ae>', push.commit).trim()).toBe('rclaude <rclaude@localhost>');
  });

  it('pushes nothing when nothing changed', async () => {
    const ws = await cloned(source);
    const events = await finish(ws, source, 'rclaude/t3');
    expect(events.filter((e) => e.type === 'push')).toEqual([]);
    expect(events).toContainEqual({ type: 'info', data: { message: 'nothing to push to rclaude/t3: no changes' } });
    expect(spawnSync('git', ['rev-parse', '--verify', '-q', 'refs/heads/rclaude/t3'], { cwd: ws }).status).not.toBe(0);
  });

  it('writes the prompt’s first line as the subject, cut to 72 characters', () => {
    expect(pushCommitMessage(null).split('\n')[0]).toBe('Changes from an rclaude task');
    expect(pushCommitMessage('fix it').split('\n')[0]).toBe('fix it');
    expect(pushCommitMessage('x'.repeat(100)).split('\n')[0]).toHaveLength(72);
  });
});
