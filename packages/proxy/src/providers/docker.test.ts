/**
 * The docker provider against the real Docker engine and the real sandbox image (docker/build.sh builds it;
 * RCLAUDE_DOCKER_IMAGE names another). Every container and volume carries this run's installation label and
 * is removed in afterAll, also when a test fails.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { standInCommand } from '@rclaude/testkit';
import Docker from 'dockerode';
import { Server } from 'socket.io';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeProviderContract } from '../../test/provider-contract.js';
import { type AgentSocketListener, listenAgentSocket } from '../realtime/agent-socket-listener.js';
import { createDockerProvider, type DockerProviderOptions } from './docker.js';
import type { Provider, SandboxHandle, SandboxSpec } from './types.js';

const IMAGE = process.env.RCLAUDE_DOCKER_IMAGE ?? 'rclaude-sandbox:0.1.0';
const run = promisify(execFile);
const docker = async (...args: string[]) => (await run('docker', args, { maxBuffer: 16 << 20 })).stdout.trim();
const STAND_IN = standInCommand()[2] ?? '';
const MARKER = '/tmp/marker.json';

/** Removes every container and volume of `installation` (the provider's own labels). */
async function removeAll(installation: string): Promise<void> {
  const filter = `label=org.rclaude.installation=${installation}`;
  const containers = (await docker('ps', '-aq', '--filter', filter)).split('\n').filter(Boolean);
  if (containers.length > 0) await docker('rm', '-fv', ...containers);
  const volumes = (await docker('volume', 'ls', '-q', '--filter', filter)).split('\n').filter(Boolean);
  if (volumes.length > 0) await docker('volume', 'rm', '-f', ...volumes);
}

