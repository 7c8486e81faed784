import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import ssh2 from 'ssh2';
import { afterEach, describe, expect, it } from 'vitest';
import { SandboxSshServer } from './ssh-server.js';

const log = pino({ level: 'silent' });
const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** The SSH server on a loopback listener standing in for tunnels, and a connected ssh2 client. */
async function connect(env: Record<string, string>) {
  const workspace = fs.mkdtempSync(path.join(os.tmpdir(), 'rclaude-ssh-ws-'));
  cleanups.push(() => fs.rmSync(workspace, { recursive: true, force: true }));
  const ssh = new SandboxSshServer({ workspace, log });
  // HOME is the sandbox's: the host's dotfiles stay out of the test.
  const listener = net.createServer((socket) => ssh.serve(socket, { HOME: workspace, ...env }));
  await new Promise<void>((r) => listener.listen(0, '127.0.0.1', () => r()));
  cleanups.push(() => new Promise((r) => listener.close(r)));
  cleanups.push(() => ssh.close());
  const client = new ssh2.Client();
  let offered = '';
  await new Promise<void>((resolve, reject) => {
    client.once('ready', () => resolve());
    client.once('error', reject);
    client.connect({
      host: '127.0.0.1',
      port: (listener.address() as net.AddressInfo).port,
      username: 'anyone',
      hostVerifier: (key: Buffer) => {
        offered = key.toString('base64');
        return true;
      },
    });
  });
  cleanups.push(() => client.end());
  return { client, ssh, workspace, offered };
}

/** Runs a command without a PTY: stdout, stderr and the exit code. */
function exec(client: ssh2.Client, command: string, env: Record<string, string> = {}) {
  return new Promise<{ out: string; err: string; code: number | null }>((resolve, reject) => {
    client.exec(command, { env }, (error, channel) => {
      if (error) {
        reject(error);
        return;
      }
      let out = '';
      let err = '';
      let code: number | null = null;
      channel.on('data', (d: Buffer) => {
        out += d.toString();
      });
      channel.stderr.on('data', (d: Buffer) => {
        err += d.toString();
      });
      channel.on('exit', (c: number | null) => {
        code = c;
      });
      channel.on('close', () => resolve({ out, err, code }));
    });
  });
}

describe('SandboxSshServer', () => {
  it('offers the host key it announces, runs commands in the workspace with its env, and passes the exit code', async () => {
    const { client, ssh, workspace, offered } = await connect({ PATH: process.env.PATH ?? '', FROM_TASK: 'yes' });
    expect(ssh.hostKey).toMatch(/^ssh-ed25519 [A-Za-z0-9+/=]+$/);
    expect(ssh.hostKey.split(' ')[1]).toBe(offered);
    const result = await exec(client, 'pwd; echo "$FROM_TASK"; echo oops >&2; exit 4');
    expect(result.out).toBe(`${fs.realpathSync(workspace)}\nyes\n`);
    expect(result.err).toBe('oops\n');
    expect(result.code).toBe(4);
  });

  it('takes LANG and LC_* from the client and refuses other variables', async () => {
    const { client } = await connect({ PATH: process.env.PATH ?? '' });
    const result = await exec(client, 'echo "[$LANG][$LC_TIME][$LD_PRELOAD][$SECRET]"', {
      LANG: 'C.UTF-8',
      LC_TIME: 'C',
      LD_PRELOAD: '/tmp/evil.so',
      SECRET: 'x',
    });
    expect(result.out).toBe('[C.UTF-8][C][][]\n');
  });

  it('forwards direct-tcpip to the loopback only', async () => {
    const { client } = await connect({ PATH: process.env.PATH ?? '' });
    const echo = net.createServer((s) => s.pipe(s));
    await new Promise<void>((r) => echo.listen(0, '127.0.0.1', () => r()));
    cleanups.push(() => new Promise((r) => echo.close(r)));
    const port = (echo.address() as net.AddressInfo).port;
    const echoed = await new Promise<string>((resolve, reject) => {
      client.forwardOut('127.0.0.1', 1, '127.0.0.1', port, (err, channel) => {
        if (err) {
          reject(err);
          return;
        }
        channel.once('data', (d: Buffer) => {
          resolve(d.toString());
          channel.end();
        });
        channel.write('ping');
      });
    });
    expect(echoed).toBe('ping');
    const refused = await new Promise<Error | null>((resolve) =>
      client.forwardOut('127.0.0.1', 1, '192.0.2.1', port, (err, channel) => {
        channel?.end();
        resolve(err ?? null);
      }),
    );
    expect(refused).toBeInstanceOf(Error);
  });
});
