/**
 * Pushing and pull requests end to end (docs/pull-requests.md): the real `rclaude server` (embedded storage,
 * bubblewrap sandboxes), the real `rclaude` bin, real git over a local bare repository, the real Claude Code CLI
 * against the testkit's fake Anthropic API, and Octokit against the testkit's fake GitHub API. All on loopback.
 *
 * Runs from the built dist: `npx turbo run build` first.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ApiClient } from '@rclaude/client';
import { AppError, pullRequestInfoSchema, pushTaskResponseSchema, type Task, taskSchema } from '@rclaude/protocol';
import {
  type FakeAnthropic,
  type FakeGitHttp,
  type FakeGithub,
  lastToolResults,
  lastUserText,
  type RclaudeServer,
  runCli,
  startFakeAnthropic,
  startFakeGitHttp,
  startFakeGithub,
  startRclaudeServer,
  toolUseReply,
  until,
} from '@rclaude/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const TOKEN = `ghp_fake${'x'.repeat(8)}${Date.now().toString(36)}secret`;
const GH_REPO = 'octo/demo';

let server: RclaudeServer;
let fake: FakeAnthropic;
let github: FakeGithub;
/** The repository `https://github.com/octo/demo.git`, served on loopback (RCLAUDE_GIT_INSTEAD_OF), token required. */
let gitHttp: FakeGitHttp;
let served: string;
const HTTPS_REPO = 'https://github.com/octo/demo.git';
let scratch: string;
let bare: string;
let featureHead: string;
let admin: ApiClient;
const cliOutputs: string[] = [];

async function cli(args: string[], env: Record<string, string> = {}) {
  const r = await runCli(args, { env: { ...server.cliEnv(), ...env }, timeoutMs: 120_000 });
  cliOutputs.push(r.stdout, r.stderr);
  return r;
}

const inBare = (...args: string[]) => execFileSync('git', ['-C', bare, ...args], { encoding: 'utf8' }).trim();

beforeAll(async () => {
  scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'rclaude-pr-e2e-'));
  const work = path.join(scratch, 'work');
  bare = path.join(scratch, 'origin.git');
  const git = (args: string[]) =>
    execFileSync('git', ['-c', 'user.name=t', '-c', 'user.email=t@example.com', ...args], { cwd: work, stdio: 'pipe' });
  fs.mkdirSync(work);
  git(['init', '-q', '-b', 'main']);
  fs.writeFileSync(path.join(work, 'greeting.txt'), 'hello\n');
  git(['add', '.']);
  git(['commit', '-q', '-m', 'first']);
  git(['checkout', '-q', '-b', 'feature']);
  fs.writeFileSync(path.join(work, 'feature.txt'), 'feature branch\n');
  git(['add', '.']);
  git(['commit', '-q', '-m', 'feature']);
  execFileSync('git', ['clone', '-q', '--bare', work, bare]);
  featureHead = inBare('rev-parse', 'feature');
  served = path.join(scratch, 'served', 'demo.git');
  execFileSync('git', ['clone', '-q', '--bare', bare, served]);
  gitHttp = await startFakeGitHttp({ root: path.join(scratch, 'served'), token: TOKEN });

  fake = await startFakeAnthropic({
    responder: ({ body }) => {
      if (lastToolResults(body).length > 0) return 'The greeting is changed.';
      if (lastUserText(body).includes('please change the greeting')) {
        return toolUseReply('Write', { file_path: '/workspace/greeting.txt', content: 'hello from claude\n' });
      }
      return undefined;
    },
  });
  github = await startFakeGithub({ token: TOKEN, repos: { [GH_REPO]: { defaultBranch: 'main' } } });
  server = await startRclaudeServer({
    env: {
      ANTHROPIC_BASE_URL: fake.url,
      ANTHROPIC_API_KEY: 'sk-ant-test-rclaude-0123456789abcdefghij',
      RCLAUDE_GITHUB_API_URL: github.url,
      RCLAUDE_GIT_INSTEAD_OF: `https://github.com/octo/=${gitHttp.url}/`,
    },
    timeoutMs: 60_000,
  });
  admin = new ApiClient({ baseUrl: server.url, token: server.token });
}, 120_000);

