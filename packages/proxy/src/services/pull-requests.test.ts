import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Task } from '@rclaude/protocol';
import { type FakeGitHttp, startFakeGitHttp } from '@rclaude/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bundleRemoteRepo, type GitCredential, gitCredentialFor, remoteTarget } from './git-remote.js';
import { githubHost, parseGithubRepo, pullRequestBody, pullRequestTitle, pushBundleToRemote } from './pull-requests.js';

const task = (over: Partial<Task>): Task =>
  ({
    id: 'abc1234567',
    name: 'fix things',
    prompt: null,
    ...over,
  }) as Task;

describe('which GitHub repository a task names', () => {
  it('takes the web host from the API URL', () => {
    expect(githubHost('https://api.github.com')).toBe('github.com');
    expect(githubHost('https://ghe.example.com/api/v3')).toBe('ghe.example.com');
  });

  it('parses https and ssh URLs on that host only', () => {
    expect(parseGithubRepo('https://github.com/octo/demo', 'github.com')).toEqual({ owner: 'octo', name: 'demo' });
    expect(parseGithubRepo('https://github.com/octo/demo.git', 'github.com')).toEqual({ owner: 'octo', name: 'demo' });
    expect(parseGithubRepo('https://GitHub.com/octo/my.repo/', 'github.com')).toEqual({
      owner: 'octo',
      name: 'my.repo',
    });
    expect(parseGithubRepo('git@github.com:octo/demo.git', 'github.com')).toEqual({ owner: 'octo', name: 'demo' });
    expect(parseGithubRepo('https://gitlab.com/octo/demo', 'github.com')).toBeNull();
    expect(parseGithubRepo('https://github.com.evil.example/octo/demo', 'github.com')).toBeNull();
    expect(parseGithubRepo('https://githubxcom/octo/demo', 'github.com')).toBeNull();
    expect(parseGithubRepo('https://github.com/octo/demo/tree/main', 'github.com')).toBeNull();
    expect(parseGithubRepo('https://github.com/octo/..', 'github.com')).toBeNull();
    expect(parseGithubRepo('/srv/repo.git', 'github.com')).toBeNull();
  });
});

describe('the pull request text', () => {
  it("titles it by the given title, else the prompt's first line, else the task's name", () => {
    expect(pullRequestTitle(task({ prompt: 'Fix the login\n\nin detail' }), 'Mine')).toBe('Mine');
    expect(pullRequestTitle(task({ prompt: '  Fix the login\n\nin detail' }))).toBe('Fix the login');
    expect(pullRequestTitle(task({}))).toBe('fix things');
    expect(pullRequestTitle(task({ prompt: 'x'.repeat(300) }))).toHaveLength(120);
  });

  it('quotes the prompt and result, and links back to the task', () => {
    const body = pullRequestBody(task({ prompt: 'line one\nline two' }), {
      result: 'Done.',
      changes: '1 file changed',
      taskUrl: 'http://127.0.0.1:1/tasks/abc1234567',
    });
    expect(body).toContain('> line one\n> line two');
    expect(body).toContain('**Result**\n\n> Done.');
    expect(body).toContain('**Changes**: 1 file changed');
    expect(body).toContain('[abc1234567](http://127.0.0.1:1/tasks/abc1234567)');
    expect(pullRequestBody(task({}), { result: null, changes: 'x', taskUrl: 'u' })).toContain('(interactive)');
  });
});

