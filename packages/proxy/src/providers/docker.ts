import fs from 'node:fs';
import path from 'node:path';
import { AppError, type ErrorCode } from '@rclaude/protocol';
import Docker from 'dockerode';
import tar from 'tar-stream';
import { DEFAULT_SANDBOX_LIMITS, limitReason } from './limits.js';
import type { Provider, SandboxHandle, SandboxSize, SandboxSpec, SandboxStatus } from './types.js';

export interface DockerProviderOptions {
  /** The sandbox image (RCLAUDE_DOCKER_IMAGE), built by docker/build.sh. */
  image: string;
  /**
   * Host path of the Unix socket on which the proxy serves agents (RCLAUDE_DOCKER_AGENT_SOCKET). Its folder is
   * bound read-only into every sandbox, which has no network: this socket is its only way out.
   */
  agentSocket: string;
  /** CPUs per sandbox (RCLAUDE_DOCKER_CPUS, else RCLAUDE_SANDBOX_CPUS), fractions allowed; 0: no limit. */
  cpus: number;
  /** Memory per sandbox, MiB (RCLAUDE_DOCKER_MEMORY_MIB, else RCLAUDE_SANDBOX_MEMORY); no swap beyond it; 0: no limit. */
  memoryMiB: number;
  /** Most processes (threads included) a sandbox may hold at once (RCLAUDE_DOCKER_MAX_PROCESSES, else RCLAUDE_SANDBOX_PIDS); 0: no limit. */
  maxProcesses: number;
  /** Size of the sandbox's /tmp (memory-backed, counted in memoryMiB), MiB (RCLAUDE_DOCKER_TMP_MIB). */
  tmpMiB: number;
  /** Marks this installation's containers and volumes (label), so `list()` finds only ours. Default `default`. */
  installation?: string;
  /** Replaces the image's entrypoint (tests run a stand-in for the agent). Default: the image's (the agent). */
  entrypoint?: string[];
  /** Seconds `stop()` gives the agent after SIGTERM before SIGKILL. Default 5. */
  stopGraceSeconds?: number;
  /** A ready client; default one from DOCKER_HOST or /var/run/docker.sock (creation fails when neither is there). */
  docker?: Docker;
}

const DEFAULT_ENGINE_SOCKET = '/var/run/docker.sock';
/** Where the agent socket's folder appears inside a sandbox. */
export const SANDBOX_SOCKET_DIR = '/run/rclaude';
const WORKSPACE = '/workspace';
const HOME = '/home/rclaude';
/**
 * Where the agent's start-up token is put (0600, uid 1000) before the container starts: in the home volume, so
 * the token is in neither the container's environment nor its command line (`docker inspect` shows both). The
 * agent reads the file and deletes it.
 */
export const TOKEN_IN_SANDBOX = `${HOME}/.rclaude-agent-token`;
const LABEL_INSTALLATION = 'org.rclaude.installation';
const LABEL_SANDBOX = 'org.rclaude.sandbox-id';
const LABEL_TASK = 'org.rclaude.task-id';
const LABEL_OWNER = 'org.rclaude.owner';
const MiB = 1024 * 1024;

/**
 * Sandboxes as containers on one Docker engine: the sandbox image with the agent as entrypoint, as uid 1000,
 * with no network (`NetworkMode: none`), no capabilities, no privilege gain, a read-only root with a tmpfs
 * /tmp, CPU, memory and process limits, and the workspace and home on named volumes, so a container that
 * stops by itself (OOM, engine restart) loses nothing until `stop()` removes it. The agent reaches the proxy
 * through the Unix socket in the bound folder (RCLAUDE_PROXY_SOCKET).
 */