afterAll(async () => {
  if (process.env.RCLAUDE_TEST_LOG) fs.writeFileSync(process.env.RCLAUDE_TEST_LOG, server?.log() ?? '');
  await server?.stop();
  await fake?.close();
  await github?.close();
  await gitHttp?.close();
  fs.rmSync(scratch, { recursive: true, force: true });
});

/** Runs a shell command in the task's sandbox; its stdout. */
async function sh(taskId: string, script: string): Promise<string> {
  const r = await cli(['exec', taskId, '--', 'sh', '-c', script]);
  expect(r.code, `${script}\n${r.stdout}\n${r.stderr}`).toBe(0);
  return r.stdout;
}

describe('rclaude push and rclaude pr on a running task', () => {
  let task: Task;

  beforeAll(async () => {
    const r = await cli([
      'run',
      '-d',
      '--json',
      '--name',
      'greeting change',
      '--repo',
      bare,
      '--branch',
      'feature',
      '--',
      'sh',
      '-c',
      'echo changed by the task > greeting.txt; git add greeting.txt; echo untracked > notes.txt; exec sleep 600',
    ]);
    expect(r.code, r.stderr).toBe(0);
    task = taskSchema.parse(JSON.parse(r.stdout));
    await until('the task to run', async () => (await admin.getTask(task.id)).status === 'running');
    await until(
      'the task to change its files',
      async () => (await sh(task.id, 'cat notes.txt 2>/dev/null || true')) === 'untracked\n',
    );
  }, 120_000);

  afterAll(async () => {
    if (task) await cli(['stop', '--force', task.id]);
  });

  it('refuses a pull request while no GitHub token is stored, saying how to store one (exit 1)', async () => {
    const r = await cli(['pr', task.id, '--github-repo', GH_REPO]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('no GitHub token stored: run `rclaude secret set GITHUB_TOKEN`');
    expect(github.requests).toHaveLength(0);
  });

  it('pushes the workspace as it is now to a new branch, leaving the index and work tree alone', async () => {
    const r = await cli(['push', task.id, '--json']);
    expect(r.code, r.stderr).toBe(0);
    const pushed = pushTaskResponseSchema.parse(JSON.parse(r.stdout));
    const branch = `rclaude/${task.id}`;
    expect(pushed).toMatchObject({ branch, pushedTo: bare, upToDate: false });
    expect(inBare('rev-parse', branch)).toBe(pushed.commit);
    expect(inBare('rev-parse', `${branch}^`)).toBe(featureHead);
    expect(inBare('show', `${branch}:greeting.txt`)).toBe('changed by the task');
    expect(inBare('show', `${branch}:notes.txt`)).toBe('untracked');
    expect(inBare('rev-parse', 'feature')).toBe(featureHead);
    // The user's index still has only what they staged; HEAD did not move; nothing of rclaude's is committed.
    expect(await sh(task.id, 'git status --short; git rev-parse HEAD')).toBe(
      `M  greeting.txt\n?? notes.txt\n${featureHead}\n`,
    );
    expect(inBare('ls-tree', '--name-only', '-r', branch)).not.toContain('.rclaude');

    // More work, pushed again: a fast-forward on top of the first push.
    await sh(task.id, 'echo second > second.txt');
    const again = pushTaskResponseSchema.parse(JSON.parse((await cli(['push', task.id, '--json'])).stdout));
    expect(again.commit).not.toBe(pushed.commit);
    expect(inBare('rev-parse', `${branch}^`)).toBe(pushed.commit);
    expect(inBare('show', `${branch}:second.txt`)).toBe('second');
    // Nothing new: up to date, same commit.
    const same = await cli(['push', task.id]);
    expect(same.stdout).toContain(`already up to date: ${branch} at ${again.commit.slice(0, 12)}`);

    const pushes = (await admin.listTaskEvents(task.id)).filter((e) => e.type === 'push');
    expect(pushes.map((e) => e.data.commit)).toEqual([pushed.commit, again.commit, again.commit]);
  });

  it('opens a pull request on GitHub with the token, then answers the same one when asked again', async () => {
    // Stored now, after the task started: its sandbox never had it in its environment.
    await admin.call('putSecret', { params: { name: 'GITHUB_TOKEN' }, body: { value: TOKEN } });
    await sh(task.id, 'echo third > third.txt');
    const r = await cli(['pr', task.id, '--github-repo', GH_REPO, '--json']);
    expect(r.code, r.stderr).toBe(0);
    const pr = pullRequestInfoSchema.parse(JSON.parse(r.stdout));
    const branch = `rclaude/${task.id}`;
    expect(pr).toMatchObject({ number: 1, repo: GH_REPO, branch, base: 'feature', created: true });
    expect(inBare('rev-parse', branch)).toBe(pr.commit);
    expect(inBare('show', `${branch}:third.txt`)).toBe('third');

    expect(github.pulls).toHaveLength(1);
    const opened = github.pulls[0];
    expect(opened).toMatchObject({
      owner: 'octo',
      repo: 'demo',
      head: branch,
      base: 'feature',
      title: 'greeting change',
    });
    expect(opened?.htmlUrl).toBe(pr.url);
    expect(opened?.body).toContain(`${server.url}/tasks/${task.id}`);
    expect(opened?.body).toContain('4 files changed');
    const create = github.requests.find((q) => q.method === 'POST');
    expect(create?.headers.authorization).toBe(`token ${TOKEN}`);

    const again = pullRequestInfoSchema.parse(
      JSON.parse((await cli(['pr', task.id, '--github-repo', GH_REPO, '--json'])).stdout),
    );
    expect(again).toMatchObject({ url: pr.url, number: 1, created: false });
    expect(github.pulls).toHaveLength(1);

    // On the task, in `ls` (text and JSON), and on the timeline.
    expect((await admin.getTask(task.id)).pullRequest?.url).toBe(pr.url);
    const ls = await cli(['ls', '--json']);
    const listed = taskSchema
      .array()
      .parse(JSON.parse(ls.stdout))
      .find((t) => t.id === task.id);
    expect(listed?.pullRequest?.url).toBe(pr.url);
    expect((await cli(['ls'])).stdout).toContain(pr.url);
    const events = (await admin.listTaskEvents(task.id)).filter((e) => e.type === 'pull_request');
    expect(events.map((e) => pullRequestInfoSchema.parse(e.data).url)).toEqual([pr.url, pr.url]);
  });

  it('never puts the token in the sandbox, the server log or what the CLI printed', async () => {
    // Files the push touched (the clone's config, rclaude's folder, temp files) and git's own configuration. The
    // token travels base64-encoded in the command; a control file holding it shows the search finds it.
    const encoded = Buffer.from(TOKEN).toString('base64');
    const found = await sh(
      task.id,
      `T=$(printf %s '${encoded}' | base64 -d); printf %s "$T" > /tmp/rclaude-control; grep -rlF -- "$T" /workspace /tmp 2>/dev/null; rm /tmp/rclaude-control; git config --list | grep -ci extraheader; true`,
    );
    expect(found).toBe('/tmp/rclaude-control\n0\n');
    expect(server.log()).not.toContain(TOKEN);
    expect(server.log()).not.toContain(Buffer.from(`x-access-token:${TOKEN}`).toString('base64'));
    for (const out of cliOutputs) expect(out).not.toContain(TOKEN);
  });

  it("answers 404 for another user's task, and refuses a task with no sandbox", async () => {
    await admin.call('createUser', { body: { username: 'mallory', password: 'mallory-password-123' } });
    const login = await admin.call('login', { body: { username: 'mallory', password: 'mallory-password-123' } });
    const mallory = new ApiClient({ baseUrl: server.url, token: login.token });
    for (const call of [
      () => mallory.call('pushTask', { params: { id: task.id } }),
      () => mallory.call('createPullRequest', { params: { id: task.id }, body: { githubRepo: GH_REPO } }),
    ]) {
      const err = await call().catch((e: unknown) => e);
      expect(err).toBeInstanceOf(AppError);
      expect(err).toMatchObject({ code: 'NOT_FOUND' });
    }
    const r = await cli(['push', task.id], { RCLAUDE_TOKEN: login.token });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`no task matches "${task.id}"`);

    await cli(['stop', '--force', task.id]);
    const stopped = await cli(['push', task.id]);
    expect(stopped.code).toBe(1);
    expect(stopped.stderr).toContain(`resume it first (\`rclaude resume ${task.id}\`)`);
  });
});

