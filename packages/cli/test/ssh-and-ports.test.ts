/**
 * ssh and ports end to end (issue 14, part 6): a real `rclaude server` with a local bubblewrap sandbox and its
 * real agent, the `rclaude` bin, and Debian's OpenSSH client (`ssh`, `scp`), all on loopback. docs/ssh-and-ports.md.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import type net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { ApiClient } from '@rclaude/client';
import { AppError, type Task, TUNNEL_PROTOCOL, tunnelPath } from '@rclaude/protocol';
import {
  type CliResult,
  freePort,
  type RclaudeServer,
  rclaudeBin,
  runCli,
  startRclaudeServer,
  TmuxTerminal,
  until,
} from '@rclaude/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const SANDBOX_PORT = 8123;
/** RCLAUDE_MAX_TUNNELS_PER_TASK of the test's server. */
const MAX_TUNNELS = 6;
/** A tiny HTTP server the tests start inside the sandbox: it answers with the path and any cookie it got. */
const SERVER_JS = `require('http').createServer((q, s) => {
  s.setHeader('set-cookie', 'rclaude_session=planted; Path=/');
  s.end('hello from the sandbox ' + q.url + ' cookie=' + (q.headers.cookie || 'none'));
}).listen(${SANDBOX_PORT}, '127.0.0.1');`;

let server: RclaudeServer;
let admin: ApiClient;
let bob: ApiClient;
let bobToken: string;
let task: Task;
let home: string;
const children: ChildProcess[] = [];
const terminals: TmuxTerminal[] = [];

/** CLI environment: this server, a token, and a config dir of the test's own (known_hosts files go there). */
function cliEnv(token = server.token): Record<string, string> {
  return { ...server.cliEnv(), RCLAUDE_TOKEN: token, XDG_CONFIG_HOME: path.join(home, 'config'), HOME: home };
}

/** OpenSSH options for a bare `ssh`/`scp` with rclaude as its ProxyCommand, as the docs show. */
function sshOpts(): string[] {
  return [
    '-F',
    '/dev/null',
    '-o',
    `ProxyCommand=${rclaudeBin()} ssh --stdio %n`,
    '-o',
    'BatchMode=yes',
    '-o',
    'StrictHostKeyChecking=accept-new',
    '-o',
    `UserKnownHostsFile=${path.join(home, 'known_hosts')}`,
  ];
}

