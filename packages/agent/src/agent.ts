import http from 'node:http';
import net from 'node:net';
import {
  type Ack,
  type AgentHelloResult,
  type AgentRepoCommitRequest,
  type AgentRepoCommitResult,
  type AgentRepoFinishRequest,
  type AgentRepoFinishResult,
  type AgentTaskEvent,
  type AgentToProxyEvents,
  AppError,
  ackError,
  ackOk,
  type OpenSessionRequest,
  type ProxyToAgentEvents,
  ptySignalSchema,
} from '@rclaude/protocol';
import type { Logger } from 'pino';
import { io, type Socket } from 'socket.io-client';
import { Checkpointer } from './checkpoint/checkpointer.js';
import { CheckpointClient } from './checkpoint/proxy-client.js';
import { ApprovalRelay } from './claude/approval-relay.js';
import { withGateway } from './claude/claude-env.js';
import { HooksRelay } from './claude/hooks-relay.js';
import { EgressTunnel } from './egress/egress-tunnel.js';
import { runCommand } from './exec.js';
import { createFileService, createSyncService, registerFileHandlers, type SyncService } from './files/index.js';
import { prepareCommand } from './prepare-command.js';
import { defaultFlowLimits, type FlowLimits, PtySession } from './pty/pty-session.js';
import { claimFinish, type FinishSpec, finishMarkerPath, finishRepository } from './repo/finish.js';
import { commitForProxy } from './repo/push.js';
import { AgentTunnels } from './tunnels/agent-tunnels.js';

export const AGENT_VERSION = '0.1.0';

export interface AgentOptions {
  /** The proxy's URL (`http(s)://host[:port][/prefix]`), or `unix:/path/to/socket` for a proxy on a Unix socket. */
  proxyUrl: string;
  /**
   * Dial the proxy through this Unix socket instead of the URL's host (a sandbox with no network of its own, as
   * the docker provider starts them); the URL still names the path. Default: from a `unix:` proxyUrl, else none.
   */
  socketPath?: string;
  sandboxId: string;
  token: string;
  /** Absolute path of the workspace; sessions start here and file operations are confined to it. */
  workspace: string;
  home: string;
  /** Environment every session starts from (the agent's own, without its credentials). */
  baseEnv: Record<string, string>;
  log: Logger;
  limits?: FlowLimits;
  /** Called when the proxy asks the agent to shut down (the process exits after). */
  onShutdown?: () => void;
  /**
   * How long the agent keeps trying to reach a proxy that is gone before it ends its sessions and exits
   * (default {@link DEFAULT_ORPHAN_TIMEOUT_MS}): a proxy restart takes seconds, while a sandbox whose server
   * is gone for good would otherwise run (and, on a cloud provider, bill) forever.
   */
  orphanTimeoutMs?: number;
  /**
   * Loopback port of the egress tunnel (the sessions' model endpoint). Default 0: a free one, so unconfined
   * sandboxes sharing the host's network never collide; sessions are told the real port.
   */
  egressPort?: number;
}

export const DEFAULT_ORPHAN_TIMEOUT_MS = 60 * 60 * 1000;

/** How long `repo:finish` waits for a session runner that is already recording the changes to end. */
const FINISH_WAIT_MS = 20_000;

type AgentSocket = Socket<ProxyToAgentEvents, AgentToProxyEvents>;

/** Where to dial: `unix:/run/x.sock` means that socket, with the proxy's paths under http://localhost. */
export function dialTarget(proxyUrl: string, socketPath?: string): { url: string; socketPath: string | undefined } {
  if (proxyUrl.startsWith('unix:')) {
    return { url: 'http://localhost', socketPath: socketPath ?? new URL(proxyUrl).pathname };
  }
  return { url: proxyUrl, socketPath };
}

function unixSocketAgent(socketPath: string): http.Agent {
  const agent = new http.Agent({ keepAlive: false });
  agent.createConnection = () => net.connect(socketPath);
  return agent;
}

/**
 * The agent: dials out to the proxy, runs PTY sessions, and streams their output with byte offsets. Output
 * is kept until the proxy has stored it, so any reconnect resumes exactly where storage stopped.
 */
