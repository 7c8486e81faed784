/**
 * The `/client` namespace under attack: another user's sessions and tasks on every event, offsets from
 * the future, oversized frames, input floods and malformed payloads. A real Socket.io server with the real
 * gateways, task service and stores (PGlite in-process, or Postgres and Redis), and fake agents that record
 * exactly what reached each sandbox.
 */
import { type Ack, type AttachResult, type ErrorInfo, MAX_INPUT_FRAME_BYTES, type TaskEvent } from '@rclaude/protocol';
import { until } from '@rclaude/testkit';
import type { Socket } from 'socket.io-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type FakeAgent, startTestStack, type TestStack, type TestUser } from '../../test/test-stack.js';

const RATE = 8192;

interface SessionError {
  sessionId: string | null;
  event: string;
  error: ErrorInfo;
}

/** Collects the `session:error` events a socket receives. */
function errorsOf(socket: Socket): SessionError[] {
  const seen: SessionError[] = [];
  socket.on('session:error', (e: SessionError) => seen.push(e));
  return seen;
}

function attach(socket: Socket, req: unknown): Promise<Ack<AttachResult>> {
  return socket.timeout(5000).emitWithAck('session:attach', req) as Promise<Ack<AttachResult>>;
}

function subscribe(socket: Socket, req: unknown): Promise<Ack<null>> {
  return socket.timeout(5000).emitWithAck('task:subscribe', req) as Promise<Ack<null>>;
}

/** What the agent received for `sessionId`, by event name, excluding the session's own opening. */
function agentEventsFor(agent: FakeAgent, sessionId: string): string[] {
  return agent.received
    .filter((r) => (r.payload as { sessionId?: string } | undefined)?.sessionId === sessionId)
    .map((r) => r.event)
    .filter((e) => e !== 'session:open' && e !== 'session:screen');
}

