/**
 * Stream guarantees end to end, through real processes (`rclaude server`, the agent in a local sandbox,
 * socket.io-client and the CLI), on both back ends: embedded (PGlite, in-process stores) and Postgres +
 * Redis. Nothing lost, nothing doubled across client drops; several viewers, read-only ones refused;
 * `rclaude logs [-f]`; bad socket input refused without harming another session.
 */
import { randomBytes } from 'node:crypto';
import {
  type Ack,
  type AttachResult,
  type ClientToServerEvents,
  type ErrorInfo,
  type ExitInfo,
  isTerminal,
  OffsetAssembler,
  type ServerToClientEvents,
  type SessionInfo,
  type Task,
} from '@rclaude/protocol';
import { type RclaudeServer, runCli, startRclaudeServer, until } from '@rclaude/testkit';
import { Redis } from 'ioredis';
import pg from 'pg';
import { io, type Socket } from 'socket.io-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

type ClientSocket = Socket<ServerToClientEvents, ClientToServerEvents>;
type SessionError = { sessionId: string | null; event: string; error: ErrorInfo };

const DATABASE_URL = process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

interface Backend {
  server: RclaudeServer;
  stop(): Promise<void>;
}

/** A server on embedded storage, or on the machine's Postgres and Redis under a unique schema and key prefix. */
async function startBackend(kind: 'embedded' | 'postgres+redis'): Promise<Backend> {
  const env = { AGENT_RECONNECT_GRACE_MS: '5000' };
  if (kind === 'embedded') {
    const server = await startRclaudeServer({ env, timeoutMs: 90_000 });
    return { server, stop: () => server.stop() };
  }
  const suffix = randomBytes(6).toString('hex');
  const schema = `t_streams_${suffix}`;
  const prefix = `rclaude-test:streams-${suffix}`;
  const cleanup = async () => {
    const client = new pg.Client({ connectionString: DATABASE_URL });
    await client.connect();
    await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`).finally(() => client.end());
    const redis = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 });
    try {
      let cursor = '0';
      do {
        const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 500);
        if (keys.length > 0) await redis.del(...keys);
        cursor = next;
      } while (cursor !== '0');
    } finally {
      redis.disconnect();
    }
  };
  try {
    const server = await startRclaudeServer({
      env: {
        ...env,
        DATABASE_URL,
        RCLAUDE_DATABASE_SCHEMA: schema,
        REDIS_URL,
        RCLAUDE_REDIS_PREFIX: prefix,
      },
      timeoutMs: 90_000,
    });
    return {
      server,
      async stop() {
        await server.stop();
        await cleanup();
      },
    };
  } catch (err) {
    await cleanup();
    throw err;
  }
}

function createTask(server: RclaudeServer, name: string, command: string[]): Promise<Task> {
  return server.requestOk<Task>('POST', '/api/tasks', { body: { name, command } });
}

function sessionInfo(server: RclaudeServer, sessionId: string): Promise<SessionInfo> {
  return server.requestOk<SessionInfo>('GET', `/api/sessions/${sessionId}`);
}

async function waitRunning(server: RclaudeServer, task: Task): Promise<void> {
  await until(`task ${task.id} to run`, async () => {
    const s = await sessionInfo(server, task.mainSessionId);
    return s.status === 'running';
  });
}

async function waitEnded(server: RclaudeServer, taskId: string, timeoutMs = 60_000): Promise<Task> {
  return until(
    `task ${taskId} to end`,
    async () => {
      const t = await server.requestOk<Task>('GET', `/api/tasks/${taskId}`);
      return isTerminal(t.status) ? t : null;
    },
    timeoutMs,
  );
}

function connect(server: RclaudeServer): ClientSocket {
  return io(`${server.url}/client`, {
    transports: ['websocket'],
    auth: { token: server.token },
    reconnectionDelay: 100,
    reconnectionDelayMax: 500,
    forceNew: true,
  });
}

/** The socket without its event typing, to send what a well-typed client never would. */
function untyped(socket: ClientSocket): { emit(event: string, ...args: unknown[]): unknown } {
  return socket as unknown as { emit(event: string, ...args: unknown[]): unknown };
}

/** Emits and waits for the acknowledgement. */
function request<T>(socket: ClientSocket, event: string, payload: unknown): Promise<Ack<T>> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no acknowledgement of ${event}`)), 15_000);
    untyped(socket).emit(event, payload, (res: Ack<T>) => {
      clearTimeout(timer);
      resolve(res);
    });
  });
}

