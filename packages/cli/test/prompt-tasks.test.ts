/**
 * Prompt tasks end to end, through real processes: `rclaude server` (embedded storage, local bubblewrap
 * sandboxes), the agent, the session runner and the real Claude Code CLI against the testkit's fake
 * Anthropic API, and the CLI's `-p` view. Also repositories (a local bare repo cloned into the sandbox, a
 * diff recorded, the changes pushed back to a new branch), continuing a finished prompt interactively, and `GET /api/usage`.
 *
 * Runs from the built dist: `npx tsc -b packages/cli` first.
 */
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Task, TaskEvent, UsageResponse } from '@rclaude/protocol';
import {
  DEFAULT_FAKE_USAGE,
  type FakeAnthropic,
  lastToolResults,
  lastUserText,
  type RclaudeServer,
  rclaudeBin,
  runCli,
  startFakeAnthropic,
  startRclaudeServer,
  TmuxTerminal,
  toolUseReply,
  until,
} from '@rclaude/testkit';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';

/** What a model (or anything in a sandbox) could say to take over the terminal that shows it. */
const HOSTILE_REPLY = 'Here: \x1b]52;c;cm0gLXJmIH4K\x07; rm -rf ~ \x1b[2J\r end';
/** Raw control characters; in a pipe the CLI writes none (no colours either). */
const RAW_CONTROL = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u202a-\u202e]/;

let server: RclaudeServer;
let fake: FakeAnthropic;
let scratch: string;
const terminals: TmuxTerminal[] = [];

/** Every user text of a main call, to find a conversation's history. */
function userTexts(body: { messages: { role: string; content: unknown }[] }): string {
  return JSON.stringify(body.messages.filter((m) => m.role === 'user'));
}

beforeAll(async () => {
  scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'rclaude-prompt-e2e-'));
  fake = await startFakeAnthropic({
    responder: ({ body }) => {
      const results = lastToolResults(body);
      const text = lastUserText(body);
      if (results.length > 0) {
        if (results[0]?.isError) return 'The tool FAILED.';
        if (userTexts(body).includes('run the marker command')) return 'Bash finished.';
        return userTexts(body).includes('greeting') ? 'The greeting is changed.' : 'The proof is written.';
      }
      if (text.includes('please write the proof')) {
        return toolUseReply(
          'Write',
          { file_path: '/workspace/proof.txt', content: 'proof from the fake model\n' },
          { text: 'Writing the proof.' },
        );
      }
      if (text.includes('please change the greeting')) {
        return toolUseReply('Write', { file_path: '/workspace/greeting.txt', content: 'hello from claude\n' });
      }
      if (text.includes('run the marker command')) {
        return toolUseReply('Bash', { command: 'echo marker > bash-ran.txt', description: 'Write a marker file' });
      }
      if (text.includes('answer with control characters')) return HOSTILE_REPLY;
      if (text.includes('please fail')) {
        return { error: { status: 400, type: 'invalid_request_error', message: 'fake refusal' } };
      }
      if (text.includes('are you still there')) {
        return userTexts(body).includes('please write the proof')
          ? 'Still here, same conversation.'
          : 'New conversation.';
      }
      return undefined;
    },
  });
  server = await startRclaudeServer({
    env: {
      ANTHROPIC_BASE_URL: fake.url,
      ANTHROPIC_API_KEY: 'sk-ant-test-rclaude-0123456789abcdefghij',
    },
    timeoutMs: 60_000,
  });
}, 120_000);

afterAll(async () => {
  for (const t of terminals.splice(0)) t.close();
  if (process.env.RCLAUDE_TEST_LOG) fs.writeFileSync(process.env.RCLAUDE_TEST_LOG, server?.log() ?? '');
  await server?.stop();
  await fake?.close();
  fs.rmSync(scratch, { recursive: true, force: true });
});

afterEach(() => {
  for (const t of terminals.splice(0)) t.close();
});

const cli = (args: string[]) => runCli(args, { env: server.cliEnv(), timeoutMs: 120_000 });

const getTask = async (id: string) => (await server.request<Task>('GET', `/api/tasks/${id}`)).body;
const getEvents = async (id: string) =>
  (await server.request<{ events: TaskEvent[] }>('GET', `/api/tasks/${id}/events`)).body.events;

