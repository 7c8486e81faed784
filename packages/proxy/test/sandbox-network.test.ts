/**
 * Local sandboxes have no network: a real server (the production composition root) starts real bubblewrap
 * sandboxes with the real agent, which reaches the proxy only through the agent socket bound into the sandbox.
 * Code in the sandbox cannot reach the host's loopback services nor its abstract Unix sockets, and the task
 * still works (PTY, files, exec). Every packet stays on this machine's loopback or in the sandbox's namespace.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { ExecuteResult, Task } from '@rclaude/protocol';
import { until } from '@rclaude/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from './test-server.js';

/** Connects to `target` (a port on 127.0.0.1, or an abstract socket name) from inside the sandbox. */
const PROBE = `
const net = require('net');
const t = process.argv[1];
const s = /^\\d+$/.test(t) ? net.connect(Number(t), '127.0.0.1') : net.connect('\\0' + t);
s.setTimeout(5000, () => { console.log('TIMEOUT'); process.exit(3); });
s.on('connect', () => { console.log('CONNECTED'); process.exit(0); });
s.on('error', (e) => { console.log(e.code); process.exit(1); });
`;

async function api<T>(server: TestServer, method: string, path: string, body?: unknown): Promise<T> {
  const res = await fetch(`${server.url}${path}`, {
    method,
    headers: {
      authorization: `Bearer ${server.token}`,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${text}`);
  return (text ? JSON.parse(text) : null) as T;
}

/** Stops every task of the server (their sandboxes outlive a server that closes), then closes it. */
async function closeServer(server: TestServer | undefined): Promise<void> {
  if (!server) return;
  for (const t of await api<{ tasks: Task[] }>(server, 'GET', '/api/tasks?all=true').then((r) => r.tasks)) {
    await api(server, 'POST', `/api/tasks/${t.id}/stop`).catch(() => undefined);
  }
  await server.close();
}

async function startTask(server: TestServer, command: string[]): Promise<Task> {
  const created = await api<Task>(server, 'POST', '/api/tasks', { command, cols: 80, rows: 24 });
  return until(
    `task ${created.id} to run`,
    async () => {
      const t = await api<Task>(server, 'GET', `/api/tasks/${created.id}`);
      if (t.status === 'failed') throw new Error(`task failed: ${t.statusReason}`);
      return t.status === 'running' ? t : null;
    },
    30_000,
  );
}

function exec(server: TestServer, task: Task, command: string | string[]): Promise<ExecuteResult> {
  return api<ExecuteResult>(server, 'POST', `/api/sessions/${task.mainSessionId}/execute`, { command });
}

/** A listener on the host that counts the connections it gets. */
async function hostListener(where: { port: 0 } | { abstract: string }) {
  let accepted = 0;
  const server = net.createServer((s) => {
    accepted++;
    s.destroy();
  });
  await new Promise<void>((resolve) =>
    'abstract' in where ? server.listen(`\0${where.abstract}`, resolve) : server.listen(0, '127.0.0.1', resolve),
  );
  const address = server.address();
  return {
    port: typeof address === 'object' && address ? address.port : 0,
    accepted: () => accepted,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/**
 * A git repository served over git's "dumb" HTTP protocol (static files) on 127.0.0.1: what the sandbox clones
 * through the egress gateway's HTTP proxy, the address allowed by RCLAUDE_EGRESS_ALLOW.
 */
async function gitHttpServer() {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'egress-git-'));
  const work = path.join(root, 'work');
  const git = (args: string[], cwd: string) => execFileSync('git', args, { cwd, stdio: 'pipe' });
  fs.mkdirSync(work);
  git(['init', '-q', '-b', 'main'], work);
  fs.writeFileSync(path.join(work, 'README.md'), 'cloned through the egress gateway\n');
  git(['add', '.'], work);
  git(['-c', 'user.name=t', '-c', 'user.email=t@example.invalid', 'commit', '-qm', 'first'], work);
  git(['clone', '-q', '--bare', work, path.join(root, 'repo.git')], root);
  git(['update-server-info'], path.join(root, 'repo.git'));
  let requests = 0;
  const server = http.createServer((req, res) => {
    requests++;
    const file = path.join(root, decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname));
    if (!file.startsWith(path.join(root, 'repo.git')) || !fs.existsSync(file) || !fs.statSync(file).isFile()) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200).end(fs.readFileSync(file));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  return {
    port: typeof address === 'object' && address ? address.port : 0,
    requests: () => requests,
    close: async () => {
      await new Promise<void>((resolve) => server.close(() => resolve()));
      fs.rmSync(root, { recursive: true, force: true });
    },
  };
}

describe('a confined local sandbox', () => {
  let server: TestServer;
  let task: Task;
  let gitServer: Awaited<ReturnType<typeof gitHttpServer>>;

  beforeAll(async () => {
    gitServer = await gitHttpServer();
    server = await startTestServer('embedded', {
      env: { RCLAUDE_EGRESS_ALLOW: `127.0.0.1:${gitServer.port}`, RCLAUDE_EGRESS_DEFAULT_ALLOW: 'false' },
    });
    task = await startTask(server, ['sh', '-c', 'echo pty-$((20+22)); exec sleep 600']);
  }, 60_000);
  afterAll(async () => {
    await closeServer(server);
    await gitServer?.close();
  });

  it('cannot reach a TCP service on the host loopback, nor the proxy itself', async () => {
    const host = await hostListener({ port: 0 });
    try {
      const proxyPort = new URL(server.url).port;
      // The same probe from the host reaches it, so a refusal inside is the sandbox's doing.
      const fromHost = await new Promise<string>((resolve) => {
        net
          .connect(host.port, '127.0.0.1')
          .on('connect', function (this: net.Socket) {
            this.destroy();
            resolve('CONNECTED');
          })
          .on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? 'error'));
      });
      expect(fromHost).toBe('CONNECTED');
      await until('the host probe to be counted', () => host.accepted() === 1);
      for (const port of [String(host.port), proxyPort]) {
        const r = await exec(server, task, ['node', '-e', PROBE, port]);
        expect(r.stdout.trim(), r.stderr).toBe('ECONNREFUSED');
      }
      expect(host.accepted()).toBe(1);
      const links = await exec(server, task, 'cat /proc/net/dev');
      expect(links.stdout).toMatch(/\blo:/);
      expect(
        links.stdout
          .split('\n')
          .filter((l) => l.includes(':'))
          .map((l) => l.split(':')[0]?.trim()),
      ).toEqual(['lo']);
    } finally {
      await host.close();
    }
  });

  it("cannot see the host's abstract Unix sockets", async () => {
    const name = `rclaude-test-${randomBytes(6).toString('hex')}`;
    const host = await hostListener({ abstract: name });
    try {
      const r = await exec(server, task, ['node', '-e', PROBE, name]);
      expect(r.stdout.trim(), r.stderr).toBe('ECONNREFUSED');
      expect(host.accepted()).toBe(0);
      const listed = await exec(server, task, 'cat /proc/net/unix');
      expect(listed.stdout).not.toContain(name);
    } finally {
      await host.close();
    }
  });

  it('sees only the agent socket of the proxy, read-only, and still works: PTY, files, exec', async () => {
    const env = await exec(server, task, 'printenv RCLAUDE_PROXY_SOCKET; ls -A /run/rclaude; touch /run/rclaude/x');
    // The agent's own variables never reach what it runs; the folder holds the socket only and is read-only.
    expect(env.stdout).toBe('agent.sock\n');
    expect(env.stderr).toMatch(/Read-only file system/);

    await until('the PTY output', async () => {
      const { data } = await server.stores.outputLog.read(task.mainSessionId, 0, 65536);
      return Buffer.from(data).toString().includes('pty-42');
    });

    const put = await fetch(`${server.url}/api/tasks/${task.id}/files/content?path=net.txt`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${server.token}`, 'content-type': 'application/octet-stream' },
      body: 'written through the file API\n',
    });
    expect(put.status).toBe(200);
    const read = await exec(server, task, 'cat /workspace/net.txt');
    expect(read.stdout).toBe('written through the file API\n');
    const got = await fetch(`${server.url}/api/tasks/${task.id}/files/content?path=net.txt`, {
      headers: { authorization: `Bearer ${server.token}` },
    });
    expect(await got.text()).toBe('written through the file API\n');
  });

  it('reaches an allowed host through the egress HTTP proxy: git clones from it', async () => {
    // 127.0.0.1 is in NO_PROXY (the sandbox's own loopback); the host's loopback is only reachable through the
    // gateway, so this clone drops NO_PROXY for itself.
    const url = `http://127.0.0.1:${gitServer.port}/repo.git`;
    const r = await exec(
      server,
      task,
      `env -u NO_PROXY -u no_proxy git clone -q ${url} /workspace/cloned && cat /workspace/cloned/README.md`,
    );
    expect(r.stdout, r.stderr).toBe('cloned through the egress gateway\n');
    expect(gitServer.requests()).toBeGreaterThan(0);
    // Without the proxy the same address is the sandbox's own loopback, where nothing listens.
    const direct = await exec(server, task, ['node', '-e', PROBE, String(gitServer.port)]);
    expect(direct.stdout.trim()).toBe('ECONNREFUSED');
  });

  it('refuses a host not on the allow-list, and the task says why', async () => {
    const seen = gitServer.requests();
    const script = `
      const http = require('http');
      const u = new URL(process.env.HTTPS_PROXY);
      http.request({ host: u.hostname, port: u.port, method: 'CONNECT', path: 'example.org:443' })
        .on('connect', (res, socket) => { console.log(res.statusCode); socket.destroy(); })
        .on('error', (e) => console.log(e.code)).end();`;
    const r = await exec(server, task, ['node', '-e', script]);
    expect(r.stdout.trim(), r.stderr).toBe('403');
    const other = await exec(
      server,
      task,
      `env -u NO_PROXY -u no_proxy curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:${new URL(server.url).port}/healthz`,
    );
    expect(other.stdout).toBe('403');
    expect(gitServer.requests()).toBe(seen);
    const events = await until('the refusal on the timeline', async () => {
      const { events } = await api<{ events: { type: string; data: { message?: string } }[] }>(
        server,
        'GET',
        `/api/tasks/${task.id}/events`,
      );
      const refusals = events.filter((e) => e.type === 'error').map((e) => e.data.message ?? '');
      return refusals.length >= 2 ? refusals : null;
    });
    expect(events).toContain(
      'connection to example.org:443 refused: example.org:443 is not on the egress allow-list (add it to a task with `rclaude run --allow-host example.org`, to all your tasks with `rclaude allow-host add example.org`; an admin adds hosts for everyone with RCLAUDE_EGRESS_ALLOW)',
    );
    expect(events.some((m) => m.startsWith(`connection to 127.0.0.1:${new URL(server.url).port} refused`))).toBe(true);
  });

  it("reaches a host on its owner's allow-list through the CONNECT proxy, and not before nor after", async () => {
    // RCLAUDE_EGRESS_ALLOW opens the address 127.0.0.1:PORT only (the test's loopback allowance); the name
    // `localhost` is on no list until the task's owner adds it, so the proxy refuses it by name first.
    const entry = `localhost:${gitServer.port}`;
    const viaConnect = `env -u NO_PROXY -u no_proxy curl -s -p -o /dev/null -w '%{http_connect} %{http_code}' -x "$HTTPS_PROXY" http://${entry}/repo.git/HEAD`;
    const seen = gitServer.requests();
    const before = await exec(server, task, viaConnect);
    expect(before.stdout).toBe('403 000');
    expect(gitServer.requests()).toBe(seen);

    await api(server, 'POST', '/api/allow-hosts', { host: entry });
    // The running task's next tunnel reads the list again: no restart.
    const allowed = await exec(server, task, viaConnect);
    expect(allowed.stdout, allowed.stderr).toBe('200 200');
    expect(gitServer.requests()).toBe(seen + 1);

    await api(server, 'DELETE', `/api/allow-hosts/${encodeURIComponent(entry)}`);
    const after = await exec(server, task, viaConnect);
    expect(after.stdout).toBe('403 000');
    expect(gitServer.requests()).toBe(seen + 1);
  });
});

describe('an unconfined local sandbox (RCLAUDE_LOCAL_SANDBOX=none)', () => {
  let server: TestServer;

  beforeAll(async () => {
    server = await startTestServer('embedded', { env: { RCLAUDE_LOCAL_SANDBOX: 'none' } });
  }, 60_000);
  afterAll(() => closeServer(server));

  it('keeps the host network: it reaches a loopback listener of the host', async () => {
    const host = await hostListener({ port: 0 });
    try {
      const task = await startTask(server, ['sleep', '600']);
      const r = await exec(server, task, ['node', '-e', PROBE, String(host.port)]);
      expect(r.stdout.trim(), r.stderr).toBe('CONNECTED');
      await until('the connection to be counted', () => host.accepted() === 1);
    } finally {
      await host.close();
    }
  });
});
