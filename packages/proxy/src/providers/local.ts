import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import type { Writable } from 'node:stream';
import { AppError } from '@rclaude/protocol';
import type { Logger } from 'pino';
import { type CgroupDetection, detectCgroups, type SandboxCgroup } from './cgroups.js';
import { DiskUsageWalk, ownFilesystemUsage } from './disk-usage.js';
import { type LaunchPlan, planLaunch, type Rlimits } from './launch-command.js';
import { DEFAULT_SANDBOX_LIMITS, type LimitKind, limitReason, type SandboxLimits } from './limits.js';
import { resolveSandboxUser } from './sandbox-user.js';
import type { Provider, SandboxHandle, SandboxSpec, SandboxStatus } from './types.js';

export interface LocalProviderOptions {
  /** Sandboxes live under `<dataDir>/sandboxes/<sandboxId>/` (workspace, home, agent.log, ref). */
  dataDir: string;
  /** `bwrap` confines each sandbox; `none` runs the agent as a plain process (explicit opt-in). */
  confinement: 'bwrap' | 'none';
  /**
   * Host path of the proxy's agent Unix socket. A confined sandbox has no network (its own namespace, loopback
   * only): the socket's folder is bound read-only at {@link SANDBOX_SOCKET_DIR} and is its only way out.
   */
  agentSocket: string;
  log: Logger;
  /**
   * RCLAUDE_SANDBOX_USER: the host user sandboxes run as when the server runs as root (a name, uid or
   * `uid:gid`); default `rclaude-sandbox`, created if missing. Ignored when the server is not root.
   */
  sandboxUser?: string | undefined;
  /** Memory, CPU, process and disk limits of each sandbox; default {@link DEFAULT_SANDBOX_LIMITS}. */
  limits?: SandboxLimits;
  /** How often each sandbox's workspace size is checked, ms. Default 30000. */
  diskCheckIntervalMs?: number;
  /** How often the memory and process limit counters are read, ms. Default 1000. */
  monitorIntervalMs?: number;
  /**
   * Called once when a sandbox reached a limit and was stopped for it, with the words for its task's timeline
   * ("the sandbox ran out of memory (limit 4 GiB)").
   */
  onFault?: (sandboxId: string, reason: string) => void;
  /** Where sandboxes get cgroups; default detected at start-up ({@link detectCgroups}). */
  cgroups?: CgroupDetection;
}

const SANDBOX_UID = 1000;
const WORKSPACE = '/workspace';
const HOME = '/home/rclaude';
/** Where bubblewrap writes the agent's start-up token inside the sandbox (from a pipe; never on the host's disk). */
const TOKEN_IN_SANDBOX = '/run/rclaude-agent-token';
/** The pipe the token arrives on (after stdin, stdout, stderr and bubblewrap's info fd). */
const TOKEN_FD = 4;
/** Time one disk check of one sandbox may take before it goes on at the next check. */
const DISK_STEP_BUDGET_MS = 200;

/** A running sandbox this provider watches for limits. */
interface Watched {
  ref: string;
  dir: string;
  cgroup: SandboxCgroup | null;
  walk: DiskUsageWalk;
  nextDiskCheck: number;
  /** Set once the sandbox was stopped for a limit (it is reported once). */
  fault: string | null;
}
/** Where the agent socket's folder appears inside a confined sandbox (as in docker sandboxes). */
const SANDBOX_SOCKET_DIR = '/run/rclaude';

/**
 * The default provider: each sandbox is the agent under bubblewrap on this machine, with a read-only view
 * of the system, its own writable workspace, home and /tmp, its own PID/IPC/UTS namespaces and an
 * unprivileged uid, and no view of the server's files or other workspaces. Sandboxes are detached from the
 * server (their own session) so a server restart leaves them running; they dial back in.
 *
 * A server running as root runs its sandboxes, bubblewrap included, as an unprivileged host user (see
 * {@link resolveSandboxUser}), never as root. Each sandbox gets a cgroup with memory, process and CPU limits
 * where one can be created (cgroup v2 or v1), else per-process rlimits; its workspace size is checked
 * periodically. A sandbox that reaches a limit is stopped and reported through `onFault`.
 */