/** The task the last `run` created (the newest). */
async function newestTask(): Promise<Task> {
  const { body } = await server.request<{ tasks: Task[] }>('GET', '/api/tasks?limit=1');
  const task = body.tasks[0];
  if (!task) throw new Error('no task');
  return task;
}

describe('rclaude run -p', () => {
  let proofTask: Task;

  it('streams the text and the Write tool call, exits 0, and the task has the events, the file, usage and cost', async () => {
    const before = fake.requests.length;
    const r = await cli(['run', '--name', 'proof', '-p', 'please write the proof']);
    expect(r.code, r.stderr).toBe(0);
    const lines = r.stdout.split('\n');
    const text = lines.findIndex((l) => l.includes('Writing the proof.'));
    const tool = lines.findIndex((l) => /→ Write proof\.txt/.test(l));
    const final = lines.findIndex((l) => l.includes('The proof is written.'));
    const done = lines.findIndex((l) => /✓ done 2 turns · .* · \$0\.\d{4}/.test(l));
    expect(
      [text, tool, final, done].every((i) => i >= 0),
      r.stdout,
    ).toBe(true);
    expect(text).toBeLessThan(tool);
    expect(tool).toBeLessThan(final);
    expect(final).toBeLessThan(done);

    // Usage is metered by the server's egress gateway: every answer the fake gave this task, side calls too
    // (one may still be finishing when the prompt has exited).
    const answered = () =>
      fake.requests.slice(before).filter((q) => q.method === 'POST' && q.path === '/v1/messages').length;
    proofTask = await until('every answer to be metered', async () => {
      const t = await newestTask();
      return t.usage?.inputTokens === answered() * DEFAULT_FAKE_USAGE.inputTokens ? t : null;
    });
    expect(proofTask).toMatchObject({ name: 'proof', prompt: 'please write the proof', command: null, exitCode: 0 });
    // The sandbox stays up for continuing: the task idles with its outcome recorded.
    expect(proofTask.status).toBe('idle');
    expect(proofTask.activity).toBe('done');
    expect(proofTask.modelCostUsd).toBeGreaterThan(0);
    expect(proofTask.usage).toEqual({
      inputTokens: answered() * DEFAULT_FAKE_USAGE.inputTokens,
      outputTokens: answered() * DEFAULT_FAKE_USAGE.outputTokens,
      cacheReadTokens: 0,
      cacheCreationTokens: 0,
    });

    const events = await getEvents(proofTask.id);
    const toolUse = events.find((e) => e.type === 'tool_use');
    expect(toolUse?.data).toMatchObject({
      name: 'Write',
      summary: 'Write proof.txt',
      input: { file_path: 'proof.txt' },
    });
    expect(events.find((e) => e.type === 'tool_result')?.data).toMatchObject({ ok: true });
    const result = events.find((e) => e.type === 'result');
    expect(result?.data).toMatchObject({ ok: true, turns: 2, text: 'The proof is written.' });
    // Claude Code's own estimate stays on the event; the task's cost is the gateway's.
    expect(result?.data.costUsd as number).toBeGreaterThan(0);
    // Hooks reported Claude Code's activity, ending with done.
    const activity = events.filter((e) => e.type === 'activity').map((e) => e.data.activity);
    expect(activity).toContain('working');
    expect(activity.at(-1)).toBe('done');
    // The timeline is in order: the result before the task went idle.
    const idleAt = events.findIndex((e) => e.type === 'status' && e.data.status === 'idle');
    expect(events.findIndex((e) => e.type === 'result')).toBeLessThan(idleAt);

    const file = await server.request<unknown>('GET', `/api/tasks/${proofTask.id}/files/content?path=proof.txt`);
    expect(file.status).toBe(200);
    expect(file.text).toBe('proof from the fake model\n');
  });

  it('shows a readable rendering, not raw JSON, in the task terminal (logs)', async () => {
    const r = await cli(['logs', proofTask.id]);
    expect(r.code).toBe(0);
    // The terminal output is colored; the words are what matters here.
    const text = r.stdout.replace(/\x1b\[[0-9;?]*[A-Za-z]/g, '');
    expect(text).toContain('→ Write proof.txt');
    expect(text).toContain('● The proof is written.');
    expect(text).toMatch(/✓ done 2 turns/);
    expect(text).not.toContain('"type":"assistant"');
  });

  it('continues the conversation interactively with rclaude attach, then idles again', async () => {
    const env = Object.entries(server.cliEnv())
      .map(([k, v]) => `${k}=${v}`)
      .join(' ');
    const t = new TmuxTerminal(`env ${env} ${rclaudeBin()} attach ${proofTask.id}`, {
      cols: 120,
      rows: 40,
    });
    terminals.push(t);
    await t.waitFor((s) => /bypass permissions on|\? for shortcuts/.test(s), 60_000);
    expect((await getTask(proofTask.id)).status).toBe('running');
    t.type('are you still there');
    await t.waitFor((s) => s.includes('are you still there'));
    t.keys('Enter');
    await t.waitFor((s) => s.includes('Still here, same conversation.'), 60_000);
    t.type('/exit');
    await t.waitFor((s) => s.includes('/exit'));
    t.keys('Enter');
    await until('the CLI to exit', async () => t.exitStatus() !== null, 30_000).catch((err: Error) => {
      throw new Error(`${err.message}\n${t.screen()}`);
    });
    expect(t.exitStatus()).toBe(0);
    const idle = await until('the task to idle again', async () => {
      const task = await getTask(proofTask.id);
      return task.status === 'idle' ? task : null;
    });
    expect(idle.exitCode).toBe(0);
  });

  it('ends a finished prompt task as succeeded when it is stopped, with its compute cost', async () => {
    const r = await cli(['stop', proofTask.id]);
    expect(r.code).toBe(0);
    const task = await getTask(proofTask.id);
    expect(task).toMatchObject({
      status: 'succeeded',
      exitCode: 0,
      statusReason: 'stopped by user',
      computeCostUsd: 0,
    });
    expect(task.endedAt).not.toBeNull();
  });

  it('prints events as JSON lines with --json', async () => {
    const r = await cli(['run', '--json', '-p', 'please write the proof']);
    expect(r.code, r.stderr).toBe(0);
    const events = r.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as TaskEvent);
    expect(events.map((e) => e.seq)).toEqual(events.map((_, i) => i + 1));
    expect(events.find((e) => e.type === 'tool_use')?.data).toMatchObject({ name: 'Write' });
    expect(events.find((e) => e.type === 'result')?.data).toMatchObject({ ok: true });
    await cli(['stop', events[0]?.taskId ?? '']);
  });

  it('exits non-zero on an error result and shows the error', async () => {
    const r = await cli(['run', '-p', 'please fail']);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/✗ .*fake refusal/);
    const task = await newestTask();
    expect(task).toMatchObject({ status: 'idle', exitCode: 1 });
    expect((await getEvents(task.id)).find((e) => e.type === 'result')?.data).toMatchObject({ ok: false });
    await cli(['stop', task.id]);
    expect((await getTask(task.id)).status).toBe('failed');
  });
});

