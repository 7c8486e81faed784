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

const TTL_MS = 4000;
/** Past any token's expiry: tokens carry it in whole seconds, rounded up, so a token may live TTL + 1 s. */
const PAST_EXPIRY_MS = TTL_MS + 1000 + 200;

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
      env: { AGENT_TOKEN_TTL_MS: String(TTL_MS), AGENT_CONNECT_TIMEOUT_MS: '60000' },
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
    await new Promise((r) => setTimeout(r, PAST_EXPIRY_MS));
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

  it('as a bootstrap reference is exchanged once over HTTP for a token the agent then dials with', async () => {
    const { sandboxId } = await createTask();
    const agent = stack.agents.get(sandboxId);
    if (!agent) throw new Error('no fake agent');
    const exchange = (body: unknown) => stack.api(null, 'POST', '/api/agent/bootstrap', { body });
    const first = await exchange({ sandboxId, bootstrap: agent.token });
    expect(first.status, first.text).toBe(200);
    const token = first.body.token as string;
    expect(token).not.toBe(agent.token);
    // One-time: the same reference again, another sandbox's id, junk and a late one are all refused alike.
    const again = await exchange({ sandboxId, bootstrap: agent.token });
    expect(again.status).toBe(401);
    expect(again.body.error.code).toBe('UNAUTHENTICATED');
    expect((await exchange({ sandboxId: 'made-up', bootstrap: 'x' })).status).toBe(401);
    expect((await exchange({ sandboxId, bootstrap: 'x'.repeat(300) })).status).toBe(400);
    const late = await createTask();
    await new Promise((r) => setTimeout(r, PAST_EXPIRY_MS));
    const lateAgent = stack.agents.get(late.sandboxId);
    expect((await exchange({ sandboxId: late.sandboxId, bootstrap: lateAgent?.token })).status).toBe(401);
    // The exchanged token opens the agent's connection (and is replaced there, as every agent token is).
    agent.token = token;
    await expect(agent.connect()).resolves.toBeTruthy();
    expect(agent.token).not.toBe(token);
  });
});
