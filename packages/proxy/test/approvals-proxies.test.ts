/**
 * Approvals through the agent gateway, with two proxies of one installation (Postgres + Redis): the agent asks
 * on the proxy that holds it, its owner answers on the other, and the decision reaches the agent through the
 * sandbox's room; a resend after the answer gets the decision; a malformed request is refused.
 */
import type { Ack, AgentApprovalResult } from '@rclaude/protocol';
import { until } from '@rclaude/testkit';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from './test-server.js';
import { type FakeAgent, startTestStack, type TestStack, type TestUser } from './test-stack.js';

let stack: TestStack;
let other: TestServer;
let alice: TestUser;

beforeAll(async () => {
  stack = await startTestStack('postgres+redis');
  other = await startTestServer('postgres+redis', {
    shareStateWith: stack.server,
    deps: { log: pino({ level: 'silent' }) },
  });
  alice = await stack.createUser('alice');
}, 120_000);

afterAll(async () => {
  await other?.close();
  await stack?.close();
});

function ask(agent: FakeAgent, payload: unknown): Promise<Ack<AgentApprovalResult>> {
  return new Promise((resolve) => agent.emitRaw('approval:request', payload, resolve));
}

const request = {
  requestKey: 'key-0123456789',
  sessionId: null,
  tool: 'Bash',
  input: { command: 'make deploy' },
  reason: 'Deploy it',
};

describe('approvals across proxies', () => {
  it("takes the agent's request on one proxy and the owner's answer on another", async () => {
    const { task, agent } = await stack.startTask(alice.token);
    const asked = await ask(agent, request);
    if (!asked.ok) throw new Error(asked.error.message);
    const { approvalId } = asked.data;

    const res = await fetch(`${other.url}/api/tasks/${task.id}/approvals/${approvalId}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${alice.token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ decision: 'allow' }),
    });
    expect(res.status, await res.clone().text()).toBe(200);
    const answer = await until(
      'the answer to reach the agent',
      () => agent.received.find((r) => r.event === 'approval:answer') ?? null,
    );
    expect(answer.payload).toEqual({ requestKey: request.requestKey, approvalId, behavior: 'allow', message: null });
    // Asked again (as after a reconnect): the same approval, with its decision.
    expect(await ask(agent, request)).toEqual({
      ok: true,
      data: { approvalId, expiresAt: asked.data.expiresAt, decision: { behavior: 'allow', message: null } },
    });
    expect(agent.received.filter((r) => r.event === 'approval:answer')).toHaveLength(1);
  });

  it('refuses a malformed request', async () => {
    const { agent } = await stack.startTask(alice.token);
    const refused = await ask(agent, { ...request, requestKey: 'x', input: { command: 'y'.repeat(10_000) } });
    expect(refused).toMatchObject({ ok: false, error: { code: 'BAD_REQUEST' } });
  });
});