/**
 * A client attached to one session the way the CLI attaches: from an offset, re-attaching from
 * `OffsetAssembler.next` after every reconnect, acknowledging what it has taken. Everything that would
 * break "nothing lost, nothing doubled" (a gap, a re-attach starting elsewhere, a refused attach) is
 * recorded in `problems`.
 */
class Viewer {
  readonly socket: ClientSocket;
  assembler: OffsetAssembler | null = null;
  readonly errors: SessionError[] = [];
  readonly problems: string[] = [];
  exit: ExitInfo | null = null;
  screen: string | null = null;
  connects = 0;
  attaches = 0;
  private readonly parts: Buffer[] = [];
  private readonly outputListeners: (() => void)[] = [];

  constructor(
    server: RclaudeServer,
    readonly sessionId: string,
    private readonly opts: { readOnly?: boolean; from?: number | 'screen' } = {},
  ) {
    this.socket = connect(server);
    this.socket.on('connect', () => {
      this.connects++;
      this.attach();
    });
    this.socket.on('pty:output', (sessionId, offset, data) => {
      if (sessionId !== this.sessionId) return;
      if (!this.assembler) {
        this.problems.push(`output at ${offset} before the attach was acknowledged`);
        return;
      }
      const fresh = this.assembler.accept(offset, new Uint8Array(data));
      if (fresh === 'gap') {
        this.problems.push(`gap: expected ${this.assembler.next}, got ${offset}`);
        return;
      }
      if (fresh.byteLength > 0) this.parts.push(Buffer.from(fresh));
      this.socket.emit('pty:ack', { sessionId, offset: this.assembler.next });
      for (const l of this.outputListeners) l();
    });
    this.socket.on('pty:exit', (info) => {
      if (info.sessionId === this.sessionId) this.exit = info;
    });
    this.socket.on('session:error', (info) => {
      this.errors.push(info);
    });
  }

  private attach(): void {
    const from = this.assembler ? this.assembler.next : (this.opts.from ?? 0);
    untyped(this.socket).emit(
      'session:attach',
      { sessionId: this.sessionId, from, readOnly: this.opts.readOnly === true },
      (res: Ack<AttachResult>) => {
        if (!res.ok) {
          this.problems.push(`attach from ${from} refused: ${res.error.code} ${res.error.message}`);
          return;
        }
        this.attaches++;
        if (typeof from === 'number' && res.data.from !== from) {
          this.problems.push(`attach from ${from} started at ${res.data.from}`);
        }
        if (res.data.screen) this.screen = res.data.screen.data;
        this.assembler ??= new OffsetAssembler(res.data.from);
      },
    );
  }

  /** Calls `fn` after each chunk of fresh output. */
  onOutput(fn: () => void): void {
    this.outputListeners.push(fn);
  }

  text(): string {
    return Buffer.concat(this.parts).toString('utf8');
  }

  /** Everything this viewer has seen: the screen it attached to, then the output. */
  seen(): string {
    return (this.screen ?? '') + this.text();
  }

  /** Forces the transport shut, as a network drop would; the client reconnects by itself. */
  drop(): void {
    this.socket.io.engine.close();
  }

  /** Resolves once every byte up to the session's exit has been taken. */
  complete(timeoutMs = 90_000): Promise<void> {
    return until(
      `session ${this.sessionId} output to complete`,
      () => this.exit !== null && this.assembler !== null && this.assembler.next >= this.exit.endOffset,
      timeoutMs,
    ).then(() => undefined);
  }

  close(): void {
    this.socket.disconnect();
  }
}

/** The PTY turns `\n` into `\r\n`. */
function ptyLines(lines: string[]): string {
  return lines.map((l) => `${l}\r\n`).join('');
}

function numbered(prefix: string, n: number): string[] {
  return Array.from({ length: n }, (_, i) => `${prefix}${i + 1}`);
}