export function createDockerProvider(options: DockerProviderOptions): Provider {
  const installation = options.installation ?? 'default';
  if (!/^[A-Za-z0-9_-]{1,64}$/.test(installation)) {
    throw new AppError(
      'PROVIDER_UNAVAILABLE',
      'the Docker installation name may only hold letters, digits, _ and - (at most 64)',
    );
  }
  if (!path.isAbsolute(options.agentSocket)) {
    throw new AppError(
      'PROVIDER_UNAVAILABLE',
      `RCLAUDE_DOCKER_AGENT_SOCKET must be an absolute path (got "${options.agentSocket}")`,
    );
  }
  if (!options.docker && !process.env.DOCKER_HOST && !fs.existsSync(DEFAULT_ENGINE_SOCKET)) {
    // Not an error of this server: it is simply not set up for Docker (checked locally, no connection made).
    throw new AppError(
      'PROVIDER_UNAVAILABLE',
      `no Docker engine here (${DEFAULT_ENGINE_SOCKET} does not exist and DOCKER_HOST is not set): install and start Docker to use the docker provider (see docs/docker.md)`,
    );
  }
  const docker = options.docker ?? new Docker();
  const stopGraceSeconds = options.stopGraceSeconds ?? 5;
  const socketDir = path.dirname(options.agentSocket);
  const socketInSandbox = path.posix.join(SANDBOX_SOCKET_DIR, path.basename(options.agentSocket));
  const prefix = `rclaude-${installation}-`;

  const names = (sandboxId: string) => {
    const safe = sandboxId.replace(/[^A-Za-z0-9_.-]/g, '_');
    return { container: `${prefix}${safe}`, workspace: `${prefix}${safe}-workspace`, home: `${prefix}${safe}-home` };
  };

  const fail = (code: ErrorCode, message: string, cause?: unknown) => new AppError(code, message, { cause });

  /** An engine that cannot be reached is the operator's to fix; anything else fails this one start. */
  const mapError = (error: unknown, action: string, code: ErrorCode): AppError => {
    if (error instanceof AppError) return error;
    const e = error as { code?: string; statusCode?: number; json?: { message?: string }; message?: string };
    if (e.code === 'ECONNREFUSED' || e.code === 'ENOENT' || e.code === 'EACCES') {
      return fail(
        'PROVIDER_UNAVAILABLE',
        `could not ${action}: the Docker engine is not reachable (${e.code}); start dockerd, or point DOCKER_HOST at it, and give the server access to its socket`,
        error,
      );
    }
    const detail = e.json?.message ?? e.message ?? String(error);
    return fail(code, `could not ${action}: ${detail}`, error);
  };

  const isStatus = (error: unknown, ...codes: number[]) =>
    codes.includes((error as { statusCode?: number }).statusCode ?? 0);

  /** Removes a sandbox's container and volumes; what is already gone is fine. */
  const remove = async (sandboxId: string, containerRef?: string) => {
    const n = names(sandboxId);
    await docker
      .getContainer(containerRef ?? n.container)
      .remove({ force: true, v: true })
      .catch((error: unknown) => {
        if (!isStatus(error, 404)) throw error;
      });
    for (const volume of [n.workspace, n.home]) {
      await docker
        .getVolume(volume)
        .remove()
        .catch((error: unknown) => {
          if (!isStatus(error, 404)) throw error;
        });
    }
  };

  const cancelled = (signal: AbortSignal) =>
    fail('SANDBOX_START_FAILED', 'the sandbox start was cancelled', signal.reason);

  async function start(spec: SandboxSpec, signal?: AbortSignal): Promise<SandboxHandle> {
    if (signal?.aborted) throw cancelled(signal);
    const n = names(spec.sandboxId);
    try {
      await docker.getImage(options.image).inspect();
    } catch (error) {
      if (isStatus(error, 404)) {
        throw fail(
          'SANDBOX_START_FAILED',
          `the sandbox image ${options.image} is not on this Docker engine: build it with docker/build.sh or set RCLAUDE_DOCKER_IMAGE`,
          error,
        );
      }
      throw mapError(error, 'start a sandbox container', 'SANDBOX_START_FAILED');
    }
    // The engine binds only folders that exist; the agent retries until the proxy listens in it.
    fs.mkdirSync(socketDir, { recursive: true, mode: 0o755 });
    try {
      const create = containerCreateOptions(spec, options, { installation, names: n, socketDir, socketInSandbox });
      for (const volume of [n.workspace, n.home]) await docker.createVolume({ Name: volume, Labels: create.Labels });
      const container = await docker.createContainer(create);
      if (signal?.aborted) throw cancelled(signal);
      const token = spec.env.RCLAUDE_AGENT_TOKEN;
      if (token) await container.putArchive(await tokenArchive(token), { path: HOME });
      await container.start();
      if (signal?.aborted) throw cancelled(signal);
      return { sandboxId: spec.sandboxId, provider: 'docker', ref: container.id };
    } catch (error) {
      // A start that gives up leaves no container or volume behind; a name conflict (409) is someone else's.
      if (!isStatus(error, 409)) await remove(spec.sandboxId).catch(() => undefined);
      throw mapError(error, 'start a sandbox container', 'SANDBOX_START_FAILED');
    }
  }

  async function inspect(handle: SandboxHandle): Promise<SandboxStatus> {
    let info: Docker.ContainerInspectInfo;
    try {
      info = await docker.getContainer(handle.ref).inspect();
    } catch (error) {
      if (isStatus(error, 404)) return { state: 'missing', exitCode: null, reason: null };
      throw mapError(error, 'inspect a sandbox container', 'PROVIDER_UNAVAILABLE');
    }
    const s = info.State;
    if (s.Running || s.Restarting) return { state: 'running', exitCode: null, reason: null };
    if (s.Status === 'created') return { state: 'starting', exitCode: null, reason: null };
    if (s.OOMKilled) {
      const fault = limitReason('memory', { ...DEFAULT_SANDBOX_LIMITS, memoryBytes: options.memoryMiB * MiB });
      return { state: 'stopped', exitCode: s.ExitCode, reason: fault, fault };
    }
    const reason = s.Error
      ? `${s.Error} (exit code ${s.ExitCode})`
      : s.ExitCode === 137
        ? 'killed (exit code 137)'
        : `exited with code ${s.ExitCode}`;
    return { state: 'stopped', exitCode: s.ExitCode, reason };
  }

  async function stop(handle: SandboxHandle): Promise<void> {
    const container = docker.getContainer(handle.ref);
    try {
      await container.stop({ t: stopGraceSeconds });
    } catch (error) {
      // 304: already stopped; 404: already gone.
      if (!isStatus(error, 304, 404)) throw mapError(error, 'stop a sandbox container', 'PROVIDER_UNAVAILABLE');
    }
    try {
      await remove(handle.sandboxId, handle.ref);
    } catch (error) {
      throw mapError(error, 'remove a sandbox container', 'PROVIDER_UNAVAILABLE');
    }
  }

  async function list(): Promise<SandboxHandle[]> {
    try {
      const containers = await docker.listContainers({
        all: true,
        filters: { label: [`${LABEL_INSTALLATION}=${installation}`] },
      });
      return containers.flatMap((c) => {
        const sandboxId = c.Labels[LABEL_SANDBOX];
        return sandboxId ? [{ sandboxId, provider: 'docker' as const, ref: c.Id }] : [];
      });
    } catch (error) {
      throw mapError(error, 'list sandbox containers', 'PROVIDER_UNAVAILABLE');
    }
  }

  const size: SandboxSize = { vcpu: options.cpus, memoryMiB: options.memoryMiB };
  return { name: 'docker', size, start, inspect, stop, list, close: async () => {} };
}

