import {
  AuthenticationError,
  CommandExitError,
  type CommandHandle,
  type ConnectionOpts,
  RateLimitError,
  Sandbox,
  SandboxError,
  SandboxNotFoundError,
  ServiceBusyError,
  TemplateError,
  TimeoutError,
} from '@e2b/code-interpreter';
import { AppError, type ErrorCode } from '@rclaude/protocol';
import { e2bNotConfigured } from './settings.js';
import type { Provider, SandboxHandle, SandboxSize, SandboxSpec, SandboxStatus } from './types.js';

export interface E2bProviderOptions {
  /** E2B_API_KEY. */
  apiKey: string;
  /** Template name or id built from docker/ (E2B_TEMPLATE). */
  template: string;
  /** Control-plane URL override (E2B_API_URL), e.g. the testkit emulator. Internal in the SDK's types. */
  apiUrl?: string;
  /** envd URL override for every sandbox (E2B_SANDBOX_URL). Internal in the SDK's types. */
  sandboxUrl?: string;
  /** E2B domain for self-hosted E2B (E2B_DOMAIN). */
  domain?: string;
  /**
   * What starts the agent inside the sandbox, run by `bash -l -c`. Default `exec rclaude-agent`, with its
   * output appended to /tmp/rclaude-agent.log (kept out of the command stream, which would hold it in memory).
   */
  agentCommand?: string;
  /** Working directory of the agent, the task's workspace. Default `/workspace`. */
  workspace?: string;
  /** User the agent runs as (the image's non-root user). Default `rclaude`. */
  user?: string;
  /** Marks this installation's sandboxes (metadata) so `list()` finds only ours. Default `default`. */
  installation?: string;
  /** The template's size, for pricing. Default 2 vCPU, 4096 MiB (what docker/e2b-template.mjs builds). */
  size?: SandboxSize;
  /** Longest sandbox timeout the E2B plan allows, ms (Hobby 1 h, Pro 24 h). Default 3600000. */
  maxSandboxTimeoutMs?: number;
  /** How often the timeout of a running sandbox is pushed towards its lifetime, ms. Default 600000. */
  keepAliveIntervalMs?: number;
  /** Per-request timeout of E2B calls, ms. Default 30000. */
  requestTimeoutMs?: number;
  /** Attempts of calls that are safe to repeat, on 503/5xx/network errors. Default 3. */
  maxAttempts?: number;
  /** Pause between those attempts, ms (doubles each time). Default 500. */
  retryDelayMs?: number;
  now?: () => number;
}

/** What the provider remembers of a sandbox it started or saw, to report exits and keep it alive. */
interface Tracked {
  ref: string;
  /** Epoch ms after which the sandbox must be gone (its maxLifetime). */
  deadline: number;
  /** Epoch ms E2B will kill it at, as last set. */
  endsAt: number;
  agent: CommandHandle | null;
  exit: { exitCode: number | null; reason: string } | null;
  stoppedBy: string | null;
  timer: NodeJS.Timeout | null;
  /** Paused with its memory: no keep-alive, and its agent's dropped command stream is no exit. */
  paused: boolean;
}

const META_SANDBOX = 'rclaudeSandboxId';
const META_TASK = 'rclaudeTaskId';
const META_OWNER = 'rclaudeOwner';
const META_INSTALLATION = 'rclaudeInstallation';
const META_DEADLINE = 'rclaudeDeadline';
/** Sandboxes we stopped, remembered so inspect can say why (bounded). */
const MAX_REMEMBERED = 1000;

/**
 * Sandboxes as E2B sandboxes: create from the template with the agent env and metadata, start the agent
 * as a background command with no deadline, keep the sandbox's timeout moving towards the task's lifetime,
 * kill on stop. `list()` finds this installation's sandboxes by metadata.
 */
