/**
 * Share links against the real server (test-stack: the production composition root, real Socket.io, PGlite or
 * Postgres + Redis) with fake agents that record exactly what reached each sandbox: who may create, list and
 * revoke links; what the public view shows (and never shows); that a share viewer's socket may only watch the
 * shared task's main terminal, every other event refused with nothing reaching the sandbox; that revoking or
 * expiring a link cuts its live viewers off at once. Co-drive links: only signed-in users open them; one may
 * type only after the owner accepts them, only into the main session, nothing but input; revoking the driver
 * or the link takes effect on the live socket at once; who is attached is pushed to the signed-in clients.
 */
import {
  type Ack,
  type AttachResult,
  type CreateShareResponse,
  type DriveRequest,
  type ErrorInfo,
  type SessionPresence,
  type SharedTaskStatus,
  type ShareView,
  shareableEvent,
  shareViewSchema,
  type TaskEvent,
} from '@rclaude/protocol';
import { until } from '@rclaude/testkit';
import { io as connectIo, type Socket } from 'socket.io-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type FakeAgent, startTestStack, type TestStack, type TestUser } from './test-stack.js';

interface SessionError {
  sessionId: string | null;
  event: string;
  error: ErrorInfo;
}

/** The id and secret of a share URL (`…/share/<id>#<secret>`). */
function partsOf(url: string): { id: string; secret: string } {
  const m = /\/share\/(sh_[a-z0-9]{16})#([A-Za-z0-9_-]{43})$/.exec(url);
  if (!m?.[1] || !m[2]) throw new Error(`not a share URL: ${url}`);
  return { id: m[1], secret: m[2] };
}

