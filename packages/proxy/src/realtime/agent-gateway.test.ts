/**
 * The `/agent` namespace under attack: forged, reused, rotated-away and other sandboxes' tokens, a stopped
 * task's token, two handshakes racing with one token, a sandbox writing into another's session, and malformed
 * agent payloads. Real gateways, task service and stores; fake agents stand in for the sandboxes.
 */
import { randomBytes } from 'node:crypto';
import type { Ack, AgentHelloResult, Task } from '@rclaude/protocol';
import { until } from '@rclaude/testkit';
import { io } from 'socket.io-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FakeAgent, startTestStack, type TestStack, type TestUser } from '../../test/test-stack.js';

type Handshake = { ok: true } | { ok: false; code: string | undefined; message: string };

describe.each(['embedded', 'postgres+redis'] as const)('agent gateway security (%s)', (kind) => {
  let stack: TestStack;
  let alice: TestUser;
  let bob: TestUser;
  const extraAgents: FakeAgent[] = [];

  beforeAll(async () => {
    stack = await startTestStack(kind);
    alice = await stack.createUser('alice');
    bob = await stack.createUser('bob');
  });
  afterAll(async () => {
    for (const a of extraAgents) a.close();
    await stack?.close();
  });

  /** One `/agent` handshake with this auth payload; an accepted one is closed again at once. */
  function handshake(auth: unknown): Promise<Handshake> {
    const socket = io(`${stack.url}/agent`, {
      transports: ['websocket'],
      reconnection: false,
      forceNew: true,
      auth: auth as Record<string, unknown>,
    });
    return new Promise((resolve) => {
      socket.once('connect', () => {
        socket.disconnect();
        resolve({ ok: true });
      });
      socket.once('connect_error', (err: Error & { data?: { code?: string } }) => {
        socket.disconnect();
        resolve({ ok: false, code: err.data?.code, message: err.message });
      });
    });
  }

  const refused = { ok: false, code: 'UNAUTHENTICATED', message: expect.any(String) };

  async function taskStatus(token: string, id: string): Promise<Task['status']> {
    return ((await stack.api(token, 'GET', `/api/tasks/${id}`)).body as Task).status;
  }

  it('fails a request waiting on an agent as soon as its connection drops, not after its timeout', async () => {
    const { agent, task } = await stack.startTask(alice.token);
    agent.holdChangePolls = true;
    const started = Date.now();
    // A long poll: 20 s of waiting plus the agent's timeout, if nothing ended it.
    const poll = stack.api(alice.token, 'GET', `/api/tasks/${task.id}/files/changes?cursor=1&waitMs=20000`);
    await until('the poll reaches the agent', () => agent.changePolls > 0);
    agent.disconnect();
    const res = await poll;
    expect(res.body.error?.code, res.text).toBe('AGENT_UNAVAILABLE');
    expect(res.body.error.message).toContain('the sandbox disconnected before it answered');
    expect(Date.now() - started).toBeLessThan(15_000);
    await agent.connect();
  });

  it('refuses a handshake without credentials, with a malformed payload, or with a forged token', async () => {
    const { agent, sandboxId, task } = await stack.startTask(alice.token);
    const forged = randomBytes(32).toString('base64url');
    for (const auth of [
      {},
      { sandboxId },
      { token: agent.token },
      { sandboxId, token: 'short' },
      { sandboxId, token: 42 },
      { sandboxId: [sandboxId], token: agent.token },
      { sandboxId, token: agent.token, role: 'admin' },
      { sandboxId, token: 'x'.repeat(10_000) },
      { sandboxId, token: forged },
      { sandboxId, token: agent.token.toUpperCase() },
      { sandboxId: 'no-such-sandbox', token: agent.token },
      { sandboxId: `${sandboxId} `, token: agent.token },
    ]) {
      expect(await handshake(auth), JSON.stringify(auth).slice(0, 200)).toEqual(refused);
    }
    // None of that disturbed the sandbox: its agent is still connected and its token still good.
    expect(agent.connected).toBe(true);
    expect(await taskStatus(alice.token, task.id)).toBe('running');
    agent.disconnect();
    await agent.connect();
    expect(agent.connected).toBe(true);
  });

  it("kills the environment's token at the first connection; each rotated token works once", async () => {
    const { agent, sandboxId, task } = await stack.startTask(alice.token);
    const first = stack.started.find((s) => s.sandboxId === sandboxId)?.env.RCLAUDE_AGENT_TOKEN;
    expect(first).toBe(agent.tokens[0]);
    expect(agent.token).not.toBe(first);
    // Code inside the sandbox can read the agent's environment; the token it finds there is already dead.
    expect(await handshake({ sandboxId, token: first })).toEqual(refused);
    expect(agent.connected).toBe(true);

    agent.disconnect();
    const hello = await agent.connect();
    expect(hello.token).toBeTruthy();
    expect(new Set(agent.tokens).size).toBe(agent.tokens.length);
    for (const used of agent.tokens.slice(0, -1)) expect(await handshake({ sandboxId, token: used })).toEqual(refused);
    expect(agent.connected).toBe(true);
    expect(await taskStatus(alice.token, task.id)).toBe('running');
    // Refusals are logged with the sandbox id, never with a token.
    expect(stack.logs()).toContain('agent refused');
    for (const t of agent.tokens) expect(stack.logs()).not.toContain(t);
  });

  it("refuses another sandbox's token, and the refusal leaves both sandboxes undisturbed", async () => {
    const a = await stack.startTask(alice.token);
    const b = await stack.startTask(bob.token);
    expect(await handshake({ sandboxId: b.sandboxId, token: a.agent.token })).toEqual(refused);
    expect(await handshake({ sandboxId: a.sandboxId, token: b.agent.token })).toEqual(refused);
    expect(a.agent.connected && b.agent.connected).toBe(true);
    for (const { agent } of [a, b]) {
      agent.disconnect();
      await agent.connect();
    }
    expect(await taskStatus(alice.token, a.task.id)).toBe('running');
    expect(await taskStatus(bob.token, b.task.id)).toBe('running');
  });

  it('refuses the current token of a task that was stopped, or that ended by itself', async () => {
    const stopped = await stack.startTask(alice.token);
    const res = await stack.api(alice.token, 'POST', `/api/tasks/${stopped.task.id}/stop`);
    expect(res.status).toBe(200);
    await until('the sandbox to be stopped', () => stack.stopped.has(stopped.sandboxId));
    await until('the agent to be cut off', () => !stopped.agent.connected);
    await expect(stopped.agent.connect()).rejects.toMatchObject({ refusal: { data: { code: 'UNAUTHENTICATED' } } });

    const ended = await stack.startTask(alice.token);
    const sessionId = ended.task.mainSessionId;
    ended.agent.emitRaw('pty:exit', {
      sessionId,
      exitCode: 0,
      signal: null,
      endOffset: ended.agent.produced.get(sessionId) ?? 0,
    });
    await until('the task to end', async () => (await taskStatus(alice.token, ended.task.id)) === 'succeeded');
    await until('the sandbox to be stopped', () => stack.stopped.has(ended.sandboxId));
    ended.agent.disconnect();
    await expect(ended.agent.connect()).rejects.toMatchObject({ refusal: { data: { code: 'UNAUTHENTICATED' } } });
  });

  it('accepts exactly one of two handshakes racing with the same token', async () => {
    stack.setAutoConnect(false);
    try {
      for (let round = 0; round < 3; round++) {
        const created = await stack.api(alice.token, 'POST', '/api/tasks', { body: { command: ['sh'] } });
        expect(created.status).toBe(201);
        const spec = await until('the sandbox to start', () => stack.started.find((s) => s.taskId === created.body.id));
        const token = spec.env.RCLAUDE_AGENT_TOKEN ?? '';
        const twins = [
          new FakeAgent(stack.url, spec.sandboxId, token),
          new FakeAgent(stack.url, spec.sandboxId, token),
        ];
        extraAgents.push(...twins);
        const outcomes = await Promise.allSettled(twins.map((t) => t.connect()));
        expect(outcomes.map((o) => o.status).sort()).toEqual(['fulfilled', 'rejected']);
        // Refused at the handshake, not merely replaced after both got in.
        const loser = outcomes.find((o) => o.status === 'rejected');
        expect(loser?.status === 'rejected' && loser.reason).toMatchObject({
          refusal: { data: { code: 'UNAUTHENTICATED' } },
        });
      }
    } finally {
      stack.setAutoConnect(true);
    }
  });

  it("cannot write into, end, or claim another sandbox's session", async () => {
    const a = await stack.startTask(alice.token);
    const b = await stack.startTask(bob.token);
    const bobSession = b.task.mainSessionId;
    const viewer = await stack.client(bob.token);
    const seen: string[] = [];
    viewer.on('pty:output', (_sessionId: string, _offset: number, data: Buffer) =>
      seen.push(Buffer.from(data).toString()),
    );
    const attached = (await viewer
      .timeout(5000)
      .emitWithAck('session:attach', { sessionId: bobSession, from: 0 })) as Ack<unknown>;
    expect(attached.ok).toBe(true);
    const before = (await stack.api(bob.token, 'GET', `/api/sessions/${bobSession}`)).body;

    a.agent.emitRaw('pty:output', bobSession, before.outputEnd, new Uint8Array(Buffer.from('forged-by-alice')));
    a.agent.emitRaw('pty:exit', { sessionId: bobSession, exitCode: 9, signal: null, endOffset: before.outputEnd + 15 });
    await until('the write to be refused', () => stack.logs().includes('agent wrote to a session it does not hold'));

    // Bob's own output still flows, and nothing Alice's sandbox sent got in.
    b.agent.output(bobSession, 'bob-real-output');
    await until('Bob to see his output', () => seen.join('').includes('bob-real-output'));
    expect(seen.join('')).not.toContain('forged-by-alice');
    const after = (await stack.api(bob.token, 'GET', `/api/sessions/${bobSession}`)).body;
    expect(after.status).toBe('running');
    expect(after.exitCode).toBeNull();
    expect(after.outputEnd).toBe(before.outputEnd + 'bob-real-output'.length);
    expect(await taskStatus(bob.token, b.task.id)).toBe('running');

    // Claiming Bob's session in a hello gets it listed for forgetting, not resumed.
    a.agent.disconnect();
    a.agent.produced.set(bobSession, 0);
    const hello = await a.agent.connect();
    a.agent.produced.delete(bobSession);
    expect(hello.forget).toContain(bobSession);
    expect(hello.sessions.map((s) => s.sessionId)).not.toContain(bobSession);
    viewer.disconnect();
  });

  it('survives malformed agent payloads and keeps serving every session', async () => {
    const a = await stack.startTask(alice.token);
    const b = await stack.startTask(bob.token);
    const session = a.task.mainSessionId;
    const logStart = stack.logs().length;
    const bytes = new Uint8Array(Buffer.from('junk'));
    const longId = 'x'.repeat(100_000);
    const calls: unknown[][] = [
      ['pty:output'],
      ['pty:output', null, 0, bytes],
      ['pty:output', session, -1, bytes],
      ['pty:output', session, 1.5, bytes],
      ['pty:output', session, Number.MAX_VALUE, bytes],
      ['pty:output', session, 0, 'not bytes'],
      ['pty:output', session, 0, { length: 4 }],
      ['pty:output', longId, 0, bytes],
      ['pty:output', '../../etc/passwd', 0, bytes],
      ['pty:output', { sessionId: session }, 0, bytes],
      ['pty:exit'],
      ['pty:exit', null],
      ['pty:exit', { sessionId: session, exitCode: 'zero', signal: null, endOffset: 0 }],
      ['pty:exit', { sessionId: longId, exitCode: 0, signal: null, endOffset: 0 }],
      ['agent:event'],
      ['agent:event', 'text'],
      ['agent:event', { sessionId: session, type: 'x'.repeat(1000), data: {} }],
      ['agent:event', { sessionId: 5, type: 'info', data: [] }],
      ['agent:hello'],
      ['agent:hello', { sessions: 'all' }],
      ['no:such-event', { sessionId: session }],
    ];
    for (const call of calls) a.agent.emitRaw(...(call as [string, ...unknown[]]));
    const socket = (
      a.agent as unknown as {
        socket: { timeout(ms: number): { emitWithAck(e: string, p: unknown): Promise<Ack<AgentHelloResult>> } };
      }
    ).socket;
    for (const hello of [
      null,
      { sessions: 'all' },
      { sessions: Array.from({ length: 1001 }, () => ({})) },
      { sessions: [], extra: 1 },
    ]) {
      const res = await socket.timeout(5000).emitWithAck('agent:hello', hello);
      expect(res).toEqual({ ok: false, error: { code: 'BAD_REQUEST', message: expect.any(String) } });
    }

    // Still connected, and both sandboxes' sessions are still served.
    expect(a.agent.connected).toBe(true);
    const viewer = await stack.client(alice.token);
    const seen: string[] = [];
    viewer.on('pty:output', (_s: string, _o: number, data: Buffer) => seen.push(Buffer.from(data).toString()));
    expect(
      ((await viewer.timeout(5000).emitWithAck('session:attach', { sessionId: session, from: 0 })) as Ack<unknown>).ok,
    ).toBe(true);
    a.agent.output(session, 'alice-after-junk');
    await until('Alice to see her output', () => seen.join('').includes('alice-after-junk'));
    // Replayed from offset 0: none of the malformed output was stored.
    expect(seen.join('')).toBe('alice-after-junk');
    const bobViewer = await stack.client(bob.token);
    expect(
      (
        (await bobViewer
          .timeout(5000)
          .emitWithAck('session:attach', { sessionId: b.task.mainSessionId })) as Ack<unknown>
      ).ok,
    ).toBe(true);
    bobViewer.emit('pty:input', { sessionId: b.task.mainSessionId, data: 'bob-types' });
    await until('Bob to be served', () => b.agent.input.get(b.task.mainSessionId) === 'bob-types');
    expect(await taskStatus(alice.token, a.task.id)).toBe('running');

    const newLog = stack.logs().slice(logStart);
    // A sandbox cannot fill the server's log with what it sends: ids it made up are not written out.
    expect(newLog).not.toContain('x'.repeat(1000));
    const lines = newLog.split('\n').filter(Boolean);
    expect(lines.filter((l) => (JSON.parse(l) as { level: number }).level >= 50)).toEqual([]);
    viewer.disconnect();
    bobViewer.disconnect();
  });
});
