import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import net, { type Socket } from 'node:net';
import pty, { type IPty } from 'node-pty';
import type { Logger } from 'pino';
import ssh2, { type Connection, type ServerChannel, type Session } from 'ssh2';

const { Server, utils } = ssh2;

/** Variables an SSH client may set in a session (OpenSSH `SendEnv`/`SetEnv`); everything else is refused. */
const ENV_ALLOWED = /^(LANG|LANGUAGE|LC_[A-Z_]{1,32}|TERM|COLORTERM|TZ)$/;
/** At most this many `env` requests per session. */
const ENV_MAX = 64;
/** Where OpenSSH's SFTP server is installed on Debian, Alpine and Red Hat images. */
const SFTP_SERVERS = ['/usr/lib/openssh/sftp-server', '/usr/libexec/openssh/sftp-server', '/usr/lib/ssh/sftp-server'];

export interface SandboxSshServerOptions {
  /** Sessions start here. */
  workspace: string;
  log: Logger;
  /** OpenSSH's `sftp-server` binary, or null for none; default: the first of the usual places that exists. */
  sftpServer?: string | null;
}

/**
 * The sandbox's SSH server: `ssh2`'s server on tunnelled connections only (no TCP listener). Its host key is
 * made when the agent starts, so it lives as long as the sandbox. Every authentication method is accepted: a
 * tunnel reaches the agent only after the proxy checked the user's rclaude token and that they own the task.
 * Sessions (shell, exec, with or without a PTY, `env` from an allow-list, window changes, signals, exit
 * status), the `sftp` subsystem (OpenSSH's own `sftp-server`, which `scp`, `sftp`, `rsync`-over-ssh helpers
 * and VS Code use) and `direct-tcpip` to the sandbox's loopback (`ssh -L`). Processes run as the agent's user,
 * in the workspace, with the environment the task's terminals get.
 */
export class SandboxSshServer {
  /** The host public key, one OpenSSH line (`ssh-ed25519 AAAA...`). */
  readonly hostKey: string;
  private readonly hostPrivateKey: string;
  private readonly sftpServer: string | null;
  private readonly connections = new Set<Connection>();

  constructor(private readonly opts: SandboxSshServerOptions) {
    const keys = utils.generateKeyPairSync('ed25519');
    this.hostKey = keys.public.trim();
    this.sftpServer =
      opts.sftpServer !== undefined ? opts.sftpServer : (SFTP_SERVERS.find((p) => fs.existsSync(p)) ?? null);
    this.hostPrivateKey = keys.private;
  }

  /** Serves one SSH connection on a tunnelled socket; `env` is what its processes start with. */
  serve(socket: Socket, env: Record<string, string>): void {
    // One ssh2 server per connection (it listens on nothing): its connection event comes after the handshake,
    // and this is how that connection gets its own environment.
    const server = new Server({ hostKeys: [this.hostPrivateKey], ident: 'rclaude' }, (conn) => this.accept(conn, env));
    server.injectSocket(socket);
  }

  /** Ends every connection. */
  close(): void {
    for (const c of this.connections) c.end();
    this.connections.clear();
  }

  private accept(conn: Connection, env: Record<string, string>): void {
    this.connections.add(conn);
    const log = this.opts.log;
    conn.on('error', (err: Error) => log.debug({ err: err.message }, 'ssh connection error'));
    conn.on('close', () => this.connections.delete(conn));
    conn.on('authentication', (ctx) => ctx.accept());
    conn.on('session', (acceptSession) => this.session(acceptSession(), env));
    conn.on('tcpip', (acceptChannel, reject, info) => {
      if (!isLoopback(info.destIP)) {
        reject();
        return;
      }
      const target = net.connect({ host: '127.0.0.1', port: info.destPort });
      target.once('error', () => reject());
      target.once('connect', () => {
        target.removeAllListeners('error');
        const channel = acceptChannel();
        target.on('error', () => channel.destroy());
        channel.on('error', () => target.destroy());
        channel.pipe(target).pipe(channel);
      });
    });
  }