describe('rclaude run --pr', () => {
  it('pushes and opens the pull request when the prompt finishes, titled by the prompt, with its result', async () => {
    const before = github.pulls.length;
    const r = await cli([
      'run',
      '--repo',
      bare,
      '--branch',
      'feature',
      '--pr',
      '--github-repo',
      GH_REPO,
      '-p',
      'please change the greeting',
    ]);
    expect(r.code, `${r.stdout}\n${r.stderr}`).toBe(0);
    const task = (await admin.listTasks({ limit: 1 }))[0];
    if (!task) throw new Error('no task');
    const branch = `rclaude/${task.id}`;
    await until('the pull request on the task', async () => (await admin.getTask(task.id)).pullRequest);
    expect(r.stdout).toMatch(new RegExp(`opened pull request #${before + 1} \\(${branch} → feature\\)`));
    expect(github.pulls).toHaveLength(before + 1);
    const opened = github.pulls.at(-1);
    expect(opened).toMatchObject({ head: branch, base: 'feature', title: 'please change the greeting' });
    expect(opened?.body).toContain('The greeting is changed.');
    expect(opened?.body).toContain('> please change the greeting');
    expect(inBare('show', `${branch}:greeting.txt`)).toBe('hello from claude');
    await cli(['stop', task.id]);
  });
});