describe('the proxy’s git with a token, against a git smart-HTTP server on loopback', () => {
  const token = 'ghp_the_real_token_0123456789';
  let root: string;
  let server: FakeGitHttp;
  let bundle: string;
  let commit: string;
  let remote: string;
  const gitIn = (cwd: string, ...args: string[]) =>
    execFileSync('git', ['-c', 'user.name=t', '-c', 'user.email=t@example.com', ...args], {
      cwd,
      encoding: 'utf8',
    }).trim();

  beforeAll(async () => {
    root = mkdtempSync(join(tmpdir(), 'rclaude-push-http-'));
    const work = join(root, 'work');
    mkdirSync(work);
    gitIn(work, 'init', '-q', '-b', 'main');
    writeFileSync(join(work, 'a.txt'), 'one\n');
    gitIn(work, 'add', '-A');
    gitIn(work, 'commit', '-q', '-m', 'first');
    remote = join(root, 'served', 'demo.git');
    execFileSync('git', ['clone', '-q', '--bare', work, remote]);
    gitIn(work, 'checkout', '-q', '-b', 'task');
    writeFileSync(join(work, 'b.txt'), 'two\n');
    gitIn(work, 'add', '-A');
    gitIn(work, 'commit', '-q', '-m', 'the task');
    commit = gitIn(work, 'rev-parse', 'HEAD');
    bundle = join(root, 'full.bundle');
    gitIn(work, 'bundle', 'create', '-q', bundle, 'refs/heads/task');
    server = await startFakeGitHttp({ root: join(root, 'served'), token });
  });

  afterAll(async () => {
    await server?.close();
    rmSync(root, { recursive: true, force: true });
  });

  // The repository's real URL is GitHub's; RCLAUDE_GIT_INSTEAD_OF points the proxy's git at the fake.
  const url = 'https://github.com/octo/demo.git';
  const insteadOf = () => [{ from: 'https://github.com/octo/', to: `${server.url}/` }];
  const credential = (token: string): GitCredential => ({ username: 'x-access-token', token, secret: 'GITHUB_TOKEN' });
  const push = async (withToken: string) => {
    const scratch = mkdtempSync(join(root, 'scratch-'));
    return pushBundleToRemote(url, 'rclaude/t', commit, bundle, scratch, credential(withToken), {
      insteadOf: insteadOf(),
    });
  };

  it('offers GITHUB_TOKEN to the GitHub host only, GIT_TOKEN to other https hosts, nothing over http', () => {
    const secrets = { GITHUB_TOKEN: 'ghp_x', GIT_TOKEN: 'glpat_y', GIT_USERNAME: 'me' };
    expect(gitCredentialFor('https://github.com/o/r', secrets, 'github.com')).toEqual({
      username: 'x-access-token',
      token: 'ghp_x',
      secret: 'GITHUB_TOKEN',
    });
    expect(gitCredentialFor('https://GitHub.com/o/r', { GH_TOKEN: 'gh_z' }, 'github.com')?.secret).toBe('GH_TOKEN');
    expect(gitCredentialFor('https://gitlab.example.com/o/r', secrets, 'github.com')).toEqual({
      username: 'me',
      token: 'glpat_y',
      secret: 'GIT_TOKEN',
    });
    expect(gitCredentialFor('https://gitlab.example.com/o/r', { GITHUB_TOKEN: 'ghp_x' }, 'github.com')).toBeNull();
    expect(gitCredentialFor('http://github.com/o/r', secrets, 'github.com')).toBeNull();
    // GitHub Enterprise: its host takes GITHUB_TOKEN too.
    expect(gitCredentialFor('https://ghe.example.com/o/r', secrets, 'ghe.example.com')?.secret).toBe('GITHUB_TOKEN');
  });

  it('checks where its git would connect against the egress rules and pins the checked address, unless rewritten', async () => {
    const asked: string[] = [];
    const access = {
      secrets: async () => ({}),
      insteadOf: [{ from: 'https://mirrored.example/', to: 'http://127.0.0.1:9/' }],
      githubHost: 'github.com',
      decide: async (owner: string, host: string, port: number) => {
        asked.push(`${owner} ${host}:${port}`);
        return host === 'github.com'
          ? { ok: true as const, address: '140.82.121.3' }
          : { ok: false as const, reason: `${host}:${port} is not on the egress allow-list` };
      },
    };
    expect(await remoteTarget('https://github.com/o/r.git', 'u1', access, 'SANDBOX_START_FAILED', 'clone')).toBe(
      'github.com:443:140.82.121.3',
    );
    await expect(
      remoteTarget('https://169.254.169.254:8443/x', 'u1', access, 'SANDBOX_START_FAILED', 'clone'),
    ).rejects.toMatchObject({
      code: 'SANDBOX_START_FAILED',
      message: 'could not clone https://169.254.169.254:8443/x: 169.254.169.254:8443 is not on the egress allow-list',
    });
    expect(await remoteTarget('https://mirrored.example/o/r', 'u1', access, 'FORBIDDEN', 'push to')).toBeNull();
    expect(asked).toEqual(['u1 github.com:443', 'u1 169.254.169.254:8443']);
  });

  it('clones with the token into a bundle of the branch with its whole history, leaving no scratch clone', async () => {
    const out = mkdtempSync(join(root, 'clone-'));
    const file = join(out, 'repo.bundle');
    const before = readdirSync(tmpdir()).filter((n) => n.startsWith('rclaude-clone-')).length;
    await bundleRemoteRepo(url, 'main', credential(token), file, { githubHost: 'github.com', insteadOf: insteadOf() });
    expect(readdirSync(tmpdir()).filter((n) => n.startsWith('rclaude-clone-')).length).toBe(before);
    const heads = execFileSync('git', ['bundle', 'list-heads', file], { encoding: 'utf8' });
    expect(heads).toMatch(/refs\/heads\/main/);
    const fresh = join(out, 'fresh');
    execFileSync('git', ['clone', '-q', file, fresh]);
    expect(gitIn(fresh, 'log', '--format=%s')).toBe('first');
  });

  it('says why a clone failed, without the token: none stored, a wrong one, a missing branch, a size over the cap', async () => {
    const out = mkdtempSync(join(root, 'clone-'));
    const file = join(out, 'repo.bundle');
    const opts = { githubHost: 'github.com', insteadOf: insteadOf() };
    await expect(bundleRemoteRepo(url, null, null, file, opts)).rejects.toMatchObject({
      code: 'SANDBOX_START_FAILED',
      message: `could not clone ${url}: authentication failed; store a token with \`rclaude secret set GITHUB_TOKEN\``,
    });
    const wrong = await bundleRemoteRepo(url, null, credential('ghp_wrong_token'), file, opts).catch((e: Error) => e);
    expect((wrong as Error).message).toContain('authentication failed with your GITHUB_TOKEN');
    expect((wrong as Error).message).not.toContain('ghp_wrong_token');
    await expect(bundleRemoteRepo(url, 'nope', credential(token), file, opts)).rejects.toThrow(
      /could not clone .*: Remote branch nope not found/,
    );
    await expect(bundleRemoteRepo(url, null, credential(token), file, { ...opts, maxBytes: 10 })).rejects.toThrow(
      /larger than 0 MiB/,
    );
    expect(existsSync(file)).toBe(true);
  });

  it('does not follow a redirect (the token would go where nobody checked), and says what to do', async () => {
    const moved = createServer((req, res) => {
      res.writeHead(301, { location: `${url}${req.url ?? ''}` }).end();
    });
    await new Promise<void>((resolve) => moved.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = moved.address() as AddressInfo;
      const opts = {
        githubHost: 'github.com',
        insteadOf: [{ from: 'https://github.com/old/', to: `http://127.0.0.1:${port}/` }],
      };
      const file = join(mkdtempSync(join(root, 'clone-')), 'repo.bundle');
      await expect(
        bundleRemoteRepo('https://github.com/old/demo.git', null, credential(token), file, opts),
      ).rejects.toThrow(/a redirect, which rclaude does not follow .*use its current URL/);
      expect(existsSync(file)).toBe(false);
    } finally {
      moved.close();
    }
  });

  it('refuses a wrong token with GitHub-like 401 and says so without the token', async () => {
    const err = await push('ghp_wrong_token').catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'UPSTREAM_FAILED' });
    expect(String((err as Error).message)).not.toContain('ghp_wrong_token');
    expect(execFileSync('git', ['-C', remote, 'branch', '--list', 'rclaude/t'], { encoding: 'utf8' })).toBe('');
  });

  it('pushes the branch with the token as a Basic Authorization header, then finds it up to date', async () => {
    const seen = server.authorizations.length;
    expect(await push(token)).toEqual({ commit, upToDate: false });
    expect(gitIn(remote, 'rev-parse', 'rclaude/t')).toBe(commit);
    const basic = `Basic ${Buffer.from(`x-access-token:${token}`).toString('base64')}`;
    expect(server.authorizations.slice(seen).length).toBeGreaterThan(0);
    expect(server.authorizations.slice(seen).every((a) => a === basic)).toBe(true);
    expect(await push(token)).toEqual({ commit, upToDate: true });
  });

  it('never moves a branch that has commits the task does not have', async () => {
    const other = join(root, 'other');
    execFileSync('git', ['clone', '-q', remote, other]);
    gitIn(other, 'checkout', '-q', 'rclaude/t');
    writeFileSync(join(other, 'c.txt'), 'someone else\n');
    gitIn(other, 'add', '-A');
    gitIn(other, 'commit', '-q', '-m', 'someone else');
    gitIn(other, 'push', '-q', 'origin', 'rclaude/t');
    const moved = gitIn(remote, 'rev-parse', 'rclaude/t');
    const err = await push(token).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'CONFLICT' });
    expect(String((err as Error).message)).toContain('push rejected');
    expect(gitIn(remote, 'rev-parse', 'rclaude/t')).toBe(moved);
  });

  it("builds on the branch when it is the task's own earlier push (a resumed task), keeping the workspace's tree", async () => {
    const moved = gitIn(remote, 'rev-parse', 'rclaude/t');
    const scratch = mkdtempSync(join(root, 'scratch-'));
    const done = await pushBundleToRemote(url, 'rclaude/t', commit, bundle, scratch, credential(token), {
      insteadOf: insteadOf(),
      ownPushes: [moved],
    });
    expect(done.upToDate).toBe(false);
    expect(gitIn(remote, 'rev-parse', 'rclaude/t')).toBe(done.commit);
    expect(gitIn(remote, 'rev-parse', `${done.commit}^1`, `${done.commit}^2`)).toBe(`${moved}\n${commit}`);
    expect(gitIn(remote, 'rev-parse', `${done.commit}^{tree}`)).toBe(gitIn(remote, 'rev-parse', `${commit}^{tree}`));
  });
});
