/**
 * Task lifecycle end to end with short configured times: idle hibernation (no input, no output, Claude not
 * working; checkpointed first, resumable), the maximum lifetime, compute cost from the price table, and the monthly budget. Real server on
 * embedded storage (the policy on Postgres + Redis stores is covered by the proxy's LifecycleService tests, on
 * both), agents in bubblewrap sandboxes, the real Claude Code against the fake Anthropic API.
 *
 * Runs from the built dist: `npx tsc -b packages/cli` first.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import type { Task, TaskEvent, UsageResponse } from '@rclaude/protocol';
import {
  type FakeAnthropic,
  lastUserText,
  type RclaudeServer,
  rclaudeBin,
  runCli,
  startFakeAnthropic,
  startRclaudeServer,
  textReply,
  until,
} from '@rclaude/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

// Long enough that a CLI starting on a loaded machine (1-2 s) attaches before a task could idle out.
const IDLE_MS = 5000;
const LIFETIME_MS = 45_000;
/** $3.60 per hour of a local sandbox: $0.001 per second. */
const USD_PER_SECOND = 0.001;

describe('on embedded storage', () => {
  let server: RclaudeServer;
  let fake: FakeAnthropic;
  const children: ChildProcess[] = [];

  beforeAll(async () => {
    fake = await startFakeAnthropic({
      responder: ({ body }) => {
        const text = lastUserText(body);
        // Claude "thinks" three idle timeouts long: no output, no client, but working.
        if (text.includes('think slowly')) return { ...textReply('Thought it through.'), delayMs: 3 * IDLE_MS };
        if (text.includes('spend a lot'))
          return textReply('That was expensive.', { usage: { outputTokens: 5_000_000 } });
        if (text) return 'ok';
        return undefined;
      },
    });
    server = await startRclaudeServer({
      env: {
        ANTHROPIC_BASE_URL: fake.url,
        ANTHROPIC_API_KEY: 'sk-ant-test-rclaude-0123456789abcdefghij',
        IDLE_TIMEOUT_MS: String(IDLE_MS),
        TASK_MAX_LIFETIME_MS: String(LIFETIME_MS),
        RCLAUDE_PRICE_TABLE: JSON.stringify({ local: { usdPerHour: USD_PER_SECOND * 3600 } }),
        RCLAUDE_MONTHLY_BUDGET_USD: '20',
      },
      timeoutMs: 60_000,
    });
  }, 120_000);

  afterAll(async () => {
    for (const c of children) c.kill('SIGKILL');
    if (process.env.RCLAUDE_TEST_LOG) fs.writeFileSync(process.env.RCLAUDE_TEST_LOG, server?.log() ?? '');
    await server?.stop();
    await fake?.close();
  });

  const cli = (args: string[], env: Record<string, string> = {}) =>
    runCli(args, { env: { ...server.cliEnv(), ...env }, timeoutMs: 120_000 });

  const getTask = async (id: string) => (await server.request<Task>('GET', `/api/tasks/${id}`)).body;
  const getEvents = async (id: string) =>
    (await server.request<{ events: TaskEvent[] }>('GET', `/api/tasks/${id}/events`)).body.events;

  async function startDetached(command: string[]): Promise<Task> {
    const r = await cli(['run', '--detach', '--json', '--', ...command]);
    expect(r.code, r.stderr).toBe(0);
    const task = JSON.parse(r.stdout) as Task;
    await until('the task to run', async () => (await getTask(task.id)).status === 'running');
    return task;
  }

  /** Waits for a task to end, failing (instead of hanging) if that takes far longer than `withinMs`. */
  const ended = (id: string, withinMs: number) =>
    until(
      `task ${id} to end`,
      async () => {
        const t = await getTask(id);
        return t.endedAt ? t : null;
      },
      withinMs,
    );

  describe('idle hibernation', () => {
    const idleReason = `hibernated: idle for ${IDLE_MS / 1000} s: no input, no output`;

    it('hibernates a task with no input and no output after a warning, records the reason, and prices its run time', async () => {
      const task = await startDetached(['sleep', '600']);
      const done = await ended(task.id, 20_000);
      expect(done.status).toBe('hibernated');
      expect(done.statusReason).toBe(idleReason);
      const events = await getEvents(task.id);
      const warning = events.find((e) => e.type === 'info' && typeof e.data.hibernateAt === 'string');
      const checkpoint = events.find((e) => e.type === 'checkpoint');
      const stopping = events.find((e) => e.type === 'status' && e.data.status === 'stopping');
      expect(warning?.data.message).toMatch(/^hibernating in /);
      expect(checkpoint?.data).toMatchObject({ trigger: 'hibernate' });
      expect(checkpoint?.data.error).toBeUndefined();
      expect(stopping?.data.reason).toBe(idleReason);
      // The warning came first, then the checkpoint, then the sandbox went.
      expect(events.indexOf(warning as TaskEvent)).toBeLessThan(events.indexOf(checkpoint as TaskEvent));
      expect(events.indexOf(checkpoint as TaskEvent)).toBeLessThan(events.indexOf(stopping as TaskEvent));
      const lived = (Date.parse(done.endedAt ?? '') - Date.parse(done.createdAt)) / 1000;
      expect(lived).toBeGreaterThanOrEqual(IDLE_MS / 1000);
      expect(done.computeCostUsd).toBeCloseTo(lived * USD_PER_SECOND, 5);
    });

    it('does not keep a task for a client that only watches: it hibernates all the same', async () => {
      const task = await startDetached(['sleep', '600']);
      const follower = spawn(rclaudeBin(), ['logs', '-f', task.id], {
        env: { ...process.env, ...server.cliEnv() },
        stdio: 'ignore',
      });
      children.push(follower);
      await until('the viewer to attach', async () => {
        const { body } = await server.request<{ sessions: { clients: number }[] }>(
          'GET',
          `/api/tasks/${task.id}/sessions`,
        );
        return (body.sessions[0]?.clients ?? 0) > 0;
      });
      const done = await ended(task.id, 20_000);
      follower.kill('SIGKILL');
      expect(done).toMatchObject({ status: 'hibernated', statusReason: idleReason });
    });

    it('keeps a task whose output keeps coming', async () => {
      const task = await startDetached(['sh', '-c', 'while true; do echo tick; sleep 0.3; done']);
      await new Promise((r) => setTimeout(r, 3 * IDLE_MS));
      expect((await getTask(task.id)).status).toBe('running');
      await cli(['stop', task.id]);
    });

    it('never hibernates a prompt while Claude is working, then hibernates it once idle', async () => {
      const r = await cli(['run', '-p', 'think slowly']);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toContain('Thought it through.');
      const { body } = await server.request<{ tasks: Task[] }>('GET', '/api/tasks?limit=1');
      const id = body.tasks[0]?.id ?? '';
      const events = await getEvents(id);
      // Working was reported, and no stop came while it lasted.
      expect(events.some((e) => e.type === 'activity' && e.data.activity === 'working')).toBe(true);
      expect(events.some((e) => e.type === 'status' && e.data.status === 'stopping')).toBe(false);
      const done = await ended(id, 20_000);
      expect(done).toMatchObject({ status: 'hibernated', statusReason: idleReason });
    });
  });

  describe('maximum lifetime', () => {
    it(
      'stops a busy task at its maximum lifetime and says so on its timeline',
      async () => {
        const task = await startDetached(['sh', '-c', 'while true; do echo busy; sleep 0.2; done']);
        const done = await ended(task.id, LIFETIME_MS + 15_000);
        expect(done).toMatchObject({
          status: 'stopped',
          statusReason: `reached the maximum lifetime of ${LIFETIME_MS / 1000} s`,
        });
        expect(Date.parse(done.endedAt ?? '') - Date.parse(done.createdAt)).toBeGreaterThanOrEqual(LIFETIME_MS);
        const reasons = (await getEvents(task.id)).filter((e) => e.type === 'status').map((e) => e.data.reason);
        expect(reasons).toContain(`reached the maximum lifetime of ${LIFETIME_MS / 1000} s`);
      },
      LIFETIME_MS + 45_000,
    );
  });

  describe('monthly budget', () => {
    it('refuses new tasks with BUDGET_EXCEEDED once a user has spent it, and only that user', async () => {
      const password = 'budget-user-password';
      const created = await server.request('POST', '/api/users', { body: { username: 'spender', password } });
      expect(created.status).toBe(201);
      const login = await server.request<{ token: string }>('POST', '/api/auth/login', {
        body: { username: 'spender', password },
      });
      const env = { RCLAUDE_TOKEN: login.body.token };

      const first = await cli(['run', '-p', 'spend a lot'], env);
      expect(first.code, first.stderr).toBe(0);
      const usage = await server.request<UsageResponse>('GET', '/api/usage', { token: login.body.token });
      expect(usage.body.modelCostUsd).toBeGreaterThan(20);
      expect(usage.body).toMatchObject({ budgetUsd: 20, tasks: 1 });
      expect(usage.body.remainingUsd).toBeLessThan(0);

      const refused = await cli(['run', '--', 'true'], env);
      expect(refused.code).toBe(1);
      expect(refused.stderr).toMatch(
        /^rclaude: monthly budget reached: you have spent \$\d+\.\d\d of your \$20\.00 this month/,
      );
      const direct = await server.request<{ error: { code: string } }>('POST', '/api/tasks', {
        token: login.body.token,
        body: { command: ['true'] },
      });
      expect(direct.status).toBe(402);
      expect(direct.body.error.code).toBe('BUDGET_EXCEEDED');

      // The admin's own month is untouched by the other user's spending.
      const mine = await cli(['run', '--', 'true']);
      expect(mine.code).toBe(0);
    });
  });
});