export function createLocalProvider(opts: LocalProviderOptions): Provider {
  const confined = opts.confinement === 'bwrap';
  if (!confined)
    opts.log.warn(
      'local sandboxes run UNCONFINED (RCLAUDE_LOCAL_SANDBOX=none): tasks can read and write everything this user can',
    );
  const limits = opts.limits ?? DEFAULT_SANDBOX_LIMITS;
  const user = resolveSandboxUser({
    configured: opts.sandboxUser,
    onCreated: (u) => opts.log.info({ user: u }, 'created the host user local sandboxes run as'),
  });
  if (!user && opts.sandboxUser) {
    opts.log.warn('RCLAUDE_SANDBOX_USER applies only to a server running as root; sandboxes run as the server user');
  }
  const root = path.join(opts.dataDir, 'sandboxes');
  fs.mkdirSync(root, { recursive: true, mode: 0o700 });
  const agent = locateAgent();
  // bwrap binds only folders that exist; an agent retries until the proxy listens in this one.
  const socketDir = path.dirname(opts.agentSocket);
  fs.mkdirSync(socketDir, { recursive: true, mode: 0o755 });
  const stageRoot = fs.existsSync('/mnt') && fs.statSync('/mnt').isDirectory() ? '/mnt' : '/tmp';
  const cgroups = opts.cgroups ?? detectCgroups();
  if (cgroups.ok) {
    const swept = cgroups.cgroups.sweep(60_000);
    opts.log.info({ cgroup: cgroups.cgroups.version, parents: cgroups.cgroups.parents, swept }, 'local sandbox limits');
    if (cgroups.cgroups.missing.length > 0 && limits.cpus > 0) {
      opts.log.warn(`no ${cgroups.cgroups.missing.join(', ')} cgroup controller here: sandboxes get no CPU limit`);
    }
  } else {
    opts.log.warn(
      { reason: cgroups.reason },
      `no writable cgroup for local sandboxes: falling back to per-process rlimits. Each process may use ${limits.memoryBytes > 0 ? 'up to the memory limit on its own (not the sandbox in total)' : 'any memory'}; the process limit counts every process of the sandbox's host user${user ? ` (${user.name}, shared by all sandboxes)` : ' (the server user)'}; there is no CPU limit, and a sandbox reaching a limit gets no reason on its timeline. Give the server a cgroup it may write (cgroup v2 with Delegate=yes, or run it as root) for real limits.`,
    );
  }
  probeSandbox();
  const watched = new Map<string, Watched>();
  const monitorIntervalMs = opts.monitorIntervalMs ?? 1000;
  const diskCheckIntervalMs = opts.diskCheckIntervalMs ?? 30_000;
  resumeWatching();
  let ticking = false;
  const monitor = setInterval(() => {
    if (ticking) return;
    ticking = true;
    void tick()
      .catch((err: unknown) => opts.log.error({ err }, 'checking sandbox limits failed'))
      .finally(() => {
        ticking = false;
      });
  }, monitorIntervalMs);
  monitor.unref();

  /** Creates the directories of a sandbox; with a sandbox user, its workspace and home are that user's. */
  function makeDirs(dir: string): { workspace: string; home: string } {
    const workspace = path.join(dir, 'workspace');
    const home = path.join(dir, 'home');
    // The sandbox user reaches its directories through `dir` (bound where it can), never by listing it.
    fs.mkdirSync(dir, { recursive: true, mode: user ? 0o711 : 0o700 });
    for (const d of [workspace, home]) {
      fs.mkdirSync(d, { recursive: true, mode: 0o700 });
      if (user) fs.chownSync(d, user.uid, user.gid);
    }
    writeIdentity(dir);
    return { workspace, home };
  }

  /** The launch chain of a sandbox in `dir`: staged directories, cgroup join or rlimits, user switch. */
  function plan(dir: string, cgroup: SandboxCgroup | null): LaunchPlan {
    return planLaunch({
      user,
      cgroupProcs: cgroup?.procsFiles() ?? [],
      rlimits: cgroups.ok ? null : fallbackRlimits(),
      stage: confined ? [dir, socketDir, ...agent.binds] : [dir],
      stageRoot,
    });
  }

  function fallbackRlimits(): Rlimits | null {
    const r: Rlimits = {};
    // RLIMIT_NPROC counts every process of the uid: leave room for those it already runs.
    if (limits.pids > 0) r.nproc = tasksOfUid(user?.uid ?? process.getuid?.() ?? 0) + limits.pids;
    if (limits.memoryBytes > 0) r.dataBytes = limits.memoryBytes;
    return Object.keys(r).length > 0 ? r : null;
  }

  /** The command that runs `inner` in a sandbox in `dir` (bubblewrap's, after the launch chain). */
  function command(dir: string, launch: LaunchPlan, env: Record<string, string>, inner: string[]): string[] {
    const at = launch.at(dir);
    if (!confined) return launch.wrap(inner);
    return launch.wrap([
      'bwrap',
      ...bwrapArgs(
        path.join(at, 'workspace'),
        path.join(at, 'home'),
        launch.at(socketDir),
        agent.binds,
        env,
        launch.at,
      ),
      '--perms',
      '0600',
      '--file',
      String(TOKEN_FD),
      TOKEN_IN_SANDBOX,
      ...inner,
    ]);
  }

  /**
   * Starts a throwaway sandbox as sandboxes will be started, checking the agent and node can be run there
   * (bubblewrap installed and allowed, the sandbox user able to read the agent), so a server that cannot run
   * sandboxes says so at start-up.
   */
  function probeSandbox(): void {
    if (confined) {
      const version = spawnSync('bwrap', ['--version'], { encoding: 'utf8', timeout: 10_000 });
      if (version.error && (version.error as NodeJS.ErrnoException).code === 'ENOENT') {
        throw new AppError(
          'PROVIDER_UNAVAILABLE',
          'bubblewrap (bwrap) is not installed; it confines local sandboxes. Install it (Debian/Ubuntu: `sudo apt-get install bubblewrap`, Fedora: `sudo dnf install bubblewrap`), or start the server with `--unconfined` to run tasks without confinement.',
        );
      }
    }
    if (!confined && !user) return;
    const dir = path.join(root, `.probe-${process.pid}-${Date.now()}`);
    try {
      const { workspace } = makeDirs(dir);
      const launch = plan(dir, null);
      const check = ['/bin/sh', '-c', 'test -r "$0" && test -x "$1"', agent.entry, process.execPath];
      const argv = command(dir, launch, {}, check);
      // bwrap's info fd and the token's fd: /dev/null will do.
      const nul = fs.openSync('/dev/null', 'r+');
      let probe: ReturnType<typeof spawnSync>;
      try {
        probe = spawnSync(argv[0] as string, argv.slice(1), {
          encoding: 'utf8',
          timeout: 15_000,
          cwd: workspace,
          stdio: ['ignore', 'pipe', 'pipe', nul, nul],
          env: { PATH: process.env.PATH ?? '/usr/bin:/bin' },
        });
      } finally {
        fs.closeSync(nul);
      }
      if (probe.status === 0) return;
      const detail = `${probe.stderr ?? ''}`.trim() || probe.error?.message || `exit ${probe.status}`;
      const who = user ? ` as the unprivileged user ${user.name} (uid ${user.uid})` : '';
      throw new AppError(
        'PROVIDER_UNAVAILABLE',
        confined
          ? `bubblewrap cannot create a sandbox here${who}: ${detail}. Unprivileged user namespaces may be disabled (e.g. kernel.apparmor_restrict_unprivileged_userns=1 on Ubuntu 24.04), or ${user ? 'that user cannot read the agent or node (install rclaude where other users can read it), or' : ''} start the server with \`--unconfined\`.`
          : `cannot start an unconfined sandbox${who}: ${detail}. That user must be able to read the agent (${agent.entry}) and run node; install rclaude where other users can read it.`,
      );
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }

  async function start(spec: SandboxSpec): Promise<SandboxHandle> {
    const dir = path.join(root, spec.sandboxId);
    const { workspace } = makeDirs(dir);
    const log = fs.openSync(path.join(dir, 'agent.log'), 'a', 0o600);
    const { RCLAUDE_AGENT_TOKEN: token, ...specEnv } = spec.env;
    let cgroup: SandboxCgroup | null = null;
    try {
      if (!token) throw new Error('the sandbox spec has no RCLAUDE_AGENT_TOKEN');
      if (cgroups.ok) {
        cgroup = cgroups.cgroups.create(spec.sandboxId, limits);
        fs.writeFileSync(path.join(dir, 'cgroup.json'), JSON.stringify(cgroup.dirs), { mode: 0o600 });
      }
      const launch = plan(dir, cgroup);
      const at = launch.at(dir);
      const env: Record<string, string> = {
        PATH: '/usr/local/bin:/usr/bin:/bin',
        LANG: process.env.LANG ?? 'C.UTF-8',
        TERM: 'xterm-256color',
        USER: 'rclaude',
        HOME: confined ? HOME : path.join(at, 'home'),
        RCLAUDE_WORKSPACE: confined ? WORKSPACE : path.join(at, 'workspace'),
        ...specEnv,
        RCLAUDE_AGENT_TOKEN_FILE: confined ? TOKEN_IN_SANDBOX : path.join(at, 'run', 'agent-token'),
        ...(confined
          ? { RCLAUDE_PROXY_SOCKET: path.posix.join(SANDBOX_SOCKET_DIR, path.basename(opts.agentSocket)) }
          : {}),
      };
      let pid: number;
      if (confined) {
        const info = fs.mkdtempSync(path.join(dir, 'info-'));
        const infoFile = path.join(info, 'info.json');
        const infoFd = fs.openSync(infoFile, 'w', 0o600);
        const argv = command(dir, launch, env, [process.execPath, agent.entry]);
        const child = spawn(argv[0] as string, argv.slice(1), {
          detached: true,
          cwd: workspace,
          stdio: ['ignore', log, log, infoFd, 'pipe'],
          // bwrap itself is PID 1 inside the sandbox, where /proc/1/environ is readable: it must not carry the
          // server's environment (database URL, server key, cloud credentials). The agent gets `env` via --setenv,
          // and its token through a pipe bubblewrap copies into a file only the sandbox sees.
          env: { PATH: process.env.PATH ?? '/usr/bin:/bin' },
        });
        fs.closeSync(infoFd);
        const tokenPipe = child.stdio[TOKEN_FD] as Writable | null;
        tokenPipe?.on('error', () => undefined);
        tokenPipe?.end(token);
        child.unref();
        pid = await readChildPid(child, infoFile);
        fs.rmSync(info, { recursive: true, force: true });
      } else {
        const run = path.join(dir, 'run');
        fs.mkdirSync(run, { recursive: true, mode: 0o700 });
        if (user) fs.chownSync(run, user.uid, user.gid);
        const tokenFile = path.join(run, 'agent-token');
        fs.writeFileSync(tokenFile, token, { mode: 0o600 });
        if (user) fs.chownSync(tokenFile, user.uid, user.gid);
        const argv = command(dir, launch, env, [process.execPath, agent.entry]);
        const child = spawn(argv[0] as string, argv.slice(1), {
          detached: true,
          cwd: workspace,
          env,
          stdio: ['ignore', log, log],
        });
        child.unref();
        if (!child.pid) throw new Error('spawn returned no pid');
        pid = child.pid;
      }
      const ref = `${pid}:${startTime(pid) ?? 0}`;
      fs.writeFileSync(path.join(dir, 'ref'), ref, { mode: 0o600 });
      watch(spec.sandboxId, ref, dir, cgroup);
      return { sandboxId: spec.sandboxId, provider: 'local', ref };
    } catch (err) {
      if (cgroup) {
        cgroup.kill();
        cgroup.remove();
      }
      throw new AppError('SANDBOX_START_FAILED', `could not start a local sandbox: ${(err as Error).message}`, {
        cause: err,
      });
    } finally {
      fs.closeSync(log);
    }
  }

  function watch(sandboxId: string, ref: string, dir: string, cgroup: SandboxCgroup | null): void {
    watched.set(sandboxId, {
      ref,
      dir,
      cgroup,
      walk: new DiskUsageWalk([path.join(dir, 'workspace'), path.join(dir, 'home')]),
      nextDiskCheck: Date.now() + diskCheckIntervalMs,
      fault: readFault(dir),
    });
  }

  /** After a server restart: watch the sandboxes still running, in the cgroups they were started in. */
  function resumeWatching(): void {
    for (const id of fs.readdirSync(root)) {
      const dir = path.join(root, id);
      let ref: string;
      try {
        ref = fs.readFileSync(path.join(dir, 'ref'), 'utf8');
      } catch {
        continue;
      }
      let cgroup: SandboxCgroup | null = null;
      try {
        const dirs = JSON.parse(fs.readFileSync(path.join(dir, 'cgroup.json'), 'utf8')) as string[];
        if (cgroups.ok) cgroup = cgroups.cgroups.open(dirs);
      } catch {
        // Started without a cgroup.
      }
      if (alive(ref) || (cgroup && cgroup.pids().length > 0)) watch(id, ref, dir, cgroup);
      else cgroup?.remove();
    }
  }

  /** The limit a sandbox's cgroup reports it reached, if any. */
  function counterFault(w: Watched): LimitKind | null {
    if (!w.cgroup) return null;
    const c = w.cgroup.counters();
    if (c.oomKills > 0) return 'memory';
    if (c.pidsMax > 0) return 'pids';
    return null;
  }

  async function tick(): Promise<void> {
    const now = Date.now();
    for (const [id, w] of watched) {
      if (w.fault !== null || !alive(w.ref)) {
        // Ended (or stopped for a limit): what is left in its cgroup goes, then the cgroup.
        if (w.cgroup) {
          w.cgroup.kill();
          if (!w.cgroup.remove()) continue;
        }
        if (!alive(w.ref)) watched.delete(id);
        continue;
      }
      const kind = counterFault(w);
      if (kind) {
        fail(id, w, kind);
        continue;
      }
      if (limits.diskBytes > 0 && now >= w.nextDiskCheck) {
        const used = ownFilesystemUsage(path.join(w.dir, 'workspace'));
        const { bytes, done } = used !== null ? { bytes: used, done: true } : await w.walk.step(DISK_STEP_BUDGET_MS);
        if (bytes > limits.diskBytes) fail(id, w, 'disk');
        else if (done) w.nextDiskCheck = Date.now() + diskCheckIntervalMs;
      }
    }
  }

  /** Stops a sandbox that reached a limit, remembers why (for inspect) and reports it. */
  function fail(sandboxId: string, w: Watched, kind: LimitKind): void {
    const reason = limitReason(kind, limits);
    w.fault = reason;
    try {
      fs.writeFileSync(path.join(w.dir, 'fault'), reason, { mode: 0o600 });
    } catch {
      // The reason still goes to onFault.
    }
    opts.log.warn({ sandboxId, limit: kind }, reason);
    kill(w.ref);
    opts.onFault?.(sandboxId, reason);
  }

  /** Kills the sandbox's first process (its PID namespace's init, or the agent's process group); the next tick
   * clears its cgroup. */
  function kill(ref: string): void {
    const pid = Number.parseInt(ref, 10);
    if (alive(ref)) signal(confined ? pid : -pid, 'SIGKILL');
  }

  async function inspect(handle: SandboxHandle): Promise<SandboxStatus> {
    const w = watched.get(handle.sandboxId);
    const dir = path.join(root, handle.sandboxId);
    // Read now, not at the next tick: a session killed by the OOM killer must end its task with this reason.
    const kind = w && w.fault === null ? counterFault(w) : null;
    const fault = w?.fault ?? readFault(dir) ?? (kind ? limitReason(kind, limits) : null);
    const withFault = fault ? { fault } : {};
    return alive(handle.ref)
      ? { state: 'running', exitCode: null, reason: null, ...withFault }
      : { state: 'stopped', exitCode: null, reason: fault ?? 'process ended', ...withFault };
  }

  async function stop(handle: SandboxHandle): Promise<void> {
    const pid = Number.parseInt(handle.ref, 10);
    const w = watched.get(handle.sandboxId);
    if (alive(handle.ref)) {
      if (confined) {
        // `pid` is the init of the sandbox's PID namespace: killing it ends every process inside at once. The
        // task is already recorded by now, so there is nothing to wait for.
        signal(pid, 'SIGKILL');
      } else {
        signal(-pid, 'SIGTERM');
        for (let i = 0; i < 30 && alive(handle.ref); i++) await sleep(50);
        signal(-pid, 'SIGKILL');
      }
    }
    for (let i = 0; i < 40 && alive(handle.ref); i++) await sleep(25);
    // Then whatever else is in its cgroup (a process that left the process group, bubblewrap's outer process
    // on its way out), and the cgroup once empty.
    if (w && !alive(handle.ref)) {
      let removed = !w.cgroup;
      for (let i = 0; i < 40 && !removed && w.cgroup; i++) {
        w.cgroup.kill();
        removed = w.cgroup.remove();
        if (!removed) await sleep(25);
      }
      if (removed) watched.delete(handle.sandboxId);
    }
  }

  async function list(): Promise<SandboxHandle[]> {
    const out: SandboxHandle[] = [];
    for (const id of fs.readdirSync(root)) {
      let ref: string;
      try {
        ref = fs.readFileSync(path.join(root, id, 'ref'), 'utf8');
      } catch {
        continue;
      }
      if (alive(ref)) out.push({ sandboxId: id, provider: 'local', ref });
    }
    return out;
  }

  return {
    name: 'local',
    size: { vcpu: 0, memoryMiB: 0 },
    start,
    inspect,
    stop,
    list,
    close: async () => {
      clearInterval(monitor);
      // Sandboxes that ended meanwhile: their cgroups go now (running ones are left, with their cgroups).
      for (const w of watched.values()) if (!alive(w.ref)) w.cgroup?.remove();
    },
  };
}

function readFault(dir: string): string | null {
  try {
    return fs.readFileSync(path.join(dir, 'fault'), 'utf8') || null;
  } catch {
    return null;
  }
}

/** Tasks (processes and threads) of a uid now, as RLIMIT_NPROC counts them. */
function tasksOfUid(uid: number): number {
  let n = 0;
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const status = fs.readFileSync(`/proc/${entry}/status`, 'utf8');
      if (Number(/^Uid:\s+(\d+)/m.exec(status)?.[1]) !== uid) continue;
      n += Number(/^Threads:\s+(\d+)/m.exec(status)?.[1] ?? 1);
    } catch {
      // Gone meanwhile.
    }
  }
  return n;
}

