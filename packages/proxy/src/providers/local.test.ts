/**
 * The local provider for real: bubblewrap sandboxes running the real agent, which dials a stand-in proxy (a
 * Socket.io server on loopback that records each handshake). Run as root (as on this machine), a sandbox runs
 * as the unprivileged sandbox user in a cgroup with its limits; run by an unprivileged server (the provider in
 * a child process under `setpriv`), it runs as that user with rlimits. In both, its start-up token reaches the
 * agent and appears on no command line and in no environment another process can read.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';
import { until } from '@rclaude/testkit';
import { pino } from 'pino';
import { Server } from 'socket.io';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listenAgentSocket } from '../realtime/agent-socket-listener.js';
import { createLocalProvider } from './local.js';
import { lookupUser } from './sandbox-user.js';
import type { Provider, SandboxSpec } from './types.js';

const isRoot = process.getuid?.() === 0;
const NOBODY = 65534;
const MiB = 1024 * 1024;
const childScript = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../test/local-provider-child.mjs');

interface FakeProxy {
  url: string;
  handshakes: { sandboxId?: string; token?: string }[];
  close(): Promise<void>;
}

/**
 * Socket.io on loopback with an `/agent` namespace that records handshakes and lets agents in; also on the agent
 * socket `<dataDir>/run/agent.sock`, which is all a confined sandbox (no network) can reach.
 */
async function startFakeProxy(dataDir: string): Promise<FakeProxy> {
  const http = createServer();
  const io = new Server(http);
  const handshakes: FakeProxy['handshakes'] = [];
  io.of('/agent').use((socket, next) => {
    handshakes.push(socket.handshake.auth as FakeProxy['handshakes'][number]);
    next();
  });
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  const { port } = http.address() as AddressInfo;
  const socket = await listenAgentSocket(io, agentSocketOf(dataDir));
  return {
    url: `http://127.0.0.1:${port}`,
    handshakes,
    close: async () => {
      await socket.close();
      await new Promise<void>((resolve) => io.close(() => resolve()));
    },
  };
}

const agentSocketOf = (dataDir: string) => path.join(dataDir, 'run', 'agent.sock');

function spec(proxy: FakeProxy, token: string): SandboxSpec {
  const sandboxId = `t${randomBytes(6).toString('hex')}`;
  return {
    sandboxId,
    taskId: null,
    owner: null,
    env: { RCLAUDE_PROXY_URL: proxy.url, RCLAUDE_SANDBOX_ID: sandboxId, RCLAUDE_AGENT_TOKEN: token },
    maxLifetimeMs: 0,
  };
}

function uidOf(pid: number): number {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/^Uid:\s+(\d+)/m.exec(status)?.[1]);
}

/**
 * Reads every process's cmdline and environ in a loop, as this process (root: it can read them all), looking
 * for `secret`; also notes that it saw the sandbox's bubblewrap and agent, so "no hit" means something.
 */
function scanProcInProcess(secret: string, sandboxId: string) {
  const hits: string[] = [];
  let sawBwrap = false;
  let sawAgent = false;
  let rounds = 0;
  let running = true;
  const done = (async () => {
    while (running) {
      for (const pid of fs.readdirSync('/proc').filter((e) => /^\d+$/.test(e))) {
        for (const file of ['cmdline', 'environ']) {
          let text: string;
          try {
            text = fs.readFileSync(`/proc/${pid}/${file}`, 'latin1');
          } catch {
            continue;
          }
          if (text.includes(secret)) hits.push(`${pid}/${file}`);
          if (file === 'cmdline' && text.includes(sandboxId) && text.startsWith('bwrap')) sawBwrap = true;
          if (file === 'environ' && text.includes(`RCLAUDE_SANDBOX_ID=${sandboxId}`)) sawAgent = true;
        }
      }
      rounds++;
      await new Promise((r) => setImmediate(r));
    }
  })();
  return {
    async stop() {
      running = false;
      await done;
      return { hits, sawBwrap, sawAgent, rounds };
    },
  };
}