async function until<T>(what: string, check: () => Promise<T | undefined>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined) return value;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`, { cause: last });
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

function makeSpecFactory() {
  return (extraEnv: Record<string, string> = {}): SandboxSpec => {
    const sandboxId = `sbx${randomBytes(6).toString('hex')}`;
    return {
      sandboxId,
      taskId: 'task1',
      owner: 'alice',
      env: {
        RCLAUDE_PROXY_URL: 'http://127.0.0.1:9',
        RCLAUDE_SANDBOX_ID: sandboxId,
        RCLAUDE_AGENT_TOKEN: randomBytes(24).toString('hex'),
        RCLAUDE_TEST_MARKER: MARKER,
        ...extraEnv,
      },
      maxLifetimeMs: 3_600_000,
    };
  };
}

interface Setup {
  installation: string;
  dir: string;
  options: DockerProviderOptions;
}

async function setup(extra: Partial<DockerProviderOptions> = {}): Promise<Setup> {
  const installation = `test-${randomBytes(4).toString('hex')}`;
  const dir = await mkdtemp(path.join(os.tmpdir(), 'docker-provider-'));
  return {
    installation,
    dir,
    options: {
      image: IMAGE,
      agentSocket: path.join(dir, 'run', 'agent.sock'),
      cpus: 0.5,
      memoryMiB: 256,
      maxProcesses: 64,
      tmpMiB: 16,
      installation,
      entrypoint: ['/usr/bin/tini', '--', 'node', '-e', STAND_IN],
      stopGraceSeconds: 1,
      ...extra,
    },
  };
}

const containerName = (installation: string, sandboxId: string) => `rclaude-${installation}-${sandboxId}`;

describeProviderContract(
  'docker (real engine)',
  async () => {
    const s = await setup();
    const provider = createDockerProvider(s.options);
    return {
      provider,
      makeSpec: makeSpecFactory(),
      started: async (spec) => {
        const name = containerName(s.installation, spec.sandboxId);
        const env = await until('the stand-in marker', async () => {
          const text = await docker('exec', name, 'cat', MARKER);
          return (JSON.parse(text) as { env: Record<string, string> }).env;
        });
        // The start-up token arrives in a file (0600, the sandbox user's) that the environment names.
        const file = env.RCLAUDE_AGENT_TOKEN_FILE;
        if (!file || env.RCLAUDE_AGENT_TOKEN) return env;
        expect(await docker('exec', name, 'stat', '-c', '%a %u', file)).toBe('600 1000');
        return { ...env, RCLAUDE_AGENT_TOKEN: await docker('exec', name, 'cat', file) };
      },
      exitWith: (code) => ({ RCLAUDE_TEST_EXIT_CODE: String(code), RCLAUDE_TEST_EXIT_AFTER_MS: '300' }),
      killExternally: async (handle) => {
        await docker('kill', handle.ref);
      },
      unknownHandle: () => ({ sandboxId: 'nobody', provider: 'docker', ref: '0'.repeat(64) }),
      close: async () => {
        await removeAll(s.installation);
        await rm(s.dir, { recursive: true, force: true });
      },
    };
  },
  { settleTimeoutMs: 30_000 },
);

describe('docker provider: the sandbox boundary', () => {
  let s: Setup;
  let provider: Provider;
  const makeSpec = makeSpecFactory();

  beforeAll(async () => {
    s = await setup();
    provider = createDockerProvider(s.options);
  });
  afterAll(async () => {
    await provider?.close();
    if (s) {
      await removeAll(s.installation);
      await rm(s.dir, { recursive: true, force: true });
    }
  });

  it('runs each sandbox with its limits, no capabilities, a read-only root and no network but lo', async () => {
    const spec = makeSpec();
    const handle = await provider.start(spec);
    const name = containerName(s.installation, spec.sandboxId);
    await until('the stand-in', () => docker('exec', name, 'cat', MARKER));
    const [info] = JSON.parse(await docker('inspect', handle.ref)) as {
      Config: { User: string; Labels: Record<string, string> };
      HostConfig: Record<string, unknown>;
      Mounts: { Type: string; Name?: string; Destination: string; RW: boolean }[];
    }[];
    expect(info?.Config.User).toBe('1000:1000');
    expect(info?.Config.Labels['org.rclaude.sandbox-id']).toBe(spec.sandboxId);
    expect(info?.HostConfig).toMatchObject({
      NetworkMode: 'none',
      CapDrop: ['ALL'],
      SecurityOpt: ['no-new-privileges'],
      ReadonlyRootfs: true,
      NanoCpus: 500_000_000,
      Memory: 256 * 1024 * 1024,
      MemorySwap: 256 * 1024 * 1024,
      PidsLimit: 64,
      Privileged: false,
    });
    const mounts = Object.fromEntries((info?.Mounts ?? []).map((m) => [m.Destination, m]));
    expect(mounts['/workspace']).toMatchObject({ Type: 'volume', RW: true });
    expect(mounts['/home/rclaude']).toMatchObject({ Type: 'volume', RW: true });
    expect(mounts['/run/rclaude']).toMatchObject({ Type: 'bind', RW: false });

    // Seen from inside: only the loopback interface, uid 1000, no capabilities, and where it may write.
    expect((await docker('exec', name, 'ls', '/sys/class/net')).split(/\s+/)).toEqual(['lo']);
    expect(await docker('exec', name, 'id', '-u')).toBe('1000');
    expect(await docker('exec', name, 'sh', '-c', 'grep CapEff /proc/self/status')).toMatch(/CapEff:\s+0+$/);
    await expect(docker('exec', name, 'touch', '/usr/local/bin/x')).rejects.toThrow(/Read-only file system/);
    await docker('exec', name, 'sh', '-c', 'echo kept > /workspace/file && echo tmp > /tmp/file');
    expect(await docker('exec', name, 'cat', '/workspace/file')).toBe('kept');

    // The workspace outlives its container's own end, and goes with stop().
    await docker('kill', handle.ref);
    await until('stopped', async () => ((await provider.inspect(handle)).state === 'stopped' ? true : undefined));
    const filter = `label=org.rclaude.sandbox-id=${spec.sandboxId}`;
    expect((await docker('volume', 'ls', '-q', '--filter', filter)).split('\n').sort()).toEqual([
      `${name}-home`,
      `${name}-workspace`,
    ]);
    await provider.stop(handle, 'test');
    expect(await docker('volume', 'ls', '-q', '--filter', filter)).toBe('');
    expect((await provider.inspect(handle)).state).toBe('missing');
  });

  it('ends a sandbox that exceeds its memory with a reason that says so', async () => {
    const bomb = createDockerProvider({
      ...s.options,
      memoryMiB: 64,
      entrypoint: ['node', '-e', 'const a = []; for (;;) a.push(Buffer.alloc(1 << 20, 1));'],
    });
    const handle = await bomb.start(makeSpec());
    const status = await until('the OOM kill', async () => {
      const st = await bomb.inspect(handle);
      return st.state === 'stopped' ? st : undefined;
    });
    expect(status.reason).toBe('the sandbox ran out of memory (limit 64 MiB)');
    expect(status.fault).toBe(status.reason);
    await bomb.stop(handle, 'test');
  });

  it('lists only this installation’s sandboxes', async () => {
    const other = await setup();
    const theirs = createDockerProvider(other.options);
    try {
      const mine = await provider.start(makeSpec());
      const foreign = await theirs.start(makeSpec());
      const listed = await provider.list();
      expect(listed).toContainEqual(mine);
      expect(listed.map((h) => h.ref)).not.toContain(foreign.ref);
      expect(await theirs.list()).toEqual([foreign]);
    } finally {
      await removeAll(other.installation);
      await rm(other.dir, { recursive: true, force: true });
    }
  });

  it('says the engine is unreachable, as PROVIDER_UNAVAILABLE, when its socket answers nobody', async () => {
    const gone = createDockerProvider({
      ...s.options,
      docker: new Docker({ socketPath: path.join(s.dir, 'no-engine.sock') }),
    });
    await expect(gone.start(makeSpec())).rejects.toMatchObject({
      code: 'PROVIDER_UNAVAILABLE',
      message: expect.stringMatching(/Docker engine is not reachable/),
    });
    await expect(gone.list()).rejects.toMatchObject({ code: 'PROVIDER_UNAVAILABLE' });
  });

  it('fails a start with an image that is not there, naming docker/build.sh, and leaves nothing', async () => {
    const missing = createDockerProvider({ ...s.options, image: 'rclaude-sandbox:no-such-tag' });
    const spec = makeSpec();
    await expect(missing.start(spec)).rejects.toMatchObject({
      code: 'SANDBOX_START_FAILED',
      message: expect.stringMatching(/docker\/build\.sh/),
    });
    expect(await docker('ps', '-aq', '--filter', `label=org.rclaude.sandbox-id=${spec.sandboxId}`)).toBe('');
  });
});

describe('docker provider: the real agent dials the proxy through the bound socket', () => {
  let s: Setup;
  let provider: Provider;
  let io: Server;
  let listener: AgentSocketListener;
  const handshakes: Record<string, unknown>[] = [];
  const hellos: string[] = [];

  beforeAll(async () => {
    s = await setup({ entrypoint: undefined });
    const { entrypoint: _, ...options } = s.options;
    provider = createDockerProvider(options);
    // Not listening on any port: the Unix socket is this server's only way in.
    io = new Server(createServer(), { serveClient: false });
    io.of('/agent').use((socket, next) => {
      handshakes.push(socket.handshake.auth);
      next();
    });
    io.of('/agent').on('connection', (socket) => {
      socket.on('agent:hello', (_payload: unknown, ack: (res: unknown) => void) => {
        hellos.push(String(socket.handshake.auth.sandboxId));
        ack({ ok: true, data: { sessions: [], forget: [] } });
      });
    });
    listener = await listenAgentSocket(io, s.options.agentSocket);
  });
  afterAll(async () => {
    await listener?.close();
    await new Promise((resolve) => io?.close(() => resolve(undefined)));
    await provider?.close();
    if (s) {
      await removeAll(s.installation);
      await rm(s.dir, { recursive: true, force: true });
    }
  });

  it('connects with its sandbox id and token, says hello, and runs the pinned Claude Code', async () => {
    const spec = makeSpecFactory()();
    const handle: SandboxHandle = await provider.start(spec);
    await until('the agent hello', async () => (hellos.includes(spec.sandboxId) ? true : undefined), 60_000);
    expect(handshakes).toContainEqual(
      expect.objectContaining({ sandboxId: spec.sandboxId, token: spec.env.RCLAUDE_AGENT_TOKEN }),
    );
    const name = containerName(s.installation, spec.sandboxId);
    // The token reached the agent through a file, not the container's environment (`docker inspect` shows that),
    // and the agent deleted the file; no process in the container holds it in its environment.
    const token = spec.env.RCLAUDE_AGENT_TOKEN ?? '';
    expect(await docker('inspect', '--format', '{{json .Config.Env}}', handle.ref)).not.toContain(token);
    expect(await docker('exec', name, 'sh', '-c', 'ls -a /home/rclaude')).not.toContain('.rclaude-agent-token');
    expect(
      await docker('exec', name, 'sh', '-c', 'cat /proc/[0-9]*/environ 2>/dev/null | tr "\\0" "\\n"'),
    ).not.toContain(token);
    // The home the image gives the sandbox user is still its own, with what the image put there.
    const home = await docker('exec', name, 'sh', '-c', 'touch ~/.written && stat -c %u ~ && ls -A ~');
    expect(home).toMatch(/^1000\n/);
    expect(home).toContain('.bashrc');
    expect(await docker('exec', name, 'claude', '--version')).toMatch(/^2\.1\.329 /);
    await provider.stop(handle, 'test');
    expect((await provider.inspect(handle)).state).toBe('missing');
  });
});
