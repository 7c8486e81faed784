import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { AppError } from '@rclaude/protocol';
import type { Logger } from 'pino';
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
}

const SANDBOX_UID = 1000;
const WORKSPACE = '/workspace';
const HOME = '/home/rclaude';
/** Where the agent socket's folder appears inside a confined sandbox (as in docker sandboxes). */
const SANDBOX_SOCKET_DIR = '/run/rclaude';

/**
 * The default provider: each sandbox is the agent under bubblewrap on this machine, with a read-only view
 * of the system, its own writable workspace, home and /tmp, its own PID/IPC/UTS namespaces and an
 * unprivileged uid, and no view of the server's files or other workspaces. Sandboxes are detached from the
 * server (their own session) so a server restart leaves them running; they dial back in.
 */
export function createLocalProvider(opts: LocalProviderOptions): Provider {
  if (opts.confinement === 'bwrap') checkBubblewrap();
  else
    opts.log.warn(
      'local sandboxes run UNCONFINED (RCLAUDE_LOCAL_SANDBOX=none): tasks can read and write everything this user can',
    );
  const root = path.join(opts.dataDir, 'sandboxes');
  fs.mkdirSync(root, { recursive: true, mode: 0o700 });
  const agent = locateAgent();

  async function start(spec: SandboxSpec): Promise<SandboxHandle> {
    const dir = path.join(root, spec.sandboxId);
    const workspace = path.join(dir, 'workspace');
    const home = path.join(dir, 'home');
    fs.mkdirSync(workspace, { recursive: true, mode: 0o700 });
    fs.mkdirSync(home, { recursive: true, mode: 0o700 });
    const log = fs.openSync(path.join(dir, 'agent.log'), 'a', 0o600);
    writeIdentity(dir);
    const confined = opts.confinement === 'bwrap';
    const env: Record<string, string> = {
      PATH: '/usr/local/bin:/usr/bin:/bin',
      LANG: process.env.LANG ?? 'C.UTF-8',
      TERM: 'xterm-256color',
      USER: 'rclaude',
      HOME: confined ? HOME : home,
      RCLAUDE_WORKSPACE: confined ? WORKSPACE : workspace,
      ...spec.env,
      ...(confined
        ? { RCLAUDE_PROXY_SOCKET: path.posix.join(SANDBOX_SOCKET_DIR, path.basename(opts.agentSocket)) }
        : {}),
    };
    try {
      let pid: number;
      if (confined) {
        const info = fs.mkdtempSync(path.join(dir, 'info-'));
        const infoFile = path.join(info, 'info.json');
        const infoFd = fs.openSync(infoFile, 'w', 0o600);
        // bwrap binds only folders that exist; the agent retries until the proxy listens in it.
        fs.mkdirSync(path.dirname(opts.agentSocket), { recursive: true, mode: 0o755 });
        const child = spawn(
          'bwrap',
          [
            ...bwrapArgs(workspace, home, path.dirname(opts.agentSocket), agent.binds, env),
            process.execPath,
            agent.entry,
          ],
          {
            detached: true,
            stdio: ['ignore', log, log, infoFd],
            // bwrap itself is PID 1 inside the sandbox, where /proc/1/environ is readable: it must not carry the
            // server's environment (database URL, server key, cloud credentials). The agent gets `env` via --setenv.
            env: { PATH: process.env.PATH ?? '/usr/bin:/bin' },
          },
        );
        fs.closeSync(infoFd);
        child.unref();
        pid = await readChildPid(child, infoFile);
        fs.rmSync(info, { recursive: true, force: true });
      } else {
        const child = spawn(process.execPath, [agent.entry], {
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
      return { sandboxId: spec.sandboxId, provider: 'local', ref };
    } catch (err) {
      throw new AppError('SANDBOX_START_FAILED', `could not start a local sandbox: ${(err as Error).message}`, {
        cause: err,
      });
    } finally {
      fs.closeSync(log);
    }
  }

  async function inspect(handle: SandboxHandle): Promise<SandboxStatus> {
    return alive(handle.ref)
      ? { state: 'running', exitCode: null, reason: null }
      : { state: 'stopped', exitCode: null, reason: 'process ended' };
  }

  async function stop(handle: SandboxHandle): Promise<void> {
    const pid = Number.parseInt(handle.ref, 10);
    if (!alive(handle.ref)) return;
    if (opts.confinement === 'bwrap') {
      // `pid` is the init of the sandbox's PID namespace: killing it ends every process inside at once. The
      // task is already recorded by now, so there is nothing to wait for.
      signal(pid, 'SIGKILL');
    } else {
      signal(-pid, 'SIGTERM');
      for (let i = 0; i < 30 && alive(handle.ref); i++) await sleep(50);
      signal(-pid, 'SIGKILL');
    }
    for (let i = 0; i < 40 && alive(handle.ref); i++) await sleep(25);
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

  return { name: 'local', size: { vcpu: 0, memoryMiB: 0 }, start, inspect, stop, list, close: async () => {} };
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
  for (const dir of binds) args.push('--ro-bind', dir, dir);
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

function checkBubblewrap(): void {
  const probe = spawnSync('bwrap', ['--unshare-all', '--uid', String(SANDBOX_UID), '--ro-bind', '/', '/', 'true'], {
    encoding: 'utf8',
    timeout: 10_000,
  });
  if (probe.error && (probe.error as NodeJS.ErrnoException).code === 'ENOENT') {
    throw new AppError(
      'PROVIDER_UNAVAILABLE',
      'bubblewrap (bwrap) is not installed; it confines local sandboxes. Install it (Debian/Ubuntu: `sudo apt-get install bubblewrap`, Fedora: `sudo dnf install bubblewrap`), or start the server with `--unconfined` to run tasks without confinement.',
    );
  }
  if (probe.status !== 0) {
    throw new AppError(
      'PROVIDER_UNAVAILABLE',
      `bubblewrap cannot create a sandbox here: ${(probe.stderr || '').trim() || `exit ${probe.status}`}. Unprivileged user namespaces may be disabled (e.g. kernel.apparmor_restrict_unprivileged_userns=1 on Ubuntu 24.04); enable them, or start the server with \`--unconfined\`.`,
    );
  }
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
    // Field 22 (starttime) after the parenthesised command name, which may itself contain spaces.
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19] ?? null;
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
