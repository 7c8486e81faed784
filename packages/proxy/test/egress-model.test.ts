/**
 * The model endpoint of the egress gateway, end to end: the real Claude Code in a real bubblewrap sandbox (no
 * network) talks to the testkit's fake Anthropic API on loopback through the agent's tunnel and the proxy's
 * gateway. The fake sees the REAL key (the server's, or the user's own when stored); the sandbox only ever
 * holds a placeholder.
 */
import { randomBytes } from 'node:crypto';
import type { ExecuteResult, Task } from '@rclaude/protocol';
import {
  DEFAULT_FAKE_USAGE,
  type FakeAnthropic,
  lastToolResults,
  lastUserText,
  startFakeAnthropic,
  toolUseReply,
  until,
} from '@rclaude/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { modelCostUsd } from '../src/egress/usage-meter.js';
import { startTestServer, type TestServer } from './test-server.js';

const SERVER_KEY = `sk-ant-api03-server-${randomBytes(12).toString('hex')}`;
const USER_KEY = `sk-ant-api03-user-${randomBytes(12).toString('hex')}`;
const PLACEHOLDER = 'sk-ant-rclaude-gateway';
const BUDGET_USD = 5;

let fake: FakeAnthropic;
let server: TestServer;

async function api<T>(method: string, path: string, body?: unknown): Promise<T> {
  const res = await fetch(`${server.url}${path}`, {
    method,
    headers: {
      authorization: `Bearer ${server.token}`,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${text}`);
  return (text ? JSON.parse(text) : null) as T;
}

async function waitFor(id: string, statuses: Task['status'][]): Promise<Task> {
  return until(
    `task ${id} to be ${statuses.join(' or ')}`,
    async () => {
      const t = await api<Task>('GET', `/api/tasks/${id}`);
      if (t.status === 'failed' && !statuses.includes('failed')) throw new Error(`task failed: ${t.statusReason}`);
      return statuses.includes(t.status) ? t : null;
    },
    90_000,
  );
}

function exec(task: Task, command: string): Promise<ExecuteResult> {
  return api<ExecuteResult>('POST', `/api/sessions/${task.mainSessionId}/execute`, { command });
}

/** The model calls the fake got whose conversation mentions `marker`. */
function callsAbout(marker: string) {
  return fake.requests.filter((r) => r.path.startsWith('/v1/messages') && JSON.stringify(r.body).includes(marker));
}

beforeAll(async () => {
  fake = await startFakeAnthropic({
    defaultText: 'Hello through the gateway.',
    // One answer that costs far more than the budget (5M output tokens), asking for a tool: the next call is over.
    responder: ({ body }) =>
      lastUserText(body).includes('spend it all') && lastToolResults(body).length === 0
        ? toolUseReply(
            'Bash',
            { command: 'echo spent', description: 'Say spent' },
            { usage: { outputTokens: 5_000_000 } },
          )
        : undefined,
  });
  server = await startTestServer('embedded', {
    env: {
      ANTHROPIC_BASE_URL: fake.url,
      ANTHROPIC_API_KEY: SERVER_KEY,
      RCLAUDE_MONTHLY_BUDGET_USD: String(BUDGET_USD),
    },
  });
}, 60_000);

afterAll(async () => {
  if (server) {
    for (const t of (await api<{ tasks: Task[] }>('GET', '/api/tasks?all=true')).tasks) {
      await api('POST', `/api/tasks/${t.id}/stop`).catch(() => undefined);
    }
    await server.close();
  }
  await fake?.close();
});

describe('the model endpoint', () => {
  it('carries a prompt task to the model with the server key, while the sandbox holds only a placeholder', async () => {
    const marker = `marker-${randomBytes(4).toString('hex')}`;
    const before = fake.requests.length;
    const created = await api<Task>('POST', '/api/tasks', { prompt: `say hello ${marker}` });
    const done = await waitFor(created.id, ['idle', 'succeeded']);
    expect(done.exitCode, done.statusReason ?? '').toBe(0);
    const calls = callsAbout(marker);
    expect(calls.length).toBeGreaterThan(0);
    for (const call of calls) {
      expect(call.headers['x-api-key']).toBe(SERVER_KEY);
      expect(call.headers.authorization).toBeUndefined();
    }
    // Metered at the gateway: every answer the model gave this task (side calls too), priced by its model.
    const answeredNow = () =>
      fake.requests.slice(before).filter((r) => r.method === 'POST' && r.path === '/v1/messages');
    const metered = await until('every answer to be metered', async () => {
      const t = await api<Task>('GET', `/api/tasks/${created.id}`);
      return t.usage?.inputTokens === answeredNow().length * DEFAULT_FAKE_USAGE.inputTokens ? t : null;
    });
    const answered = answeredNow();
    const expectedCost = answered.reduce(
      (sum, r) =>
        sum +
        modelCostUsd({
          model: (r.body as { model: string }).model,
          usage: {
            inputTokens: DEFAULT_FAKE_USAGE.inputTokens,
            outputTokens: DEFAULT_FAKE_USAGE.outputTokens,
            cacheReadTokens: 0,
            cacheCreationTokens: 0,
          },
        }),
      0,
    );
    expect(metered.usage).toEqual({
      inputTokens: answered.length * DEFAULT_FAKE_USAGE.inputTokens,
      outputTokens: answered.length * DEFAULT_FAKE_USAGE.outputTokens,
      cacheReadTokens: 0,
      cacheCreationTokens: 0,
    });
    expect(metered.modelCostUsd).toBeCloseTo(expectedCost, 6);
    expect(metered.modelCostUsd).toBeGreaterThan(0);
    const events = await api<{ events: { type: string; data: Record<string, unknown> }[] }>(
      'GET',
      `/api/tasks/${created.id}/events`,
    );
    expect(JSON.stringify(events)).toContain('Hello through the gateway.');
    for (const r of fake.requests) expect(JSON.stringify(r.headers)).not.toContain(PLACEHOLDER);
  });

  it('shows every process in the sandbox the placeholder and the tunnel, never the real key or upstream', async () => {
    const created = await api<Task>('POST', '/api/tasks', { command: ['sh', '-c', 'exec sleep 600'] });
    const task = await waitFor(created.id, ['running']);
    const printed = await exec(task, 'printenv ANTHROPIC_API_KEY ANTHROPIC_BASE_URL CLAUDE_CODE_OAUTH_TOKEN');
    const [key, base] = printed.stdout.split('\n');
    expect(key).toBe(PLACEHOLDER);
    expect(base).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(base).not.toBe(fake.url);
    const environ = await exec(task, "cat /proc/[0-9]*/environ | tr '\\0' '\\n' | sort -u");
    expect(environ.stdout).toContain(`ANTHROPIC_API_KEY=${PLACEHOLDER}`);
    expect(environ.stdout).not.toContain(SERVER_KEY);
    expect(environ.stdout).not.toContain(fake.url);
    expect(environ.stdout).not.toMatch(/CLAUDE_CODE_OAUTH_TOKEN=/);

    // The sandbox's own view of the model endpoint: a request there reaches the fake with the real key.
    const before = fake.requests.length;
    const models = await exec(
      task,
      `node -e "fetch(process.env.ANTHROPIC_BASE_URL + '/v1/models', { headers: { 'x-api-key': process.env.ANTHROPIC_API_KEY } }).then(async (r) => console.log(r.status, (await r.json()).data.length > 0))"`,
    );
    expect(models.stdout.trim(), models.stderr).toBe('200 true');
    const seen = fake.requests.slice(before).find((r) => r.path === '/v1/models');
    expect(seen?.headers['x-api-key']).toBe(SERVER_KEY);
    // Other APIs of the upstream are not forwarded with the real key.
    const batches = await exec(
      task,
      `node -e "fetch(process.env.ANTHROPIC_BASE_URL + '/v1/messages/batches', { method: 'POST', body: '{}' }).then(async (r) => console.log(r.status, await r.text()))"`,
    );
    expect(batches.stdout).toMatch(/^404 .*not_found_error/);
    expect(fake.requests.some((r) => r.path.startsWith('/v1/messages/batches'))).toBe(false);
  });

  it("uses the user's own stored key over the server's", async () => {
    expect(
      (
        await fetch(`${server.url}/api/secrets/ANTHROPIC_API_KEY`, {
          method: 'PUT',
          headers: { authorization: `Bearer ${server.token}`, 'content-type': 'application/json' },
          body: JSON.stringify({ value: USER_KEY }),
        })
      ).status,
    ).toBe(200);
    try {
      const marker = `marker-${randomBytes(4).toString('hex')}`;
      const created = await api<Task>('POST', '/api/tasks', { prompt: `say hello ${marker}` });
      const done = await waitFor(created.id, ['idle', 'succeeded']);
      expect(done.exitCode, done.statusReason ?? '').toBe(0);
      const calls = callsAbout(marker);
      expect(calls.length).toBeGreaterThan(0);
      for (const call of calls) expect(call.headers['x-api-key']).toBe(USER_KEY);
    } finally {
      await api('DELETE', '/api/secrets/ANTHROPIC_API_KEY');
    }
  });

  // Last: it spends the user's month.
  it('refuses model requests once the monthly budget is spent, and the task says why', async () => {
    const created = await api<Task>('POST', '/api/tasks', { prompt: 'spend it all' });
    const done = await waitFor(created.id, ['idle', 'succeeded', 'failed']);
    // The one expensive answer went through; the call after the tool ran did not reach the model.
    const mains = fake.requests.filter((r) => r.kind === 'main' && JSON.stringify(r.body).includes('spend it all'));
    expect(mains).toHaveLength(1);
    const events = await api<{ events: { type: string; data: Record<string, unknown> }[] }>(
      'GET',
      `/api/tasks/${created.id}/events`,
    );
    const refusals = events.events.filter((e) => e.type === 'error');
    expect(refusals).toHaveLength(1);
    expect(String(refusals[0]?.data.message)).toMatch(
      new RegExp(
        `^model request refused: monthly budget reached: you have spent \\$\\d+\\.\\d\\d of your \\$${BUDGET_USD}\\.00`,
      ),
    );
    // Claude Code showed the refusal as the prompt's error.
    const result = events.events.find((e) => e.type === 'result');
    expect(JSON.stringify(result?.data ?? {})).toContain('monthly budget reached');
    expect(done.modelCostUsd).toBeGreaterThan(BUDGET_USD);
  });
});