describe.each(['embedded', 'postgres+redis'] as const)('streams (%s)', (kind) => {
  let backend: Backend;
  let server: RclaudeServer;

  beforeAll(async () => {
    backend = await startBackend(kind);
    server = backend.server;
  }, 120_000);

  afterAll(async () => {
    if (process.env.RCLAUDE_TEST_LOG && server) {
      const { writeFileSync } = await import('node:fs');
      writeFileSync(`${process.env.RCLAUDE_TEST_LOG}.${kind}`, server.log());
    }
    await backend?.stop();
  });

  it('a client whose connection drops again and again while a task streams gets every line once, in order', async () => {
    const n = 50_000;
    // Pauses now and then keep the program producing while the client drops and comes back.
    const script = `for ((i=1;i<=${n};i++)); do printf 'line %d ........................\\n' $i; if ((i%2000==0)); then sleep 0.2; fi; done`;
    const task = await createTask(server, 'drops', ['bash', '-c', script]);
    const expected = ptyLines(Array.from({ length: n }, (_, i) => `line ${i + 1} ........................`));
    const total = Buffer.byteLength(expected);

    const viewer = new Viewer(server, task.mainSessionId, { from: 0 });
    const marks = [0.08, 0.2, 0.35, 0.5, 0.65, 0.8].map((f) => Math.floor(total * f));
    let dropsWhileStreaming = 0;
    viewer.onOutput(() => {
      const next = viewer.assembler?.next ?? 0;
      if (marks.length > 0 && next >= (marks[0] ?? 0) && viewer.socket.connected) {
        marks.shift();
        if (viewer.exit === null) dropsWhileStreaming++;
        viewer.drop();
      }
    });
    try {
      await viewer.complete(150_000);
      expect(viewer.problems).toEqual([]);
      expect(marks).toEqual([]);
      expect(viewer.connects).toBeGreaterThanOrEqual(7);
      expect(viewer.attaches).toBe(viewer.connects);
      // Most drops hit while the program was still printing (the exit had not reached this client).
      expect(dropsWhileStreaming).toBeGreaterThanOrEqual(3);
      const text = viewer.text();
      expect(Buffer.byteLength(text)).toBe(total);
      expect(text === expected).toBe(true);
      expect(viewer.exit?.exitCode).toBe(0);
      expect(viewer.exit?.endOffset).toBe(total);
    } finally {
      viewer.close();
    }
  }, 180_000);

  it('serves several viewers of one session; read-only ones cannot type, resize or signal, normal ones can', async () => {
    const script = `while IFS= read -r l; do echo "got:$l"; done; echo bye`;
    const task = await createTask(server, 'viewers', ['bash', '-c', script]);
    await waitRunning(server, task);
    const sid = task.mainSessionId;
    const a = new Viewer(server, sid, { from: 0 });
    const b = new Viewer(server, sid, { from: 0 });
    const ro = new Viewer(server, sid, { from: 0, readOnly: true });
    const all = [a, b, ro];
    let cli: ReturnType<typeof runCli> | null = null;
    try {
      await until('three attachments', () => all.every((v) => v.attaches === 1));
      expect((await sessionInfo(server, sid)).clients).toBe(3);

      untyped(ro.socket).emit('pty:input', { sessionId: sid, data: 'ro-secret\r' });
      untyped(ro.socket).emit('pty:resize', { sessionId: sid, cols: 33, rows: 11 });
      untyped(ro.socket).emit('pty:signal', { sessionId: sid, signal: 'SIGINT' });
      await until('three refusals', () => ro.errors.length >= 3);
      expect(ro.errors.map((e) => [e.event, e.sessionId, e.error.code])).toEqual([
        ['pty:input', sid, 'READ_ONLY'],
        ['pty:resize', sid, 'READ_ONLY'],
        ['pty:signal', sid, 'READ_ONLY'],
      ]);

      a.socket.emit('pty:input', { sessionId: sid, data: 'from-a\r' });
      await until('every viewer to see a’s line', () => all.every((v) => v.text().includes('got:from-a')));
      b.socket.emit('pty:input', { sessionId: sid, data: 'from-b\r' });
      await until('every viewer to see b’s line', () => all.every((v) => v.text().includes('got:from-b')));

      // The CLI as a read-only viewer: what it is given on stdin never reaches the program.
      cli = runCli(['attach', '--read-only', task.id], {
        env: server.cliEnv(),
        input: 'cli-secret\n',
        timeoutMs: 60_000,
      });
      await until('the CLI to attach', async () => (await sessionInfo(server, sid)).clients === 4);
      a.socket.emit('pty:input', { sessionId: sid, data: 'from-a-again\r' });
      await until('every viewer to see the last line', () => all.every((v) => v.text().includes('got:from-a-again')));
      // End of input: the loop ends and the program exits 0.
      a.socket.emit('pty:input', { sessionId: sid, data: '\x04' });
      for (const v of all) await v.complete();
      const out = await cli;
      expect(out.code).toBe(0);
      expect(out.stdout).toContain('got:from-a-again');
      expect(out.stdout).toContain('bye');

      expect(a.text()).toBe(b.text());
      expect(ro.text()).toBe(a.text());
      for (const v of all) {
        expect(v.problems).toEqual([]);
        expect(v.text()).toMatch(/got:from-a\r\n[\s\S]*got:from-b\r\n[\s\S]*got:from-a-again\r\n[\s\S]*bye\r\n/);
      }
      for (const text of [a.text(), out.stdout]) {
        expect(text).not.toContain('ro-secret');
        expect(text).not.toContain('cli-secret');
      }
      expect(a.errors).toEqual([]);
      expect(b.errors).toEqual([]);
      expect((await waitEnded(server, task.id)).status).toBe('succeeded');
    } finally {
      for (const v of all) v.close();
      await cli?.catch(() => undefined);
    }
  }, 120_000);

  it('`rclaude logs ID` prints the whole output of a finished task, every line once, in order', async () => {
    const n = 40_000;
    const task = await createTask(server, 'logs', ['seq', '-f', 'log-line %.0f', '1', String(n)]);
    const ended = await waitEnded(server, task.id);
    expect(ended.status).toBe('succeeded');
    const expected = ptyLines(numbered('log-line ', n));
    const out = await runCli(['logs', task.id], { env: server.cliEnv() });
    expect(out.stderr).toBe('');
    expect(out.code).toBe(0);
    expect(out.stdout.length).toBe(expected.length);
    expect(out.stdout === expected).toBe(true);
  }, 120_000);

  it('`rclaude logs -f ID` streams a running task until it ends, then exits 0', async () => {
    const n = 20_000;
    const script = `while [ ! -e /workspace/go ]; do sleep 0.05; done; for ((i=1;i<=${n};i++)); do echo "follow-line $i"; if ((i%4000==0)); then sleep 0.2; fi; done`;
    const task = await createTask(server, 'follow', ['bash', '-c', script]);
    await waitRunning(server, task);
    const follow = runCli(['logs', '-f', task.id], { env: server.cliEnv(), timeoutMs: 90_000 });
    await until('logs -f to attach', async () => (await sessionInfo(server, task.mainSessionId)).clients === 1);
    // Only now does the program print: logs -f was following before the first line existed.
    await server.requestOk('POST', `/api/sessions/${task.mainSessionId}/execute`, {
      body: { command: ['touch', '/workspace/go'] },
    });
    const out = await follow;
    expect(out.stderr).toBe('');
    expect(out.code).toBe(0);
    expect(out.stdout === ptyLines(numbered('follow-line ', n))).toBe(true);
    expect((await waitEnded(server, task.id)).status).toBe('succeeded');
  }, 120_000);

  it('`rclaude logs -f ID` ends with exit 0 when the task is stopped', async () => {
    const task = await createTask(server, 'follow-stop', ['bash', '-c', 'echo started; exec sleep 600']);
    await waitRunning(server, task);
    const follow = runCli(['logs', '-f', task.id], { env: server.cliEnv(), timeoutMs: 60_000 });
    await until('logs -f to attach', async () => (await sessionInfo(server, task.mainSessionId)).clients === 1);
    await server.requestOk('POST', `/api/tasks/${task.id}/stop`);
    const out = await follow;
    expect(out.code).toBe(0);
    expect(out.stdout).toBe('started\r\n');
  }, 90_000);

  it('refuses offsets from the future and malformed payloads on every client event, and keeps serving another session', async () => {
    // A healthy session on its own connection, driven before, during and after the bad input.
    const echo = (tag: string) => ['bash', '-c', `while IFS= read -r l; do echo "${tag}:$l"; done`];
    const healthy = await createTask(server, 'healthy', echo('ok'));
    const target = await createTask(server, 'target', echo('target'));
    await waitRunning(server, healthy);
    await waitRunning(server, target);
    const sid = target.mainSessionId;
    const good = new Viewer(server, healthy.mainSessionId, { from: 0 });
    const bad = connect(server);
    const errors: SessionError[] = [];
    bad.on('session:error', (e) => errors.push(e));
    let check: Viewer | null = null;
    try {
      await until('the healthy viewer to attach', () => good.attaches === 1);
      good.socket.emit('pty:input', { sessionId: healthy.mainSessionId, data: 'before\r' });
      await until('the healthy echo', () => good.text().includes('ok:before'));
      await until('the bad client to connect', () => bad.connected);
      const { outputEnd } = await sessionInfo(server, sid);

      // Offsets from the future.
      for (const from of [outputEnd + 1, outputEnd + 1_000_000, Number.MAX_SAFE_INTEGER]) {
        const res = await request<AttachResult>(bad, 'session:attach', { sessionId: sid, from });
        expect(res.ok ? 'ok' : res.error.code).toBe('BAD_REQUEST');
      }
      // Malformed session:attach payloads: an error acknowledgement each.
      const badAttaches: unknown[] = [
        undefined,
        null,
        42,
        'x',
        [sid],
        {},
        { sessionId: 'NOT A SESSION' },
        { sessionId: sid, from: -1 },
        { sessionId: sid, from: 1.5 },
        { sessionId: sid, from: 'start' },
        { sessionId: sid, readOnly: 'yes' },
        { sessionId: sid, cols: 0, rows: 10 },
        { sessionId: sid, cols: 80, rows: 100_000 },
        { sessionId: sid, extra: true },
      ];
      for (const payload of badAttaches) {
        const res = await request<AttachResult>(bad, 'session:attach', payload);
        expect(res.ok ? 'ok' : res.error.code, JSON.stringify(payload)).toBe('BAD_REQUEST');
      }
      const unknown = await request<AttachResult>(bad, 'session:attach', { sessionId: 'zzzzzzzz_main' });
      expect(unknown.ok ? 'ok' : unknown.error.code).toBe('NOT_FOUND');
      // Malformed task:subscribe payloads: an error acknowledgement each.
      for (const payload of [undefined, null, {}, { taskId: 5 }, { all: false }, { taskId: 'x', all: true }]) {
        const res = await request<null>(bad, 'task:subscribe', payload);
        expect(res.ok ? 'ok' : res.error.code, JSON.stringify(payload)).toBe('BAD_REQUEST');
      }
      // An attach without an acknowledgement callback is ignored, not a crash.
      untyped(bad).emit('session:attach', { sessionId: sid, from: 0 });

      // Events without an acknowledgement: a session:error each, naming the event.
      const badEvents: [string, unknown][] = [
        ['pty:input', null],
        ['pty:input', { sessionId: sid }],
        ['pty:input', { sessionId: sid, data: 42 }],
        ['pty:input', { sessionId: sid, data: 'x'.repeat(64 * 1024 + 1) }],
        ['pty:input', { sessionId: sid, data: 'x', extra: 1 }],
        ['pty:resize', 'x'],
        ['pty:resize', { sessionId: sid, cols: 0, rows: 10 }],
        ['pty:resize', { sessionId: sid, cols: 80.5, rows: 10 }],
        ['pty:signal', { sessionId: sid, signal: 'SIGSEGV' }],
        ['pty:signal', { sessionId: sid }],
        // Well-formed, for a session this client is not attached to: they must not reach it.
        ['pty:input', { sessionId: sid, data: 'not-attached\r' }],
        ['pty:resize', { sessionId: sid, cols: 80, rows: 24 }],
        ['pty:signal', { sessionId: sid, signal: 'SIGKILL' }],
      ];
      for (const [event, payload] of badEvents) untyped(bad).emit(event, payload);
      await until('a refusal for every bad event', () => errors.length >= badEvents.length, 15_000).catch(
        () => undefined,
      );
      expect(errors.map((e) => [e.event, e.error.code])).toEqual([
        ...badEvents.slice(0, -3).map(([event]) => [event, 'BAD_REQUEST']),
        ['pty:input', 'NOT_FOUND'],
        ['pty:resize', 'NOT_FOUND'],
        ['pty:signal', 'NOT_FOUND'],
      ]);
      expect(errors.slice(-3).map((e) => e.sessionId)).toEqual([sid, sid, sid]);

      // The bad client is still connected, and the target session never got what it sent.
      expect(bad.connected).toBe(true);
      check = new Viewer(server, sid, { from: 0 });
      await until('the check viewer to attach', () => check?.attaches === 1);
      check.socket.emit('pty:input', { sessionId: sid, data: 'proper\r' });
      await until('the target echo', () => check?.text().includes('target:proper'));
      expect(check.text()).not.toContain('not-attached');
      // The healthy session was never disturbed.
      good.socket.emit('pty:input', { sessionId: healthy.mainSessionId, data: 'after\r' });
      await until('the healthy echo after the bad input', () => good.text().includes('ok:after'));
      expect(good.problems).toEqual([]);
      expect(good.errors).toEqual([]);
      expect(server.process.exitCode).toBeNull();
    } finally {
      check?.close();
      good.close();
      bad.disconnect();
      await server.requestOk('POST', `/api/tasks/${healthy.id}/stop`).catch(() => undefined);
      await server.requestOk('POST', `/api/tasks/${target.id}/stop`).catch(() => undefined);
    }
  }, 120_000);

  it('a refused attach leaves the client out of the session: no status, output or exit reaches it', async () => {
    const task = await createTask(server, 'refused', ['bash', '-c', 'read l; echo "read:$l"']);
    await waitRunning(server, task);
    const sid = task.mainSessionId;
    const owner = new Viewer(server, sid, { from: 0 });
    const bad = connect(server);
    const seen: string[] = [];
    bad.on('pty:output', () => seen.push('pty:output'));
    bad.on('pty:exit', () => seen.push('pty:exit'));
    bad.on('session:status', () => seen.push('session:status'));
    try {
      await until('both clients', () => owner.attaches === 1 && bad.connected);
      const { outputEnd } = await sessionInfo(server, sid);
      const refused = await request<AttachResult>(bad, 'session:attach', { sessionId: sid, from: outputEnd + 10 });
      expect(refused.ok ? 'ok' : refused.error.code).toBe('BAD_REQUEST');
      owner.socket.emit('pty:input', { sessionId: sid, data: 'line\r' });
      await owner.complete();
      // A round trip on the refused client's connection: whatever the server sent it before has arrived.
      expect((await request<null>(bad, 'task:subscribe', { taskId: task.id })).ok).toBe(true);
      expect(seen).toEqual([]);
    } finally {
      owner.close();
      bad.disconnect();
    }
  });

  it('refuses malformed session:detach and pty:ack payloads with session:error', async () => {
    const bad = connect(server);
    const errors: SessionError[] = [];
    bad.on('session:error', (e) => errors.push(e));
    try {
      await until('the client to connect', () => bad.connected);
      const badEvents: [string, unknown][] = [
        ['session:detach', null],
        ['session:detach', { sessionId: 42 }],
        ['pty:ack', 'x'],
        ['pty:ack', { sessionId: 'abcd_main', offset: -5 }],
      ];
      for (const [event, payload] of badEvents) untyped(bad).emit(event, payload);
      await until('a refusal for every bad event', () => errors.length >= badEvents.length, 5000).catch(
        () => undefined,
      );
      expect(errors.map((e) => [e.event, e.error.code])).toEqual(badEvents.map(([event]) => [event, 'BAD_REQUEST']));
      expect(bad.connected).toBe(true);
    } finally {
      bad.disconnect();
    }
  });
});