describe('an https repository: the server clones and pushes with the token, the sandbox never holds it', () => {
  const inServed = (...args: string[]) => execFileSync('git', ['-C', served, ...args], { encoding: 'utf8' }).trim();

  it('fails to start with a clear reason when no token is stored, without trying in the sandbox', async () => {
    await admin.call('createUser', { body: { username: 'carol', password: 'carol-password-123' } });
    const login = await admin.call('login', { body: { username: 'carol', password: 'carol-password-123' } });
    const r = await cli(['run', '-d', '--json', '--repo', HTTPS_REPO, '--', 'true'], { RCLAUDE_TOKEN: login.token });
    expect(r.code, r.stderr).toBe(0);
    const task = taskSchema.parse(JSON.parse(r.stdout));
    const carol = new ApiClient({ baseUrl: server.url, token: login.token });
    await until('the task to fail', async () => (await carol.getTask(task.id)).status === 'failed');
    expect((await carol.getTask(task.id)).statusReason).toBe(
      `could not clone ${HTTPS_REPO}: authentication failed; store a token with \`rclaude secret set GITHUB_TOKEN\``,
    );
  });

  it('clones with the stored token (origin is the real URL), pushes at exit, and the token is nowhere in the sandbox, events or logs', async () => {
    await admin.call('putSecret', { params: { name: 'GITHUB_TOKEN' }, body: { value: TOKEN } });
    const seen = gitHttp.authorizations.length;
    const r = await cli([
      'run',
      '-d',
      '--json',
      '--repo',
      HTTPS_REPO,
      '--branch',
      'feature',
      '--push',
      'rclaude/https-exit',
      '--',
      'sh',
      '-c',
      'echo changed over https > greeting.txt; exec sleep 600',
    ]);
    expect(r.code, r.stderr).toBe(0);
    const task = taskSchema.parse(JSON.parse(r.stdout));
    await until('the task to run', async () => {
      const t = await admin.getTask(task.id);
      if (t.status === 'failed') throw new Error(`the task failed: ${t.statusReason}`);
      return t.status === 'running';
    });
    // The program starts once the agent has cloned the bundle (and written greeting.txt).
    await until(
      'the clone and the change',
      async () => (await sh(task.id, 'cat greeting.txt 2>/dev/null || true')) === 'changed over https\n',
    );
    const basic = `Basic ${Buffer.from(`x-access-token:${TOKEN}`).toString('base64')}`;
    expect(gitHttp.authorizations.slice(seen)).toContain(basic);
    const view = await sh(
      task.id,
      'cat feature.txt; git remote get-url origin; git rev-parse origin/feature; ls -A .rclaude 2>/dev/null; true',
    );
    expect(view).toBe(`feature branch\n${HTTPS_REPO}\n${featureHead}\n`);
    const encoded = Buffer.from(TOKEN).toString('base64');
    const basicEncoded = Buffer.from(basic).toString('base64');
    const found = await sh(
      task.id,
      `T=$(printf %s '${encoded}' | base64 -d); B=$(printf %s '${basicEncoded}' | base64 -d | cut -d' ' -f2); ` +
        `printf %s "$T" > /tmp/rclaude-control; grep -rlF -e "$T" -e "$B" /workspace /tmp "$HOME" 2>/dev/null; ` +
        `rm /tmp/rclaude-control; cat /proc/[0-9]*/environ | tr '\\0' '\\n' | grep -cF -e "$T" -e "$B"; ` +
        'printenv GITHUB_TOKEN GH_TOKEN GIT_TOKEN; true',
    );
    expect(found).toBe('/tmp/rclaude-control\n0\n');

    // The program ends (its sandbox stays until the push is recorded): the server pushes the branch with the token.
    await cli(['stop', task.id]);
    await until('the push at the end', async () =>
      (await admin.listTaskEvents(task.id)).find((e) => e.type === 'push' || e.type === 'error'),
    );
    const events = await admin.listTaskEvents(task.id);
    const push = events.find((e) => e.type === 'push');
    expect(push?.data, JSON.stringify(events.filter((e) => e.type === 'error'))).toMatchObject({
      branch: 'rclaude/https-exit',
      pushedTo: HTTPS_REPO,
    });
    expect(inServed('rev-parse', 'rclaude/https-exit')).toBe(push?.data.commit);
    expect(inServed('show', 'rclaude/https-exit:greeting.txt')).toBe('changed over https');
    expect(inServed('rev-parse', 'rclaude/https-exit^')).toBe(featureHead);

    const text = JSON.stringify(events);
    for (const secret of [TOKEN, basic.slice(6)]) {
      expect(text).not.toContain(secret);
      expect(server.log()).not.toContain(secret);
      for (const out of cliOutputs) expect(out).not.toContain(secret);
      const sandboxes = path.join(server.dataDir, 'sandboxes');
      for (const id of fs.readdirSync(sandboxes)) {
        const agentLog = path.join(sandboxes, id, 'agent.log');
        if (fs.existsSync(agentLog)) expect(fs.readFileSync(agentLog, 'utf8')).not.toContain(secret);
      }
    }
  });
});