/** The same scan by another host user (nobody), for `ms`; the secret arrives on stdin, never on its command line. */
function scanProcAs(uid: number, secret: string, ms: number): Promise<{ hits: string[]; cmdlines: number }> {
  const script = `
    const fs = require('node:fs');
    const secret = fs.readFileSync(0, 'utf8');
    const hits = []; let cmdlines = 0; const end = Date.now() + ${ms};
    while (Date.now() < end) {
      for (const pid of fs.readdirSync('/proc').filter((e) => /^\\d+$/.test(e))) {
        for (const file of ['cmdline', 'environ']) {
          try {
            const text = fs.readFileSync('/proc/' + pid + '/' + file, 'latin1');
            if (file === 'cmdline') cmdlines++;
            if (text.includes(secret)) hits.push(pid + '/' + file);
          } catch {}
        }
      }
    }
    process.stdout.write(JSON.stringify({ hits, cmdlines }));`;
  const child = spawn(
    'setpriv',
    [`--reuid=${uid}`, `--regid=${uid}`, '--clear-groups', process.execPath, '-e', script],
    { stdio: ['pipe', 'pipe', 'inherit'] },
  );
  child.stdin.end(secret);
  let out = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => {
    out += d;
  });
  return new Promise((resolve, reject) => {
    child.once('exit', (code) => (code === 0 ? resolve(JSON.parse(out)) : reject(new Error(`scanner exit ${code}`))));
  });
}

describe.runIf(isRoot)('local provider, server running as root', () => {
  let proxy: FakeProxy;
  let provider: Provider;
  let dataDir: string;
  const logLines: string[] = [];

  beforeAll(async () => {
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'rclaude-local-'));
    proxy = await startFakeProxy(dataDir);
    fs.writeFileSync(path.join(dataDir, 'secret.key'), 'server key\n', { mode: 0o600 });
    provider = createLocalProvider({
      dataDir,
      confinement: 'bwrap',
      agentSocket: agentSocketOf(dataDir),
      log: pino({ level: 'info' }, { write: (line: string) => logLines.push(line) }),
      limits: { memoryBytes: 256 * MiB, cpus: 0.5, pids: 64, diskBytes: 1024 * MiB },
    });
  });

  afterAll(async () => {
    await provider?.close();
    await proxy?.close();
    if (dataDir) fs.rmSync(dataDir, { recursive: true, force: true });
  });

  it('runs bubblewrap and everything in it as the sandbox user, in a cgroup with its limits, never as root', async () => {
    const user = lookupUser('rclaude-sandbox');
    expect(user, 'the provider creates rclaude-sandbox when it is missing').not.toBeNull();
    if (!user) return;
    expect(user.uid).toBeGreaterThan(0);
    const token = `tok-${randomBytes(16).toString('hex')}`;
    const s = spec(proxy, token);
    const handle = await provider.start(s);
    try {
      await until('the agent to dial in', () => proxy.handshakes.some((h) => h.sandboxId === s.sandboxId));
      const dirs = JSON.parse(
        fs.readFileSync(path.join(dataDir, 'sandboxes', s.sandboxId, 'cgroup.json'), 'utf8'),
      ) as string[];
      const procs = [
        ...new Set(
          dirs.flatMap((d) =>
            fs.readFileSync(path.join(d, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean).map(Number),
          ),
        ),
      ];
      // bubblewrap outside, bubblewrap as the sandbox's init, the agent (and its threads' process).
      expect(procs.length).toBeGreaterThanOrEqual(3);
      expect(procs).toContain(Number.parseInt(handle.ref, 10));
      for (const pid of procs) expect(uidOf(pid), `uid of ${pid}`).toBe(user.uid);

      const memory = dirs.find((d) => d.includes('/memory/')) as string;
      const pids = dirs.find((d) => d.includes('/pids/')) as string;
      const cpu = dirs.find((d) => d.includes('/cpu/')) as string;
      expect(fs.readFileSync(path.join(memory, 'memory.limit_in_bytes'), 'utf8').trim()).toBe(String(256 * MiB));
      expect(fs.readFileSync(path.join(pids, 'pids.max'), 'utf8').trim()).toBe('64');
      expect(fs.readFileSync(path.join(cpu, 'cpu.cfs_quota_us'), 'utf8').trim()).toBe('50000');

      // Its files are its own; the server's data dir and key are not for it.
      const workspace = path.join(dataDir, 'sandboxes', s.sandboxId, 'workspace');
      expect(fs.statSync(workspace).uid).toBe(user.uid);
      const asUser = (...argv: string[]) =>
        spawnSync('setpriv', [`--reuid=${user.uid}`, `--regid=${user.gid}`, '--clear-groups', ...argv], {
          encoding: 'utf8',
        });
      expect(asUser('cat', path.join(dataDir, 'secret.key')).status).not.toBe(0);
      expect(asUser('ls', dataDir).status).not.toBe(0);
      expect(asUser('ls', path.join(dataDir, 'sandboxes')).status).not.toBe(0);
      expect(asUser('true').status, 'setpriv itself works').toBe(0);
    } finally {
      await provider.stop(handle, 'test done');
    }
    await until('its cgroup to be removed', () =>
      fs.existsSync(path.join(dataDir, 'sandboxes', s.sandboxId, 'cgroup.json'))
        ? !(
            JSON.parse(fs.readFileSync(path.join(dataDir, 'sandboxes', s.sandboxId, 'cgroup.json'), 'utf8')) as string[]
          ).some((d) => fs.existsSync(d))
        : false,
    );
  });

  it('hands the agent its token through a file only the sandbox sees, gone once read; no process shows it', async () => {
    const token = `tok-${randomBytes(16).toString('hex')}`;
    const s = spec(proxy, token);
    const asRoot = scanProcInProcess(token, s.sandboxId);
    const asNobody = scanProcAs(NOBODY, token, 4000);
    const handle = await provider.start(s);
    try {
      const shake = await until('the agent to dial in', () =>
        proxy.handshakes.find((h) => h.sandboxId === s.sandboxId),
      );
      expect(shake.token).toBe(token);
      const init = Number.parseInt(handle.ref, 10);
      // The sandbox's own /run, seen from the host: the agent deleted the token file after reading it.
      expect(fs.readdirSync(`/proc/${init}/root/run`)).not.toContain('rclaude-agent-token');
      const nobody = await asNobody;
      const root = await asRoot.stop();
      expect(root.hits).toEqual([]);
      expect(nobody.hits).toEqual([]);
      expect(root.sawBwrap && root.sawAgent, 'the scan saw the sandbox bubblewrap and agent').toBe(true);
      expect(root.rounds).toBeGreaterThan(1);
      expect(nobody.cmdlines).toBeGreaterThan(0);
    } finally {
      await asRoot.stop();
      await provider.stop(handle, 'test done');
    }
  });
});