describe('strings from the sandbox (issue 16)', () => {
  it('print with their control characters made visible, in the -p view, ls and ls --json', async () => {
    const name = 'evil\u009b2J; rm -rf ~\u202e';
    const r = await cli(['run', '--name', name, '-p', 'answer with control characters']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('Here: \\x1b]52;c;cm0gLXJmIH4K\\x07; rm -rf ~ \\x1b[2J\\r end');
    expect(r.stdout).not.toMatch(RAW_CONTROL);
    expect(r.stderr).not.toMatch(RAW_CONTROL);
    const events = await getEvents((await newestTask()).id);
    expect(events.some((e) => e.type === 'assistant_text' && e.data.text === HOSTILE_REPLY)).toBe(true);

    const ls = await cli(['ls']);
    expect(ls.stdout).toContain('evil\\x9b2J; rm -rf ~\\u202e');
    expect(ls.stdout).not.toMatch(RAW_CONTROL);
    const json = await cli(['ls', '--json']);
    expect(json.stdout).not.toMatch(RAW_CONTROL);
    expect(json.stdout).toContain('evil\\u009b2J; rm -rf ~\\u202e');
    expect((JSON.parse(json.stdout) as Task[]).map((t) => t.name)).toContain(name);
    const detached = await cli(['run', '-d', '--json', '--name', name, '--', 'true']);
    expect(detached.stdout).not.toMatch(RAW_CONTROL);
  });
});

describe('agent-aware status', () => {
  it('shows working, then waiting with the question (a bell and a line in attached CLIs), then done', async () => {
    const env = Object.entries(server.cliEnv())
      .map(([k, v]) => `${k}=${v}`)
      .join(' ');
    const t = new TmuxTerminal(`env ${env} ${rclaudeBin()} run --name asks -- claude --permission-mode default`, {
      cols: 120,
      rows: 40,
    });
    terminals.push(t);
    await t.waitFor((s) => /\? for shortcuts|shift\+tab to cycle/.test(s), 60_000);
    const task = await until('the task', async () => {
      const { body } = await server.request<{ tasks: Task[] }>('GET', '/api/tasks?q=asks');
      return body.tasks[0];
    });
    // A second CLI watching read-only, with pipes: its stderr shows what an attached CLI prints.
    const watcher = spawn(rclaudeBin(), ['attach', '--read-only', task.id], {
      env: { ...process.env, ...server.cliEnv() },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let watched = '';
    watcher.stderr.setEncoding('utf8').on('data', (d: string) => {
      watched += d;
    });
    try {
      await until('the watcher to attach', async () => {
        const { body } = await server.request<{ sessions: { clients: number }[] }>(
          'GET',
          `/api/tasks/${task.id}/sessions`,
        );
        return (body.sessions[0]?.clients ?? 0) >= 2;
      });
      t.type('run the marker command');
      await t.waitFor((s) => s.includes('run the marker command'));
      t.keys('Enter');
      await t.waitFor((s) => /Do you want to proceed\?/.test(s), 60_000);
      const waiting = await until('the task to wait', async () => {
        const current = await getTask(task.id);
        return current.activity === 'waiting' ? current : null;
      });
      expect(waiting.status).toBe('running');
      await until('the bell and the line', async () => watched.includes('\x07'));
      expect(watched).toMatch(/waiting for input: Claude needs your permission to use Bash/);
      t.keys('Enter');
      await t.waitFor((s) => s.includes('Bash finished.'), 60_000);
      await until('the task to be done', async () => (await getTask(task.id)).activity === 'done');
      const activity = (await getEvents(task.id)).filter((e) => e.type === 'activity').map((e) => e.data.activity);
      expect(activity).toEqual(['working', 'waiting', 'working', 'done']);
    } finally {
      watcher.kill('SIGKILL');
      await cli(['stop', task.id]);
    }
  });
});

describe('repositories', () => {
  let bare: string;

  beforeAll(() => {
    const work = path.join(scratch, 'work');
    bare = path.join(scratch, 'origin.git');
    const git = (args: string[], cwd = work) =>
      execFileSync('git', ['-c', 'user.name=t', '-c', 'user.email=t@example.com', ...args], { cwd, stdio: 'pipe' });
    fs.mkdirSync(work);
    git(['init', '-q', '-b', 'main']);
    fs.writeFileSync(path.join(work, 'greeting.txt'), 'hello\n');
    fs.writeFileSync(path.join(work, 'README.md'), '# demo\n');
    git(['add', '.']);
    git(['commit', '-q', '-m', 'first']);
    git(['checkout', '-q', '-b', 'feature']);
    fs.writeFileSync(path.join(work, 'feature.txt'), 'feature branch\n');
    git(['add', '.']);
    git(['commit', '-q', '-m', 'feature']);
    execFileSync('git', ['clone', '-q', '--bare', work, bare]);
  });

  it('clones a local repository, lets a tool call change it, and records the diff', async () => {
    const r = await cli(['run', '--repo', bare, '--branch', 'feature', '-p', 'please change the greeting']);
    expect(r.code, `${r.stdout}\n${r.stderr}`).toBe(0);
    expect(r.stdout).toContain(`cloned ${bare} (branch feature)`);
    expect(r.stdout).toMatch(/changes: 1 file changed, \+1 -1/);
    const task = await newestTask();
    expect(task).toMatchObject({ repo: bare, branch: 'feature', status: 'idle', exitCode: 0 });

    const diff = (await getEvents(task.id)).find((e) => e.type === 'diff');
    expect(diff?.data).toMatchObject({
      files: [{ path: 'greeting.txt', additions: 1, deletions: 1 }],
      filesChanged: 1,
      additions: 1,
      deletions: 1,
      diffPath: '.rclaude/changes.diff',
      summary: '1 file changed, +1 -1',
    });
    const full = await server.request<unknown>('GET', `/api/tasks/${task.id}/files/content?path=.rclaude/changes.diff`);
    expect(full.text).toContain('-hello\n+hello from claude\n');
    // The branch was checked out, the bundle the server uploaded is gone, the clone's origin is the source.
    const feature = await server.request<unknown>('GET', `/api/tasks/${task.id}/files/content?path=feature.txt`);
    expect(feature.text).toBe('feature branch\n');
    const ls = await cli([
      'exec',
      task.id,
      '--',
      'sh',
      '-c',
      'ls -A .rclaude; git remote get-url origin; git status --short',
    ]);
    expect(ls.stdout.split('\n')).toEqual(['changes.diff', bare, ' M greeting.txt', '']);
    await cli(['stop', task.id]);
  });

  it('commits the changes to a new branch and brings it home to the local repository with --push', async () => {
    const featureHead = execFileSync('git', ['-C', bare, 'rev-parse', 'feature'], { encoding: 'utf8' }).trim();
    const r = await cli(['run', '--repo', bare, '--branch', 'feature', '--push', '-p', 'please change the greeting']);
    expect(r.code, `${r.stdout}\n${r.stderr}`).toBe(0);
    const task = await newestTask();
    const branch = `rclaude/${task.id}`;
    expect(task.pushBranch).toBe(branch);
    expect(r.stdout).toContain(`pushed branch ${branch} (`);
    const push = (await getEvents(task.id)).find((e) => e.type === 'push');
    expect(push?.data).toMatchObject({ branch, pushedTo: bare, commit: expect.stringMatching(/^[0-9a-f]{40}$/) });
    expect(push?.data).not.toHaveProperty('bundlePath');
    const commit = (push?.data as { commit?: string } | undefined)?.commit;
    const inBare = (...args: string[]) => execFileSync('git', ['-C', bare, ...args], { encoding: 'utf8' }).trim();
    expect(inBare('rev-parse', branch)).toBe(commit);
    expect(inBare('show', `${branch}:greeting.txt`)).toBe('hello from claude');
    expect(inBare('rev-parse', `${branch}^`)).toBe(featureHead);
    expect(inBare('rev-parse', 'feature')).toBe(featureHead);
    await cli(['stop', task.id]);

    // The same branch name again (the repository given as a path relative to the shell): the repository's branch
    // holds another task's commit, which this task's does not descend from, so it is left as it was, and the task
    // says so.
    const again = await runCli(['run', '--repo', '.', '--push', branch, '-p', 'please change the greeting'], {
      env: server.cliEnv(),
      timeoutMs: 120_000,
      cwd: bare,
    });
    expect(again.stdout).toContain(
      `could not push branch ${branch} to ${bare}: push rejected: ${branch} in ${bare} has commits the task's branch does not have`,
    );
    expect(inBare('rev-parse', branch)).toBe(commit);
    await cli(['stop', (await newestTask()).id]);
  });

  it('refuses --push without a repository, or onto the branch the task starts from', async () => {
    const none = await cli(['run', '--push', '-p', 'hi']);
    expect(none.code).toBe(1);
    expect(none.stderr).toContain('pushing needs a repository: give --repo too');
    const same = await cli(['run', '--repo', bare, '--branch', 'feature', '--push', 'feature', '-p', 'hi']);
    expect(same.code).toBe(1);
    expect(same.stderr).toContain('--push needs a new branch, not the one the task starts from (feature)');
    const bad = await cli(['run', '--repo', bare, '--push', '../x', '-p', 'hi']);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('cannot push to "../x"');
  });

  it('refuses credentials in a repository URL, with a clear message', async () => {
    const r = await cli(['run', '--repo', 'https://user:secret@example.com/x.git', '-p', 'hi']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/do not put credentials in the repository URL/);
  });

  it('refuses a path that is not a repository', async () => {
    const r = await cli(['run', '--repo', scratch, '-p', 'hi']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`${scratch} is not a git repository with commits`);
  });
});

describe('GET /api/usage', () => {
  it("sums the caller's tasks of this month", async () => {
    const { status, body } = await server.request<UsageResponse>('GET', '/api/usage');
    expect(status).toBe(200);
    expect(body.tasks).toBeGreaterThanOrEqual(3);
    expect(body.modelCostUsd).toBeGreaterThan(0);
    expect(body.totalCostUsd).toBeCloseTo(body.modelCostUsd + body.computeCostUsd, 6);
    expect(body.usage.outputTokens).toBeGreaterThan(0);
    expect(body).toMatchObject({ budgetUsd: null, remainingUsd: null });
    expect(new Date(body.periodStart).getUTCDate()).toBe(1);
  });
});