  private session(session: Session, env: Record<string, string>): void {
    let term: { term: string; cols: number; rows: number } | null = null;
    const extra: Record<string, string> = {};
    let envCount = 0;
    let ptyProc: IPty | null = null;
    let child: ChildProcess | null = null;

    session.on('pty', (accept, _reject, info) => {
      term = { term: info.term || 'xterm-256color', cols: clampSize(info.cols, 80), rows: clampSize(info.rows, 24) };
      accept?.();
    });
    session.on('env', (accept, reject, info) => {
      if (envCount++ < ENV_MAX && ENV_ALLOWED.test(info.key) && info.val.length <= 4096) {
        extra[info.key] = info.val;
        accept?.();
      } else reject?.();
    });
    session.on('window-change', (accept, _reject, info) => {
      if (term) term = { ...term, cols: clampSize(info.cols, term.cols), rows: clampSize(info.rows, term.rows) };
      if (ptyProc && term) ptyProc.resize(term.cols, term.rows);
      accept?.();
    });
    session.on('signal', (accept, reject, info) => {
      const signal = `SIG${info.name}`;
      const pid = ptyProc?.pid ?? child?.pid;
      if (pid === undefined || !/^SIG[A-Z0-9]{2,8}$/.test(signal)) {
        reject?.();
        return;
      }
      try {
        process.kill(pid, signal);
        accept?.();
      } catch {
        reject?.();
      }
    });
    const start = (channel: ServerChannel, command: string | null) => {
      const shell = loginShell(env);
      const procEnv = { ...env, ...extra, SHELL: shell };
      if (term) {
        ptyProc = runInPty(channel, shell, command, { ...procEnv, TERM: term.term }, term, this.opts.workspace);
      } else {
        child = runPiped(channel, shell, command, procEnv, this.opts.workspace);
      }
    };
    session.on('shell', (accept) => start(accept(), null));
    session.on('exec', (accept, _reject, info) => start(accept(), info.command));
    session.on('subsystem', (accept, reject, info) => {
      if (info.name !== 'sftp' || !this.sftpServer) {
        reject?.();
        return;
      }
      const channel = accept();
      child = runPiped(channel, this.sftpServer, null, { ...env, ...extra }, this.opts.workspace, [
        '-d',
        this.opts.workspace,
      ]);
    });
  }
}

function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}

function clampSize(n: number, fallback: number): number {
  return Number.isInteger(n) && n >= 1 && n <= 1000 ? n : fallback;
}

/** bash when the sandbox has it, else sh (what OpenSSH's sshd would take from the user's passwd entry). */
function loginShell(env: Record<string, string>): string {
  for (const candidate of [env.SHELL, '/bin/bash', '/bin/sh']) {
    if (candidate?.startsWith('/') && fs.existsSync(candidate)) return candidate;
  }
  return '/bin/sh';
}

/** A session with a PTY: the client's window size and TERM; the exit status once its output is read. */
function runInPty(
  channel: ServerChannel,
  shell: string,
  command: string | null,
  env: Record<string, string>,
  size: { cols: number; rows: number },
  cwd: string,
): IPty {
  const proc = pty.spawn(shell, command === null ? ['-l'] : ['-c', command], {
    name: env.TERM ?? 'xterm-256color',
    cols: size.cols,
    rows: size.rows,
    cwd,
    env,
    encoding: null,
  } as pty.IPtyForkOptions);
  let lastData = Date.now();
  proc.onData((data) => {
    lastData = Date.now();
    if (!channel.write(data as unknown as Buffer)) {
      proc.pause();
      channel.once('drain', () => proc.resume());
    }
  });
  channel.on('data', (d: Buffer) => proc.write(d));
  channel.on('close', () => proc.kill());
  proc.onExit(({ exitCode, signal }) => {
    // node-pty may report the exit before the last output is read (adr/0002): let the output go quiet first,
    // for at most two seconds.
    const exitedAt = Date.now();
    const finish = () => {
      if (Date.now() - lastData < 100 && Date.now() - exitedAt < 2000) {
        setTimeout(finish, 50);
        return;
      }
      if (signal) channel.exit(signalName(signal), false, '');
      else channel.exit(exitCode);
      channel.end();
    };
    setTimeout(finish, 50);
  });
  return proc;
}

/** A session without a PTY: stdin, stdout and stderr as three streams (what scp, rsync and sftp need). */
function runPiped(
  channel: ServerChannel,
  file: string,
  command: string | null,
  env: Record<string, string>,
  cwd: string,
  args?: string[],
): ChildProcess {
  const child = spawn(file, args ?? (command === null ? ['-l'] : ['-c', command]), {
    cwd,
    env,
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  child.stdin?.on('error', () => undefined);
  if (child.stdin) channel.pipe(child.stdin);
  child.stdout?.pipe(channel, { end: false });
  child.stderr?.pipe(channel.stderr, { end: false });
  channel.on('close', () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGHUP');
  });
  child.once('error', (err) => {
    channel.stderr.write(`rclaude: could not start ${file}: ${err.message}\n`);
    channel.exit(127);
    channel.end();
  });
  child.once('close', (code, signal) => {
    if (signal) channel.exit(signal.replace(/^SIG/, ''), false, '');
    else channel.exit(code ?? 0);
    channel.end();
  });
  return child;
}

function signalName(signal: number): string {
  const names: Record<number, string> = { 1: 'HUP', 2: 'INT', 3: 'QUIT', 9: 'KILL', 13: 'PIPE', 15: 'TERM' };
  return names[signal] ?? 'KILL';
}
