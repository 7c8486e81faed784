/**
 * OpenSSH on loopback, the baseline the CLI's figures stand beside: the bench starts its own `sshd` on
 * 127.0.0.1 on a free port, with its own sshd_config, a throw-away host key and client key in a temp dir,
 * and stops it (and removes the dir) afterwards. Nothing of the machine's own ssh setup is used: the client
 * runs with `-F /dev/null`, no agent, no known_hosts, only the throw-away key.
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

const SSHD = '/usr/sbin/sshd';
/** Where sshd (as root) wants its privilege-separation directory; the Debian service creates it at boot. */
const PRIVSEP_DIR = '/run/sshd';

function executable(file) {
  try {
    fs.accessSync(file, fs.constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

function which(name) {
  for (const dir of (process.env.PATH ?? '/usr/bin:/bin').split(':')) {
    const file = path.join(dir, name);
    if (executable(file)) return file;
  }
  return null;
}

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

/**
 * Starts sshd, or resolves with `{ missing }` saying what is absent (the ssh figures are then left out).
 * The result's `stop()` must be called on every way out; `stopSync()` is for process exit.
 */
export async function startSshd({ log, timeoutMs = 10_000 }) {
  const ssh = which('ssh');
  const keygen = which('ssh-keygen');
  const absent = [!executable(SSHD) && SSHD, !ssh && 'ssh', !keygen && 'ssh-keygen'].filter(Boolean);
  if (absent.length) return { missing: `${absent.join(', ')} not found (Debian: openssh-server, openssh-client)` };

  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rclaude-bench-ssh-'));
  const user = os.userInfo().username;
  let createdPrivsep = false;
  let child = null;
  let port = 0;
  let version = '';
  let stderr = '';
  const removeDir = () => {
    fs.rmSync(dir, { recursive: true, force: true });
    if (createdPrivsep) {
      createdPrivsep = false;
      try {
        fs.rmdirSync(PRIVSEP_DIR);
      } catch {
        // Someone else uses it now.
      }
    }
  };
  const stopSync = () => {
    if (child && child.exitCode === null && child.signalCode === null) {
      try {
        // Its own process group: the listener and any connection it still serves.
        process.kill(-child.pid, 'SIGKILL');
      } catch {
        // Gone.
      }
    }
    removeDir();
  };
  try {
    const hostKey = path.join(dir, 'host_ed25519');
    const clientKey = path.join(dir, 'client_ed25519');
    execFileSync(keygen, ['-q', '-t', 'ed25519', '-N', '', '-C', 'rclaude-bench-host', '-f', hostKey]);
    execFileSync(keygen, ['-q', '-t', 'ed25519', '-N', '', '-C', 'rclaude-bench-client', '-f', clientKey]);
    fs.copyFileSync(`${clientKey}.pub`, path.join(dir, 'authorized_keys'));
    const home = path.join(dir, 'home');
    fs.mkdirSync(home, { mode: 0o700 });
    fs.mkdirSync(path.join(dir, 'remote-home'), { mode: 0o700 });
    if (process.getuid?.() === 0 && !fs.existsSync(PRIVSEP_DIR)) {
      fs.mkdirSync(PRIVSEP_DIR, { mode: 0o755 });
      createdPrivsep = true;
    }
    port = await freePort();
    const config = path.join(dir, 'sshd_config');
    fs.writeFileSync(
      config,
      [
        `Port ${port}`,
        'ListenAddress 127.0.0.1',
        `HostKey ${hostKey}`,
        `AuthorizedKeysFile ${path.join(dir, 'authorized_keys')}`,
        'PidFile none',
        'StrictModes no',
        'UsePAM no',
        // The bench runs as root on the machines we have; the only key it accepts is the throw-away one.
        'PermitRootLogin yes',
        `AllowUsers ${user}`,
        'PubkeyAuthentication yes',
        'PasswordAuthentication no',
        'KbdInteractiveAuthentication no',
        'PrintMotd no',
        'PrintLastLog no',
        'UseDNS no',
        'LogLevel INFO',
        // The remote shell's HOME is an empty dir, so the figures are ssh's, not the rc files of the user the
        // bench runs as (on our machines root's ~/.bashrc runs `pyenv init`, seconds under load).
        `SetEnv HOME=${path.join(dir, 'remote-home')}`,
        '',
      ].join('\n'),
    );
    child = spawn(SSHD, ['-D', '-e', '-f', config], {
      detached: true,
      stdio: ['ignore', 'ignore', 'pipe'],
      env: { PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' },
    });
    child.stderr.setEncoding('utf8').on('data', (d) => {
      stderr = (stderr + d).slice(-20_000);
    });
    await new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`sshd did not listen within ${timeoutMs} ms:\n${stderr}`)),
        timeoutMs,
      );
      const check = () => {
        if (stderr.includes('Server listening on')) {
          clearTimeout(timer);
          resolve();
        }
      };
      child.stderr.on('data', check);
      child.once('exit', (code, signal) => {
        clearTimeout(timer);
        reject(new Error(`sshd exited (${code ?? signal}) before listening:\n${stderr}`));
      });
      check();
    });
    version = spawnSync(ssh, ['-V'], { encoding: 'utf8' }).stderr.trim().split(',')[0] || 'OpenSSH';
    log(`sshd up on 127.0.0.1:${port} (pid ${child.pid}, ${version})`);
  } catch (err) {
    stopSync();
    throw err;
  }
  const proc = child;
  const exited = new Promise((resolve) => {
    if (proc.exitCode !== null || proc.signalCode !== null) resolve();
    else proc.once('exit', () => resolve());
  });

  return {
    port,
    user,
    version,
    /** Environment for the ssh client: its own HOME, no agent. */
    env: {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      HOME: path.join(dir, 'home'),
      TERM: 'xterm-256color',
      LANG: 'C.UTF-8',
    },
    ssh,
    /** `ssh` arguments for running `command` on this server (`tty`: `-tt`, a remote terminal). */
    args(command, { tty = false } = {}) {
      return [
        '-F',
        '/dev/null',
        '-i',
        path.join(dir, 'client_ed25519'),
        '-p',
        String(port),
        '-o',
        'StrictHostKeyChecking=no',
        '-o',
        'UserKnownHostsFile=/dev/null',
        '-o',
        'BatchMode=yes',
        '-o',
        'IdentitiesOnly=yes',
        '-o',
        'LogLevel=ERROR',
        ...(tty ? ['-tt'] : []),
        `${user}@127.0.0.1`,
        command,
      ];
    },
    log: () => stderr,
    stopSync,
    async stop() {
      if (proc.exitCode === null && proc.signalCode === null) {
        try {
          process.kill(-proc.pid, 'SIGTERM');
        } catch {
          // Gone.
        }
        const timer = setTimeout(() => {
          try {
            process.kill(-proc.pid, 'SIGKILL');
          } catch {
            // Gone.
          }
        }, 3000);
        await exited;
        clearTimeout(timer);
      }
      removeDir();
    },
  };
}