describe.runIf(isRoot)('local provider as root, after a restart and unconfined', () => {
  let proxy: FakeProxy;
  let dataDir: string;
  const log = pino({ level: 'silent' });

  beforeAll(async () => {
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'rclaude-local-restart-'));
    proxy = await startFakeProxy(dataDir);
  });
  afterAll(async () => {
    await proxy?.close();
    if (dataDir) fs.rmSync(dataDir, { recursive: true, force: true });
  });

  it('finds a running sandbox and its cgroup again after a server restart, and removes both at stop', async () => {
    const before = createLocalProvider({
      dataDir,
      confinement: 'bwrap',
      agentSocket: agentSocketOf(dataDir),
      log,
    });
    const s = spec(proxy, `tok-${randomBytes(16).toString('hex')}`);
    const handle = await before.start(s);
    await before.close();
    const dirs = JSON.parse(
      fs.readFileSync(path.join(dataDir, 'sandboxes', s.sandboxId, 'cgroup.json'), 'utf8'),
    ) as string[];
    const after = createLocalProvider({
      dataDir,
      confinement: 'bwrap',
      agentSocket: agentSocketOf(dataDir),
      log,
    });
    try {
      expect(await after.list()).toContainEqual(handle);
      expect((await after.inspect(handle)).state).toBe('running');
      await after.stop(handle, 'test done');
      expect((await after.inspect(handle)).state).toBe('stopped');
      await until('the cgroup to be removed', () => dirs.every((d) => !fs.existsSync(d)));
    } finally {
      await after.close();
    }
  });

  it('runs an unconfined agent as the sandbox user too, with its token in a file it deletes', async () => {
    const user = lookupUser('rclaude-sandbox');
    const provider = createLocalProvider({
      dataDir,
      confinement: 'none',
      agentSocket: agentSocketOf(dataDir),
      log,
    });
    const token = `tok-${randomBytes(16).toString('hex')}`;
    const s = spec(proxy, token);
    const handle = await provider.start(s);
    try {
      const shake = await until('the agent to dial in', () =>
        proxy.handshakes.find((h) => h.sandboxId === s.sandboxId),
      );
      expect(shake.token).toBe(token);
      expect(uidOf(Number.parseInt(handle.ref, 10))).toBe(user?.uid);
      expect(fs.readdirSync(path.join(dataDir, 'sandboxes', s.sandboxId, 'run'))).toEqual([]);
      const environ = fs.readFileSync(`/proc/${Number.parseInt(handle.ref, 10)}/environ`, 'latin1');
      expect(environ).toContain('RCLAUDE_AGENT_TOKEN_FILE=');
      expect(environ).not.toContain(token);
    } finally {
      await provider.stop(handle, 'test done');
      await provider.close();
    }
  });
});