/**
 * The sandbox's view of the machine. No network: `--unshare-all` gives it its own network namespace with only
 * `lo`, so neither the host's loopback services nor its abstract Unix sockets are reachable; the agent dials
 * the proxy through the agent socket, whose folder (`socketDir`) is bound read-only.
 */
function bwrapArgs(
  workspace: string,
  home: string,
  socketDir: string,
  binds: string[],
  env: Record<string, string>,
  hostPath: (dir: string) => string = (dir) => dir,
): string[] {
  const args = [
    '--unshare-all',
    '--uid',
    String(SANDBOX_UID),
    '--gid',
    String(SANDBOX_UID),
    '--hostname',
    'rclaude',
    '--new-session',
    '--ro-bind',
    '/usr',
    '/usr',
    '--ro-bind-try',
    '/etc',
    '/etc',
    '--ro-bind-try',
    '/opt',
    '/opt',
    '--proc',
    '/proc',
    '--dev',
    '/dev',
    '--tmpfs',
    '/tmp',
    '--tmpfs',
    '/run',
    '--ro-bind',
    socketDir,
    SANDBOX_SOCKET_DIR,
    // The sandbox user is `rclaude` (uid 1000), whatever uid 1000 is called on the host.
    '--ro-bind',
    path.join(path.dirname(workspace), 'passwd'),
    '/etc/passwd',
    '--ro-bind',
    path.join(path.dirname(workspace), 'group'),
    '/etc/group',
    '--bind',
    workspace,
    WORKSPACE,
    '--bind',
    home,
    HOME,
    '--chdir',
    WORKSPACE,
    '--info-fd',
    '3',
    '--clearenv',
  ];
  for (const link of ['bin', 'lib', 'lib64', 'sbin']) {
    const target = safeReadlink(`/${link}`);
    if (target) args.push('--symlink', target, `/${link}`);
    else if (fs.existsSync(`/${link}`)) args.push('--ro-bind', `/${link}`, `/${link}`);
  }
  for (const dir of binds) args.push('--ro-bind', hostPath(dir), dir);
  for (const [k, v] of Object.entries(env)) args.push('--setenv', k, v);
  return args;
}