describe.each(['embedded', 'postgres+redis'] as const)('client gateway security (%s)', (kind) => {
  let stack: TestStack;
  let alice: TestUser;
  let bob: TestUser;
  let aliceSession: string;
  let aliceTaskId: string;
  let aliceAgent: FakeAgent;
  let bobSession: string;
  let bobAgent: FakeAgent;

  beforeAll(async () => {
    stack = await startTestStack(kind, { inputBytesPerSec: RATE });
    alice = await stack.createUser('alice');
    bob = await stack.createUser('bob');
    const a = await stack.startTask(alice.token);
    aliceSession = a.task.mainSessionId;
    aliceTaskId = a.task.id;
    aliceAgent = a.agent;
    const b = await stack.startTask(bob.token);
    bobSession = b.task.mainSessionId;
    bobAgent = b.agent;
  });
  afterAll(async () => {
    await stack?.close();
  });

  it("answers another user's session and task on every event exactly like a missing one; nothing reaches their sandbox", async () => {
    const mallory = await stack.client(bob.token);
    const errors = errorsOf(mallory);
    const missingSession = 'zzzzzzzzzzzz_main';
    const missingTask = 'zzzzzzzzzzzz';
    const same = (a: Ack<unknown>, b: Ack<unknown>, aId: string, bId: string) => {
      expect(a.ok).toBe(false);
      expect(b.ok).toBe(false);
      if (a.ok || b.ok) return;
      expect(a.error.code).toBe('NOT_FOUND');
      expect({ ...a.error, message: a.error.message.replaceAll(aId, 'ID') }).toEqual({
        ...b.error,
        message: b.error.message.replaceAll(bId, 'ID'),
      });
    };

    same(
      await attach(mallory, { sessionId: aliceSession }),
      await attach(mallory, { sessionId: missingSession }),
      aliceSession,
      missingSession,
    );
    same(
      await attach(mallory, { sessionId: aliceSession, from: 0, readOnly: true }),
      await attach(mallory, { sessionId: missingSession, from: 0, readOnly: true }),
      aliceSession,
      missingSession,
    );
    same(
      await subscribe(mallory, { taskId: aliceTaskId }),
      await subscribe(mallory, { taskId: missingTask }),
      aliceTaskId,
      missingTask,
    );

    for (const sessionId of [aliceSession, missingSession]) {
      mallory.emit('pty:input', { sessionId, data: 'rm -rf ~\r' });
      mallory.emit('pty:resize', { sessionId, cols: 10, rows: 10 });
      mallory.emit('pty:signal', { sessionId, signal: 'SIGKILL' });
      mallory.emit('pty:ack', { sessionId, offset: 1 });
      mallory.emit('session:detach', { sessionId });
    }
    await until('the refusals', () => errors.length >= 6);
    const shape = (sessionId: string) =>
      errors
        .filter((e) => e.sessionId === sessionId)
        .map((e) => ({ event: e.event, code: e.error.code, message: e.error.message.replaceAll(sessionId, 'ID') }));
    expect(shape(aliceSession)).toEqual(shape(missingSession));
    expect(shape(aliceSession).map((e) => [e.event, e.code])).toEqual([
      ['pty:input', 'NOT_FOUND'],
      ['pty:resize', 'NOT_FOUND'],
      ['pty:signal', 'NOT_FOUND'],
    ]);

    // Bob, subscribed to everything he may see, hears about his own task but never about Alice's.
    const heard: TaskEvent[] = [];
    mallory.on('task:event', (e: TaskEvent) => heard.push(e));
    expect(await subscribe(mallory, { all: true })).toEqual({ ok: true, data: null });
    const admin = await stack.client(stack.admin.token);
    const adminHeard: TaskEvent[] = [];
    admin.on('task:event', (e: TaskEvent) => adminHeard.push(e));
    expect(await subscribe(admin, { all: true })).toEqual({ ok: true, data: null });
    aliceAgent.emitRaw('agent:event', { sessionId: null, type: 'info', data: { message: 'alice-private' } });
    await until('the admin to hear of Alice', () => adminHeard.some((e) => e.data.message === 'alice-private'));
    bobAgent.emitRaw('agent:event', { sessionId: null, type: 'info', data: { message: 'bob-own' } });
    await until('Bob to hear of his own task', () => heard.some((e) => e.data.message === 'bob-own'));
    expect(heard.filter((e) => e.taskId === aliceTaskId)).toEqual([]);

    expect(agentEventsFor(aliceAgent, aliceSession)).toEqual([]);
    expect(aliceAgent.input.get(aliceSession)).toBeUndefined();
    mallory.disconnect();
    admin.disconnect();
  });

  it('lets an admin attach to, type into and subscribe to any task', async () => {
    const admin = await stack.client(stack.admin.token);
    const output: string[] = [];
    admin.on('pty:output', (sessionId: string, _offset: number, data: ArrayBuffer) => {
      if (sessionId === aliceSession) output.push(Buffer.from(data).toString());
    });
    const attached = await attach(admin, { sessionId: aliceSession, from: 'screen' });
    expect(attached.ok).toBe(true);
    admin.emit('pty:input', { sessionId: aliceSession, data: 'admin-was-here' });
    await until('the echo', () => output.join('').includes('admin-was-here'));
    expect(aliceAgent.input.get(aliceSession)).toBe('admin-was-here');
    expect(await subscribe(admin, { taskId: aliceTaskId })).toEqual({ ok: true, data: null });
    admin.disconnect();
  });

  it('refuses offsets from the future and malformed offsets on session:attach', async () => {
    const socket = await stack.client(alice.token);
    const end = (await stack.api(alice.token, 'GET', `/api/sessions/${aliceSession}`)).body.outputEnd as number;
    const future = await attach(socket, { sessionId: aliceSession, from: end + 1 });
    expect(future).toEqual({
      ok: false,
      error: { code: 'BAD_REQUEST', message: expect.stringMatching(/beyond the stored output/) },
    });
    for (const from of [Number.MAX_SAFE_INTEGER + 2, 2 ** 64, -1, 1.5, '0', null, 'Screen', {}]) {
      const r = await attach(socket, { sessionId: aliceSession, from });
      expect(r.ok, JSON.stringify(from)).toBe(false);
      if (!r.ok) expect(r.error.code).toBe('BAD_REQUEST');
    }
    const exact = await attach(socket, { sessionId: aliceSession, from: end });
    expect(exact.ok).toBe(true);
    if (exact.ok) expect(exact.data.from).toBe(end);
    socket.disconnect();
  });

  it('regression: a refused re-attach (offset from the future) leaves the attachment in place', async () => {
    const socket = await stack.client(alice.token);
    const errors = errorsOf(socket);
    expect((await attach(socket, { sessionId: aliceSession })).ok).toBe(true);
    const refused = await attach(socket, { sessionId: aliceSession, from: Number.MAX_SAFE_INTEGER });
    expect(refused.ok).toBe(false);
    socket.emit('pty:input', { sessionId: aliceSession, data: '-still-attached' });
    await until(
      'the input or its refusal',
      () => errors.length > 0 || aliceAgent.input.get(aliceSession)?.includes('-still-attached'),
    );
    expect(errors).toEqual([]);
    socket.disconnect();
  });

  it('refuses read-only viewers input, resizes and signals', async () => {
    const viewer = await stack.client(alice.token);
    const errors = errorsOf(viewer);
    expect((await attach(viewer, { sessionId: aliceSession, readOnly: true, cols: 7, rows: 7 })).ok).toBe(true);
    const before = agentEventsFor(aliceAgent, aliceSession).length;
    viewer.emit('pty:input', { sessionId: aliceSession, data: 'read-only-typing' });
    viewer.emit('pty:resize', { sessionId: aliceSession, cols: 9, rows: 9 });
    viewer.emit('pty:signal', { sessionId: aliceSession, signal: 'SIGINT' });
    await until('three refusals', () => errors.length >= 3);
    expect(errors.map((e) => [e.event, e.error.code])).toEqual([
      ['pty:input', 'READ_ONLY'],
      ['pty:resize', 'READ_ONLY'],
      ['pty:signal', 'READ_ONLY'],
    ]);
    // The agent only heard the viewer's pacing, never its keys or sizes.
    const after = agentEventsFor(aliceAgent, aliceSession).slice(before);
    expect(after.filter((e) => e !== 'pty:consumed' && e !== 'pty:viewer-gone')).toEqual([]);
    expect(aliceAgent.input.get(aliceSession) ?? '').not.toContain('read-only-typing');
    viewer.disconnect();
  });

  it('refuses input frames over MAX_INPUT_FRAME_BYTES, counted in bytes; a frame over the transport cap drops only that connection', async () => {
    const session = (await stack.api(alice.token, 'POST', '/api/sessions', { body: { taskId: aliceTaskId } })).body
      .id as string;
    const socket = await stack.client(alice.token);
    const errors = errorsOf(socket);
    expect((await attach(socket, { sessionId: session })).ok).toBe(true);
    const ascii = 'a'.repeat(MAX_INPUT_FRAME_BYTES + 1);
    // Fewer characters than the cap, but three bytes each in UTF-8.
    const wide = '€'.repeat(Math.floor(MAX_INPUT_FRAME_BYTES / 3) + 1);
    expect(wide.length).toBeLessThan(MAX_INPUT_FRAME_BYTES);
    socket.emit('pty:input', { sessionId: session, data: ascii });
    socket.emit('pty:input', { sessionId: session, data: wide });
    socket.emit('pty:input', { sessionId: session, data: 'small-after' });
    await until('the small frame', () => aliceAgent.input.get(session)?.includes('small-after'));
    expect(aliceAgent.input.get(session)).toBe('small-after');
    expect(errors.map((e) => [e.event, e.error.code])).toEqual([
      ['pty:input', 'BAD_REQUEST'],
      ['pty:input', 'BAD_REQUEST'],
    ]);

    // Over Socket.io's maxHttpBufferSize (2 MiB) the server drops the connection instead of parsing it.
    const hog = await stack.client(alice.token);
    expect((await attach(hog, { sessionId: session })).ok).toBe(true);
    const gone = new Promise<string>((resolve) => hog.once('disconnect', (reason) => resolve(reason)));
    hog.emit('pty:input', { sessionId: session, data: 'b'.repeat(3 * 1024 * 1024) });
    expect(await gone).toMatch(/transport/);
    expect(aliceAgent.input.get(session)).toBe('small-after');
    socket.emit('pty:input', { sessionId: session, data: '-still-served' });
    await until('the other connection to be served', () => aliceAgent.input.get(session)?.includes('-still-served'));
    socket.disconnect();
  });

  it('answers an input flood with RATE_LIMITED, by bytes per second, without slowing another session', async () => {
    const second = (await stack.api(alice.token, 'POST', '/api/sessions', { body: { taskId: aliceTaskId } })).body
      .id as string;
    const flooded = (await stack.api(alice.token, 'POST', '/api/sessions', { body: { taskId: aliceTaskId } })).body
      .id as string;
    const socket = await stack.client(alice.token);
    const errors = errorsOf(socket);
    expect((await attach(socket, { sessionId: flooded })).ok).toBe(true);
    expect((await attach(socket, { sessionId: second })).ok).toBe(true);
    const bobSocket = await stack.client(bob.token);
    expect((await attach(bobSocket, { sessionId: bobSession })).ok).toBe(true);

    const frame = 'x'.repeat(4096);
    const frames = 40;
    const started = performance.now();
    for (let i = 0; i < frames; i++) socket.emit('pty:input', { sessionId: flooded, data: frame });
    // Same connection, another session: its own allowance.
    const secondInput = `second-session-${'y'.repeat(4096)}`;
    socket.emit('pty:input', { sessionId: second, data: secondInput });
    bobSocket.emit('pty:input', { sessionId: bobSession, data: 'bob-typing' });
    await until('the other session', () => aliceAgent.input.get(second) === secondInput);
    await until("Bob's session", () => bobAgent.input.get(bobSession)?.includes('bob-typing'));
    const elapsedSec = (performance.now() - started) / 1000;

    // Every frame is either passed on whole or refused whole (its refusal may still be on its way).
    const accepted = aliceAgent.input.get(flooded)?.length ?? 0;
    const limitedFrames = () => errors.filter((e) => e.sessionId === flooded && e.error.code === 'RATE_LIMITED').length;
    await until('every frame accounted for', () => accepted + limitedFrames() * frame.length === frames * frame.length);
    expect(limitedFrames()).toBeGreaterThan(0);
    // A burst of two seconds' worth, then the rate: never more, however fast frames arrive.
    expect(accepted).toBeLessThanOrEqual(2 * RATE + RATE * elapsedSec);
    expect(errors.filter((e) => e.sessionId !== flooded)).toEqual([]);
    socket.disconnect();
    bobSocket.disconnect();
  });

  it('survives malformed payloads on every event, answers each with a 4xx, and keeps serving', async () => {
    const mallory = await stack.client(bob.token);
    const errors = errorsOf(mallory);
    const logStart = stack.logs().length;
    let deep: unknown = 'x';
    for (let i = 0; i < 200; i++) deep = { sessionId: deep };
    const payloads: unknown[] = [
      null,
      0,
      -1,
      'session',
      true,
      [],
      [aliceSession],
      {},
      { sessionId: null },
      { sessionId: 42 },
      { sessionId: 'x'.repeat(100_000) },
      { sessionId: '../../etc/passwd' },
      { sessionId: bobSession, data: 42 },
      { sessionId: bobSession, data: ['a'] },
      { sessionId: bobSession, data: Buffer.from('binary') },
      { sessionId: bobSession, cols: 0, rows: 1e9 },
      { sessionId: bobSession, cols: '80', rows: '24' },
      { sessionId: bobSession, signal: 'SIGSEGV' },
      { sessionId: bobSession, offset: -5 },
      { sessionId: bobSession, offset: Number.MAX_VALUE },
      { sessionId: bobSession, from: 'yesterday' },
      { sessionId: bobSession, readOnly: 'no' },
      { sessionId: bobSession, extra: true },
      { taskId: 7 },
      { taskId: 'x'.repeat(1000) },
      { all: false },
      { all: true, taskId: 'x' },
      JSON.parse('{"__proto__": {"polluted": true}, "sessionId": "abcd_main"}'),
      { constructor: { prototype: { polluted: true } } },
      deep,
    ];
    const events = [
      'session:attach',
      'session:detach',
      'pty:input',
      'pty:resize',
      'pty:ack',
      'pty:signal',
      'task:subscribe',
      'no:such-event',
    ];
    const pending: Promise<Ack<unknown> | null>[] = [];
    for (const event of events) {
      for (const payload of payloads) {
        mallory.emit(event, payload);
        mallory.emit(event, payload, 'not-a-callback');
        mallory.emit(event, payload, { extra: 'argument' }, 3);
        // Events without an acknowledgement never answer one: those time out (null).
        pending.push(
          mallory
            .timeout(3000)
            .emitWithAck(event, payload)
            .catch(() => null) as Promise<Ack<unknown> | null>,
        );
      }
      mallory.emit(event);
    }
    const acks = await Promise.all(pending);
    // Events that take an acknowledgement answered every malformed call with a client error.
    const answered = acks.filter((a): a is Ack<unknown> => a !== null);
    expect(answered.length).toBeGreaterThanOrEqual(2 * payloads.length);
    for (const a of answered) {
      if (a.ok) continue;
      expect(['BAD_REQUEST', 'NOT_FOUND']).toContain(a.error.code);
    }
    expect(errors.every((e) => ['BAD_REQUEST', 'NOT_FOUND'].includes(e.error.code))).toBe(true);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();

    // Still connected, still served, and so is everyone else.
    expect(mallory.connected).toBe(true);
    const own = await attach(mallory, { sessionId: bobSession });
    expect(own.ok).toBe(true);
    mallory.emit('pty:input', { sessionId: bobSession, data: 'after-the-junk' });
    await until('Bob to be served', () => bobAgent.input.get(bobSession)?.includes('after-the-junk'));
    const alices = await stack.client(alice.token);
    expect((await attach(alices, { sessionId: aliceSession })).ok).toBe(true);
    alices.emit('pty:input', { sessionId: aliceSession, data: '-alice-after' });
    await until('Alice to be served', () => aliceAgent.input.get(aliceSession)?.includes('-alice-after'));
    // Nothing unexpected was logged as an error (an error line would mean a handler threw or a store failed).
    const newLines = stack.logs().slice(logStart).split('\n').filter(Boolean);
    expect(newLines.filter((l) => (JSON.parse(l) as { level: number }).level >= 50)).toEqual([]);
    mallory.disconnect();
    alices.disconnect();
  });
});