export class Agent {
  private readonly sessions = new Map<string, PtySession>();
  private readonly socket: AgentSocket;
  private token: string;
  /** True once the proxy has answered this connection's hello: only then may output flow. */
  private ready = false;
  /** Hook reports and prompt-task events from processes in the sandbox; null if its channel cannot start. */
  private readonly relay: Promise<HooksRelay | null>;
  /** Runs while the proxy is unreachable; see {@link AgentOptions.orphanTimeoutMs}. */
  private orphanTimer: NodeJS.Timeout | undefined;
  /** The retry after a handshake the proxy refused for a cooldown (Socket.io does not retry those itself). */
  private cooldownTimer: NodeJS.Timeout | undefined;
  /** Tunnels the sandbox's outbound connections to the proxy's egress gateway. */
  private readonly egress: EgressTunnel;
  /** The tunnel's loopback port, or null if it could not listen (sessions then get no gateway). */
  private readonly egressPort: Promise<number | null>;
  /** Packs and restores the workspace for the proxy's checkpoints. */
  private readonly checkpoints: Checkpointer;
  /** `rclaude sync`'s manifest and change watcher (ADR 0022). */
  private readonly sync: SyncService;
  /** The `repo:commit` running, if any: the next waits for it. */
  private repoCommits: Promise<unknown> = Promise.resolve();
  /** Claude Code's permission requests waiting for the proxy's decision. */
  private readonly approvals: ApprovalRelay;
  /** The proxy's approval timeout (from hello); Claude Code gets the approval hook only once it is known. */
  private approvalTimeoutMs: number | undefined;
  /** Sessions running Claude Code with `-p` (no terminal prompt). */
  private readonly promptSessions = new Set<string>();
  /** The agent's legs of ssh and port tunnels. */
  private readonly tunnels: AgentTunnels;
  /** Sessions with a repository: what `repo:finish` records, and the marker it claims (repo/finish.ts). */
  private readonly finishable = new Map<string, { spec: FinishSpec; marker: string; env: Record<string, string> }>();
  /** Called when a session's program exits (`repo:finish` waits for a runner already finishing). */
  private readonly exitWaiters = new Map<string, Set<() => void>>();

  constructor(private readonly opts: AgentOptions) {
    this.token = opts.token;
    const { url, socketPath } = dialTarget(opts.proxyUrl, opts.socketPath);
    this.egress = new EgressTunnel({
      proxyUrl: url,
      socketPath,
      sandboxId: opts.sandboxId,
      log: opts.log,
      ...(opts.egressPort !== undefined ? { port: opts.egressPort } : {}),
    });
    this.checkpoints = new Checkpointer({
      workspace: opts.workspace,
      home: opts.home,
      client: new CheckpointClient({
        proxyUrl: url,
        socketPath,
        sandboxId: opts.sandboxId,
        key: () => this.egress.currentKey,
      }),
      log: opts.log,
    });
    this.tunnels = new AgentTunnels({
      proxyUrl: url,
      socketPath,
      sandboxId: opts.sandboxId,
      egressKey: () => this.egress.currentKey,
      workspace: opts.workspace,
      env: (extra) => this.sessionEnv(extra),
      log: opts.log,
    });
    this.egressPort = this.egress.listen().catch((err: unknown) => {
      opts.log.error({ err }, 'the egress tunnel cannot listen: sessions get no model endpoint');
      return null;
    });
    this.socket = io(`${url.replace(/\/$/, '')}/agent`, {
      transports: ['websocket'],
      // engine.io hands `agent` to ws, whose HTTP request then connects through the socket.
      ...(socketPath ? { agent: unixSocketAgent(socketPath) as unknown as string } : {}),
      auth: (cb) => cb({ sandboxId: opts.sandboxId, token: this.token, version: AGENT_VERSION }),
      reconnectionDelay: 200,
      reconnectionDelayMax: 3000,
      randomizationFactor: 0.3,
      autoConnect: false,
    }) as AgentSocket;
    this.bind();
    const files = createFileService({ root: opts.workspace });
    this.sync = createSyncService({ files });
    registerFileHandlers(this.socket, files, { log: opts.log, sync: this.sync });
    this.approvals = new ApprovalRelay({
      request: (req, ack) => this.socket.emit('approval:request', req, ack),
      withdraw: (req) => this.socket.emit('approval:withdraw', req),
      connected: () => this.ready,
      isPromptSession: (id) => id !== null && this.promptSessions.has(id),
      log: opts.log,
    });
    this.relay = HooksRelay.start({
      emit: (event) => this.socket.emit('agent:event', event),
      log: opts.log,
      approvals: this.approvals,
    }).catch((err: unknown) => {
      opts.log.warn({ err }, 'no event channel: activity and prompt events will not be reported');
      return null;
    });
  }