/** passwd and group files naming the sandbox user, bound over the host's. */
function writeIdentity(dir: string): void {
  const keep = (file: string) =>
    (fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : '')
      .split('\n')
      .filter((l) => l && l.split(':')[2] !== String(SANDBOX_UID) && !l.startsWith('rclaude:'));
  const passwd = [...keep('/etc/passwd'), `rclaude:x:${SANDBOX_UID}:${SANDBOX_UID}:rclaude:${HOME}:/bin/bash`];
  const group = [...keep('/etc/group'), `rclaude:x:${SANDBOX_UID}:`];
  fs.writeFileSync(path.join(dir, 'passwd'), `${passwd.join('\n')}\n`, { mode: 0o644 });
  fs.writeFileSync(path.join(dir, 'group'), `${group.join('\n')}\n`, { mode: 0o644 });
}

/** Where the agent's code and its dependencies are, to bind them read-only into the sandbox. */
function locateAgent(): { entry: string; binds: string[] } {
  const require = createRequire(import.meta.url);
  const agentDir = fs.realpathSync(path.dirname(require.resolve('@rclaude/agent/package.json')));
  const entry = path.join(agentDir, 'dist', 'main.js');
  if (!fs.existsSync(entry)) {
    throw new AppError('PROVIDER_UNAVAILABLE', `the agent is not built (${entry} is missing): run \`npm run build\``);
  }
  const binds = new Set([agentDir]);
  // The agent's workspace dependencies (protocol, client) are links out of node_modules: bind what they point at.
  const fromAgent = createRequire(path.join(agentDir, 'package.json'));
  const manifest = JSON.parse(fs.readFileSync(path.join(agentDir, 'package.json'), 'utf8')) as {
    dependencies?: Record<string, string>;
  };
  for (const name of Object.keys(manifest.dependencies ?? {})) {
    if (name.startsWith('@rclaude/'))
      binds.add(fs.realpathSync(path.dirname(fromAgent.resolve(`${name}/package.json`))));
  }
  // Every node_modules from the agent up to the filesystem root may hold its dependencies.
  for (let dir = agentDir; ; dir = path.dirname(dir)) {
    const nm = path.join(dir, 'node_modules');
    if (fs.existsSync(nm)) binds.add(fs.realpathSync(nm));
    if (path.dirname(dir) === dir) break;
  }
  const nodeDir = path.dirname(path.dirname(fs.realpathSync(process.execPath)));
  if (!nodeDir.startsWith('/usr')) binds.add(nodeDir);
  return { entry, binds: [...binds].filter((d) => !d.startsWith('/usr/')) };
}