describe('a resumed task pushes its branch again', () => {
  it('push, stop, resume, change a file, push: the same branch moves forward', async () => {
    const branch = 'rclaude/resumed';
    const r = await cli(['run', '-d', '--json', '--repo', bare, '--push', branch, '--', 'sh', '-c', 'exec sleep 600']);
    expect(r.code, r.stderr).toBe(0);
    const task = taskSchema.parse(JSON.parse(r.stdout));
    await until('the task to run', async () => (await admin.getTask(task.id)).status === 'running');
    await sh(task.id, 'echo first > resumed.txt');
    const first = pushTaskResponseSchema.parse(JSON.parse((await cli(['push', task.id, '--json'])).stdout));
    expect(inBare('rev-parse', branch)).toBe(first.commit);
    // Work after that push: the stop pushes it too, after the checkpoint was taken (which holds the first push's
    // branch only).
    await sh(task.id, 'echo between > between.txt');

    const stopped = await cli(['stop', task.id]);
    expect(stopped.code, stopped.stderr).toBe(0);
    await until('the task to stop', async () => (await admin.getTask(task.id)).status === 'stopped');
    const atStop = inBare('rev-parse', branch);
    expect(atStop).not.toBe(first.commit);
    const resumed = await cli(['resume', task.id, '--detach']);
    expect(resumed.code, resumed.stderr).toBe(0);
    await until('the task to run again', async () => (await admin.getTask(task.id)).status === 'running');
    expect(await sh(task.id, 'cat resumed.txt')).toBe('first\n');
    await sh(task.id, 'echo second > resumed.txt');
    const again = await cli(['push', task.id, '--json']);
    expect(again.code, again.stderr).toBe(0);
    const second = pushTaskResponseSchema.parse(JSON.parse(again.stdout));
    expect(second.branch).toBe(branch);
    expect(inBare('rev-parse', branch)).toBe(second.commit);
    // The resumed clone held the first push only (the checkpoint came before the stop's push), so without help
    // this push was rejected as not a fast-forward: the server joined the workspace onto the stop's push.
    expect(inBare('rev-parse', `${second.commit}^1`, `${second.commit}^2^`)).toBe(`${atStop}\n${first.commit}`);
    expect(inBare('show', `${branch}:resumed.txt`)).toBe('second');
    await cli(['stop', '--force', task.id]);
  });
});