export function createE2bProvider(options: E2bProviderOptions): Provider {
  const missing = e2bNotConfigured(options.apiKey);
  if (missing) throw missing;
  const installation = options.installation ?? 'default';
  const now = options.now ?? Date.now;
  const maxTimeoutMs = options.maxSandboxTimeoutMs ?? 3_600_000;
  const keepAliveIntervalMs = options.keepAliveIntervalMs ?? 600_000;
  const maxAttempts = Math.max(1, options.maxAttempts ?? 3);
  const retryDelayMs = options.retryDelayMs ?? 500;
  const workspace = options.workspace ?? '/workspace';
  const agentCommand = options.agentCommand ?? 'exec rclaude-agent >>/tmp/rclaude-agent.log 2>&1';
  const connection: ConnectionOpts = {
    apiKey: options.apiKey,
    requestTimeoutMs: options.requestTimeoutMs ?? 30_000,
    ...(options.apiUrl ? { apiUrl: options.apiUrl } : {}),
    ...(options.sandboxUrl ? { sandboxUrl: options.sandboxUrl } : {}),
    ...(options.domain ? { domain: options.domain } : {}),
  };
  const tracked = new Map<string, Tracked>();
  const stoppedReasons = new Map<string, string>();

  const remember = (ref: string, reason: string) => {
    stoppedReasons.set(ref, reason);
    if (stoppedReasons.size > MAX_REMEMBERED) {
      const oldest = stoppedReasons.keys().next().value;
      if (oldest !== undefined) stoppedReasons.delete(oldest);
    }
  };

  const mapError = (error: unknown, action: string, starting: boolean): AppError => {
    if (error instanceof AppError) return error;
    const permanent: ErrorCode = starting ? 'SANDBOX_START_FAILED' : 'PROVIDER_UNAVAILABLE';
    const message = error instanceof Error ? error.message : String(error);
    if (error instanceof AuthenticationError) {
      return new AppError(permanent, `E2B refused the API key while trying to ${action}: check E2B_API_KEY`, {
        cause: error,
      });
    }
    if (error instanceof RateLimitError) {
      return new AppError(
        'PROVIDER_UNAVAILABLE',
        `E2B is rate limiting this API key (or the plan's concurrent sandbox limit is reached) while trying to ${action}; try again shortly`,
        { cause: error },
      );
    }
    if (error instanceof ServiceBusyError) {
      return new AppError(
        'PROVIDER_UNAVAILABLE',
        `E2B has no capacity right now (503) to ${action}; try again shortly`,
        { cause: error },
      );
    }
    if (error instanceof TemplateError) {
      return new AppError(
        permanent,
        `the E2B template "${options.template}" is too old for this SDK: rebuild it (docs/deploy-e2b.md)`,
        {
          cause: error,
        },
      );
    }
    if (error instanceof TimeoutError || (error instanceof Error && error.name === 'TimeoutError')) {
      return new AppError(
        'PROVIDER_UNAVAILABLE',
        `E2B did not answer in time while trying to ${action}; try again shortly`,
        { cause: error },
      );
    }
    if (error instanceof SandboxError) {
      const status = error.statusCode;
      if (starting && status === 404) {
        return new AppError(
          'SANDBOX_START_FAILED',
          `the E2B template "${options.template}" was not found: build it (docs/deploy-e2b.md) or set E2B_TEMPLATE`,
          { cause: error },
        );
      }
      if (status !== undefined && status >= 400 && status < 500) {
        return new AppError(permanent, `E2B refused to ${action}: ${message}`, { cause: error });
      }
      return new AppError('PROVIDER_UNAVAILABLE', `E2B failed to ${action}: ${message}; try again shortly`, {
        cause: error,
      });
    }
    if (isNetworkError(error)) {
      return new AppError(
        'PROVIDER_UNAVAILABLE',
        `cannot reach E2B${options.apiUrl ? ` at ${options.apiUrl}` : ''} to ${action}`,
        {
          cause: error,
        },
      );
    }
    return new AppError(permanent, `could not ${action} on E2B: ${message}`, { cause: error });
  };

  /** Repeats a call that is safe to repeat, on errors that may pass. */
  const retrying = async <T>(call: () => Promise<T>): Promise<T> => {
    for (let attempt = 1; ; attempt++) {
      try {
        return await call();
      } catch (error) {
        if (attempt >= maxAttempts || !isRetryable(error)) throw error;
        await new Promise((resolve) => setTimeout(resolve, retryDelayMs * 2 ** (attempt - 1)));
      }
    }
  };

  const keepAlive = (entry: Tracked) => {
    if (entry.timer) return;
    entry.timer = setInterval(() => {
      const left = entry.deadline - now();
      // Never push past the lifetime; within the last window E2B's own timeout ends the sandbox on time.
      const target = Math.min(maxTimeoutMs, left);
      if (target <= 0 || now() + target <= entry.endsAt) return;
      Sandbox.setTimeout(entry.ref, target, connection).then(
        () => {
          entry.endsAt = now() + target;
        },
        (error: unknown) => {
          if (error instanceof SandboxNotFoundError) forget(entry);
        },
      );
    }, keepAliveIntervalMs);
    entry.timer.unref();
  };

  const forget = (entry: Tracked) => {
    if (entry.timer) clearInterval(entry.timer);
    entry.timer = null;
  };

  /** Follows the agent command: a definite exit ends the sandbox, as an ECS task ends with its container. */
  const watchAgent = (entry: Tracked, agent: CommandHandle) => {
    agent.wait().then(
      (result) => onAgentExit(entry, result.exitCode),
      (error: unknown) => {
        // A dropped stream (network, proxy shutdown, sandbox killed) says nothing about the agent: ignore it.
        if (error instanceof CommandExitError) onAgentExit(entry, error.exitCode);
      },
    );
  };

  const onAgentExit = (entry: Tracked, exitCode: number) => {
    if (entry.stoppedBy || entry.paused) return;
    entry.exit =
      exitCode >= 0
        ? { exitCode, reason: `the agent exited with code ${exitCode}` }
        : { exitCode: null, reason: 'the agent was killed by a signal' };
    forget(entry);
    void Sandbox.kill(entry.ref, connection).catch(() => undefined);
  };

  async function start(spec: SandboxSpec, signal?: AbortSignal): Promise<SandboxHandle> {
    if (signal?.aborted) throw cancelled(signal);
    const startedAt = now();
    const deadline = startedAt + spec.maxLifetimeMs;
    const timeoutMs = Math.max(1000, Math.min(spec.maxLifetimeMs, maxTimeoutMs));
    const metadata: Record<string, string> = {
      [META_SANDBOX]: spec.sandboxId,
      [META_INSTALLATION]: installation,
      [META_DEADLINE]: String(deadline),
      ...(spec.taskId ? { [META_TASK]: spec.taskId } : {}),
      ...(spec.owner ? { [META_OWNER]: spec.owner } : {}),
    };
    // The start-up token goes in only as a one-time bootstrap reference, which the agent exchanges over HTTPS for
    // its token (POST /api/agent/bootstrap), as on ECS (adr/0021): what E2B's API saw is dead once the agent
    // started, or AGENT_TOKEN_TTL_MS after the start.
    const { RCLAUDE_AGENT_TOKEN: bootstrap, ...rest } = spec.env;
    const envs = bootstrap ? { ...rest, RCLAUDE_AGENT_BOOTSTRAP: bootstrap } : rest;
    let sandbox: Sandbox;
    try {
      // Only a 503 is safe to repeat here: E2B guarantees it created nothing, unlike other errors.
      sandbox = await retryingCreate(() =>
        Sandbox.create(options.template, {
          ...connection,
          envs,
          metadata,
          timeoutMs,
          ...(signal ? { signal } : {}),
        }),
      );
    } catch (error) {
      if (signal?.aborted) throw cancelled(signal);
      throw mapError(error, 'create a sandbox', true);
    }
    const entry: Tracked = {
      ref: sandbox.sandboxId,
      deadline,
      endsAt: startedAt + timeoutMs,
      agent: null,
      exit: null,
      stoppedBy: null,
      timer: null,
      paused: false,
    };
    try {
      // timeoutMs: 0 — the default 60 s deadline would make envd kill the agent a minute in.
      entry.agent = await sandbox.commands.run(agentCommand, {
        background: true,
        timeoutMs: 0,
        cwd: workspace,
        // The agent serves files from RCLAUDE_WORKSPACE; an image's ENV is not sure to reach envd commands.
        envs: { RCLAUDE_WORKSPACE: workspace },
        ...(options.user === '' ? {} : { user: options.user ?? 'rclaude' }),
        ...(signal ? { signal } : {}),
      });
    } catch (error) {
      await Sandbox.kill(sandbox.sandboxId, connection).catch(() => undefined);
      if (signal?.aborted) throw cancelled(signal);
      // Whatever the cause, this sandbox is unusable and gone: the start failed.
      const mapped = mapError(error, 'start the agent', true);
      throw new AppError(
        'SANDBOX_START_FAILED',
        `${mapped.message} (the agent never started in the E2B sandbox: the template must have rclaude-agent on PATH and a ${workspace} directory)`,
        { cause: error },
      );
    }
    tracked.set(entry.ref, entry);
    watchAgent(entry, entry.agent);
    keepAlive(entry);
    return { sandboxId: spec.sandboxId, provider: 'e2b', ref: entry.ref };
  }

  const retryingCreate = async (create: () => Promise<Sandbox>): Promise<Sandbox> => {
    for (let attempt = 1; ; attempt++) {
      try {
        return await create();
      } catch (error) {
        if (attempt >= maxAttempts || !(error instanceof ServiceBusyError)) throw error;
        await new Promise((resolve) => setTimeout(resolve, retryDelayMs * 2 ** (attempt - 1)));
      }
    }
  };

  async function inspect(handle: SandboxHandle): Promise<SandboxStatus> {
    const entry = tracked.get(handle.ref);
    if (entry?.exit) return { state: 'stopped', exitCode: entry.exit.exitCode, reason: entry.exit.reason };
    const stoppedBy = entry?.stoppedBy ?? stoppedReasons.get(handle.ref);
    if (stoppedBy) return { state: 'stopped', exitCode: null, reason: `stopped by rclaude: ${stoppedBy}` };
    try {
      const info = await retrying(() => Sandbox.getInfo(handle.ref, connection));
      if (info.state === 'paused') return { state: 'stopped', exitCode: null, reason: 'the E2B sandbox is paused' };
      if (!entry) adopt(handle.ref, info.metadata, info.endAt);
      return { state: 'running', exitCode: null, reason: null };
    } catch (error) {
      if (error instanceof SandboxNotFoundError) {
        if (entry) {
          forget(entry);
          return {
            state: 'stopped',
            exitCode: null,
            reason: 'the E2B sandbox no longer exists: it was killed outside rclaude or its timeout expired',
          };
        }
        return { state: 'missing', exitCode: null, reason: 'E2B does not know the sandbox' };
      }
      throw mapError(error, 'inspect a sandbox', false);
    }
  }

  /** Picks up a sandbox started by an earlier proxy process, so it is kept alive until its deadline. */
  const adopt = (ref: string, metadata: Record<string, string>, endAt: Date) => {
    const deadline = Number(metadata[META_DEADLINE]);
    if (metadata[META_INSTALLATION] !== installation || !Number.isFinite(deadline)) return;
    const entry: Tracked = {
      ref,
      deadline,
      endsAt: endAt.getTime(),
      agent: null,
      exit: null,
      stoppedBy: null,
      timer: null,
      paused: false,
    };
    tracked.set(ref, entry);
    keepAlive(entry);
  };

  async function stop(handle: SandboxHandle, reason: string): Promise<void> {
    const entry = tracked.get(handle.ref);
    if (entry) {
      entry.stoppedBy = entry.exit ? entry.exit.reason : reason;
      forget(entry);
      tracked.delete(handle.ref);
    }
    remember(handle.ref, entry?.exit?.reason ?? reason);
    try {
      // false means E2B no longer knows it: stopped already.
      await retrying(() => Sandbox.kill(handle.ref, connection));
    } catch (error) {
      throw mapError(error, 'stop a sandbox', false);
    }
  }

  async function pause(handle: SandboxHandle): Promise<void> {
    const entry = tracked.get(handle.ref);
    if (entry) {
      entry.paused = true;
      forget(entry);
    }
    try {
      // keepMemory: the processes (the agent, the PTYs and what runs in them) come back as they were.
      // False from the SDK means it was paused already (409): as good.
      await retrying(() => Sandbox.pause(handle.ref, { ...connection, keepMemory: true }));
    } catch (error) {
      if (entry) entry.paused = false;
      if (error instanceof SandboxNotFoundError) {
        throw new AppError('NOT_FOUND', `E2B no longer has the sandbox ${handle.ref}`, { cause: error });
      }
      throw mapError(error, 'pause a sandbox', false);
    }
  }

  async function resume(handle: SandboxHandle, opts: { lifetimeMs: number; signal?: AbortSignal }): Promise<void> {
    const timeoutMs = Math.max(1000, Math.min(opts.lifetimeMs, maxTimeoutMs));
    let sandbox: Sandbox;
    try {
      // Sandbox.connect is POST /v2/sandboxes/{id}/connect: it resumes a paused sandbox and sets its timeout.
      sandbox = await Sandbox.connect(handle.ref, {
        ...connection,
        timeoutMs,
        ...(opts.signal ? { signal: opts.signal } : {}),
      });
    } catch (error) {
      if (error instanceof SandboxNotFoundError) {
        throw new AppError('NOT_FOUND', `E2B no longer has the paused sandbox ${handle.ref}`, { cause: error });
      }
      throw mapError(error, 'resume a paused sandbox', false);
    }
    const startedAt = now();
    let entry = tracked.get(handle.ref);
    if (!entry) {
      // Paused by an earlier proxy process: kept alive from here on like one this process started.
      entry = {
        ref: handle.ref,
        deadline: 0,
        endsAt: 0,
        agent: null,
        exit: null,
        stoppedBy: null,
        timer: null,
        paused: false,
      };
      tracked.set(handle.ref, entry);
    }
    entry.paused = false;
    entry.deadline = startedAt + opts.lifetimeMs;
    entry.endsAt = startedAt + timeoutMs;
    keepAlive(entry);
    const pid = entry.agent?.pid;
    if (pid === undefined) return;
    // The agent's command stream dropped with the pause: follow it again, so its exit still ends the sandbox.
    try {
      const agent = await sandbox.commands.connect(pid, { timeoutMs: 0 });
      entry.agent = agent;
      watchAgent(entry, agent);
    } catch {
      // Gone meanwhile: the proxy sees the agent's loss through its own connection.
    }
  }

  async function list(): Promise<SandboxHandle[]> {
    try {
      const paginator = Sandbox.list({
        ...connection,
        query: { metadata: { [META_INSTALLATION]: installation }, state: ['running'] },
        limit: 100,
      });
      const handles: SandboxHandle[] = [];
      while (paginator.hasNext) {
        for (const info of await retrying(() => paginator.nextItems())) {
          const sandboxId = info.metadata[META_SANDBOX];
          if (sandboxId && !stoppedReasons.has(info.sandboxId))
            handles.push({ sandboxId, provider: 'e2b', ref: info.sandboxId });
        }
      }
      return handles;
    } catch (error) {
      throw mapError(error, 'list sandboxes', false);
    }
  }

  return {
    name: 'e2b',
    size: options.size ?? { vcpu: 2, memoryMiB: 4096 },
    start,
    inspect,
    stop,
    list,
    pause,
    resume,
    close: async () => {
      for (const entry of tracked.values()) {
        forget(entry);
        // Leaves the agent running: only this process stops listening.
        await entry.agent?.disconnect();
      }
      tracked.clear();
    },
  };
}

function isRetryable(error: unknown): boolean {
  if (error instanceof ServiceBusyError) return true;
  if (error instanceof SandboxError && !(error instanceof RateLimitError)) {
    return error.statusCode !== undefined && error.statusCode >= 500;
  }
  return isNetworkError(error);
}

function isNetworkError(error: unknown): boolean {
  // undici: TypeError('fetch failed') with a system error as cause.
  const cause = (error as { cause?: { code?: unknown } } | null)?.cause;
  return error instanceof TypeError && typeof cause?.code === 'string';
}

function cancelled(signal: AbortSignal): AppError {
  return new AppError('SANDBOX_START_FAILED', 'the sandbox start was cancelled', { cause: signal.reason });
}