  start(): void {
    this.socket.connect();
  }

  private bind(): void {
    const s = this.socket;
    const log = this.opts.log;
    s.on('connect', () => {
      clearTimeout(this.orphanTimer);
      this.orphanTimer = undefined;
      this.hello();
    });
    s.on('disconnect', (reason) => {
      this.ready = false;
      log.warn({ reason }, 'disconnected from proxy; will reconnect');
      this.armOrphanTimer();
    });
    s.on('connect_error', (err) => {
      this.armOrphanTimer();
      const data = (err as Error & { data?: { code?: string; retryAfterMs?: unknown } }).data;
      log.warn({ err: err.message, code: data?.code }, 'cannot reach proxy');
      if (data?.code === 'UNAUTHENTICATED') {
        // The token is dead (task stopped, or it was reused): nothing to reconnect to.
        log.error('agent token refused; exiting');
        this.shutdown(3);
      } else if (data?.code === 'RATE_LIMITED') {
        // The proxy holds this sandbox back after repeated limit drops: try again once the wait it named is over
        // (bounded, with a little jitter so restarts do not line up).
        const asked = typeof data.retryAfterMs === 'number' && data.retryAfterMs > 0 ? data.retryAfterMs : 5_000;
        const wait = Math.min(asked, 15 * 60_000) + Math.floor(Math.random() * 250);
        clearTimeout(this.cooldownTimer);
        this.cooldownTimer = setTimeout(() => {
          this.cooldownTimer = undefined;
          if (!s.connected) s.connect();
        }, wait);
      }
    });
    s.on('session:open', (req, ack) => this.reply(ack, () => this.open(req)));
    s.on('session:close', ({ sessionId }) => {
      this.sessions.get(sessionId)?.dispose();
      this.sessions.delete(sessionId);
      this.finishable.delete(sessionId);
    });
    s.on('session:screen', ({ sessionId }, ack) => this.reply(ack, () => this.session(sessionId).snapshot()));
    s.on('pty:input', ({ sessionId, data }) => this.sessions.get(sessionId)?.write(data));
    s.on('pty:resize', ({ sessionId, cols, rows }) => {
      if (valid(cols) && valid(rows)) this.sessions.get(sessionId)?.resize(cols, rows);
    });
    s.on('pty:signal', ({ sessionId, signal }) => {
      const parsed = ptySignalSchema.safeParse(signal);
      if (parsed.success) this.sessions.get(sessionId)?.signal(parsed.data);
    });
    s.on('pty:stored', ({ sessionId, offset }) => this.sessions.get(sessionId)?.onStored(offset));
    s.on('pty:consumed', ({ sessionId, viewerId, offset }) =>
      this.sessions.get(sessionId)?.onConsumed(viewerId, offset),
    );
    s.on('pty:viewer-gone', ({ sessionId, viewerId }) => this.sessions.get(sessionId)?.viewerGone(viewerId));
    s.on('exec:run', (req, ack) =>
      this.reply(ack, async () =>
        runCommand({ ...req, env: {} }, { workspace: this.opts.workspace, env: await this.sessionEnv(req.env) }),
      ),
    );
    s.on('checkpoint:create', (req, ack) => this.reply(ack, () => this.checkpoints.create(req)));
    s.on('checkpoint:restore', (req, ack) => this.reply(ack, () => this.checkpoints.restore(req)));
    s.on('repo:commit', (req, ack) => this.reply(ack, () => this.commitForProxy(req)));
    s.on('repo:finish', (req, ack) => this.reply(ack, () => this.finish(req)));
    s.on('approval:answer', (a) => {
      if (typeof a?.requestKey === 'string' && (a.behavior === 'allow' || a.behavior === 'deny')) {
        this.approvals.answer({
          requestKey: a.requestKey,
          approvalId: String(a.approvalId),
          behavior: a.behavior,
          message: typeof a.message === 'string' ? a.message : null,
        });
      }
    });
    s.on('tunnel:open', (req, ack) => this.reply(ack, () => this.tunnels.open(req)));
    s.on('agent:shutdown', () => this.shutdown(0));
  }

