import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { apiClientFor } from '../api.js';
import { CliError, EXIT } from '../errors.js';
import { configDir } from '../settings.js';
import { openTunnel } from '../tunnel.js';

interface Common {
  server?: string;
}

/** The SSH host name of a task: what `ssh-config` declares and what the known_hosts file pins. */
export function sshHostName(taskId: string): string {
  return `rclaude-${taskId}`;
}

/** The known_hosts file of one task, rewritten by `ssh --stdio` with the host key its sandbox has now. */
export function knownHostsFile(taskId: string, env = process.env): string {
  return path.join(configDir(env), 'ssh', `known_hosts-${taskId}`);
}

/** Quotes one word for the shell that runs ProxyCommand. */
function shellWord(word: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}

/** `<node> <this bin> ssh --stdio [--server URL] TASK`: the ProxyCommand of a task. */
function proxyCommand(taskId: string, server: string | undefined): string {
  const script = process.argv[1];
  if (!script) throw new CliError('cannot tell where the rclaude command is installed');
  return [process.execPath, path.resolve(script), 'ssh', '--stdio', ...(server ? ['--server', server] : []), taskId]
    .map(shellWord)
    .join(' ');
}

function sshOptions(taskId: string, server: string | undefined): string[] {
  return [
    '-o',
    `ProxyCommand=${proxyCommand(taskId, server)}`,
    '-o',
    `UserKnownHostsFile=${knownHostsFile(taskId)}`,
    '-o',
    'StrictHostKeyChecking=yes',
    '-o',
    `HostKeyAlias=${sshHostName(taskId)}`,
  ];
}

/**
 * `rclaude ssh --stdio TASK`: the ProxyCommand. Opens an ssh tunnel, writes the sandbox's host key to the
 * task's known_hosts file (before any SSH byte flows, so the client checks against the key of the sandbox it
 * reached), then pipes stdin and stdout through it until either side ends.
 */
export async function sshStdio(ref: string, opts: Common): Promise<number> {
  const api = apiClientFor(opts);
  // OpenSSH's %n is the host name as typed: `rclaude-<id>` names the task <id>.
  const task = await api.resolveTask(ref.replace(/^rclaude-/, ''));
  const tunnel = await openTunnel(api.server, api.token, task.id, { kind: 'ssh' });
  if (tunnel.hostKey) {
    const file = knownHostsFile(task.id);
    fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
    fs.writeFileSync(file, `${sshHostName(task.id)} ${tunnel.hostKey}\n`, { mode: 0o600 });
  }
  const { socket } = tunnel;
  return new Promise((resolve) => {
    socket.on('error', () => socket.destroy());
    process.stdin.on('error', () => socket.end());
    process.stdout.on('error', () => socket.destroy());
    process.stdin.pipe(socket);
    socket.pipe(process.stdout);
    socket.once('close', () => resolve(EXIT.ok));
  });
}

/** `rclaude ssh TASK [-- CMD...]` (or with `--stdio`, the ProxyCommand). */
export async function sshCommand(ref: string, argv: string[], opts: Common & { stdio?: boolean }): Promise<number> {
  if (opts.stdio) {
    if (argv.length > 0) throw new CliError('--stdio takes no command', 1, 'usage: rclaude ssh --stdio TASK');
    return sshStdio(ref, opts);
  }
  const api = apiClientFor(opts);
  const task = await api.resolveTask(ref);
  // Everything before `--` goes to ssh as options; after it, the remote command.
  const dash = argv.indexOf('--');
  const sshArgs = dash === -1 ? argv : argv.slice(0, dash);
  const command = dash === -1 ? [] : argv.slice(dash + 1);
  const args = [...sshOptions(task.id, opts.server), '-l', 'rclaude', ...sshArgs, sshHostName(task.id), ...command];
  return new Promise((resolve, reject) => {
    const child = spawn(process.env.RCLAUDE_SSH ?? 'ssh', args, { stdio: 'inherit' });
    child.once('error', (err: NodeJS.ErrnoException) =>
      reject(
        err.code === 'ENOENT'
          ? new CliError('ssh is not installed', 1, 'install OpenSSH (Debian: apt-get install openssh-client)')
          : err,
      ),
    );
    // ssh's own exit code: the remote command's, or 255 for ssh's errors.
    child.once('exit', (code, signal) => resolve(code ?? (signal ? 128 + 2 : EXIT.error)));
  });
}

/** `rclaude ssh-config TASK`: a `Host` block for ~/.ssh/config (VS Code Remote-SSH, scp, rsync). */
export async function sshConfigCommand(ref: string, opts: Common): Promise<number> {
  const api = apiClientFor(opts);
  const task = await api.resolveTask(ref);
  const host = sshHostName(task.id);
  process.stdout.write(
    [
      `Host ${host}`,
      `  HostName ${host}`,
      '  User rclaude',
      `  ProxyCommand ${proxyCommand(task.id, opts.server)}`,
      `  UserKnownHostsFile ${shellWord(knownHostsFile(task.id))}`,
      '  StrictHostKeyChecking yes',
      `  HostKeyAlias ${host}`,
      '',
    ].join('\n'),
  );
  return EXIT.ok;
}