async function readChildPid(child: ReturnType<typeof spawn>, infoFile: string): Promise<number> {
  // bwrap writes {"child-pid": N} to --info-fd once the sandbox's init exists.
  const exited = once(child, 'exit').then(([code]) => {
    throw new Error(`bwrap exited with code ${code}; see agent.log`);
  });
  exited.catch(() => undefined);
  for (let i = 0; i < 200; i++) {
    try {
      const text = fs.readFileSync(infoFile, 'utf8');
      const pid = (JSON.parse(text) as { 'child-pid'?: number })['child-pid'];
      if (pid) return pid;
    } catch {
      // Not written yet.
    }
    await Promise.race([sleep(5), exited]);
  }
  throw new Error('bwrap did not report its sandbox within 1s');
}

function startTime(pid: number): string | null {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    // After the parenthesised command name, which may itself contain spaces: field 3 (state), field 22
    // (starttime). A zombie has ended: its parent merely has not collected it yet.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (fields[0] === 'Z' || fields[0] === 'X') return null;
    return fields[19] ?? null;
  } catch {
    return null;
  }
}

/** Alive and the same process (a recycled pid has another start time). */
function alive(ref: string): boolean {
  const [pidText, started] = ref.split(':');
  const pid = Number.parseInt(pidText ?? '', 10);
  if (!pid) return false;
  const now = startTime(pid);
  return now !== null && (started === '0' || now === started);
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    // Gone already.
  }
}

function safeReadlink(p: string): string | null {
  try {
    return fs.readlinkSync(p);
  } catch {
    return null;
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