  /** `repo:commit`, one at a time (two would race for the branch ref and the bundle). */
  private commitForProxy(req: AgentRepoCommitRequest): Promise<AgentRepoCommitResult> {
    const run = this.repoCommits.then(async () => {
      if (typeof req?.branch !== 'string' || typeof req.message !== 'string' || typeof req.full !== 'boolean') {
        throw new AppError('BAD_REQUEST', 'invalid repo:commit request');
      }
      try {
        const env = { ...this.opts.baseEnv };
        return await commitForProxy({
          workspace: this.opts.workspace,
          ...req,
          message: req.message.slice(0, 10_000),
          env,
        });
      } catch (err) {
        if (err instanceof AppError) throw err;
        throw new AppError('CONFLICT', `could not commit the workspace: ${(err as Error).message}`.slice(0, 2000));
      }
    });
    this.repoCommits = run.catch(() => undefined);
    return run;
  }

  /**
   * `repo:finish`: before the proxy stops or hibernates the sandbox, records the session's diff and pushes (when
   * its task asked), through the code the session runner runs at the program's exit, and answers with the
   * events for the proxy to record. If the runner got there first (the program exited meanwhile), waits up to
   * {@link FINISH_WAIT_MS} for the session to end: its events come over the usual channel.
   */
  private async finish(req: AgentRepoFinishRequest): Promise<AgentRepoFinishResult> {
    if (typeof req?.sessionId !== 'string' || (req.why !== 'stopped' && req.why !== 'hibernated')) {
      throw new AppError('BAD_REQUEST', 'invalid repo:finish request');
    }
    const entry = this.finishable.get(req.sessionId);
    if (!entry) return { state: 'none', events: [] };
    if (!(await claimFinish(entry.marker))) {
      await this.sessionExited(req.sessionId, FINISH_WAIT_MS);
      return { state: 'session', events: [] };
    }
    const events: AgentTaskEvent[] = [];
    await finishRepository(entry.spec, { env: entry.env, when: req.why }, (event) => events.push(event));
    this.opts.log.info({ sessionId: req.sessionId, events: events.map((e) => e.type) }, 'recorded the changes');
    return { state: 'recorded', events: events.map((e) => ({ type: e.type, data: e.data })) };
  }

