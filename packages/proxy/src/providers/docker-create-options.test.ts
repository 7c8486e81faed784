/**
 * The container the docker provider asks for, checked as data (docker.test.ts runs the same provider against a
 * real engine): the sandbox limits from the shared settings, no swap, and the confinement around them.
 */
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../config.js';
import { containerCreateOptions, SANDBOX_SOCKET_DIR, TOKEN_IN_SANDBOX } from './docker.js';
import { dockerLimits } from './factories.js';
import type { SandboxSpec } from './types.js';

const spec: SandboxSpec = {
  sandboxId: 'sb1',
  taskId: 'task1',
  owner: 'alice',
  env: { RCLAUDE_PROXY_URL: 'http://proxy', RCLAUDE_SANDBOX_ID: 'sb1', RCLAUDE_AGENT_TOKEN: 'tok' },
  maxLifetimeMs: 0,
};
const place = {
  installation: 'prod',
  names: { container: 'rclaude-prod-sb1', workspace: 'rclaude-prod-sb1-workspace', home: 'rclaude-prod-sb1-home' },
  socketDir: '/data/run',
  socketInSandbox: `${SANDBOX_SOCKET_DIR}/agent.sock`,
};
const base = { image: 'rclaude-sandbox:0.1.0', tmpMiB: 64 };

describe('containerCreateOptions', () => {
  it('limits memory (no swap), CPUs and processes, and confines the container', () => {
    const o = containerCreateOptions(spec, { ...base, cpus: 1.5, memoryMiB: 2048, maxProcesses: 300 }, place);
    expect(o.HostConfig).toMatchObject({
      Memory: 2048 * 1024 * 1024,
      MemorySwap: 2048 * 1024 * 1024,
      NanoCpus: 1_500_000_000,
      PidsLimit: 300,
      NetworkMode: 'none',
      CapDrop: ['ALL'],
      SecurityOpt: ['no-new-privileges'],
      ReadonlyRootfs: true,
      Tmpfs: { '/tmp': 'rw,nosuid,nodev,size=64m,mode=1777' },
    });
    expect(o.User).toBe('1000:1000');
    expect(o.Labels).toEqual({
      'org.rclaude.installation': 'prod',
      'org.rclaude.sandbox-id': 'sb1',
      'org.rclaude.task-id': 'task1',
      'org.rclaude.owner': 'alice',
    });
    expect(o.Env).toContain(`RCLAUDE_PROXY_SOCKET=${SANDBOX_SOCKET_DIR}/agent.sock`);
    // The start-up token goes into a file before the container starts; `docker inspect` shows the environment.
    expect(o.Env).toContain(`RCLAUDE_AGENT_TOKEN_FILE=${TOKEN_IN_SANDBOX}`);
    expect(o.Env?.filter((e) => e.startsWith('RCLAUDE_AGENT_TOKEN=') || e.endsWith('=tok'))).toEqual([]);
    expect(o.HostConfig?.Mounts).toContainEqual({
      Type: 'bind',
      Source: '/data/run',
      Target: SANDBOX_SOCKET_DIR,
      ReadOnly: true,
    });
  });

  it('leaves a limit set to 0 unlimited, as the engine reads 0', () => {
    const o = containerCreateOptions(spec, { ...base, cpus: 0, memoryMiB: 0, maxProcesses: 0 }, place);
    expect(o.HostConfig).toMatchObject({ Memory: 0, MemorySwap: 0, NanoCpus: 0, PidsLimit: 0 });
  });

  it('takes RCLAUDE_SANDBOX_* unless RCLAUDE_DOCKER_* say otherwise', () => {
    const limitsOf = (env: Record<string, string>) =>
      dockerLimits(loadConfig({ RCLAUDE_DATA_DIR: '/tmp/rclaude-opts-test', ...env }));
    expect(limitsOf({})).toEqual({ cpus: 2, memoryMiB: 4096, maxProcesses: 512 });
    expect(
      limitsOf({ RCLAUDE_SANDBOX_MEMORY: '1GiB', RCLAUDE_SANDBOX_CPUS: '0.5', RCLAUDE_SANDBOX_PIDS: '100' }),
    ).toEqual({ cpus: 0.5, memoryMiB: 1024, maxProcesses: 100 });
    expect(
      limitsOf({
        RCLAUDE_SANDBOX_MEMORY: '1GiB',
        RCLAUDE_DOCKER_MEMORY_MIB: '512',
        RCLAUDE_DOCKER_MAX_PROCESSES: '64',
      }),
    ).toEqual({ cpus: 2, memoryMiB: 512, maxProcesses: 64 });
  });
});