/** The names of a sandbox's container and volumes, and where its agent socket is. */
export interface ContainerPlace {
  installation: string;
  names: { container: string; workspace: string; home: string };
  /** Host folder of the agent socket, bound read-only at {@link SANDBOX_SOCKET_DIR}. */
  socketDir: string;
  /** The socket's path inside the sandbox (RCLAUDE_PROXY_SOCKET). */
  socketInSandbox: string;
}

/**
 * What `start()` asks the engine to create for `spec`: the sandbox image as uid 1000 with no network, no
 * capabilities, no privilege gain, a read-only root, and the sandbox limits (memory with no swap beyond it, CPUs,
 * processes; a 0 leaves that one unlimited). A pure function of its inputs, so the options can be checked
 * without an engine.
 */
export function containerCreateOptions(
  spec: SandboxSpec,
  options: Pick<DockerProviderOptions, 'image' | 'entrypoint' | 'cpus' | 'memoryMiB' | 'maxProcesses' | 'tmpMiB'>,
  place: ContainerPlace,
): Docker.ContainerCreateOptions & { Labels: Record<string, string> } {
  const labels: Record<string, string> = {
    [LABEL_INSTALLATION]: place.installation,
    [LABEL_SANDBOX]: spec.sandboxId,
    ...(spec.taskId ? { [LABEL_TASK]: spec.taskId } : {}),
    ...(spec.owner ? { [LABEL_OWNER]: spec.owner } : {}),
  };
  const { RCLAUDE_AGENT_TOKEN: token, ...specEnv } = spec.env;
  const env = {
    ...specEnv,
    ...(token ? { RCLAUDE_AGENT_TOKEN_FILE: TOKEN_IN_SANDBOX } : {}),
    RCLAUDE_PROXY_SOCKET: place.socketInSandbox,
  };
  const memory = Math.max(0, Math.round(options.memoryMiB * MiB));
  return {
    name: place.names.container,
    Image: options.image,
    ...(options.entrypoint ? { Entrypoint: options.entrypoint, Cmd: [] } : {}),
    Env: Object.entries(env).map(([k, v]) => `${k}=${v}`),
    Labels: labels,
    User: '1000:1000',
    WorkingDir: WORKSPACE,
    Hostname: 'rclaude',
    HostConfig: {
      NetworkMode: 'none',
      CapDrop: ['ALL'],
      SecurityOpt: ['no-new-privileges'],
      ReadonlyRootfs: true,
      Tmpfs: { '/tmp': `rw,nosuid,nodev,size=${options.tmpMiB}m,mode=1777` },
      Mounts: [
        { Type: 'volume', Source: place.names.workspace, Target: WORKSPACE },
        { Type: 'volume', Source: place.names.home, Target: HOME },
        { Type: 'bind', Source: place.socketDir, Target: SANDBOX_SOCKET_DIR, ReadOnly: true },
      ],
      NanoCpus: Math.max(0, Math.round(options.cpus * 1e9)),
      Memory: memory,
      // Memory + swap at the memory limit: no swap. Both 0: no limit.
      MemorySwap: memory,
      PidsLimit: Math.max(0, options.maxProcesses),
      RestartPolicy: { Name: 'no' },
      LogConfig: { Type: 'json-file', Config: { 'max-size': '10m', 'max-file': '2' } },
    },
  };
}

/** A tar archive holding only the start-up token file, owned by the sandbox user and readable by it alone. */
async function tokenArchive(token: string): Promise<Buffer> {
  const pack = tar.pack();
  pack.entry({ name: path.posix.basename(TOKEN_IN_SANDBOX), mode: 0o600, uid: 1000, gid: 1000 }, token);
  pack.finalize();
  const chunks: Buffer[] = [];
  for await (const chunk of pack) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}