/** Runs a program to its end with the CLI's environment; bounded in time. */
function run(file: string, args: string[], timeoutMs = 60_000): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { env: { ...process.env, ...cliEnv() }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      stdout += d;
    });
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      stderr += d;
    });
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${file} ${args.join(' ')} timed out\n${stdout}\n${stderr}`));
    }, timeoutMs);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** A free loopback port here. */
/** GETs a URL, resolving with status and body, or null while nothing answers. */
async function get(url: string, headers: Record<string, string> = {}) {
  try {
    const res = await fetch(url, { headers, redirect: 'manual' });
    return { status: res.status, headers: res.headers, text: await res.text() };
  } catch {
    return null;
  }
}

/** A raw tunnel upgrade, for the refusals: the status the server answers, or 101. */
async function upgradeStatus(token: string | null, taskId: string): Promise<number> {
  const { status, socket } = await rawTunnel(token, taskId);
  socket?.destroy();
  return status;
}

/** A raw ssh tunnel upgrade: the status, and the open connection on 101. */
function rawTunnel(token: string | null, taskId: string): Promise<{ status: number; socket: net.Socket | null }> {
  return new Promise((resolve, reject) => {
    const req = http.request(`${server.url}${tunnelPath(taskId, { kind: 'ssh' })}`, {
      headers: {
        connection: 'Upgrade',
        upgrade: TUNNEL_PROTOCOL,
        ...(token === null ? {} : { authorization: `Bearer ${token}` }),
      },
    });
    req.once('upgrade', (_res, socket) => resolve({ status: 101, socket }));
    req.once('response', (res) => {
      res.resume();
      resolve({ status: res.statusCode ?? 0, socket: null });
    });
    req.once('error', reject);
    req.end();
  });
}

describe('ssh and ports through the rclaude server', { timeout: 120_000 }, () => {
  beforeAll(async () => {
    home = fs.mkdtempSync(path.join(os.tmpdir(), 'rclaude-ssh-'));
    server = await startRclaudeServer({
      timeoutMs: 240_000,
      env: { ANTHROPIC_API_KEY: '', CLAUDE_CODE_OAUTH_TOKEN: '', RCLAUDE_MAX_TUNNELS_PER_TASK: String(MAX_TUNNELS) },
    });
    admin = new ApiClient({ baseUrl: server.url, token: server.token });
    const password = `pw-${randomBytes(8).toString('hex')}`;
    await admin.call('createUser', { body: { username: 'bob', password } });
    bobToken = (await new ApiClient({ baseUrl: server.url }).call('login', { body: { username: 'bob', password } }))
      .token;
    bob = new ApiClient({ baseUrl: server.url, token: bobToken });
    const created = await admin.call('createTask', {
      body: { command: ['bash', '--norc'], name: 'ssh-target', cols: 100, rows: 30 },
    });
    task = await until('the task to run', async () => {
      const t = await admin.call('getTask', { params: { id: created.id } });
      if (t.status === 'failed') throw new Error(`task failed: ${t.statusReason}`);
      return t.status === 'running' ? t : null;
    });
    const started = await runCli(
      [
        'exec',
        task.id,
        '--',
        'sh',
        '-c',
        `cat > srv.js <<'EOF'\n${SERVER_JS}\nEOF\nnohup node srv.js >/dev/null 2>&1 &`,
      ],
      { env: cliEnv() },
    );
    expect(started.code, started.stderr).toBe(0);
  }, 360_000);

  afterAll(async () => {
    for (const c of children) c.kill('SIGKILL');
    for (const t of terminals) t.close();
    await server?.stop();
    fs.rmSync(home, { recursive: true, force: true });
  }, 60_000);

  it("runs a command with OpenSSH's ssh and rclaude as its ProxyCommand: output and exit status", async () => {
    const result = await run('ssh', [...sshOpts(), `rclaude@rclaude-${task.id}`, 'echo hi; echo err >&2; exit 3']);
    expect(result.stdout).toBe('hi\n');
    expect(result.stderr).toContain('err');
    expect(result.code).toBe(3);
    // The process runs in the task's workspace, with the environment the task's terminals get (the egress
    // gateway's proxy settings), and none of the agent's own secrets.
    const where = await run('ssh', [
      ...sshOpts(),
      `rclaude@rclaude-${task.id}`,
      'test -f srv.js && echo ws; test -n "$HTTPS_PROXY" && echo proxy; test -z "$RCLAUDE_AGENT_TOKEN" && echo no-token',
    ]);
    expect(where.code, where.stderr).toBe(0);
    expect(where.stdout).toBe('ws\nproxy\nno-token\n');
  });

  it('`rclaude ssh ID -- CMD` pins the sandbox host key in a per-task known_hosts file and passes the exit code', async () => {
    const result = await runCli(['ssh', task.id, '--', 'echo via-rclaude; exit 7'], { env: cliEnv() });
    expect(result.stdout).toBe('via-rclaude\n');
    expect(result.code).toBe(7);
    const knownHosts = fs.readFileSync(path.join(home, 'config', 'rclaude', 'ssh', `known_hosts-${task.id}`), 'utf8');
    expect(knownHosts).toMatch(new RegExp(`^rclaude-${task.id} ssh-ed25519 [A-Za-z0-9+/=]+\\n$`));
    // The key ssh accepted with accept-new above is the same one.
    expect(fs.readFileSync(path.join(home, 'known_hosts'), 'utf8')).toContain(knownHosts.split(' ')[2]?.trim());
  });

  it('`rclaude ssh-config` makes a Host block that ssh and rsync use by name (as VS Code Remote-SSH does)', async () => {
    const printed = await runCli(['ssh-config', task.id], { env: cliEnv() });
    expect(printed.code, printed.stderr).toBe(0);
    expect(printed.stdout).toContain(`Host rclaude-${task.id}\n`);
    const config = path.join(home, 'ssh_config');
    fs.writeFileSync(config, `${printed.stdout}  BatchMode yes\n`);
    const hello = await run('ssh', ['-F', config, `rclaude-${task.id}`, 'echo "by name"']);
    expect(hello.stdout, hello.stderr).toBe('by name\n');
    const dir = path.join(home, 'tree');
    fs.mkdirSync(path.join(dir, 'sub'), { recursive: true });
    fs.writeFileSync(path.join(dir, 'sub', 'a.txt'), 'synced\n');
    const synced = await run('rsync', ['-a', '-e', `ssh -F ${config}`, `${dir}/`, `rclaude-${task.id}:tree/`]);
    expect(synced.code, synced.stderr).toBe(0);
    const check = await runCli(['exec', task.id, '--', 'cat', 'tree/sub/a.txt'], { env: cliEnv() });
    expect(check.stdout).toBe('synced\n');
  });

  it('a pty session sees TERM and the window size, and follows a resize', async () => {
    const term = new TmuxTerminal(`${rclaudeBin()} ssh ${task.id}`, { cols: 91, rows: 27, env: cliEnv() });
    terminals.push(term);
    term.type('echo "T=$TERM"; stty size');
    term.keys('Enter');
    await term.waitFor((s) => /T=(screen|tmux)\S*/.test(s) && s.includes('27 91'), 30_000);
    term.resize(120, 33);
    term.type('clear; stty size');
    term.keys('Enter');
    await term.waitFor((s) => s.includes('33 120'), 30_000);
    term.type('exit 5');
    term.keys('Enter');
    await until('ssh to end', async () => term.exitStatus());
    expect(term.exitStatus()).toBe(5);
  });

  it('scp copies a 1 MB binary file up and back down unchanged (SFTP)', async () => {
    const local = path.join(home, 'up.bin');
    const data = randomBytes(1024 * 1024);
    fs.writeFileSync(local, data);
    const digest = createHash('sha256').update(data).digest('hex');
    const up = await run('scp', [...sshOpts(), local, `rclaude@rclaude-${task.id}:up.bin`]);
    expect(up.code, up.stderr).toBe(0);
    const inSandbox = await runCli(['exec', task.id, '--', 'sha256sum', 'up.bin'], { env: cliEnv() });
    expect(inSandbox.stdout.split(' ')[0]).toBe(digest);
    const back = path.join(home, 'down.bin');
    const down = await run('scp', [...sshOpts(), `rclaude@rclaude-${task.id}:up.bin`, back]);
    expect(down.code, down.stderr).toBe(0);
    expect(createHash('sha256').update(fs.readFileSync(back)).digest('hex')).toBe(digest);
  });

  it('`ssh -L` reaches a port on the sandbox loopback', async () => {
    const local = await freePort();
    const tunnel = spawn(
      'ssh',
      [...sshOpts(), '-N', '-L', `${local}:127.0.0.1:${SANDBOX_PORT}`, `rclaude@rclaude-${task.id}`],
      {
        env: { ...process.env, ...cliEnv() },
        stdio: 'ignore',
      },
    );
    children.push(tunnel);
    const res = await until(
      'the forwarded port to answer',
      async () => get(`http://127.0.0.1:${local}/via-ssh`),
      30_000,
    );
    expect(res.text).toBe('hello from the sandbox /via-ssh cookie=none');
    tunnel.kill('SIGTERM');
  });

  it('`rclaude port ID 8123` forwards a local port to the sandbox until Ctrl-C', async () => {
    const child = spawn(rclaudeBin(), ['port', task.id, String(SANDBOX_PORT), '--local-port', '0', '--json'], {
      env: { ...process.env, ...cliEnv() },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    children.push(child);
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      out += d;
    });
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      err += d;
    });
    const line = await until('the local URL', async () => {
      if (child.exitCode !== null) throw new Error(`rclaude port exited ${child.exitCode}: ${err}`);
      return out.includes('\n') ? out.split('\n')[0] : null;
    });
    const { url } = JSON.parse(line ?? '{}') as { url: string };
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);
    // Several requests, in parallel: each connection gets its own tunnel.
    const answers = await Promise.all(['a', 'b', 'c'].map((p) => get(`${url}${p}`)));
    expect(answers.map((a) => a?.text)).toEqual(['a', 'b', 'c'].map((p) => `hello from the sandbox /${p} cookie=none`));
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    child.kill('SIGINT');
    expect(await exited).toBe(0);
  });

  it("another user's token, or none, opens no tunnel to the task", async () => {
    expect(await upgradeStatus(null, task.id)).toBe(401);
    expect(await upgradeStatus('not-a-token', task.id)).toBe(401);
    expect(await upgradeStatus(bobToken, task.id)).toBe(404);
    expect(await upgradeStatus(server.token, task.id)).toBe(101);
    const asBob = await runCli(['ssh', '--stdio', task.id], { env: cliEnv(bobToken), input: '' });
    expect(asBob.code).toBe(1);
    expect(asBob.stderr).toMatch(/no task/);
  });

  it('a task has at most RCLAUDE_MAX_TUNNELS_PER_TASK tunnels open at once; closing one makes room', async () => {
    const held: net.Socket[] = [];
    const statuses: number[] = [];
    try {
      for (let i = 0; i <= MAX_TUNNELS; i++) {
        const { status, socket } = await rawTunnel(server.token, task.id);
        statuses.push(status);
        if (socket) held.push(socket);
      }
      expect(held.length).toBeLessThanOrEqual(MAX_TUNNELS);
      expect(statuses.at(-1)).toBe(429);
    } finally {
      for (const s of held) s.destroy();
    }
    await until('a tunnel to open again', async () => (await upgradeStatus(server.token, task.id)) === 101);
  });

  it('the preview link serves the port to its owner only, without cookies either way, in a CSP sandbox', async () => {
    const preview = await admin.call('createPortPreview', { params: { id: task.id, port: SANDBOX_PORT } });
    expect(preview.url.startsWith(`${server.url}/preview/`)).toBe(true);
    const res = await get(`${preview.url}page?x=1`, { cookie: 'rclaude_session=the-users-session' });
    expect(res?.status).toBe(200);
    // The user's cookie never reaches the sandbox, and the sandbox's Set-Cookie never reaches the browser.
    expect(res?.text).toBe('hello from the sandbox /page?x=1 cookie=none');
    expect(res?.headers.get('set-cookie')).toBeNull();
    expect(res?.headers.get('content-security-policy')).toMatch(/^sandbox allow-scripts/);
    expect(res?.headers.get('content-security-policy')).not.toContain('allow-same-origin');
    expect(res?.headers.get('referrer-policy')).toBe('no-referrer');
    // Bob cannot make a link for the admin's task, and a forged or altered link serves nothing.
    await expect(bob.call('createPortPreview', { params: { id: task.id, port: SANDBOX_PORT } })).rejects.toSatisfy(
      (err: unknown) => err instanceof AppError && err.code === 'NOT_FOUND',
    );
    const [prefix, capability] = preview.url.split('/preview/');
    const altered = `${prefix}/preview/${capability?.replace(/^./, (c) => (c === 'e' ? 'f' : 'e'))}`;
    expect((await get(altered))?.status).toBe(403);
    // A port nothing listens on is a clear 404, not a hang.
    const closed = await admin.call('createPortPreview', { params: { id: task.id, port: 9 } });
    const refused = await get(closed.url);
    expect(refused?.status).toBe(404);
    expect(refused?.text).toMatch(/nothing accepts connections on port 9/);
  });
});