describe('local provider, server running as an unprivileged user', () => {
  let proxy: FakeProxy;
  let dataDir: string;
  let child: ChildProcess | null = null;

  beforeAll(async () => {
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'rclaude-local-user-'));
    if (isRoot) fs.chownSync(dataDir, NOBODY, NOBODY);
    proxy = await startFakeProxy(dataDir);
  });

  afterAll(async () => {
    child?.kill('SIGKILL');
    await proxy?.close();
    if (dataDir) fs.rmSync(dataDir, { recursive: true, force: true });
  });

  it('runs the sandbox as the server user, with per-process rlimits where no cgroup is writable', async () => {
    const token = `tok-${randomBytes(16).toString('hex')}`;
    const s = spec(proxy, token);
    const uid = isRoot ? NOBODY : (process.getuid?.() ?? 0);
    const argv = isRoot
      ? ['setpriv', `--reuid=${NOBODY}`, `--regid=${NOBODY}`, '--clear-groups', process.execPath, childScript]
      : [process.execPath, childScript];
    const proc = spawn(argv[0] as string, argv.slice(1), {
      stdio: ['pipe', 'pipe', 'pipe'],
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: dataDir },
    });
    child = proc;
    let stderr = '';
    proc.stderr.setEncoding('utf8').on('data', (d: string) => {
      stderr += d;
    });
    const events = readline.createInterface({ input: proc.stdout })[Symbol.asyncIterator]();
    proc.stdin.write(
      `${JSON.stringify({ dataDir, spec: s, limits: { memoryBytes: 768 * MiB, cpus: 1, pids: 256, diskBytes: 0 } })}\n`,
    );
    const first = await events.next();
    expect(first.done, stderr).toBe(false);
    const started = JSON.parse(first.value as string) as { handle: { ref: string }; uid: number };
    expect(started.uid).toBe(uid);
    const pid = Number.parseInt(started.handle.ref, 10);
    expect(uidOf(pid)).toBe(uid);
    const shake = await until('the agent to dial in', () => proxy.handshakes.find((h) => h.sandboxId === s.sandboxId));
    expect(shake.token).toBe(token);
    if (isRoot) {
      // No cgroup is writable by nobody here: the fallback, said once, and the limits on the sandbox's processes.
      expect(stderr).toContain('no writable cgroup for local sandboxes');
      const limits = fs.readFileSync(`/proc/${pid}/limits`, 'utf8');
      expect(limits).toMatch(new RegExp(`Max data size\\s+${768 * MiB}\\s+${768 * MiB}\\s+bytes`));
      const nproc = Number(/Max processes\s+(\d+)/.exec(limits)?.[1]);
      expect(nproc).toBeGreaterThanOrEqual(256);
      expect(nproc).toBeLessThan(100_000);
    }
    expect(stderr).not.toContain('created the host user');
    proc.stdin.write('stop\n');
    const last = await events.next();
    expect(JSON.parse(last.value as string)).toEqual({ event: 'stopped' });
    await until('the sandbox to end', () => !fs.existsSync(`/proc/${pid}/stat`) || undefined);
  });
});