describe.each(['embedded', 'postgres+redis'] as const)('share links (%s)', (kind) => {
  let stack: TestStack;
  let alice: TestUser;
  let bob: TestUser;
  let aliceTask: { id: string; name: string; mainSessionId: string };
  let aliceOther: { id: string; name: string };
  let aliceAgent: FakeAgent;
  let bobSession: string;
  const sockets: Socket[] = [];

  const createShare = async (token: string, taskId: string, body: unknown = {}) =>
    stack.api(token, 'POST', `/api/tasks/${taskId}/shares`, { body });
  const view = (id: string, secret: string, headers: Record<string, string> = {}) =>
    stack.api(null, 'POST', `/api/share/${id}/view`, { body: { secret }, headers });
  const shareSocket = (id: string, secret: string) => {
    const socket = connectIo(`${stack.url}/client`, {
      transports: ['websocket'],
      reconnection: false,
      forceNew: true,
      auth: { share: { id, secret } },
    });
    sockets.push(socket);
    return socket;
  };
  const connected = (socket: Socket) =>
    new Promise<void>((resolve, reject) => {
      socket.once('connect', () => resolve());
      socket.once('connect_error', reject);
    });
  const newShare = async (): Promise<{ id: string; secret: string; res: CreateShareResponse }> => {
    const res = await createShare(alice.token, aliceTask.id);
    expect(res.status).toBe(201);
    return { ...partsOf(res.body.url), res: res.body };
  };

  beforeAll(async () => {
    stack = await startTestStack(kind);
    alice = await stack.createUser('alice');
    bob = await stack.createUser('bob');
    const a = await stack.startTask(alice.token, { command: ['sh'], name: 'shared-demo' });
    aliceTask = a.task;
    aliceAgent = a.agent;
    aliceOther = (await stack.startTask(alice.token, { command: ['sh'], name: 'alice-secret-project' })).task;
    bobSession = (await stack.startTask(bob.token)).task.mainSessionId;
  });
  afterAll(async () => {
    for (const s of sockets) s.disconnect();
    await stack?.close();
  });

  it('lets the owner create, list and revoke links; another user gets NOT_FOUND like a missing id', async () => {
    const created = await createShare(alice.token, aliceTask.id, { expiresInMs: 2 * 3600_000 });
    expect(created.status).toBe(201);
    const { id } = partsOf(created.body.url);
    expect(created.body.url.startsWith(`${stack.url}/share/${id}#`)).toBe(true);
    expect(created.body.share).toMatchObject({ id, taskId: aliceTask.id, kind: 'view', state: 'active' });
    expect(Date.parse(created.body.share.expiresAt) - Date.parse(created.body.share.createdAt)).toBe(2 * 3600_000);

    const listed = await stack.api(alice.token, 'GET', `/api/shares?task=${aliceTask.id}`);
    expect(listed.status).toBe(200);
    expect(listed.body.shares.map((s: { id: string }) => s.id)).toContain(id);
    // The secret is never listed.
    expect(listed.text).not.toContain(partsOf(created.body.url).secret);

    // Bob: Alice's task is a missing task; Alice's link is a missing link; his list is empty.
    const foreign = await createShare(bob.token, aliceTask.id);
    const missing = await createShare(bob.token, 'zzzzzzzzzz');
    expect(foreign.status).toBe(404);
    expect(foreign.body.error.message.replaceAll(aliceTask.id, 'ID')).toBe(
      missing.body.error.message.replaceAll('zzzzzzzzzz', 'ID'),
    );
    expect((await stack.api(bob.token, 'GET', '/api/shares')).body.shares).toEqual([]);
    expect((await stack.api(bob.token, 'DELETE', `/api/shares/${id}`)).status).toBe(404);
    expect((await stack.api(bob.token, 'DELETE', '/api/shares/sh_zzzzzzzzzzzzzzzz')).status).toBe(404);
    expect((await stack.api(null, 'GET', '/api/shares')).status).toBe(401);

    // Out-of-range lifetimes are refused.
    expect((await createShare(alice.token, aliceTask.id, { expiresInMs: 8 * 24 * 3600_000 })).status).toBe(400);
    expect((await createShare(alice.token, aliceTask.id, { expiresInMs: 1000 })).status).toBe(400);
    expect((await createShare(alice.token, aliceTask.id, { kind: 'edit' })).status).toBe(400);

    expect((await stack.api(alice.token, 'DELETE', `/api/shares/${id}`)).status).toBe(204);
    const after = await stack.api(alice.token, 'GET', '/api/shares');
    expect(after.body.shares.find((s: { id: string }) => s.id === id)?.state).toBe('revoked');
  });

  it('shows the holder of the secret only the name, status, main session and timeline; nothing of the owner', async () => {
    const { id, secret } = await newShare();
    aliceAgent.emitRaw('agent:event', { sessionId: null, type: 'info', data: { message: 'visible-step' } });
    const res = await until('the view with the new event', async () => {
      const r = await view(id, secret);
      return r.status === 200 && r.text.includes('visible-step') ? r : null;
    });
    const body: ShareView = shareViewSchema.parse(res.body);
    expect(Object.keys(res.body).sort()).toEqual(['events', 'expiresAt', 'kind', 'shareId', 'task']);
    expect(Object.keys(res.body.task).sort()).toEqual(['mainSessionId', 'name', 'status']);
    expect(body.task).toEqual({ name: 'shared-demo', status: 'running', mainSessionId: aliceTask.mainSessionId });
    expect(body.events.every((e) => e.taskId === aliceTask.id)).toBe(true);
    // Nothing names the owner or her other task.
    for (const leak of [alice.id, 'alice', aliceOther.id, 'alice-secret-project', bob.id]) {
      expect(res.text).not.toContain(leak);
    }

    // A wrong or malformed secret, or an unknown link: 401 `invalid`, alike.
    const wrong = await view(id, `${secret.slice(0, -1)}${secret.endsWith('A') ? 'B' : 'A'}`);
    expect(wrong.status).toBe(401);
    expect(wrong.body.error.details).toEqual({ reason: 'invalid' });
    expect((await view(id, 'short')).body.error.details).toEqual({ reason: 'invalid' });
    expect((await view('sh_zzzzzzzzzzzzzzzz', secret)).body.error.details).toEqual({ reason: 'invalid' });
    // A foreign page cannot read it, even with the secret.
    expect((await view(id, secret, { origin: 'https://evil.example' })).status).toBe(403);
    // The share secret is no credential for anything else.
    expect((await stack.api(secret, 'GET', `/api/tasks/${aliceTask.id}`)).status).toBe(401);
    expect((await stack.api(secret, 'GET', `/api/tasks/${aliceTask.id}/files?path=.`)).status).toBe(401);
  });

  it('lets a share viewer watch the main terminal and refuses every other event; nothing reaches the sandbox', async () => {
    const { id, secret } = await newShare();
    const viewer = shareSocket(id, secret);
    const errors: SessionError[] = [];
    const updates: unknown[] = [];
    const statuses: SharedTaskStatus[] = [];
    let output = '';
    viewer.on('session:error', (e: SessionError) => errors.push(e));
    viewer.on('task:updated', (t: unknown) => updates.push(t));
    viewer.on('share:task', (s: SharedTaskStatus) => statuses.push(s));
    viewer.on('pty:output', (sessionId: string, _offset: number, data: Buffer) => {
      if (sessionId === aliceTask.mainSessionId) output += Buffer.from(data).toString('utf8');
    });
    await connected(viewer);
    const extra = await stack.api(alice.token, 'POST', '/api/sessions', { body: { taskId: aliceTask.id } });
    expect(extra.status).toBe(201);
    const before = aliceAgent.received.length;

    const attached = (await viewer
      .timeout(5000)
      .emitWithAck('session:attach', { sessionId: aliceTask.mainSessionId, cols: 5, rows: 5 })) as Ack<AttachResult>;
    expect(attached.ok).toBe(true);
    const listed = await stack.api(alice.token, 'GET', `/api/shares?task=${aliceTask.id}`);
    expect(listed.body.shares.find((s: { id: string }) => s.id === id)?.viewers).toBe(1);
    aliceAgent.output(aliceTask.mainSessionId, 'hello-viewer\r\n');
    await until('the viewer to see live output', () => output.includes('hello-viewer'));

    const refusedAck = async (event: string, payload: unknown) =>
      (await viewer.timeout(5000).emitWithAck(event, payload)) as Ack<unknown>;
    for (const [event, payload] of [
      ['session:attach', { sessionId: extra.body.id }],
      ['session:attach', { sessionId: bobSession }],
      ['session:attach', { sessionId: 'zzzzzzzzzzzz_main' }],
    ] as const) {
      const ack = await refusedAck(event, payload);
      expect(ack.ok ? 'ok' : ack.error.code).toBe('NOT_FOUND');
    }
    for (const [event, payload] of [
      ['task:subscribe', { taskId: aliceTask.id }],
      ['task:subscribe', { taskId: aliceOther.id }],
      ['task:subscribe', { all: true }],
      ['files:list', { path: '.' }],
      ['task:stop', { taskId: aliceTask.id }],
      ['exec:run', { command: 'id' }],
    ] as const) {
      const ack = await refusedAck(event, payload);
      expect(ack.ok ? 'ok' : ack.error.code).toBe('FORBIDDEN');
    }
    viewer.emit('pty:input', { sessionId: aliceTask.mainSessionId, data: 'touch /tmp/pwned\r' });
    viewer.emit('pty:resize', { sessionId: aliceTask.mainSessionId, cols: 10, rows: 10 });
    viewer.emit('pty:signal', { sessionId: aliceTask.mainSessionId, signal: 'SIGKILL' });
    viewer.emit('pty:input', { sessionId: extra.body.id, data: 'id\r' });
    await until('the four refusals', () => errors.length >= 4);
    // (Refusals of different events may arrive in another order than sent.)
    expect(errors.map((e) => `${e.event} ${e.error.code}`).sort()).toEqual([
      'pty:input READ_ONLY',
      'pty:input READ_ONLY',
      'pty:resize READ_ONLY',
      'pty:signal READ_ONLY',
    ]);

    // Alice's own activity reaches the viewer as status only, never as a Task.
    aliceAgent.emitRaw('agent:event', { sessionId: null, type: 'activity', data: { activity: 'working' } });
    await until('a share:task status', () => statuses.length > 0);
    expect(Object.keys(statuses[0] ?? {}).sort()).toEqual(['name', 'status']);
    expect(updates).toEqual([]);

    // The viewer acknowledges what it rendered: that opens its own window, and never paces Alice's program.
    viewer.emit('pty:ack', { sessionId: aliceTask.mainSessionId, offset: Buffer.byteLength(output) });
    // What reached the sandbox from the viewer: nothing but the screen it asked for (the agent's output being
    // stored sends pty:stored). No pacing, input, resize, signal, file or exec request.
    const reached = aliceAgent.received.slice(before).map((r) => r.event);
    expect(reached.filter((e) => !['session:screen', 'pty:stored'].includes(e))).toEqual([]);
    expect(aliceAgent.input.get(aliceTask.mainSessionId)).toBeUndefined();
    expect(aliceAgent.input.get(extra.body.id)).toBeUndefined();
    viewer.disconnect();
  });

  it('cuts live viewers off when the link is revoked, and refuses it afterwards', async () => {
    const { id, secret } = await newShare();
    const viewer = shareSocket(id, secret);
    await connected(viewer);
    let reason = '';
    viewer.on('disconnect', (r) => {
      reason = r;
    });
    expect((await stack.api(alice.token, 'DELETE', `/api/shares/${id}`)).status).toBe(204);
    await until('the viewer to be disconnected', () => !viewer.connected);
    expect(reason).toBe('io server disconnect');
    const again = await stack.refusedClient({ share: { id, secret } });
    expect(again.data?.code).toBe('UNAUTHENTICATED');
    const res = await view(id, secret);
    expect(res.status).toBe(401);
    expect(res.body.error.details).toEqual({ reason: 'revoked' });
  });

  it('refuses an expired link, and cuts a viewer off when its link expires', async () => {
    const { id, secret } = await newShare();
    await stack.stores.db.pool.query("UPDATE share_links SET expires_at = now() - interval '1 second' WHERE id = $1", [
      id,
    ]);
    const res = await view(id, secret);
    expect(res.status).toBe(401);
    expect(res.body.error.details).toEqual({ reason: 'expired' });
    expect((await stack.refusedClient({ share: { id, secret } })).data?.code).toBe('UNAUTHENTICATED');

    // This one is about time passing: a link that expires two seconds after its viewer connected.
    const live = await newShare();
    await stack.stores.db.pool.query("UPDATE share_links SET expires_at = now() + interval '2 seconds' WHERE id = $1", [
      live.id,
    ]);
    const viewer = shareSocket(live.id, live.secret);
    await connected(viewer);
    await until('the viewer to be cut off at expiry', () => !viewer.connected, 10_000);
  });

  it('refuses malformed share handshakes and foreign origins', async () => {
    const { id, secret } = await newShare();
    for (const share of [
      null,
      'x',
      { id },
      { id, secret: 'short' },
      { id, secret, extra: 1 },
      { id: 'nope', secret },
    ]) {
      const refused = await stack.refusedClient({ share });
      expect(refused.data?.code).toBe('UNAUTHENTICATED');
    }
    const foreign = await stack.refusedClient({ share: { id, secret } }, { origin: 'https://evil.example' });
    expect(foreign.data?.code).toBe('ORIGIN_REFUSED');
  });

  it('throttles the public view per address', async () => {
    const { id, secret } = await newShare();
    let limited: Awaited<ReturnType<typeof view>> | null = null;
    for (let i = 0; i < 80 && !limited; i++) {
      const res = await view(id, secret);
      if (res.status === 429) limited = res;
      else expect(res.status).toBe(200);
    }
    expect(limited?.body.error.code).toBe('RATE_LIMITED');
    expect(Number(limited?.headers.get('retry-after'))).toBeGreaterThan(0);
  });

  /** How long one step of a co-drive test waits: well under the test's timeout, so a failure names its step. */
  const STEP_MS = 15_000;
  describe('co-drive links', () => {
    let task: { id: string; mainSessionId: string };
    let agent: FakeAgent;
    let carol: TestUser;
    beforeAll(async () => {
      const t = await stack.startTask(alice.token, { command: ['sh'], name: 'drive-demo' });
      task = t.task;
      agent = t.agent;
      carol = await stack.createUser('carol');
    });
    const newDriveShare = async () => {
      const res = await createShare(alice.token, task.id, { kind: 'drive' });
      expect(res.status).toBe(201);
      expect(res.body.share.kind).toBe('drive');
      return partsOf(res.body.url);
    };
    /** A connected socket of `user` on a drive link (token and link in the handshake, as the CLI would). */
    const driverSocket = async (user: TestUser, id: string, secret: string) => {
      const socket = connectIo(`${stack.url}/client`, {
        transports: ['websocket'],
        reconnection: false,
        forceNew: true,
        auth: { token: user.token, share: { id, secret } },
      });
      sockets.push(socket);
      await connected(socket);
      const errors: SessionError[] = [];
      const decisions: DriveRequest[] = [];
      const presence: SessionPresence[] = [];
      socket.on('session:error', (e: SessionError) => errors.push(e));
      socket.on('share:drive-request', (r: DriveRequest) => decisions.push(r));
      socket.on('session:presence', (p: SessionPresence) => presence.push(p));
      const attached = (await socket
        .timeout(5000)
        .emitWithAck('session:attach', { sessionId: task.mainSessionId, from: 'screen' })) as Ack<AttachResult>;
      expect(attached.ok).toBe(true);
      return { socket, errors, decisions, presence };
    };
    const ask = async (socket: Socket) =>
      (await socket.timeout(5000).emitWithAck('share:drive', {})) as Ack<DriveRequest>;
    const decide = (token: string, requestId: string, decision: string) =>
      stack.api(token, 'POST', `/api/drive-requests/${requestId}`, { body: { decision } });
    const typed = () => agent.input.get(task.mainSessionId) ?? '';

    it('is for signed-in users only: no account, a forged token or a forged secret is refused', async () => {
      const { id, secret } = await newDriveShare();
      expect((await stack.refusedClient({ share: { id, secret } })).data?.code).toBe('UNAUTHENTICATED');
      expect((await stack.refusedClient({ token: 'rc_forged', share: { id, secret } })).data?.code).toBe(
        'UNAUTHENTICATED',
      );
      const forged = `${secret.slice(0, -1)}${secret.endsWith('A') ? 'B' : 'A'}`;
      expect((await stack.refusedClient({ token: bob.token, share: { id, secret: forged } })).data?.code).toBe(
        'UNAUTHENTICATED',
      );
    });

    it('lets a user type once the owner accepts, nothing but input, until the owner revokes them', async () => {
      const { id, secret } = await newDriveShare();
      const owner = await stack.client(alice.token);
      const ownerRequests: DriveRequest[] = [];
      const ownerPresence: SessionPresence[] = [];
      owner.on('share:drive-request', (r: DriveRequest) => ownerRequests.push(r));
      owner.on('session:presence', (p: SessionPresence) => ownerPresence.push(p));
      expect(((await owner.timeout(5000).emitWithAck('task:subscribe', { taskId: task.id })) as Ack<null>).ok).toBe(
        true,
      );
      expect(
        (
          (await owner
            .timeout(5000)
            .emitWithAck('session:attach', { sessionId: task.mainSessionId, from: 'screen' })) as Ack<AttachResult>
        ).ok,
      ).toBe(true);
      const anon = partsOf((await createShare(alice.token, task.id)).body.url);
      const anonymous = shareSocket(anon.id, anon.secret);
      const anonymousPresence: SessionPresence[] = [];
      anonymous.on('session:presence', (p: SessionPresence) => anonymousPresence.push(p));
      await connected(anonymous);
      await anonymous.timeout(5000).emitWithAck('session:attach', { sessionId: task.mainSessionId, from: 'screen' });

      const bobSide = await driverSocket(bob, id, secret);
      // Before asking (and before an answer) typing is refused and nothing reaches the sandbox.
      bobSide.socket.emit('pty:input', { sessionId: task.mainSessionId, data: 'echo too-early\r' });
      await until('the early input refused', () => bobSide.errors.length >= 1);
      expect(bobSide.errors[0]?.error.code).toBe('READ_ONLY');

      const asked = await ask(bobSide.socket);
      if (!asked.ok) throw new Error(asked.error.message);
      expect(asked.data).toMatchObject({ shareId: id, taskId: task.id, user: 'bob', state: 'pending' });
      // Asking again answers the same open request.
      const again = await ask(bobSide.socket);
      expect(again.ok && again.data.id).toBe(asked.data.id);
      await until('the owner to hear of the request', () => ownerRequests.some((r) => r.id === asked.data.id), STEP_MS);
      const listed = await stack.api(alice.token, 'GET', `/api/tasks/${task.id}/drive-requests`);
      expect(listed.status).toBe(200);
      expect(listed.body.requests[0]).toMatchObject({ id: asked.data.id, user: 'bob', state: 'pending' });
      expect(listed.text).not.toContain(bob.id);
      // Nobody but the owner (or an admin) sees or decides it: Bob and Carol get NOT_FOUND.
      expect((await stack.api(bob.token, 'GET', `/api/tasks/${task.id}/drive-requests`)).status).toBe(404);
      expect((await decide(bob.token, asked.data.id, 'accept')).status).toBe(404);
      expect((await decide(carol.token, asked.data.id, 'accept')).status).toBe(404);
      expect((await decide(alice.token, 'dr_zzzzzzzzzzzzzzzz', 'accept')).status).toBe(404);
      expect((await decide(alice.token, asked.data.id, 'launch')).status).toBe(400);
      expect((await decide(alice.token, asked.data.id, 'revoke')).status).toBe(409);

      const accepted = await decide(alice.token, asked.data.id, 'accept');
      expect(accepted.status).toBe(200);
      expect(accepted.body).toMatchObject({ state: 'accepted', decidedBy: 'alice' });
      await until('Bob to hear he may type', () => bobSide.decisions.some((r) => r.state === 'accepted'), STEP_MS);
      bobSide.socket.emit('pty:input', { sessionId: task.mainSessionId, data: 'echo from-bob\r' });
      await until('Bob’s keystrokes to reach the sandbox', () => typed().includes('echo from-bob\r'), STEP_MS);
      expect(typed()).not.toContain('too-early');

      // Who is attached: the owner's clients and Bob hear it; the anonymous viewer never does.
      const drivingSeen = (list: SessionPresence[]) =>
        list.some((p) => p.owner && p.drivers.includes('bob') && p.anonymousViewers === 1);
      await until('the owner to see Bob driving', () => drivingSeen(ownerPresence), STEP_MS);
      await until('Bob to see himself driving', () => drivingSeen(bobSide.presence), STEP_MS);
      expect(JSON.stringify(ownerPresence)).not.toContain(bob.id);
      expect(anonymousPresence).toEqual([]);

      // A driver may type, nothing else.
      const before = agent.received.length;
      const errorsBefore = bobSide.errors.length;
      bobSide.socket.emit('pty:resize', { sessionId: task.mainSessionId, cols: 20, rows: 5 });
      bobSide.socket.emit('pty:signal', { sessionId: task.mainSessionId, signal: 'SIGINT' });
      bobSide.socket.emit('pty:input', { sessionId: bobSession, data: 'id\r' });
      await until('three refusals', () => bobSide.errors.length >= errorsBefore + 3);
      expect(
        bobSide.errors
          .slice(errorsBefore)
          .map((e) => `${e.event} ${e.error.code}`)
          .sort(),
      ).toEqual(['pty:input NOT_FOUND', 'pty:resize READ_ONLY', 'pty:signal READ_ONLY']);
      for (const [event, payload] of [
        ['task:stop', { taskId: task.id }],
        ['files:list', { path: '.' }],
        ['task:subscribe', { taskId: task.id }],
      ] as const) {
        const ack = (await bobSide.socket.timeout(5000).emitWithAck(event, payload)) as Ack<unknown>;
        expect(ack.ok ? 'ok' : ack.error.code).toBe('FORBIDDEN');
      }
      expect((await stack.api(bob.token, 'POST', `/api/tasks/${task.id}/stop`)).status).toBe(404);
      expect((await stack.api(bob.token, 'GET', `/api/tasks/${task.id}/files?path=.`)).status).toBe(404);
      expect(
        agent.received
          .slice(before)
          .map((r) => r.event)
          .filter((e) => e !== 'pty:stored'),
      ).toEqual([]);

      // Revoking takes effect on the live socket at once: the next keystrokes are refused.
      const revoked = await decide(alice.token, asked.data.id, 'revoke');
      expect(revoked.body).toMatchObject({ state: 'revoked', decidedBy: 'alice' });
      await until('Bob to hear he was revoked', () => bobSide.decisions.some((r) => r.state === 'revoked'), STEP_MS);
      const typedBefore = typed();
      const errorsAfter = bobSide.errors.length;
      bobSide.socket.emit('pty:input', { sessionId: task.mainSessionId, data: 'echo after-revoke\r' });
      await until('the input after revocation refused', () => bobSide.errors.length > errorsAfter);
      expect(bobSide.errors.at(-1)?.error.code).toBe('READ_ONLY');
      expect(typed()).toBe(typedBefore);
      expect(bobSide.socket.connected).toBe(true);
      expect((await decide(alice.token, asked.data.id, 'accept')).status).toBe(409);
      await until('the owner to see Bob no longer driving', () => {
        const last = ownerPresence.at(-1);
        return last !== undefined && last.drivers.length === 0 && last.viewers.includes('bob');
      });

      // The timeline says who was let in and out, and by whom; the anonymous viewer gets it without names.
      const events = (await stack.api(alice.token, 'GET', `/api/tasks/${task.id}/events`)).body.events as {
        type: string;
        data: { drive?: { user: string; state: string; by: string } };
      }[];
      expect(events.flatMap((e) => (e.data.drive ? [e.data.drive] : []))).toEqual([
        expect.objectContaining({ user: 'bob', state: 'accepted', by: 'alice' }),
        expect.objectContaining({ user: 'bob', state: 'revoked', by: 'alice' }),
      ]);
      // (The public view is throttled per address, which the test above used up: its events go through the same
      // filter as `task:event`.)
      const driveNotes = events.filter((e) => e.data.drive).map((e) => shareableEvent(e as TaskEvent));
      expect(JSON.stringify(driveNotes)).not.toMatch(/bob|alice/);
      expect(driveNotes.map((e) => e?.data.message)).toEqual([
        'a co-driver may now type',
        'a co-driver may no longer type',
      ]);
      owner.disconnect();
      anonymous.disconnect();
      bobSide.socket.disconnect();
    });

    it('gives a reconnecting accepted driver the right to type at once, and revoking the link revokes its drivers', async () => {
      const { id, secret } = await newDriveShare();
      const first = await driverSocket(carol, id, secret);
      const asked = await ask(first.socket);
      if (!asked.ok) throw new Error(asked.error.message);
      expect((await decide(alice.token, asked.data.id, 'accept')).status).toBe(200);
      first.socket.disconnect();
      const second = await driverSocket(carol, id, secret);
      await until('the new socket to type', async () => {
        second.socket.emit('pty:input', { sessionId: task.mainSessionId, data: 'echo carol-back\r' });
        await until('an answer', () => typed().includes('carol-back') || second.errors.length > 0);
        second.errors.length = 0;
        return typed().includes('carol-back');
      });

      expect((await stack.api(alice.token, 'DELETE', `/api/shares/${id}`)).status).toBe(204);
      await until('the driver to be cut off', () => !second.socket.connected);
      const listed = await stack.api(alice.token, 'GET', `/api/tasks/${task.id}/drive-requests`);
      expect(listed.body.requests.find((r: DriveRequest) => r.id === asked.data.id)?.state).toBe('revoked');
      expect((await stack.refusedClient({ token: carol.token, share: { id, secret } })).data?.code).toBe(
        'UNAUTHENTICATED',
      );
      expect((await decide(alice.token, asked.data.id, 'accept')).status).toBe(409);
    });

    it('refuses asking to type on a view link, and the owner asking on her own task', async () => {
      const viewLink = await newShare();
      // A signed-in user on a view link is a viewer like any other.
      const socket = connectIo(`${stack.url}/client`, {
        transports: ['websocket'],
        reconnection: false,
        forceNew: true,
        auth: { token: bob.token, share: { id: viewLink.id, secret: viewLink.secret } },
      });
      sockets.push(socket);
      await connected(socket);
      const refused = await ask(socket);
      expect(refused.ok ? 'ok' : refused.error.code).toBe('READ_ONLY');
      socket.disconnect();

      const { id, secret } = await newDriveShare();
      const own = await driverSocket(alice, id, secret);
      const mine = await ask(own.socket);
      expect(mine.ok ? 'ok' : mine.error.code).toBe('CONFLICT');
      own.socket.disconnect();
    });
  });
});