  /** Resolves when the session's program has exited, or after `ms`. */
  private sessionExited(sessionId: string, ms: number): Promise<void> {
    const session = this.sessions.get(sessionId);
    if (!session || session.exit) return Promise.resolve();
    return new Promise((resolve) => {
      const waiters = this.exitWaiters.get(sessionId) ?? new Set();
      const done = () => {
        clearTimeout(timer);
        waiters.delete(done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      waiters.add(done);
      this.exitWaiters.set(sessionId, waiters);
    });
  }

  private hello(): void {
    const sessions = [...this.sessions.values()].map((p) => ({
      sessionId: p.id,
      produced: p.produced,
      retainedFrom: p.retainedFrom,
      exit: p.exit ? { exitCode: p.exit.exitCode, signal: p.exit.signal } : null,
    }));
    this.socket.emit('agent:hello', { sessions }, (res: Ack<AgentHelloResult>) => {
      if (!res.ok) {
        this.opts.log.error({ error: res.error }, 'proxy refused hello');
        return;
      }
      if (res.data.token) this.token = res.data.token;
      if (res.data.egressKey) this.egress.setKey(res.data.egressKey);
      if (res.data.approvalTimeoutMs) this.approvalTimeoutMs = res.data.approvalTimeoutMs;
      for (const id of res.data.forget) {
        this.sessions.get(id)?.dispose();
        this.sessions.delete(id);
      }
      for (const { sessionId, stored } of res.data.sessions) this.sessions.get(sessionId)?.rewind(stored);
      this.ready = true;
      this.opts.log.info({ sessions: this.sessions.size }, 'connected to proxy');
      for (const p of this.sessions.values()) {
        this.pump(p);
        if (p.exit) this.socket.emit('pty:exit', p.exit);
      }
      this.approvals.resendAll();
    });
  }

  private async open(req: OpenSessionRequest): Promise<{ pid: number }> {
    const existing = this.sessions.get(req.sessionId);
    if (existing) return { pid: existing.pid };
    if (!valid(req.cols) || !valid(req.rows) || !Array.isArray(req.command) || req.command.length === 0) {
      throw new AppError('BAD_REQUEST', 'invalid session:open request');
    }
    const env = await this.sessionEnv(req.env);
    const relay = await this.relay;
    const prepared = await prepareCommand(
      req.command,
      { env, home: this.opts.home, workspace: this.opts.workspace },
      {
        sessionId: req.sessionId,
        eventsSocket: relay?.socketPath ?? null,
        runtimeDir: relay?.runtimeDir ?? this.opts.home,
        prompt: typeof req.prompt === 'string' ? req.prompt : undefined,
        repo: req.repo ?? undefined,
        approvalTimeoutMs: this.approvalTimeoutMs,
      },
    );
    const session = new PtySession({
      id: req.sessionId,
      command: prepared.command,
      env: prepared.env,
      cwd: this.opts.workspace,
      cols: req.cols,
      rows: req.rows,
      startOffset: req.startOffset,
      limits: this.opts.limits ?? defaultFlowLimits,
      log: this.opts.log,
      onReadable: () => this.pump(session),
      onExit: (info) => {
        if (this.ready) this.socket.emit('pty:exit', info);
        for (const done of [...(this.exitWaiters.get(req.sessionId) ?? [])]) done();
        this.exitWaiters.delete(req.sessionId);
      },
    });
    this.sessions.set(req.sessionId, session);
    if (typeof req.prompt === 'string') this.promptSessions.add(req.sessionId);
    if (req.repo) {
      this.finishable.set(req.sessionId, {
        spec: {
          workspace: this.opts.workspace,
          repo: req.repo,
          prompt: typeof req.prompt === 'string' ? req.prompt : null,
        },
        marker: finishMarkerPath(relay?.runtimeDir ?? this.opts.home, req.sessionId),
        env: prepared.env,
      });
    }
    this.opts.log.info({ sessionId: req.sessionId, command: req.command[0], pid: session.pid }, 'session started');
    return { pid: session.pid };
  }

  /**
   * The environment a process in the sandbox starts with: the agent's, then `extra` (the session's), then,
   * once the proxy has given the egress key, the gateway's model endpoint and placeholder key over any model
   * credential (the real ones never enter the sandbox).
   */
  private async sessionEnv(extra: Record<string, string> | undefined): Promise<Record<string, string>> {
    const env = { ...this.opts.baseEnv, ...extra };
    const port = await this.egressPort;
    return port !== null && this.egress.hasKey ? withGateway(env, port) : env;
  }

  private pump(session: PtySession): void {
    if (!this.ready) return;
    session.drain((offset, data, at) => this.socket.emit('pty:output', session.id, offset, data, at));
  }

  private session(id: string): PtySession {
    const s = this.sessions.get(id);
    if (!s) throw new AppError('NOT_FOUND', `no session ${id} in this sandbox`);
    return s;
  }

  private reply<T>(ack: unknown, fn: () => T | Promise<T>): void {
    if (typeof ack !== 'function') return;
    const done = ack as (r: Ack<T>) => void;
    Promise.resolve()
      .then(fn)
      .then(
        (data) => done(ackOk(data)),
        (err: unknown) => {
          if (!(err instanceof AppError)) this.opts.log.error({ err }, 'agent request failed');
          done(ackError(err));
        },
      );
  }

  /** Registers extra request handlers on the proxy connection (file operations). */
  get connection(): AgentSocket {
    return this.socket;
  }

  private armOrphanTimer(): void {
    if (this.orphanTimer) return;
    const ms = this.opts.orphanTimeoutMs ?? DEFAULT_ORPHAN_TIMEOUT_MS;
    this.orphanTimer = setTimeout(() => {
      this.opts.log.error({ afterMs: ms }, 'no proxy for too long; ending every session and exiting');
      this.shutdown(4);
    }, ms);
  }

  shutdown(code: number): void {
    clearTimeout(this.orphanTimer);
    clearTimeout(this.cooldownTimer);
    void this.relay.then((relay) => relay?.close());
    this.egress.close();
    this.tunnels.close();
    void this.sync.close();
    for (const s of this.sessions.values()) s.dispose();
    this.sessions.clear();
    this.socket.disconnect();
    this.opts.onShutdown?.();
    process.exitCode = code;
  }
}

function valid(n: unknown): n is number {
  return typeof n === 'number' && Number.isInteger(n) && n >= 1 && n <= 1000;
}
