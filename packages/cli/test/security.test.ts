/**
 * The security suite against the running product: a real `rclaude server` (embedded, and on Postgres and
 * Redis), its local bubblewrap sandboxes with the real agent, the CLI, and hostile clients speaking REST,
 * Socket.io `/client` and `/agent` directly. Two users: the first-start admin and a user the admin creates.
 * docs/security.md maps each defence to the test here that proves it.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { Ack, AttachResult, ErrorInfo, Task, TaskEvent } from '@rclaude/protocol';
import { type RclaudeServer, runCli, startRclaudeServer, until } from '@rclaude/testkit';
import { Redis } from 'ioredis';
import pg from 'pg';
import { io, type Socket } from 'socket.io-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const DATABASE_URL = process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
const INPUT_RATE = 16_384;
const MISSING_TASK = 'zzzzzzzzzzzz';

interface Res {
  status: number;
  headers: Headers;
  text: string;
  // biome-ignore lint/suspicious/noExplicitAny: tests index into bodies freely
  body: any;
}

interface User {
  id: string;
  token: string;
}

interface SessionError {
  sessionId: string | null;
  event: string;
  error: ErrorInfo;
}

describe.each(['embedded', 'postgres+redis'] as const)('security of a running server (%s)', (kind) => {
  let server: RclaudeServer;
  let admin: User;
  let bob: User;
  let adminTask: Task;
  let bobTask: Task;
  const secretKey = randomBytes(32).toString('base64');
  const isolationId = `sec_${randomBytes(4).toString('hex')}`;
  const sockets: Socket[] = [];

  beforeAll(async () => {
    server = await startRclaudeServer({
      timeoutMs: 60_000,
      env: {
        LOG_LEVEL: 'debug',
        RCLAUDE_SECRET_KEY: secretKey,
        INPUT_MAX_BYTES_PER_SEC: String(INPUT_RATE),
        // Nothing of the test runner's own credentials reaches the server.
        ANTHROPIC_API_KEY: '',
        CLAUDE_CODE_OAUTH_TOKEN: '',
        ...(kind === 'postgres+redis'
          ? {
              DATABASE_URL,
              RCLAUDE_DATABASE_SCHEMA: isolationId,
              REDIS_URL,
              RCLAUDE_REDIS_PREFIX: isolationId,
            }
          : {}),
      },
    });
    admin = { id: (await api(server.token, 'GET', '/api/me')).body.id, token: server.token };
    const password = `pw-${randomBytes(8).toString('hex')}`;
    const created = await api(admin.token, 'POST', '/api/users', { body: { username: 'bob', password } });
    expect(created.status, created.text).toBe(201);
    const login = await api(null, 'POST', '/api/auth/login', { body: { username: 'bob', password } });
    expect(login.status, login.text).toBe(200);
    bob = { id: created.body.id, token: login.body.token };
    adminTask = await startTask(admin, ['bash', '--norc'], 'admin-shell');
    bobTask = await startTask(bob, ['bash', '--norc'], 'bob-shell');
  }, 120_000);

  afterAll(async () => {
    for (const s of sockets) s.disconnect();
    if (process.env.RCLAUDE_TEST_LOG) fs.writeFileSync(`${process.env.RCLAUDE_TEST_LOG}.${kind}`, server?.log() ?? '');
    await server?.stop();
    if (kind === 'postgres+redis') {
      const client = new pg.Client({ connectionString: DATABASE_URL });
      await client.connect();
      await client.query(`DROP SCHEMA IF EXISTS ${isolationId} CASCADE`);
      await client.end();
      const redis = new Redis(REDIS_URL);
      const keys = await redis.keys(`${isolationId}:*`);
      if (keys.length > 0) await redis.del(...keys);
      redis.disconnect();
    }
  }, 60_000);

  async function api(
    token: string | null,
    method: string,
    urlPath: string,
    opts: {
      body?: unknown;
      raw?: string | FormData;
      contentType?: string | null;
      headers?: Record<string, string>;
    } = {},
  ): Promise<Res> {
    const headers: Record<string, string> = { ...opts.headers };
    if (token !== null) headers.authorization = `Bearer ${token}`;
    const body = opts.raw ?? (opts.body === undefined ? undefined : JSON.stringify(opts.body));
    if (body !== undefined && opts.contentType !== null)
      headers['content-type'] = opts.contentType ?? 'application/json';
    const res = await fetch(`${server.url}${urlPath}`, { method, headers, ...(body === undefined ? {} : { body }) });
    const text = await res.text();
    const json = (res.headers.get('content-type') ?? '').includes('application/json') && text !== '';
    return { status: res.status, headers: res.headers, text, body: json ? JSON.parse(text) : null };
  }

  async function startTask(user: User, command: string[], name: string): Promise<Task> {
    const created = await api(user.token, 'POST', '/api/tasks', { body: { command, name, cols: 100, rows: 30 } });
    expect(created.status, created.text).toBe(201);
    return until(`task ${name} to run`, async () => {
      const t = (await api(user.token, 'GET', `/api/tasks/${created.body.id}`)).body as Task;
      if (t.status === 'failed') throw new Error(`task ${name} failed: ${t.statusReason}`);
      return t.status === 'running' ? t : null;
    });
  }

  /** `rclaude exec ID -- sh -c SCRIPT` as `user`. */
  function exec(user: User, taskId: string, script: string) {
    return runCli(['exec', taskId, '--', 'sh', '-c', script], {
      env: { ...server.cliEnv(), RCLAUDE_TOKEN: user.token },
    });
  }

  function client(
    auth: Record<string, unknown>,
    opts: { headers?: Record<string, string>; transport?: 'websocket' | 'polling' } = {},
  ) {
    const socket = io(`${server.url}/client`, {
      transports: [opts.transport ?? 'websocket'],
      reconnection: false,
      forceNew: true,
      auth,
      extraHeaders: opts.headers ?? {},
    });
    sockets.push(socket);
    return socket;
  }

  /** Resolves with the connected socket, or the refusal's code. */
  function handshake(socket: Socket): Promise<{ ok: true } | { ok: false; code: string | undefined }> {
    return new Promise((resolve) => {
      socket.once('connect', () => resolve({ ok: true }));
      socket.once('connect_error', (err: Error & { data?: { code?: string } }) =>
        resolve({ ok: false, code: err.data?.code }),
      );
    });
  }

  async function connected(token: string): Promise<Socket> {
    const socket = client({ token });
    const r = await handshake(socket);
    if (!r.ok) throw new Error(`handshake refused: ${r.code}`);
    return socket;
  }

  /** Attaches and collects the session's output as text (acknowledged as rendered, so it keeps flowing). */
  async function attach(socket: Socket, sessionId: string, req: Record<string, unknown> = {}) {
    const out = { text: '' };
    socket.on('pty:output', (sid: string, offset: number, data: Buffer) => {
      if (sid !== sessionId) return;
      out.text += Buffer.from(data).toString();
      socket.emit('pty:ack', { sessionId, offset: offset + data.byteLength });
    });
    const ack = (await socket
      .timeout(10_000)
      .emitWithAck('session:attach', { sessionId, ...req })) as Ack<AttachResult>;
    if (ack.ok && ack.data.screen) out.text += ack.data.screen.data;
    return { ack, out };
  }

  function errorsOf(socket: Socket): SessionError[] {
    const seen: SessionError[] = [];
    socket.on('session:error', (e: SessionError) => seen.push(e));
    return seen;
  }

  /** One `/agent` handshake; an accepted one is closed again at once. */
  function agentHandshake(
    auth: Record<string, unknown>,
  ): Promise<{ ok: true } | { ok: false; code: string | undefined }> {
    const socket = io(`${server.url}/agent`, { transports: ['websocket'], reconnection: false, forceNew: true, auth });
    return new Promise((resolve) => {
      socket.once('connect', () => {
        socket.disconnect();
        resolve({ ok: true });
      });
      socket.once('connect_error', (err: Error & { data?: { code?: string } }) => {
        socket.disconnect();
        resolve({ ok: false, code: err.data?.code });
      });
    });
  }

  /**
   * What code in a sandbox finds of its agent's credentials: every environment in /proc, and the token file
   * the agent was started with (it deletes the file once read).
   */
  async function agentCredentialsSeenFrom(
    user: User,
    taskId: string,
  ): Promise<{ sandboxId: string; token: string | null; tokenFileLeft: boolean }> {
    const r = await exec(
      user,
      taskId,
      "for p in /proc/[0-9]*; do tr '\\0' '\\n' < $p/environ 2>/dev/null; done | grep -E '^RCLAUDE_(AGENT_TOKEN|AGENT_TOKEN_FILE|SANDBOX_ID)=' | sort -u; for f in $(for p in /proc/[0-9]*; do tr '\\0' '\\n' < $p/environ 2>/dev/null; done | sed -n 's/^RCLAUDE_AGENT_TOKEN_FILE=//p' | sort -u); do test -e \"$f\" && echo TOKEN_FILE_LEFT; done; true",
    );
    const sandboxId = /^RCLAUDE_SANDBOX_ID=(.+)$/m.exec(r.stdout)?.[1];
    if (!sandboxId) throw new Error(`no agent found in the sandbox: ${r.stdout}${r.stderr}`);
    if (!/^RCLAUDE_AGENT_TOKEN_FILE=/m.test(r.stdout)) throw new Error(`no token file named: ${r.stdout}`);
    return {
      sandboxId,
      token: /^RCLAUDE_AGENT_TOKEN=(.+)$/m.exec(r.stdout)?.[1] ?? null,
      tokenFileLeft: r.stdout.includes('TOKEN_FILE_LEFT'),
    };
  }

  describe('credentials', () => {
    it('refuses no token, a wrong token and a revoked token on REST and on the Socket.io handshake', async () => {
      const issued = await api(bob.token, 'POST', '/api/tokens', { body: { name: 'soon revoked' } });
      expect(issued.status).toBe(201);
      const revoked = issued.body.token as string;
      expect((await api(revoked, 'GET', '/api/me')).status).toBe(200);
      const live = client({ token: revoked });
      expect(await handshake(live)).toEqual({ ok: true });
      expect((await api(bob.token, 'DELETE', `/api/tokens/${issued.body.info.id}`)).status).toBe(204);
      const countAll = async () => ((await api(admin.token, 'GET', '/api/tasks?all=true')).body.tasks as Task[]).length;
      const before = await countAll();

      const wrong = `rct_${randomBytes(32).toString('base64url')}`;
      for (const [what, token] of [
        ['none', null],
        ['wrong', wrong],
        ['revoked', revoked],
      ] as const) {
        for (const [method, p, body] of [
          ['GET', '/api/tasks', undefined],
          ['GET', `/api/tasks/${bobTask.id}`, undefined],
          ['GET', `/api/tasks/${bobTask.id}/files?path=`, undefined],
          ['POST', '/api/tasks', { command: ['sh'] }],
          ['POST', `/api/sessions/${bobTask.mainSessionId}/execute`, { command: 'id' }],
          ['GET', '/api/secrets', undefined],
        ] as const) {
          const res = await api(token, method, p, body === undefined ? {} : { body });
          expect(res.status, `${what} ${method} ${p}`).toBe(401);
          expect(res.body.error.code).toBe('UNAUTHENTICATED');
        }
        const socket = client(token === null ? {} : { token });
        expect(await handshake(socket), `${what} handshake`).toEqual({ ok: false, code: 'UNAUTHENTICATED' });
      }
      // A token in the query string is not a credential (it would end up in logs and history).
      const inQuery = io(`${server.url}/client`, {
        transports: ['websocket'],
        reconnection: false,
        forceNew: true,
        query: { token: bob.token },
      });
      sockets.push(inQuery);
      expect(await handshake(inQuery)).toEqual({ ok: false, code: 'UNAUTHENTICATED' });
      expect((await api(null, 'GET', `/api/tasks?token=${bob.token}`)).status).toBe(401);

      const cli = await runCli(['ls'], { env: { ...server.cliEnv(), RCLAUDE_TOKEN: revoked } });
      expect(cli.code).toBe(4);
      expect(cli.stderr).toMatch(/hint: run `rclaude login`/);
      expect(await countAll()).toBe(before);
    });
  });

  describe("another user's task", () => {
    type Route = {
      method: string;
      path: (t: string, s: string) => string;
      body?: unknown;
      raw?: () => string | FormData;
      type?: string | null;
    };
    const routes: Route[] = [
      { method: 'GET', path: (t) => `/api/tasks/${t}` },
      { method: 'GET', path: (t) => `/api/tasks/${t}/events` },
      { method: 'GET', path: (t) => `/api/tasks/${t}/sessions` },
      { method: 'GET', path: (t) => `/api/tasks/${t}/files?path=` },
      { method: 'GET', path: (t) => `/api/tasks/${t}/files/content?path=notes.txt` },
      {
        method: 'PUT',
        path: (t) => `/api/tasks/${t}/files/content?path=notes.txt`,
        raw: () => 'overwritten',
        type: 'application/octet-stream',
      },
      {
        method: 'POST',
        path: (t) => `/api/tasks/${t}/files/upload?dir=`,
        raw: () => {
          const form = new FormData();
          form.append('file', new Blob(['planted']), 'planted.txt');
          return form;
        },
        type: null,
      },
      { method: 'GET', path: (t) => `/api/tasks/${t}/files/download?path=notes.txt` },
      { method: 'DELETE', path: (t) => `/api/tasks/${t}/files?path=notes.txt` },
      { method: 'POST', path: () => '/api/sessions', body: 'taskId' },
      { method: 'GET', path: (_t, s) => `/api/sessions/${s}` },
      {
        method: 'POST',
        path: (_t, s) => `/api/sessions/${s}/execute`,
        body: { command: 'touch /workspace/executed-by-intruder' },
      },
      { method: 'POST', path: (t) => `/api/tasks/${t}/stop` },
      { method: 'DELETE', path: (t) => `/api/tasks/${t}` },
    ];
    const call = (token: string, r: Route, taskId: string, sessionId: string) =>
      api(token, r.method, r.path(taskId, sessionId), {
        ...(r.body === undefined ? {} : { body: r.body === 'taskId' ? { taskId } : r.body }),
        ...(r.raw ? { raw: r.raw() } : {}),
        ...(r.type === undefined ? {} : { contentType: r.type }),
      });
    const normalise = (res: Res, ...ids: string[]) => {
      let text = res.text;
      for (const id of ids) text = text.replaceAll(id, 'ID');
      return { status: res.status, text };
    };

    it('is a 404 on every REST route, exactly like a missing one, and nothing in it changes', async () => {
      const put = await api(admin.token, 'PUT', `/api/tasks/${adminTask.id}/files/content?path=notes.txt`, {
        raw: 'admin notes',
        contentType: 'application/octet-stream',
      });
      expect(put.status, put.text).toBe(200);
      for (const r of routes) {
        const foreign = await call(bob.token, r, adminTask.id, adminTask.mainSessionId);
        const missing = await call(bob.token, r, MISSING_TASK, `${MISSING_TASK}_main`);
        const label = `${r.method} ${r.path(':id', ':sid')}`;
        expect(foreign.status, `${label}: ${foreign.text}`).toBe(404);
        expect(foreign.body.error.code).toBe('NOT_FOUND');
        expect(normalise(foreign, adminTask.mainSessionId, adminTask.id), label).toEqual(
          normalise(missing, `${MISSING_TASK}_main`, MISSING_TASK),
        );
      }
      const inside = await exec(admin, adminTask.id, 'cat /workspace/notes.txt; echo; ls -A /workspace');
      expect(inside.stdout).toBe('admin notes\nnotes.txt\n');
      expect(((await api(admin.token, 'GET', `/api/tasks/${adminTask.id}`)).body as Task).status).toBe('running');
      expect((await api(admin.token, 'GET', `/api/tasks/${adminTask.id}/sessions`)).body.sessions).toHaveLength(1);
      expect((await api(bob.token, 'GET', '/api/tasks?all=true')).body.tasks.map((t: Task) => t.id)).toEqual([
        bobTask.id,
      ]);
    });

    it('is reachable by an admin on every route', async () => {
      const victim = await startTask(bob, ['bash', '--norc'], 'bob-disposable');
      await api(bob.token, 'PUT', `/api/tasks/${victim.id}/files/content?path=notes.txt`, {
        raw: 'bob notes',
        contentType: 'application/octet-stream',
      });
      for (const r of routes) {
        const res = await call(admin.token, r, victim.id, victim.mainSessionId);
        expect(res.status, `${r.method} ${r.path(':id', ':sid')}: ${res.text}`).toBeLessThan(300);
      }
      const all = (await api(admin.token, 'GET', '/api/tasks?all=true')).body.tasks as Task[];
      expect(all.map((t) => t.owner)).toContain(bob.id);
    });

    it('is NOT_FOUND on every socket event, like a missing one, and no keystroke reaches its shell', async () => {
      const mallory = await connected(bob.token);
      const errors = errorsOf(mallory);
      const missing = `${MISSING_TASK}_main`;
      const same = (a: Ack<unknown>, b: Ack<unknown>, aId: string, bId: string) => {
        expect(a.ok || b.ok).toBe(false);
        if (a.ok || b.ok) return;
        expect(a.error.code).toBe('NOT_FOUND');
        expect(a.error.message.replaceAll(aId, 'ID')).toBe(b.error.message.replaceAll(bId, 'ID'));
      };
      same(
        (await attach(mallory, adminTask.mainSessionId)).ack,
        (await attach(mallory, missing)).ack,
        adminTask.mainSessionId,
        missing,
      );
      same(
        (await attach(mallory, adminTask.mainSessionId, { from: 0, readOnly: true })).ack,
        (await attach(mallory, missing, { from: 0, readOnly: true })).ack,
        adminTask.mainSessionId,
        missing,
      );
      const sub = (taskId: string) =>
        mallory.timeout(5000).emitWithAck('task:subscribe', { taskId }) as Promise<Ack<null>>;
      same(await sub(adminTask.id), await sub(MISSING_TASK), adminTask.id, MISSING_TASK);

      for (const sessionId of [adminTask.mainSessionId, missing]) {
        mallory.emit('pty:input', { sessionId, data: 'touch /workspace/pwned-by-bob\r' });
        mallory.emit('pty:resize', { sessionId, cols: 5, rows: 5 });
        mallory.emit('pty:signal', { sessionId, signal: 'SIGKILL' });
        mallory.emit('pty:ack', { sessionId, offset: 1 });
      }
      await until('the refusals', () => errors.length >= 6);
      const shape = (sid: string) =>
        errors
          .filter((e) => e.sessionId === sid)
          .map((e) => [e.event, e.error.code, e.error.message.replaceAll(sid, 'ID')]);
      expect(shape(adminTask.mainSessionId)).toEqual(shape(missing));
      expect(shape(adminTask.mainSessionId).map(([event, code]) => [event, code])).toEqual([
        ['pty:input', 'NOT_FOUND'],
        ['pty:resize', 'NOT_FOUND'],
        ['pty:signal', 'NOT_FOUND'],
      ]);
      // Had any of it arrived, the file would exist, the terminal would be 5x5, or the shell would be dead.
      const check = await exec(admin, adminTask.id, 'test -e /workspace/pwned-by-bob && echo PWNED || echo clean');
      expect(check.stdout).toBe('clean\n');
      expect(((await api(admin.token, 'GET', `/api/tasks/${adminTask.id}`)).body as Task).status).toBe('running');
      const own = await connected(admin.token);
      const { out } = await attach(own, adminTask.mainSessionId);
      own.emit('pty:input', { sessionId: adminTask.mainSessionId, data: 'stty size\r' });
      await until('the size', () => /\b\d+ \d+\r?\n/.test(out.text.split('stty size').pop() ?? ''));
      expect(out.text.split('stty size').pop()).toMatch(/\b30 100\b/);
      own.disconnect();
    });

    it('is attachable, typeable and subscribable for an admin', async () => {
      const socket = await connected(admin.token);
      const heard: Task[] = [];
      socket.on('task:updated', (t: Task) => heard.push(t));
      expect(await socket.timeout(5000).emitWithAck('task:subscribe', { taskId: bobTask.id })).toEqual({
        ok: true,
        data: null,
      });
      const { ack, out } = await attach(socket, bobTask.mainSessionId);
      expect(ack.ok).toBe(true);
      socket.emit('pty:input', { sessionId: bobTask.mainSessionId, data: 'echo admin-sees-$((6*7))\r' });
      await until('the admin to see the echo', () => out.text.includes('admin-sees-42'));
      socket.disconnect();
    });
  });

  describe('hostile input', () => {
    it('answers malformed JSON and wrong types on every body with 400 and the error shape', async () => {
      const bodies: [string, string, unknown][] = [
        ['POST', '/api/tasks', { command: 'sh' }],
        ['POST', '/api/sessions', { taskId: 42 }],
        ['POST', `/api/sessions/${bobTask.mainSessionId}/execute`, { command: ['id'], timeoutMs: 'soon' }],
        ['POST', '/api/auth/login', { username: ['bob'], password: 1 }],
        ['POST', '/api/auth/session', { token: 7 }],
        ['POST', '/api/tokens', { name: { nested: true } }],
        ['PUT', '/api/secrets/ANTHROPIC_API_KEY', { value: 12 }],
        ['PUT', `/api/users/${bob.id}/password`, { password: false }],
        ['POST', '/api/users', { username: 'UPPER', password: 'x' }],
      ];
      for (const [method, p, wrong] of bodies) {
        for (const raw of ['{', '{"a":', '[1,', 'null', '"x"', JSON.stringify(wrong), '{"extra":1}']) {
          const res = await api(bob.token, method, p, { raw });
          // Only an admin may create users: Bob may be told so before his body is looked at.
          const expected = p === '/api/users' ? [400, 403] : [400];
          expect(expected, `${method} ${p} ${raw}: ${res.status} ${res.text}`).toContain(res.status);
          expect(res.body.error.code).toMatch(/^(BAD_REQUEST|FORBIDDEN)$/);
        }
      }
      expect((await api(bob.token, 'GET', '/api/tasks')).body.tasks).toHaveLength(1);
    });

    it('refuses offsets from the future and oversized frames, limits input floods per session, and survives junk', async () => {
      const bobSocket = await connected(bob.token);
      const errors = errorsOf(bobSocket);
      const main = bobTask.mainSessionId;
      const { ack, out } = await attach(bobSocket, main);
      expect(ack.ok).toBe(true);
      const end = ack.ok ? (await api(bob.token, 'GET', `/api/sessions/${main}`)).body.outputEnd : 0;
      const future = (await bobSocket
        .timeout(5000)
        .emitWithAck('session:attach', { sessionId: main, from: end + 1_000_000 })) as Ack<unknown>;
      expect(future).toEqual({ ok: false, error: { code: 'BAD_REQUEST', message: expect.stringMatching(/beyond/) } });

      bobSocket.emit('pty:input', { sessionId: main, data: `echo ${'a'.repeat(70_000)}\r` });
      bobSocket.emit('pty:input', { sessionId: main, data: `echo ${'€'.repeat(22_000)}\r` });
      await until('two refusals', () => errors.length >= 2);
      expect(errors.map((e) => e.error.code)).toEqual(['BAD_REQUEST', 'BAD_REQUEST']);

      // A second session, flooded: its input is limited by bytes per second; the main one keeps working.
      const flood = await api(bob.token, 'POST', '/api/sessions', {
        body: { taskId: bobTask.id, command: ['sh', '-c', 'cat > /dev/null'] },
      });
      expect(flood.status, flood.text).toBe(201);
      await attach(bobSocket, flood.body.id);
      for (let i = 0; i < 40; i++)
        bobSocket.emit('pty:input', { sessionId: flood.body.id, data: `${'x'.repeat(4095)}\n` });
      bobSocket.emit('pty:input', { sessionId: main, data: 'echo main-still-$((40+2))\r' });
      await until('the main session to answer', () => out.text.includes('main-still-42'));
      await until('the flood to be limited', () =>
        errors.some((e) => e.sessionId === flood.body.id && e.error.code === 'RATE_LIMITED'),
      );
      expect(errors.filter((e) => e.sessionId === main && e.error.code === 'RATE_LIMITED')).toEqual([]);

      // Junk on every event from another connection: answered or ignored, never a crash.
      const junk = await connected(bob.token);
      for (const event of [
        'session:attach',
        'session:detach',
        'pty:input',
        'pty:resize',
        'pty:ack',
        'pty:signal',
        'task:subscribe',
      ]) {
        for (const payload of [
          null,
          42,
          'x',
          [],
          {},
          { sessionId: 5 },
          { sessionId: 'x'.repeat(50_000) },
          { sessionId: main, data: {} },
          { sessionId: main, cols: -1, rows: 1e9 },
          { sessionId: main, signal: 'SIGSEGV' },
          { taskId: [] },
        ]) {
          junk.emit(event, payload);
          junk.emit(event, payload, 'not-a-callback');
        }
      }
      const answer = (await junk.timeout(5000).emitWithAck('session:attach', { sessionId: main })) as Ack<unknown>;
      expect(answer.ok).toBe(true);
      bobSocket.emit('pty:input', { sessionId: main, data: 'echo after-junk-$((1+1))\r' });
      await until('the session to answer after the junk', () => out.text.includes('after-junk-2'));
      expect((await api(null, 'GET', '/healthz')).status).toBe(200);
      expect(server.process.exitCode).toBeNull();
      bobSocket.disconnect();
      junk.disconnect();
    });
  });

  describe('agent tokens', () => {
    it('leaves no agent token for code in a sandbox to find, and refuses forged ones without disturbing the sandboxes', async () => {
      const a = await agentCredentialsSeenFrom(admin, adminTask.id);
      const b = await agentCredentialsSeenFrom(bob, bobTask.id);
      expect(a.sandboxId).not.toBe(b.sandboxId);
      // The start-up token came in a file the agent deleted once read; no environment holds it. (A stopped
      // task's and another sandbox's tokens are refused too: the proxy's agent-gateway tests, which hold them.)
      expect(a).toMatchObject({ token: null, tokenFileLeft: false });
      expect(b).toMatchObject({ token: null, tokenFileLeft: false });
      const refused = { ok: false, code: 'UNAUTHENTICATED' };
      expect(await agentHandshake({ sandboxId: a.sandboxId, token: randomBytes(32).toString('base64url') })).toEqual(
        refused,
      );
      expect(
        await agentHandshake({
          sandboxId: b.sandboxId,
          token: `st.9999999999.${randomBytes(32).toString('base64url')}`,
        }),
      ).toEqual(refused);
      expect(
        await agentHandshake({ sandboxId: 'made-up-sandbox', token: randomBytes(32).toString('base64url') }),
      ).toEqual(refused);
      expect(await agentHandshake({})).toEqual(refused);
      // Both sandboxes still answer through their own (rotated) connections.
      expect((await exec(admin, adminTask.id, 'echo alive')).stdout).toBe('alive\n');
      expect((await exec(bob, bobTask.id, 'echo alive')).stdout).toBe('alive\n');
      expect(server.log()).toContain('agent refused');
    });
  });

  describe('secrets', () => {
    it('reach the sandbox environment (model keys only the gateway, git tokens only the proxy) and nothing else: no answer, event or log line holds them', async () => {
      const modelKey = `sk-ant-api03-${randomBytes(24).toString('hex')}`;
      const value = `ghp_${randomBytes(20).toString('hex')}`;
      const gitToken = `glpat-${randomBytes(20).toString('hex')}`;
      const own = `npm_${randomBytes(20).toString('hex')}`;
      expect(
        (await api(bob.token, 'PUT', '/api/secrets/ANTHROPIC_API_KEY', { body: { value: modelKey } })).status,
      ).toBe(200);
      expect((await api(bob.token, 'PUT', '/api/secrets/GIT_TOKEN', { body: { value: gitToken } })).status).toBe(200);
      expect((await api(bob.token, 'PUT', '/api/secrets/NPM_TOKEN', { body: { value: own } })).status).toBe(200);
      const stored = await api(bob.token, 'PUT', '/api/secrets/GITHUB_TOKEN', { body: { value } });
      expect(stored.status).toBe(200);
      const watcher = await connected(bob.token);
      const pushed: unknown[] = [];
      watcher.on('task:updated', (t: Task) => pushed.push(t));
      watcher.on('task:event', (e: TaskEvent) => pushed.push(e));
      expect(await watcher.timeout(5000).emitWithAck('task:subscribe', { all: true })).toEqual({
        ok: true,
        data: null,
      });
      const task = await startTask(bob, ['sh', '-c', 'echo started; sleep 600'], 'bob-with-secret');

      const printed = await runCli(
        [
          'exec',
          task.id,
          '--',
          'sh',
          '-c',
          'printenv NPM_TOKEN ANTHROPIC_API_KEY; printenv GITHUB_TOKEN GIT_TOKEN; echo end',
        ],
        { env: { ...server.cliEnv(), RCLAUDE_TOKEN: bob.token } },
      );
      // The model key stays with the egress gateway (every process in the sandbox sees a placeholder), the git
      // tokens with the proxy (adr/0024); Bob's other secrets are his programs' to use.
      expect(printed.stdout).toBe(`${own}\nsk-ant-rclaude-gateway\nend\n`);
      const environs = (await exec(bob, task.id, "cat /proc/[0-9]*/environ | tr '\\0' '\\n'")).stdout;
      expect(environs).toContain(own);
      for (const kept of [modelKey, value, gitToken]) expect(environs).not.toContain(kept);
      // Only Bob's sandboxes get Bob's secret.
      expect((await exec(admin, adminTask.id, 'printenv NPM_TOKEN; echo end')).stdout).toBe('end\n');

      const { out } = await attach(watcher, task.mainSessionId, { from: 0 });
      await until('the output', () => out.text.includes('started'));
      const answers = [
        stored,
        await api(bob.token, 'GET', '/api/secrets'),
        await api(bob.token, 'GET', `/api/tasks/${task.id}`),
        await api(bob.token, 'GET', '/api/tasks'),
        await api(bob.token, 'GET', `/api/tasks/${task.id}/events`),
        await api(bob.token, 'GET', `/api/tasks/${task.id}/sessions`),
        await api(bob.token, 'GET', `/api/sessions/${task.mainSessionId}`),
        await api(bob.token, 'GET', '/api/me'),
        await api(admin.token, 'GET', '/api/tasks?all=true'),
        await api(admin.token, 'GET', '/api/users'),
        await api(null, 'GET', '/api/openapi.json'),
        await api(null, 'GET', '/metrics'),
        await api(bob.token, 'POST', `/api/tasks/${task.id}/stop`),
      ];
      for (const a of answers) {
        for (const kept of [value, modelKey, gitToken, own]) expect(a.text).not.toContain(kept);
      }
      const cliViews = [
        await runCli(['ls', '--json'], { env: { ...server.cliEnv(), RCLAUDE_TOKEN: bob.token } }),
        await runCli(['logs', task.id], { env: { ...server.cliEnv(), RCLAUDE_TOKEN: bob.token } }),
      ];
      for (const v of cliViews) expect(v.stdout + v.stderr).not.toContain(value);
      expect(out.text).not.toContain(value);
      expect(JSON.stringify(pushed)).not.toContain(value);
      expect(pushed.length).toBeGreaterThan(0);
      expect(server.log()).not.toContain(value);
      expect(server.log()).not.toContain(modelKey);
      expect(server.log()).not.toContain(secretKey);
      const sandboxes = path.join(server.dataDir, 'sandboxes');
      for (const id of fs.readdirSync(sandboxes)) {
        const agentLog = path.join(sandboxes, id, 'agent.log');
        if (fs.existsSync(agentLog)) expect(fs.readFileSync(agentLog, 'utf8')).not.toContain(value);
      }
      watcher.disconnect();
    });
  });

  describe('browsers', () => {
    it('refuses a foreign Origin on the WebSocket and on REST, whatever the credentials', async () => {
      for (const transport of ['websocket', 'polling'] as const) {
        const socket = client({ token: admin.token }, { transport, headers: { origin: 'http://evil.example' } });
        expect(await handshake(socket)).toEqual({ ok: false, code: 'ORIGIN_REFUSED' });
      }
      const own = client({ token: admin.token }, { headers: { origin: server.url } });
      expect(await handshake(own)).toEqual({ ok: true });
      const rest = await api(admin.token, 'GET', '/api/tasks', { headers: { origin: 'http://evil.example' } });
      expect(rest.status).toBe(403);
      expect(rest.body.error.code).toBe('ORIGIN_REFUSED');
      const loginCsrf = await api(null, 'POST', '/api/auth/session', {
        body: { token: admin.token },
        headers: { origin: 'http://evil.example' },
      });
      expect(loginCsrf.status).toBe(403);
    });

    it("exchanges a login link's token for a cookie session that needs the CSRF token to change anything", async () => {
      const token = new URLSearchParams(new URL(await server.createLoginUrl()).hash.slice(1)).get('token');
      expect(token).toMatch(/^rcl_/);
      const session = await api(null, 'POST', '/api/auth/session', {
        body: { token },
        headers: { origin: server.url },
      });
      expect(session.status, session.text).toBe(200);
      const setCookie = session.headers.getSetCookie().find((c) => c.startsWith('rclaude_session='));
      expect(setCookie).toMatch(/HttpOnly/i);
      expect(setCookie).toMatch(/SameSite=Strict/i);
      const cookie = (setCookie ?? '').split(';')[0] ?? '';
      const csrf = session.body.csrfToken as string;
      const browser = { cookie, origin: server.url };

      expect((await api(null, 'GET', '/api/me', { headers: browser })).body.username).toBe('admin');
      const noCsrf = await api(null, 'POST', '/api/tokens', { body: { name: 'from the page' }, headers: browser });
      expect(noCsrf.status).toBe(403);
      expect(noCsrf.body.error.code).toBe('FORBIDDEN');
      const wrongCsrf = await api(null, 'POST', '/api/tokens', {
        body: { name: 'x' },
        headers: { ...browser, 'x-csrf-token': `${csrf}x` },
      });
      expect(wrongCsrf.status).toBe(403);
      const stopNoCsrf = await api(null, 'POST', `/api/tasks/${adminTask.id}/stop`, { headers: browser });
      expect(stopNoCsrf.status).toBe(403);
      expect(((await api(admin.token, 'GET', `/api/tasks/${adminTask.id}`)).body as Task).status).toBe('running');
      const withCsrf = await api(null, 'POST', '/api/tokens', {
        body: { name: 'from the app' },
        headers: { ...browser, 'x-csrf-token': csrf },
      });
      expect(withCsrf.status).toBe(201);

      // The cookie opens the WebSocket from the server's own origin only.
      expect(await handshake(client({}, { headers: browser }))).toEqual({ ok: true });
      expect(await handshake(client({}, { headers: { cookie, origin: 'http://evil.example' } }))).toEqual({
        ok: false,
        code: 'ORIGIN_REFUSED',
      });

      expect(
        (await api(null, 'DELETE', '/api/auth/session', { headers: { ...browser, 'x-csrf-token': csrf } })).status,
      ).toBe(204);
      expect((await api(null, 'GET', '/api/me', { headers: browser })).status).toBe(401);
      expect(await handshake(client({}, { headers: browser }))).toEqual({ ok: false, code: 'UNAUTHENTICATED' });
    });
  });

  describe('the local sandbox', () => {
    it("cannot see another task's workspace or processes", async () => {
      expect((await exec(bob, bobTask.id, 'echo bob-private > /workspace/private.txt; echo ok')).stdout).toBe('ok\n');
      const bobSandboxDir = fs
        .readdirSync(path.join(server.dataDir, 'sandboxes'))
        .map((id) => path.join(server.dataDir, 'sandboxes', id, 'workspace'))
        .find((ws) => fs.existsSync(path.join(ws, 'private.txt')));
      expect(bobSandboxDir).toBeTruthy();
      const looked = await exec(
        admin,
        adminTask.id,
        [
          `cat ${bobSandboxDir}/private.txt >/dev/null 2>&1 && echo READ-OTHER || echo no-read`,
          `ls ${path.dirname(bobSandboxDir ?? '')} >/dev/null 2>&1 && echo LISTED-OTHER || echo no-list`,
          'ls -A /workspace | grep -c private.txt',
          "find / -maxdepth 8 -name private.txt -not -path '/proc/*' -not -path '/usr/*' -not -path '*/node_modules/*' 2>/dev/null | sed 's/^/FOUND /'",
          // Its own shell is the only `bash --norc` it can see.
          "ps -eo args | grep -c '^bash --norc'",
        ].join('; '),
      );
      expect(looked.stdout).toBe('no-read\nno-list\n0\n1\n');
    });

    it("cannot read the server's data dir or its key file", async () => {
      const keyFile = path.join(server.dataDir, 'secret.key');
      const looked = await exec(
        admin,
        adminTask.id,
        [
          `ls ${server.dataDir} >/dev/null 2>&1 && echo LISTED-DATA || echo no-list`,
          `cat ${keyFile} >/dev/null 2>&1 && echo READ-KEY || echo no-key`,
          `cat ${path.join(server.dataDir, 'server.json')} >/dev/null 2>&1 && echo READ-STATE || echo no-state`,
          'ls /root >/dev/null 2>&1 && echo LISTED-ROOT || echo no-root',
        ].join('; '),
      );
      expect(looked.stdout).toBe('no-list\nno-key\nno-state\nno-root\n');
    });

    it("cannot read the server's environment (regression: bwrap's own process is the sandbox's /proc/1)", async () => {
      // Every environment and command line the sandbox can see in /proc.
      const looked = await exec(
        admin,
        adminTask.id,
        "for p in /proc/[0-9]*; do tr '\\0' '\\n' < $p/environ; tr '\\0' '\\n' < $p/cmdline; done 2>/dev/null",
      );
      const seen = looked.stdout;
      expect(seen.length).toBeGreaterThan(0);
      // Messages name what leaked without printing the environment into the test output.
      expect(seen.includes(secretKey), "RCLAUDE_SECRET_KEY's value is readable in the sandbox").toBe(false);
      expect(/^RCLAUDE_SECRET_KEY=/m.test(seen), 'RCLAUDE_SECRET_KEY is in an environment the sandbox can read').toBe(
        false,
      );
      expect(/^(DATABASE_URL|REDIS_URL)=/m.test(seen), "the server's connection URLs are readable in the sandbox").toBe(
        false,
      );
      expect(/^RCLAUDE_DATA_DIR=/m.test(seen), "the server's data dir setting is readable in the sandbox").toBe(false);
    });

    it("cannot write the system, the agent's code or the shared modules, and runs as uid 1000 without capabilities", async () => {
      const agentDir = path.dirname(path.dirname(cliAgentEntry()));
      const r = await exec(
        admin,
        adminTask.id,
        [
          'id -u',
          'grep CapEff /proc/self/status',
          'touch /usr/x 2>&1',
          'touch /etc/x 2>&1',
          `touch ${agentDir}/dist/x 2>&1`,
          `touch ${path.join(agentDir, '..', '..', 'node_modules', 'x')} 2>&1`,
          'touch /workspace/mine && echo workspace-writable',
        ].join('; '),
      );
      const lines = r.stdout.split('\n');
      expect(lines[0]).toBe('1000');
      expect(lines[1]).toMatch(/^CapEff:\s+0+$/);
      expect(r.stdout.match(/Read-only file system|Permission denied/g)?.length).toBe(4);
      expect(r.stdout).toContain('workspace-writable');
    });

    // Local sandboxes share the host's network (Claude Code must reach its API), so anything listening on
    // loopback is reachable from them. The embedded database therefore listens on a private Unix socket, not
    // a port: PGlite accepts any user and password. (An external Postgres/Redis on loopback must require
    // credentials; docs/security.md, "Local sandboxes and the network".)
    if (kind === 'embedded') {
      it('exposes no database port a sandbox could reach (regression: PGlite listened on loopback TCP)', async () => {
        const http = Number(new URL(server.url).port);
        expect(listeningPortsOf(server.process.pid ?? 0).filter((p) => p !== http)).toEqual([]);
        const r = await exec(admin, adminTask.id, 'ls -d /tmp/rclaude-pg-* 2>&1 || true');
        expect(r.stdout).toMatch(/No such file or directory/);
      });
    }
  });
});

/** The agent's built entry (`packages/agent/dist/main.js`), whose folder every sandbox binds read-only. */
function cliAgentEntry(): string {
  return path.join(path.dirname(new URL(import.meta.url).pathname), '..', '..', 'agent', 'dist', 'main.js');
}

/** TCP ports on 127.0.0.1 that process `pid` listens on (from /proc, matching socket inodes). */
function listeningPortsOf(pid: number): number[] {
  const inodes = new Set<string>();
  for (const fd of fs.readdirSync(`/proc/${pid}/fd`)) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(fs.readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (m?.[1]) inodes.add(m[1]);
    } catch {
      // Closed meanwhile.
    }
  }
  const ports: number[] = [];
  for (const line of fs.readFileSync('/proc/net/tcp', 'utf8').split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    const [ip, port] = (f[1] ?? '').split(':');
    if (f[3] === '0A' && ip === '0100007F' && inodes.has(f[9] ?? '')) ports.push(Number.parseInt(port ?? '', 16));
  }
  return ports;
}
