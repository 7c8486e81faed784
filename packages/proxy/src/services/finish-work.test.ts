/**
 * A stop or a hibernation has the agent record the task's diff (and push) before the sandbox goes, on the test
 * stack's fake agents: what it answers is on the timeline before the stop; an agent that does not answer, or
 * is gone, delays the stop by at most RCLAUDE_FINISH_TIMEOUT_MS, and the timeline says the changes were not
 * recorded.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AgentRepoFinishRequest, TaskEvent } from '@rclaude/protocol';
import { type FakeGitHttp, startFakeGitHttp, until } from '@rclaude/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestStack, type TestStack, type TestUser } from '../../test/test-stack.js';

const FINISH_TIMEOUT_MS = 1500;
const REPO = 'https://git.example.com/team/app.git';
const GIT_TOKEN = 'glpat-finish-work-test-token';

describe('recording the changes before the sandbox goes', () => {
  let stack: TestStack;
  let dana: TestUser;
  let root: string;
  let gitServer: FakeGitHttp;

  beforeAll(async () => {
    // The proxy clones the repository (adr/0024): REPO is served on loopback, with Dana's GIT_TOKEN.
    root = mkdtempSync(join(tmpdir(), 'rclaude-finish-'));
    const work = join(root, 'work');
    mkdirSync(work);
    const git = (...args: string[]) =>
      execFileSync('git', ['-c', 'user.name=t', '-c', 'user.email=t@example.com', ...args], { cwd: work });
    git('init', '-q', '-b', 'main');
    git('commit', '-q', '--allow-empty', '-m', 'first');
    git('clone', '-q', '--bare', work, join(root, 'served', 'team', 'app.git'));
    gitServer = await startFakeGitHttp({ root: join(root, 'served'), token: GIT_TOKEN });
    stack = await startTestStack('embedded', {
      env: {
        RCLAUDE_FINISH_TIMEOUT_MS: String(FINISH_TIMEOUT_MS),
        IDLE_TIMEOUT_MS: '4000',
        RCLAUDE_GIT_INSTEAD_OF: `https://git.example.com/=${gitServer.url}/`,
      },
    });
    dana = await stack.createUser('dana');
    await stack.api(dana.token, 'PUT', '/api/secrets/GIT_TOKEN', { body: { value: GIT_TOKEN } });
  });
  afterAll(async () => {
    await stack?.close();
    await gitServer?.close();
    rmSync(root, { recursive: true, force: true });
  });

  const events = async (taskId: string) =>
    (await stack.api(dana.token, 'GET', `/api/tasks/${taskId}/events`)).body.events as TaskEvent[];
  const diff = {
    files: [{ path: 'a.txt', additions: 1, deletions: 0 }],
    filesChanged: 1,
    additions: 1,
    deletions: 0,
    diffPath: '.rclaude/changes.diff',
    diffBytes: 40,
    summary: '1 file changed, +1 -0',
  };

  it('records what the agent answers on the timeline, before the stop, for a stop and a hibernation', async () => {
    for (const why of ['stopped', 'hibernated'] as const) {
      const { task, agent } = await stack.startTask(dana.token, { command: ['sh'], repo: REPO });
      const asked: AgentRepoFinishRequest[] = [];
      agent.onRepoFinish = async (req) => {
        asked.push(req);
        return { state: 'recorded', events: [{ type: 'diff', data: diff }] };
      };
      if (why === 'stopped') {
        expect((await stack.api(dana.token, 'POST', `/api/tasks/${task.id}/stop`)).body.status).toBe('stopped');
      } else {
        await until(
          'the idle task to hibernate',
          async () => (await stack.api(dana.token, 'GET', `/api/tasks/${task.id}`)).body.status === 'hibernated',
          20_000,
        );
      }
      expect(asked).toEqual([{ sessionId: task.mainSessionId, why }]);
      const all = await events(task.id);
      const recorded = all.findIndex((e) => e.type === 'diff');
      expect(all[recorded]?.data).toMatchObject({ ...diff, sessionId: task.mainSessionId });
      expect(recorded).toBeLessThan(all.findIndex((e) => e.type === 'status' && e.data.status === 'stopping'));
    }
  });

  it('drops a malformed answer and says so; never asks for a task without a repository', async () => {
    const plain = await stack.startTask(dana.token);
    let askedPlain = false;
    plain.agent.onRepoFinish = async () => {
      askedPlain = true;
      return { state: 'none', events: [] };
    };
    await stack.api(dana.token, 'POST', `/api/tasks/${plain.task.id}/stop`);
    expect(askedPlain).toBe(false);

    const { task, agent } = await stack.startTask(dana.token, { command: ['sh'], repo: REPO });
    agent.onRepoFinish = async () =>
      ({ state: 'recorded', events: Array.from({ length: 50 }, () => ({ type: 'diff', data: diff })) }) as never;
    await stack.api(dana.token, 'POST', `/api/tasks/${task.id}/stop`);
    const all = await events(task.id);
    expect(all.some((e) => e.type === 'diff')).toBe(false);
    expect(all.find((e) => e.type === 'error')?.data.message).toMatch(
      /^could not record the changes before the task was stopped: the agent answered repo:finish with something invalid/,
    );
  });

  it('does not hang on an agent that does not answer, or is gone: the stop goes on and the timeline says so', async () => {
    const silent = await stack.startTask(dana.token, { command: ['sh'], repo: REPO });
    silent.agent.onRepoFinish = () => new Promise(() => undefined);
    const started = Date.now();
    const stopped = await stack.api(dana.token, 'POST', `/api/tasks/${silent.task.id}/stop`);
    const took = Date.now() - started;
    expect(stopped.body.status).toBe('stopped');
    expect(took).toBeGreaterThanOrEqual(FINISH_TIMEOUT_MS - 100);
    expect(took).toBeLessThan(FINISH_TIMEOUT_MS + 5000);
    expect((await events(silent.task.id)).find((e) => e.type === 'error')?.data.message).toBe(
      'could not record the changes before the task was stopped: the sandbox did not answer in time',
    );

    // Gone: its agent disconnected (within its reconnect grace, the task still running). Forced, as its
    // checkpoint fails too; the stop does not wait for either.
    const gone = await stack.startTask(dana.token, { command: ['sh'], repo: REPO, push: true });
    gone.agent.disconnect();
    await until('the proxy to see the agent gone', async () => !gone.agent.connected, 5000);
    const t0 = Date.now();
    const forced = await stack.api(dana.token, 'POST', `/api/tasks/${gone.task.id}/stop`, { body: { force: true } });
    expect(forced.body.status).toBe('stopped');
    expect(Date.now() - t0).toBeLessThan(FINISH_TIMEOUT_MS);
    const messages = (await events(gone.task.id)).filter((e) => e.type === 'error').map((e) => e.data.message);
    expect(messages).toContain(
      `could not record the changes or push rclaude/${gone.task.id} before the task was stopped: the sandbox is not connected right now`,
    );
  });
});
