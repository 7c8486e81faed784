/**
 * Start-up tokens die unused: the expiry written into the token, and the proxy refusing an agent that presents
 * one too late (real gateway and stores, a fake agent connecting when the test says).
 */
import type { Task } from '@rclaude/protocol';
import { until } from '@rclaude/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestStack, type TestStack } from '../../test/test-stack.js';
import { newStartupToken, startupTokenExpiry } from './agent-tokens.js';
import { sha256 } from './ids.js';

describe('start-up tokens', () => {
  it('carry their expiry, covered by their hash', () => {
    const token = newStartupToken(60_000, 1_000_000);
    expect(startupTokenExpiry(token)).toBe(1_060_000);
    const forged = token.replace(/^st\.\d+\./, `st.${Math.ceil(9e12 / 1000)}.`);
    expect(startupTokenExpiry(forged)).toBeGreaterThan(1_060_000);
    expect(sha256(forged)).not.toBe(sha256(token));
    expect(startupTokenExpiry('a-rotated-token-without-expiry')).toBeNull();
    expect(newStartupToken(60_000)).not.toBe(newStartupToken(60_000));
  });
});

describe('an agent presenting its start-up token', () => {
  let stack: TestStack;

  beforeAll(async () => {
    stack = await startTestStack('embedded', {
      autoConnectAgents: false,
      env: { AGENT_TOKEN_TTL_MS: '1500', AGENT_CONNECT_TIMEOUT_MS: '60000' },
    });
  });
  afterAll(async () => {
    await stack?.close();
  });

  async function createTask(): Promise<{ task: Task; sandboxId: string }> {
    const created = await stack.api(stack.admin.token, 'POST', '/api/tasks', { body: { command: ['sh'] } });
    expect(created.status, created.text).toBe(201);
    const task = created.body as Task;
    const started = await until('its sandbox to start', () =>
      stack.started.find((s) => s.env.RCLAUDE_PROXY_URL && stack.agents.has(s.sandboxId) && s.taskId === task.id),
    );
    return { task, sandboxId: started.sandboxId };
  }

  it('in time is let in; after AGENT_TOKEN_TTL_MS it is refused, though the token was right', async () => {
    const early = await createTask();
    const late = await createTask();
    await stack.agents.get(early.sandboxId)?.connect();
    await new Promise((r) => setTimeout(r, 2000));
    const refusal = await stack.agents
      .get(late.sandboxId)
      ?.connect()
      .then(
        () => null,
        (err: Error & { refusal?: { data?: { code?: string } } }) => err.refusal?.data?.code,
      );
    expect(refusal).toBe('UNAUTHENTICATED');
    expect(stack.logs()).toContain('its start-up token expired unused');
    // The one let in holds a rotated token now, without expiry: its reconnects still work after the TTL.
    const agent = stack.agents.get(early.sandboxId);
    agent?.disconnect();
    await expect(agent?.connect()).resolves.toBeTruthy();
  });
});
