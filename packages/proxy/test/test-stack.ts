/**
 * Test support for the realtime and HTTP security tests: the proxy as `rclaude server` composes it
 * ({@link startTestServer}), on a loopback port, with its local provider swapped for one whose "sandboxes"
 * are fake agents in this process. A fake agent is a plain Socket.io client on `/agent` that records
 * everything the proxy sends it and echoes PTY input back as output, so tests can see exactly what reached a
 * sandbox.
 */
import { createHash, randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import {
  type Ack,
  AGENT_CHECKPOINTS_PATH,
  type AgentHelloResult,
  type AgentRepoFinishRequest,
  type AgentRepoFinishResult,
  type AgentToProxyEvents,
  ackOk,
  CHECKPOINT_FORMAT,
  EGRESS_SANDBOX_HEADER,
  type OpenSessionRequest,
  type ProxyToAgentEvents,
  type Task,
} from '@rclaude/protocol';
import { until } from '@rclaude/testkit';
import { pino } from 'pino';
import { type Socket as ClientIoSocket, io as connectIo } from 'socket.io-client';
import type { Auth } from '../src/auth/create-auth.js';
import { redactPaths } from '../src/auth/redact.js';
import type { Provider, SandboxHandle, SandboxSpec } from '../src/providers/types.js';
import type { TaskService } from '../src/services/task-service.js';
import type { Stores } from '../src/stores/index.js';
import { startTestServer, type TestServer } from './test-server.js';

/** Embedded PGlite with in-process sessions, or the machine's Postgres (fresh schema) and Redis (fresh prefix). */
export type StackKind = 'embedded' | 'postgres+redis';

type AgentSocket = ClientIoSocket<ProxyToAgentEvents, AgentToProxyEvents>;

/** What a refused Socket.io handshake reported. */
export interface HandshakeRefusal {
  message: string;
  data: { code?: string; message?: string } | undefined;
}

/**
 * A stand-in for the agent inside one sandbox. Records every event the proxy sends; `pty:input` is echoed
 * as `pty:output` of the same session (so attached clients see it), `session:open` and `session:screen`
 * succeed, `exec:run` answers the environment it was given as its stdout, `files:*` are served from an
 * in-memory workspace, and `checkpoint:create` uploads an empty checkpoint (`checkpoint:restore` restores
 * nothing) unless a test sets {@link FakeAgent.onCheckpoint}.
 */
export class FakeAgent {
  /** The token the next connection presents: the provider's, then each rotation's. */
  token: string;
  /** Every token this agent has held, oldest first. */
  readonly tokens: string[];
  /** Everything the proxy sent, in order. */
  readonly received: { event: string; payload: unknown }[] = [];
  /** `pty:input` data received, per session. */
  readonly input = new Map<string, string>();
  /** Bytes of output produced so far, per open session. */
  readonly produced = new Map<string, number>();
  /** `files:changes` long polls received; while `holdChangePolls`, none is answered (an agent that never says). */
  changePolls = 0;
  holdChangePolls = false;
  /** The sandbox's workspace: path -> contents, served by the `files:*` requests. */
  readonly files = new Map<string, Uint8Array>();
  /**
   * What `checkpoint:create` does instead of uploading an empty checkpoint: a test's own uploads (through
   * {@link FakeAgent.checkpointRequest}); a rejection fails the request with its message.
   */
  onCheckpoint: ((checkpointId: string) => Promise<void>) | null = null;
  /**
   * What `repo:finish` answers (before a stop or hibernation): by default the session has nothing to record
   * (`none`); a promise that never settles is an agent that does not answer.
   */
  onRepoFinish: ((req: AgentRepoFinishRequest) => Promise<AgentRepoFinishResult>) | null = null;
  /** The egress key from the hello: what authenticates checkpoint uploads. */
  egressKey: string | null = null;
  private socket: AgentSocket | null = null;

  constructor(
    private readonly url: string,
    readonly sandboxId: string,
    token: string,
  ) {
    this.token = token;
    this.tokens = [token];
  }

  /** Connects and says hello; resolves with the hello answer, rejects with the handshake refusal. */
  connect(): Promise<AgentHelloResult> {
    const socket = connectIo(`${this.url}/agent`, {
      transports: ['websocket'],
      reconnection: false,
      forceNew: true,
      auth: { sandboxId: this.sandboxId, token: this.token },
    }) as AgentSocket;
    this.socket = socket;
    this.bind(socket);
    return new Promise((resolve, reject) => {
      socket.once('connect_error', (err: Error & { data?: HandshakeRefusal['data'] }) => {
        socket.disconnect();
        reject(Object.assign(new Error(err.message), { refusal: { message: err.message, data: err.data } }));
      });
      // Cut off before the hello was answered (e.g. replaced by a newer connection of the same sandbox).
      socket.once('disconnect', (reason) => reject(new Error(`disconnected before hello: ${reason}`)));
      socket.once('connect', () => {
        socket.emit('agent:hello', { sessions: this.report() }, (res: Ack<AgentHelloResult>) => {
          if (!res.ok) return reject(new Error(`hello refused: ${res.error.message}`));
          if (res.data.token) {
            this.token = res.data.token;
            this.tokens.push(res.data.token);
          }
          if (res.data.egressKey) this.egressKey = res.data.egressKey;
          resolve(res.data);
        });
      });
    });
  }

  get connected(): boolean {
    return this.socket?.connected ?? false;
  }

  /** Emits an agent event as-is (tests use it to send what a misbehaving sandbox would). */
  emitRaw(event: string, ...args: unknown[]): void {
    (this.socket as unknown as { emit: (e: string, ...a: unknown[]) => void } | null)?.emit(event, ...args);
  }

  /** Emits output for a session at the next offset this agent has for it. */
  output(sessionId: string, text: string): void {
    const data = Buffer.from(text);
    const offset = this.produced.get(sessionId) ?? 0;
    this.produced.set(sessionId, offset + data.byteLength);
    this.socket?.emit('pty:output', sessionId, offset, new Uint8Array(data));
  }

  disconnect(): void {
    this.socket?.disconnect();
  }

  close(): void {
    this.disconnect();
  }

  private report() {
    return [...this.produced].map(([sessionId, produced]) => ({ sessionId, produced, retainedFrom: 0, exit: null }));
  }

  private bind(socket: AgentSocket): void {
    socket.onAny((event: string, payload: unknown) => {
      this.received.push({ event, payload });
    });
    socket.on('session:open', (req: OpenSessionRequest, ack) => {
      if (!this.produced.has(req.sessionId)) this.produced.set(req.sessionId, req.startOffset);
      ack(ackOk({ pid: 4242 }));
    });
    socket.on('session:screen', ({ sessionId }, ack) => {
      ack(ackOk({ data: '', offset: this.produced.get(sessionId) ?? 0, cols: 80, rows: 24 }));
    });
    socket.on('pty:input', ({ sessionId, data }) => {
      this.input.set(sessionId, (this.input.get(sessionId) ?? '') + data);
      if (this.produced.has(sessionId)) this.output(sessionId, data);
    });
    socket.on('exec:run', (req, ack) => {
      ack(
        ackOk({
          exitCode: 0,
          signal: null,
          stdout: JSON.stringify(req.env),
          stderr: '',
          truncated: false,
          timedOut: false,
          durationMs: 1,
        }),
      );
    });
    socket.on('files:list', ({ path: dir }, ack) =>
      ack(ackOk({ path: dir, entries: [...this.files.keys()].map((p) => this.entry(p)) })),
    );
    socket.on('files:stat', ({ path: p }, ack) => ack(this.files.has(p) ? ackOk(this.entry(p)) : notFound(p)));
    socket.on('files:read', ({ path: p, offset, length }, ack) => {
      const data = this.files.get(p);
      if (!data) return ack(notFound(p));
      const part = data.subarray(offset, offset + length);
      ack(ackOk({ data: part, size: data.byteLength, eof: offset + part.byteLength >= data.byteLength }));
    });
    socket.on('files:write', ({ path: p, data, mode }, ack) => {
      const before = mode === 'append' ? (this.files.get(p) ?? new Uint8Array(0)) : new Uint8Array(0);
      const next = new Uint8Array(Buffer.concat([before, data]));
      this.files.set(p, next);
      ack(ackOk({ path: p, size: next.byteLength }));
    });
    socket.on('files:delete', ({ path: p }, ack) => {
      if (!this.files.delete(p)) return ack(notFound(p));
      ack(ackOk(null));
    });
    socket.on('files:rename', ({ from, to }, ack) => {
      const data = this.files.get(from);
      if (!data) return ack(notFound(from));
      this.files.delete(from);
      this.files.set(to, data);
      ack(ackOk({ path: to }));
    });
    // Sync's compare-and-swap: this fake never holds what a client expects, so nothing is changed.
    socket.on('files:sync-apply', (_req, ack) => ack(ackOk({ applied: false, entry: null })));
    socket.on('files:manifest', (_req, ack) =>
      ack(
        ackOk({
          entries: [...this.files].map(([p, data]) => ({
            path: p,
            type: 'file' as const,
            size: data.byteLength,
            mtimeMs: 0,
            sha256: createHash('sha256').update(data).digest('hex'),
            exec: false,
          })),
        }),
      ),
    );
    socket.on('files:changes', ({ cursor }, ack) => {
      this.changePolls++;
      if (!this.holdChangePolls) ack(ackOk({ cursor: cursor ?? 1, changes: [], reset: cursor === undefined }));
    });
    socket.on('checkpoint:create', ({ checkpointId }, ack) => {
      void (this.onCheckpoint ?? ((id: string) => this.uploadEmptyCheckpoint(id)))(checkpointId).then(
        () => ack(ackOk({ files: 0, bytes: 0, uploadedBlobs: 0, uploadedBytes: 0, claudeSessionId: null })),
        (err: Error) => ack({ ok: false, error: { code: 'CHECKPOINT_FAILED', message: err.message } }),
      );
    });
    socket.on('repo:finish', (req, ack) => {
      void (this.onRepoFinish ?? (async () => ({ state: 'none' as const, events: [] })))(req).then((r) =>
        ack(ackOk(r)),
      );
    });
    socket.on('checkpoint:restore', (_req, ack) => {
      ack(ackOk({ files: 0, dirs: 0, symlinks: 0, bytes: 0, mismatches: [], claudeSessionId: null }));
    });
  }

  /** What a real agent does for a workspace with nothing in it: PUT a manifest with no entries. */
  private async uploadEmptyCheckpoint(checkpointId: string): Promise<void> {
    const manifest = {
      format: CHECKPOINT_FORMAT,
      createdAt: new Date().toISOString(),
      workspace: '/workspace',
      excluded: [],
      claudeSessionId: null,
      entries: [],
    };
    const res = await this.checkpointRequest('PUT', `${checkpointId}/manifest`, JSON.stringify(manifest));
    if (!res.ok) throw new Error(`manifest upload refused (${res.status}): ${await res.text()}`);
  }

  /**
   * One request to the proxy's checkpoint routes as this sandbox's agent makes it (its id and egress key), or
   * with `auth` instead, as a forger would.
   */
  checkpointRequest(
    method: string,
    subPath: string,
    body?: RawBody,
    auth: { sandboxId?: string; key?: string } = {},
  ): Promise<Response> {
    return fetch(`${this.url}${AGENT_CHECKPOINTS_PATH}/${subPath}`, {
      method,
      headers: {
        'content-type': 'application/json',
        [EGRESS_SANDBOX_HEADER]: auth.sandboxId ?? this.sandboxId,
        authorization: `Bearer ${auth.key ?? this.egressKey ?? ''}`,
      },
      ...(body === undefined ? {} : { body }),
    });
  }

  private entry(p: string) {
    const size = this.files.get(p)?.byteLength ?? 0;
    return { name: p.split('/').pop() ?? p, path: p, type: 'file' as const, size, mtime: new Date(0).toISOString() };
  }
}

/** What `fetch` takes as a body (a string, bytes, FormData...). */
type RawBody = NonNullable<NonNullable<Parameters<typeof fetch>[1]>['body']>;

function notFound(p: string): Ack<never> {
  return { ok: false, error: { code: 'NOT_FOUND', message: `no file ${p}` } };
}

/** Answer of {@link TestStack.api}: status and the parsed JSON body (null when not JSON). */
export interface ApiResponse {
  status: number;
  headers: Headers;
  text: string;
  // biome-ignore lint/suspicious/noExplicitAny: tests index into bodies freely
  body: any;
}

export interface TestUser {
  id: string;
  username: string;
  token: string;
}

export interface TestStack {
  kind: StackKind;
  url: string;
  /** The composed server (its services, for white-box checks). */
  server: TestServer;
  stores: Stores;
  auth: Auth;
  tasks: TaskService;
  admin: TestUser;
  /** Every spec the provider was asked to start, in order (holds each sandbox's first agent token). */
  readonly started: SandboxSpec[];
  /** The fake agent of each sandbox, by sandbox id. */
  readonly agents: Map<string, FakeAgent>;
  /** Sandbox ids the provider was asked to stop. */
  readonly stopped: Set<string>;
  /** Everything the proxy logged (pino JSON lines, redaction applied). */
  logs(): string;
  /** Whether sandboxes started from now on connect their fake agent by themselves. */
  setAutoConnect(on: boolean): void;
  /** What the provider throws for sandboxes started from now on; null (the default): they start. */
  setStartFailure(err: Error | null): void;
  /** A signed-in user with an API token (created by the admin through the API). */
  createUser(username: string): Promise<TestUser>;
  /** One REST request; `body` goes as JSON, `raw` as-is with `contentType` (default JSON; null: fetch's own). */
  api(
    token: string | null,
    method: string,
    urlPath: string,
    options?: { body?: unknown; raw?: RawBody; contentType?: string | null; headers?: Record<string, string> },
  ): Promise<ApiResponse>;
  /** Creates a task for `token`'s user and waits until it runs with its fake agent connected. */
  startTask(
    token: string,
    body?: Record<string, unknown>,
  ): Promise<{ task: Task; agent: FakeAgent; sandboxId: string }>;
  /** A connected `/client` socket for `token` (WebSocket, no reconnection). */
  client(token: string, headers?: Record<string, string>): Promise<ClientIoSocket>;
  /** The refusal of a `/client` handshake with these credentials (throws if it is accepted). */
  refusedClient(auth: Record<string, unknown>, headers?: Record<string, string>): Promise<HandshakeRefusal>;
  close(): Promise<void>;
}

export interface TestStackOptions {
  /** INPUT_MAX_BYTES_PER_SEC of the client gateway. */
  inputBytesPerSec?: number;
  /** More configuration, as environment variables (e.g. a short IDLE_TIMEOUT_MS). */
  env?: Record<string, string>;
  /** When false, sandboxes' agents do not dial in; tests connect `agents.get(id)` themselves. Default true. */
  autoConnectAgents?: boolean;
}

/** Starts the stack on 127.0.0.1 port 0. Close it in afterAll. */
export async function startTestStack(kind: StackKind, options: TestStackOptions = {}): Promise<TestStack> {
  let logText = '';
  const sink = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      logText += chunk.toString('utf8');
      callback();
    },
  });
  const log = pino({ level: 'debug', redact: { paths: [...redactPaths], censor: '[redacted]' } }, sink);

  let url = '';
  const started: SandboxSpec[] = [];
  const agents = new Map<string, FakeAgent>();
  const stopped = new Set<string>();
  let autoConnect = options.autoConnectAgents !== false;
  let startFailure: Error | null = null;
  const provider: Provider = {
    name: 'local',
    size: { vcpu: 0, memoryMiB: 0 },
    async start(spec) {
      if (startFailure) throw startFailure;
      started.push(spec);
      const agent = new FakeAgent(url, spec.sandboxId, spec.env.RCLAUDE_AGENT_TOKEN ?? '');
      agents.set(spec.sandboxId, agent);
      // Like a real sandbox, the agent dials in after the provider has answered.
      if (autoConnect) setImmediate(() => void agent.connect().catch(() => undefined));
      return { sandboxId: spec.sandboxId, provider: 'local', ref: `fake-${spec.sandboxId}` };
    },
    async inspect(handle: SandboxHandle) {
      return stopped.has(handle.sandboxId)
        ? { state: 'stopped', exitCode: null, reason: 'stopped' }
        : { state: 'running', exitCode: null, reason: null };
    },
    async stop(handle: SandboxHandle) {
      stopped.add(handle.sandboxId);
      agents.get(handle.sandboxId)?.disconnect();
    },
    list: async () => [],
    close: async () => undefined,
  };

  const server = await startTestServer(kind, {
    env: {
      ...(options.inputBytesPerSec ? { INPUT_MAX_BYTES_PER_SEC: String(options.inputBytesPerSec) } : {}),
      ...options.env,
    },
    deps: { log, providers: { local: () => provider } },
  });
  url = server.url;
  const { stores, auth } = server;
  const taskService = server.tasks;

  const adminUser = await auth.ensureAdmin();
  const admin: TestUser = { id: adminUser.id, username: adminUser.username, token: server.token };
  const sockets: ClientIoSocket[] = [];

  const api: TestStack['api'] = async (token, method, urlPath, opts = {}) => {
    const headers: Record<string, string> = { ...opts.headers };
    if (token !== null) headers.authorization = `Bearer ${token}`;
    let body: RawBody | undefined;
    if (opts.raw !== undefined) body = opts.raw;
    else if (opts.body !== undefined) body = JSON.stringify(opts.body);
    // `contentType: null` lets fetch choose (a multipart boundary for FormData).
    if (body !== undefined && opts.contentType !== null)
      headers['content-type'] = opts.contentType ?? 'application/json';
    const res = await fetch(`${url}${urlPath}`, { method, headers, ...(body === undefined ? {} : { body }) });
    const text = await res.text();
    const isJson = (res.headers.get('content-type') ?? '').includes('application/json') && text !== '';
    const json = isJson ? JSON.parse(text) : null;
    return { status: res.status, headers: res.headers, text, body: json };
  };

  const openClient = (authPayload: Record<string, unknown>, headers: Record<string, string> = {}) => {
    const socket = connectIo(`${url}/client`, {
      transports: ['websocket'],
      reconnection: false,
      forceNew: true,
      auth: authPayload,
      extraHeaders: headers,
    });
    sockets.push(socket);
    return socket;
  };

  return {
    kind,
    url,
    server,
    stores,
    auth,
    tasks: taskService,
    admin,
    started,
    agents,
    stopped,
    logs: () => logText,
    setAutoConnect(on) {
      autoConnect = on;
    },
    setStartFailure(err) {
      startFailure = err;
    },
    async createUser(username) {
      const created = await api(admin.token, 'POST', '/api/users', {
        body: { username, password: `pw-${randomBytes(8).toString('hex')}` },
      });
      if (created.status !== 201) throw new Error(`creating ${username}: ${created.status} ${created.text}`);
      const id = (created.body as { id: string }).id;
      return { id, username, token: await auth.issueToken(id, 'test') };
    },
    api,
    async startTask(token, body = { command: ['sh'] }) {
      const created = await api(token, 'POST', '/api/tasks', { body });
      if (created.status !== 201) throw new Error(`creating a task: ${created.status} ${created.text}`);
      const id = (created.body as Task).id;
      const task = await until(
        `task ${id} to run`,
        async () => {
          const t = (await api(token, 'GET', `/api/tasks/${id}`)).body as Task;
          return t.status === 'running' ? t : null;
        },
        10_000,
        20,
      );
      const spec = started.find((s) => s.taskId === id);
      const agent = spec ? agents.get(spec.sandboxId) : undefined;
      if (!spec || !agent) throw new Error(`no sandbox for task ${id}`);
      return { task, agent, sandboxId: spec.sandboxId };
    },
    client(token, headers = {}) {
      const socket = openClient({ token }, headers);
      return new Promise((resolve, reject) => {
        socket.once('connect', () => resolve(socket));
        socket.once('connect_error', (err) => reject(err));
      });
    },
    refusedClient(authPayload, headers = {}) {
      const socket = openClient(authPayload, headers);
      return new Promise((resolve, reject) => {
        socket.once('connect', () => {
          socket.disconnect();
          reject(new Error('the handshake was accepted'));
        });
        socket.once('connect_error', (err: Error & { data?: HandshakeRefusal['data'] }) => {
          socket.disconnect();
          resolve({ message: err.message, data: err.data });
        });
      });
    },
    async close() {
      for (const s of sockets) s.disconnect();
      for (const a of agents.values()) a.close();
      // Let the proxy finish handling those disconnects (they write to the stores and emit through the
      // adapter) before the connections under them close.
      await until(
        'agent disconnects to be handled',
        async () => {
          for (const spec of started) {
            if (!spec.taskId) continue;
            for (const s of await stores.sessions.listByTask(spec.taskId)) if (s.holder !== null) return false;
          }
          return true;
        },
        5000,
        20,
      ).catch(() => undefined);
      await server.close();
    },
  };
}
