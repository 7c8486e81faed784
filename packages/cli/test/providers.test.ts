/**
 * The cloud providers end to end: a real `rclaude server` on real Postgres and Redis whose REAL AWS and E2B
 * SDKs talk to the testkit emulators, each emulated ECS task or E2B sandbox running the real agent
 * (`packages/agent/dist/main.js`), which dials the server like it would from Fargate or E2B. Driven through
 * the CLI in pipes and in a real terminal (tmux).
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import net, { type AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Task } from '@rclaude/protocol';
import {
  type CliResult,
  type E2bEmulator,
  type EcsEmulator,
  type EmulatedCommand,
  type EmulatedE2bSandbox,
  type EmulatedEcsTask,
  type RclaudeServer,
  runCli,
  type SandboxFs,
  startE2bEmulator,
  startEcsEmulator,
  startRclaudeServer,
  Terminals,
  type TmuxTerminal,
} from '@rclaude/testkit';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';

type Cloud = 'ecs' | 'e2b';

const AGENT_ENTRY = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../agent/dist/main.js');
const DATABASE_URL = 'postgres://postgres@127.0.0.1:5432/test';
const REDIS_URL = 'redis://127.0.0.1:6379';
const AGENT_CONNECT_TIMEOUT_MS = 8000;

let ecs: EcsEmulator;
let e2b: E2bEmulator;
let server: RclaudeServer;
/** Every server started, for the log written when RCLAUDE_TEST_LOG names a file. */
const servers: RclaudeServer[] = [];
/** The port the main server (and its restart) listens on: agents keep dialling the URL they were given. */
let port: number;
const run = randomBytes(4).toString('hex');
const schemas: string[] = [];
const redisPrefixes: string[] = [];
const dataDirs: string[] = [];
const terminals = new Terminals();
const tempDirs: string[] = [];
/** Start-up figures, printed at the end: ms from task creation to its program running. */
const figures: Record<string, number[]> = {};
function record(what: string, ms: number): void {
  const values = figures[what] ?? [];
  values.push(ms);
  figures[what] = values;
}
/** Sandboxes to start with something that never dials the proxy, instead of the agent. */
let silentSandboxes = 0;
/** Every E2B sandbox that ran a command, so a killed one can still be found by its task. */
const e2bSeen = new Set<string>();

/** What plays a sandbox's main process: the real agent, with the emulator's paths for /workspace and home. */
function sandboxProcess(sandboxFs: SandboxFs): EmulatedCommand {
  if (silentSandboxes > 0) {
    silentSandboxes--;
    return { argv: ['sleep', '600'] };
  }
  return {
    argv: [process.execPath, AGENT_ENTRY],
    env: { RCLAUDE_WORKSPACE: sandboxFs.workspace, HOME: sandboxFs.home, RCLAUDE_LOG_LEVEL: 'warn' },
  };
}

function cloudEnv(): Record<string, string> {
  return {
    AWS_ENDPOINT_URL_ECS: ecs.url,
    AWS_REGION: ecs.region,
    AWS_ACCESS_KEY_ID: 'AKIDRCLAUDETEST',
    AWS_SECRET_ACCESS_KEY: 'rclaude-test-secret',
    RCLAUDE_ECS_CLUSTER: 'rclaude-e2e',
    RCLAUDE_ECS_TASK_DEFINITION: 'rclaude-sandbox',
    RCLAUDE_ECS_SUBNETS: 'subnet-e2e1,subnet-e2e2',
    RCLAUDE_ECS_SECURITY_GROUPS: 'sg-e2e1',
    RCLAUDE_ECS_CAPACITY: 'spot',
    E2B_API_KEY: e2b.apiKey,
    E2B_API_URL: e2b.apiUrl,
    E2B_SANDBOX_URL: e2b.sandboxUrl,
  };
}

/** Environment of a server on its own Postgres schema and Redis prefix, so other tests never see it. */
function storageEnv(label: string): Record<string, string> {
  const schema = `rc_prov_${run}_${label}`;
  const prefix = `rcprov-${run}-${label}`;
  if (!schemas.includes(schema)) schemas.push(schema);
  if (!redisPrefixes.includes(prefix)) redisPrefixes.push(prefix);
  return { DATABASE_URL, REDIS_URL, RCLAUDE_DATABASE_SCHEMA: schema, RCLAUDE_REDIS_PREFIX: prefix };
}

function mainServerEnv(): Record<string, string> {
  return {
    ...storageEnv('main'),
    ...cloudEnv(),
    AGENT_CONNECT_TIMEOUT_MS: String(AGENT_CONNECT_TIMEOUT_MS),
    // Longer than the agent's longest reconnect back-off (3 s, +30% jitter), so a restart loses no live task.
    AGENT_RECONNECT_GRACE_MS: '6000',
  };
}

async function startServer(opts: { env: Record<string, string>; port?: number; dataDir?: string }) {
  const started = await startRclaudeServer({ ...opts, timeoutMs: 60_000 });
  servers.push(started);
  if (!dataDirs.includes(started.dataDir)) dataDirs.push(started.dataDir);
  return started;
}

async function freePort(): Promise<number> {
  const probe = net.createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port: free } = probe.address() as AddressInfo;
  await new Promise((resolve) => probe.close(resolve));
  return free;
}

beforeAll(async () => {
  if (!fs.existsSync(AGENT_ENTRY)) throw new Error(`${AGENT_ENTRY} is missing: run \`npx tsc -b packages/cli\` first`);
  ecs = await startEcsEmulator({
    commandFor: (ctx) => sandboxProcess(ctx.fs),
    clusters: ['rclaude-e2e'],
    subnets: ['subnet-e2e1', 'subnet-e2e2'],
    securityGroups: ['sg-e2e1'],
    taskDefinitions: { 'rclaude-sandbox': { containerName: 'agent', cpu: '2048', memory: '4096' } },
    stopTimeoutMs: 2000,
  });
  e2b = await startE2bEmulator({
    // The provider starts `exec rclaude-agent ...` through `bash -l -c`; other commands run as given.
    commandFor: (ctx) => {
      e2bSeen.add(ctx.sandboxId);
      return ctx.command?.includes('rclaude-agent') ? sandboxProcess(ctx.fs) : null;
    },
    templates: { 'rclaude-sandbox': { cpuCount: 2, memoryMB: 4096 } },
  });
  port = await freePort();
  server = await startServer({ port, env: mainServerEnv() });
}, 120_000);

afterEach(() => {
  terminals.closeAll();
});

afterAll(async () => {
  for (const [what, values] of Object.entries(figures)) {
    const sorted = [...values].sort((a, b) => a - b);
    console.log(`[figures] ${what}: ${sorted.map((v) => `${Math.round(v)} ms`).join(', ')}`);
  }
  if (process.env.RCLAUDE_TEST_LOG) {
    const agents = ecs?.tasks().map((t) => `--- ${t.taskArn} ${t.stopCode}\n${t.process?.output ?? ''}`);
    const logs = servers.map((s, i) => `=== server ${i} ${s.url}\n${s.log()}`);
    fs.writeFileSync(process.env.RCLAUDE_TEST_LOG, `${logs.join('\n')}\n=== ECS tasks\n${agents?.join('\n')}`);
  }
  await server?.stop().catch(() => undefined);
  await ecs?.close();
  await e2b?.close();
  for (const schema of schemas) {
    execFileSync('psql', [DATABASE_URL, '-q', '-c', `DROP SCHEMA IF EXISTS ${schema} CASCADE`], { stdio: 'ignore' });
  }
  for (const prefix of redisPrefixes) {
    const keys = execFileSync('redis-cli', ['-u', REDIS_URL, '--scan', '--pattern', `${prefix}*`], { encoding: 'utf8' })
      .split('\n')
      .filter(Boolean);
    for (let i = 0; i < keys.length; i += 500) {
      execFileSync('redis-cli', ['-u', REDIS_URL, 'DEL', ...keys.slice(i, i + 500)], { stdio: 'ignore' });
    }
  }
  for (const dir of [...dataDirs, ...tempDirs]) fs.rmSync(dir, { recursive: true, force: true });
}, 60_000);

// Shorter than the test's own timeout, so a CLI that hangs fails the test with its output.
const cli = (args: string[], opts: { input?: string; timeoutMs?: number } = {}): Promise<CliResult> =>
  runCli(args, { env: server.cliEnv(), timeoutMs: 45_000, ...opts });

const getTask = (id: string) => server.requestOk<Task>('GET', `/api/tasks/${id}`);

async function taskNamed(name: string): Promise<Task> {
  const { tasks } = await server.requestOk<{ tasks: Task[] }>('GET', `/api/tasks?q=${encodeURIComponent(name)}`);
  const task = tasks.find((t) => t.name === name);
  if (!task) throw new Error(`no task named ${name}`);
  return task;
}

async function until<T>(what: string, fn: () => Promise<T | undefined | null | false>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`, { cause: last });
    await new Promise((r) => setTimeout(r, 100));
  }
}

function uniqueName(what: string): string {
  return `${what}-${randomBytes(3).toString('hex')}`;
}

function terminal(args: string): TmuxTerminal {
  return terminals.rclaude(server.cliEnv(), args, { cols: 100, rows: 30 });
}

/** Starts a detached task and waits until its program runs. */
async function startRunning(cloud: Cloud, command: string[]): Promise<Task> {
  const started = await cli(['run', '--detach', '--json', '--provider', cloud, '--', ...command]);
  expect(started.code, started.stderr).toBe(0);
  const task = JSON.parse(started.stdout) as Task;
  await until(`task ${task.id} to run`, async () => (await getTask(task.id)).status === 'running');
  return task;
}

function ecsTaskOf(taskId: string): EmulatedEcsTask | undefined {
  return ecs.tasks().find((t) => t.tags['rclaude:task-id'] === taskId);
}

function e2bSandboxOf(taskId: string): EmulatedE2bSandbox | undefined {
  return [...e2bSeen].map((id) => e2b.sandbox(id)).find((s) => s?.metadata.rclaudeTaskId === taskId);
}

/** The host directory the emulator maps the task's /workspace to. */
function workspaceOf(cloud: Cloud, taskId: string): string | undefined {
  return cloud === 'ecs' ? ecsTaskOf(taskId)?.fs.workspace : e2bSandboxOf(taskId)?.fs.workspace;
}

/** Resolves once the cloud says the task's sandbox is gone; returns how it went (ECS: `stopCode: reason`). */
async function sandboxGone(cloud: Cloud, taskId: string): Promise<string> {
  if (cloud === 'ecs') {
    return until(`the ECS task of ${taskId} to stop`, async () => {
      const task = ecsTaskOf(taskId);
      return task?.lastStatus === 'STOPPED' ? `${task.stopCode}: ${task.stoppedReason}` : null;
    });
  }
  return until(`the E2B sandbox of ${taskId} to be killed`, async () => e2bSandboxOf(taskId)?.killed ?? undefined);
}

/** The last line the CLI wrote to stderr (the error, after any warnings of the runtime). */
function errorLine(r: CliResult): string {
  return (
    r.stderr
      .trim()
      .split('\n')
      .filter((l) => !l.startsWith('hint: '))
      .at(-1) ?? ''
  );
}

/**
 * A TCP relay to `target` that passes plain HTTP at once but holds WebSocket connections until `release()`:
 * lets a test order "the task failed" before "the CLI's socket connected".
 */
async function startUpgradeGate(target: string): Promise<{ url: string; release(): void; close(): Promise<void> }> {
  const { hostname, port: targetPort } = new URL(target);
  let released = false;
  const held: (() => void)[] = [];
  const sockets = new Set<net.Socket>();
  const track = (socket: net.Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => socket.destroy());
  };
  const gate = net.createServer((client) => {
    track(client);
    client.once('data', (first) => {
      const relay = () => {
        const upstream = net.connect(Number(targetPort), hostname, () => {
          upstream.write(first);
          client.pipe(upstream);
          upstream.pipe(client);
        });
        track(upstream);
        upstream.on('close', () => client.destroy());
        client.on('close', () => upstream.destroy());
      };
      if (released || !/^upgrade: websocket/im.test(first.toString('latin1'))) relay();
      else held.push(relay);
    });
  });
  await new Promise<void>((resolve) => gate.listen(0, '127.0.0.1', resolve));
  const { port: gatePort } = gate.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${gatePort}`,
    release: () => {
      released = true;
      for (const relay of held.splice(0)) relay();
    },
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => gate.close(resolve));
    },
  };
}

async function sandboxStartSeconds(cloud: Cloud): Promise<{ sum: number; count: number }> {
  const text = await server.metrics();
  const read = (suffix: string) =>
    Number(
      new RegExp(`^rclaude_sandbox_start_seconds_${suffix}\\{provider="${cloud}"\\} (\\S+)$`, 'm').exec(text)?.[1] ?? 0,
    );
  return { sum: read('sum'), count: read('count') };
}

describe.each<Cloud>(['ecs', 'e2b'])('through %s', (cloud) => {
  it(`rclaude run --provider ${cloud} prints the remote output and exits 0`, async () => {
    const name = uniqueName(`via-${cloud}`);
    const before = await sandboxStartSeconds(cloud);
    const r = await cli(['run', '--provider', cloud, '--name', name, '--', 'bash', '-c', `echo via-${cloud}`]);
    expect(r.stdout, r.stderr).toContain(`via-${cloud}`);
    expect(r.code).toBe(0);

    // `rclaude run` returns once the server has recorded the end (after the exit's checkpoint).
    const task = await taskNamed(name);
    expect(task).toMatchObject({ provider: cloud, status: 'succeeded', exitCode: 0 });
    const total = Date.parse(task.startedAt ?? '') - Date.parse(task.createdAt);
    // ECS: the agent is often running before the provider's start has seen RUNNING and returned.
    const after = await until('the provider start to be recorded', async () => {
      const now = await sandboxStartSeconds(cloud);
      return now.count > before.count ? now : null;
    });
    record(`${cloud}: task created -> program running`, total);
    record(`${cloud}: provider.start()`, (after.sum - before.sum) * 1000);

    // The sandbox got the agent's three values through the cloud API, and was stopped when the task ended.
    if (cloud === 'ecs') {
      const emulated = ecsTaskOf(task.id);
      expect(emulated?.env).toMatchObject({ RCLAUDE_PROXY_URL: server.url, RCLAUDE_SANDBOX_ID: expect.any(String) });
      // Not the agent token: a one-time bootstrap reference the agent exchanged for it (dead now).
      expect(emulated?.env.RCLAUDE_AGENT_BOOTSTRAP?.length).toBeGreaterThanOrEqual(16);
      expect(emulated?.env.RCLAUDE_AGENT_TOKEN).toBeUndefined();
      const replay = await fetch(`${server.url}/api/agent/bootstrap`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          sandboxId: emulated?.env.RCLAUDE_SANDBOX_ID,
          bootstrap: emulated?.env.RCLAUDE_AGENT_BOOTSTRAP,
        }),
      });
      expect(replay.status).toBe(401);
      expect(emulated?.tags['rclaude:owner']).toBeTruthy();
    } else {
      const sandbox = e2bSandboxOf(task.id);
      expect(sandbox?.envVars).toMatchObject({ RCLAUDE_PROXY_URL: server.url, RCLAUDE_SANDBOX_ID: expect.any(String) });
      // As on ECS (adr/0021): only a one-time bootstrap reference went through E2B's API, already exchanged by
      // the agent; no agent token is in the sandbox's env nor in any command envd was asked to run.
      const reference = sandbox?.envVars.RCLAUDE_AGENT_BOOTSTRAP ?? '';
      expect(reference.length).toBeGreaterThanOrEqual(16);
      expect(sandbox?.envVars.RCLAUDE_AGENT_TOKEN).toBeUndefined();
      for (const p of sandbox?.processes.values() ?? []) {
        expect(Object.keys(p.env)).not.toContain('RCLAUDE_AGENT_TOKEN');
        expect(p.args.join(' ')).not.toContain(reference);
      }
      const seen = e2b.requests.filter((r) => r.operation === 'createSandbox' || r.operation === 'process.Start');
      expect(seen.length).toBeGreaterThanOrEqual(2);
      for (const r of seen) expect(JSON.stringify(r.body)).not.toContain('RCLAUDE_AGENT_TOKEN');
      const replay = await fetch(`${server.url}/api/agent/bootstrap`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ sandboxId: sandbox?.envVars.RCLAUDE_SANDBOX_ID, bootstrap: reference }),
      });
      expect(replay.status).toBe(401);
      expect(sandbox?.templateId).toBe('rclaude-sandbox');
      // ECS: the agent is often quicker than the provider's first poll; see the regression test below.
      expect(await sandboxGone(cloud, task.id)).toBe('api');
    }
  });

  it('takes typed input in a real terminal and exits with the remote code', async () => {
    const t = terminal(`run --provider ${cloud} -- bash --norc`);
    // The emulated sandbox runs the agent as this machine's user (root here): the prompt may end in `#`.
    await t.waitFor((s) => /bash-[\d.]+[$#]/.test(s), 30_000);
    t.type('echo typed-$((2+3))\r');
    await t.waitFor((s) => s.includes('typed-5'));
    t.type('stty size\r');
    await t.waitFor((s) => s.includes('30 100'));
    t.type('exit 6\r');
    await until('the CLI to exit', async () => t.exitStatus() !== null);
    expect(t.exitStatus()).toBe(6);
  });

  it('runs rclaude exec and reads files through the file API, in the sandbox workspace', async () => {
    const task = await startRunning(cloud, ['bash', '-c', `echo file-via-${cloud} > note.txt; exec sleep 600`]);
    const cat = await until('exec to read the file', async () => {
      const r = await cli(['exec', task.id, '--', 'cat', 'note.txt']);
      return r.code === 0 ? r : null;
    });
    expect(cat.stdout).toBe(`file-via-${cloud}\n`);
    // The file really is in the emulated sandbox's /workspace.
    expect(fs.readFileSync(path.join(workspaceOf(cloud, task.id) ?? '', 'note.txt'), 'utf8')).toBe(
      `file-via-${cloud}\n`,
    );

    const content = await server.requestOk<string>('GET', `/api/tasks/${task.id}/files/content?path=note.txt`);
    expect(content).toBe(`file-via-${cloud}\n`);
    const listing = await server.requestOk<{ entries: { name: string; type: string }[] }>(
      'GET',
      `/api/tasks/${task.id}/files?path=`,
    );
    expect(listing.entries).toContainEqual(expect.objectContaining({ name: 'note.txt', type: 'file' }));
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rclaude-cp-'));
    tempDirs.push(dir);
    const cp = await cli(['cp', `${task.id}:note.txt`, path.join(dir, 'note.txt')]);
    expect(cp.code, cp.stderr).toBe(0);
    expect(fs.readFileSync(path.join(dir, 'note.txt'), 'utf8')).toBe(`file-via-${cloud}\n`);

    const stopped = await cli(['stop', task.id]);
    expect(stopped.stdout).toContain(`${task.id} stopped`);
    expect(await sandboxGone(cloud, task.id)).toMatch(
      cloud === 'ecs' ? /^UserInitiated: rclaude: stopped by user/ : /^api$/,
    );
  });

  it('finds claude in the sandbox (the agent resolves its own Claude Code)', async () => {
    const r = await cli(['run', '--provider', cloud, '--', 'claude', '--version']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/\d+\.\d+\.\d+ \(Claude Code\)/);
  });
});

describe('failure paths end to end', () => {
  it('falls back from FARGATE_SPOT to FARGATE when Spot has no capacity', async () => {
    const mark = ecs.requestsOf('RunTask').length;
    ecs.fail({
      kind: 'runTaskFailure',
      capacityProvider: 'FARGATE_SPOT',
      reason: 'Capacity is unavailable at this time. Please try again later or in a different availability zone',
    });
    const r = await cli(['run', '--provider', 'ecs', '--', 'bash', '-c', 'echo on-demand']);
    expect(r.stdout, r.stderr).toContain('on-demand');
    expect(r.code).toBe(0);
    const calls = ecs.requestsOf('RunTask').slice(mark) as { body: Record<string, unknown> }[];
    expect(calls.map((c) => c.body.capacityProviderStrategy ?? c.body.launchType)).toEqual([
      [{ capacityProvider: 'FARGATE_SPOT', weight: 1 }],
      'FARGATE',
    ]);
  });

  it('no capacity anywhere: one clear line, and the task failed with the reason', async () => {
    const name = uniqueName('no-capacity');
    ecs.fail({ kind: 'runTaskFailure', reason: 'RESOURCE:CPU', times: 2, delayMs: 1000 });
    const r = await cli(['run', '--provider', 'ecs', '--name', name, '--', 'true']);
    expect(r.code).toBe(1);
    expect(errorLine(r)).toMatch(
      /^rclaude: task [a-z0-9]+ failed: ECS has no Fargate capacity for the sandbox right now \(RESOURCE:CPU\); try again shortly$/,
    );
    expect(await taskNamed(name)).toMatchObject({
      status: 'failed',
      statusReason: expect.stringContaining('no Fargate capacity'),
    });
  });

  it('a task ECS loses while it starts fails with the reason, and is stopped in case it runs on', async () => {
    const name = uniqueName('missing');
    // Really lost: its agent never comes up either (an agent that did would have made the sandbox usable).
    silentSandboxes = 1;
    ecs.fail({ kind: 'missing' });
    const r = await cli(['run', '--provider', 'ecs', '--name', name, '--', 'true']);
    expect(r.code).toBe(1);
    expect(errorLine(r)).toMatch(
      /^rclaude: task [a-z0-9]+ failed: ECS lost track of the sandbox task arn:aws:ecs:\S+ while it was starting \(MISSING\)$/,
    );
    const task = await taskNamed(name);
    expect(task.status).toBe('failed');
    expect(await sandboxGone('ecs', task.id)).toBe('UserInitiated: rclaude: lost track of the task while starting');
  });

  it('ECS answering 500s is retried until it succeeds', async () => {
    const mark = ecs.requestsOf('RunTask').length;
    ecs.fail({ kind: 'error', operation: 'RunTask', status: 500, type: 'ServerException', times: 2 });
    const r = await cli(['run', '--provider', 'ecs', '--', 'bash', '-c', 'echo after-retries']);
    expect(r.stdout, r.stderr).toContain('after-retries');
    expect(r.code).toBe(0);
    expect(
      ecs
        .requestsOf('RunTask')
        .slice(mark)
        .map((c) => c.status),
    ).toEqual([500, 500, 200]);
  });

  it('ECS answering 500s beyond the retries: one clear line, and the task failed', async () => {
    const name = uniqueName('ecs-down');
    ecs.fail({ kind: 'error', operation: 'RunTask', status: 500, type: 'ServerException', times: 3, delayMs: 700 });
    const r = await cli(['run', '--provider', 'ecs', '--name', name, '--', 'true']);
    expect(r.code).toBe(1);
    expect(errorLine(r)).toMatch(
      /^rclaude: task [a-z0-9]+ failed: could not start a sandbox task: ECS is unavailable \(HTTP 500\); try again shortly$/,
    );
    expect((await taskNamed(name)).status).toBe('failed');
  });

  it('E2B answering 503s is retried until it succeeds', async () => {
    const mark = e2b.requestsOf('createSandbox').length;
    e2b.fail({ kind: 'apiError', operation: 'createSandbox', status: 503, message: 'no capacity', times: 2 });
    const r = await cli(['run', '--provider', 'e2b', '--', 'bash', '-c', 'echo after-retries']);
    expect(r.stdout, r.stderr).toContain('after-retries');
    expect(r.code).toBe(0);
    expect(
      e2b
        .requestsOf('createSandbox')
        .slice(mark)
        .map((c) => c.status),
    ).toEqual([503, 503, 201]);
  });

  it.each<Cloud>(['ecs', 'e2b'])(
    '%s: the sandbox killed from outside while attached ends the CLI with the reason',
    async (cloud) => {
      const name = uniqueName(`killed-${cloud}`);
      const starts = (await sandboxStartSeconds(cloud)).count;
      const attached = cli(['run', '--provider', cloud, '--name', name, '--', 'bash', '-c', 'echo up; exec sleep 600']);
      const task = await until('the task to run', async () => {
        const t = await taskNamed(name).catch(() => null);
        return t?.status === 'running' ? t : null;
      });
      // The agent often connects before the provider's start has seen RUNNING; kill only once the start is done.
      await until('the provider start to finish', async () => (await sandboxStartSeconds(cloud)).count > starts);
      if (cloud === 'ecs') {
        const emulated = ecsTaskOf(task.id);
        ecs.interrupt(emulated?.taskArn ?? '');
      } else {
        await e2b.kill(e2bSandboxOf(task.id)?.sandboxId ?? '', 'external');
      }
      const r = await attached;
      expect(r.stdout).toContain('up');
      expect(r.code).not.toBe(0);
      const reason =
        cloud === 'ecs'
          ? /^rclaude: task [a-z0-9]+ failed: the sandbox stopped \(SpotInterruption: Your Spot Task was interrupted\..*\)$/
          : /^rclaude: task [a-z0-9]+ failed: the sandbox stopped \(the E2B sandbox no longer exists: it was killed outside rclaude or its timeout expired\)$/;
      expect(errorLine(r)).toMatch(reason);
      expect((await getTask(task.id)).status).toBe('failed');
    },
  );

  it.each<Cloud>(['ecs', 'e2b'])(
    '%s: an agent that never connects fails the task in time, and the sandbox is stopped',
    async (cloud) => {
      const name = uniqueName(`silent-${cloud}`);
      silentSandboxes = 1;
      const r = await cli(['run', '--provider', cloud, '--name', name, '--', 'true']);
      expect(r.code).toBe(1);
      expect(errorLine(r)).toMatch(
        new RegExp(
          `^rclaude: task [a-z0-9]+ failed: the sandbox started but its agent did not connect within ${AGENT_CONNECT_TIMEOUT_MS / 1000}s$`,
        ),
      );
      const task = await taskNamed(name);
      expect(task.status).toBe('failed');
      expect(await sandboxGone(cloud, task.id)).toMatch(
        cloud === 'ecs' ? /^UserInitiated: rclaude: the sandbox started/ : /^api$/,
      );
    },
  );

  // Regression: a task that ended before the ECS provider's start had seen its task RUNNING (the agent is often
  // quicker than the first DescribeTasks poll) left the ECS task running: its sandbox had no ref to stop yet,
  // and recording the ref afterwards marked the sandbox `claimed` again.
  it('a task that ends before the provider has seen its ECS task RUNNING still gets its sandbox stopped', async () => {
    const name = uniqueName('quick');
    // ECS throttles DescribeTasks for a while, so the provider is still polling when the program has ended.
    ecs.fail({ kind: 'error', operation: 'DescribeTasks', status: 400, type: 'ThrottlingException', times: 9 });
    const r = await cli(['run', '--provider', 'ecs', '--name', name, '--', 'true']);
    expect(r.code, r.stderr).toBe(0);
    const task = await taskNamed(name);
    expect(task.status).toBe('succeeded');
    expect(await sandboxGone('ecs', task.id)).toMatch(/^UserInitiated: rclaude: /);
  });

  // Regression: `rclaude run` waited forever when its task failed before the CLI had subscribed to the task's
  // updates (a start that fails at once: no capacity, a setting ECS refuses): the one update went to nobody.
  it('rclaude run reports a start failure that happened before it subscribed', async () => {
    const gate = await startUpgradeGate(server.url);
    try {
      const name = uniqueName('early-failure');
      ecs.fail({ kind: 'runTaskFailure', reason: 'RESOURCE:MEMORY', times: 2 });
      const pending = runCli(['run', '--provider', 'ecs', '--name', name, '--', 'true'], {
        env: { ...server.cliEnv(), RCLAUDE_SERVER: gate.url },
        timeoutMs: 30_000,
      });
      await until('the task to fail', async () => (await taskNamed(name).catch(() => null))?.status === 'failed');
      gate.release();
      const r = await pending;
      expect(r.code).toBe(1);
      expect(errorLine(r)).toMatch(/^rclaude: task [a-z0-9]+ failed: ECS has no Fargate capacity .*RESOURCE:MEMORY/);
    } finally {
      await gate.close();
    }
  });

  it('a provider that is not configured: PROVIDER_UNAVAILABLE naming the variables, and no task', async () => {
    const bare = await startServer({
      env: { ...storageEnv('bare'), E2B_API_KEY: '', RCLAUDE_ECS_CLUSTER: '', AWS_REGION: '' },
    });
    try {
      const env = bare.cliEnv();
      const noE2b = await runCli(['run', '--provider', 'e2b', '--', 'true'], { env });
      expect(noE2b.code).toBe(1);
      expect(noE2b.stderr).toMatch(
        /^rclaude: the E2B provider needs an API key: set E2B_API_KEY\nhint: check the server configuration/,
      );
      const noEcs = await runCli(['run', '--provider', 'ecs', '--', 'true'], { env });
      expect(noEcs.code).toBe(1);
      expect(noEcs.stderr).toMatch(
        /^rclaude: the ECS provider is not configured: set RCLAUDE_ECS_CLUSTER, RCLAUDE_ECS_TASK_DEFINITION, RCLAUDE_ECS_SUBNETS, AWS_REGION \(see docs\/deploy-aws\.md\)\n/,
      );
      const ls = await runCli(['ls', '--json'], { env });
      expect(JSON.parse(ls.stdout)).toEqual([]);
    } finally {
      await bare.stop();
    }
  });
});

describe('the sandbox image (docker/sandbox.Dockerfile)', () => {
  const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
  const dockerfile = fs.readFileSync(path.join(repo, 'docker/sandbox.Dockerfile'), 'utf8').replace(/\\\n/g, ' ');
  const finalStage = dockerfile.slice(dockerfile.lastIndexOf('\nFROM '));

  it('lays the agent out so it finds the pinned Claude Code without PATH, and its wrapper and claude link resolve', () => {
    const workdir = /^WORKDIR (\S+)$/m.exec(finalStage)?.[1] ?? '';
    expect(workdir).toBe('/opt/rclaude');
    // The final stage's COPY lines, replayed onto a temp dir (node_modules linked: it is large).
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'rclaude-image-'));
    tempDirs.push(root);
    const copies = [...finalStage.matchAll(/^COPY --from=\w+ \/src\/(\S*) (\S+)$/gm)];
    expect(copies.length).toBeGreaterThanOrEqual(5);
    for (const [, from = '', to = ''] of copies) {
      const source = path.join(repo, from);
      const target = path.join(root, to.endsWith('/') && !from.endsWith('/') ? path.join(to, path.basename(from)) : to);
      fs.mkdirSync(path.dirname(target.replace(/\/$/, '')), { recursive: true });
      if (/(^|\/)node_modules\/?$/.test(from)) {
        // A workspace's own node_modules is made (perhaps empty) by the deps stage; here it may not exist.
        if (fs.existsSync(source)) fs.symlinkSync(source, target.replace(/\/$/, ''));
      } else fs.cpSync(source, target, { recursive: true });
    }
    const wrapper = /exec node (\/opt\/rclaude\/\S+)/.exec(finalStage)?.[1] ?? '';
    expect(fs.existsSync(path.join(root, path.relative(workdir, wrapper))), wrapper).toBe(true);
    const link = /ln -s (\/opt\/rclaude\/\S+) \/usr\/local\/bin\/claude/.exec(finalStage)?.[1] ?? '';
    expect(fs.existsSync(path.join(root, path.relative(workdir, link))), link).toBe(true);

    const resolver = path.join(root, 'packages/agent/dist/claude/resolve-binary.js');
    const found = execFileSync(
      process.execPath,
      [
        '--input-type=module',
        '-e',
        `const m = await import(${JSON.stringify(resolver)}); console.log(m.resolveClaudeBinary({ path: '' }));`,
      ],
      { encoding: 'utf8', cwd: root },
    ).trim();
    expect(found).toMatch(/node_modules\/@anthropic-ai\/claude-code\/bin\/claude\.exe$/);
    const pinned = /^ARG CLAUDE_CODE_VERSION=(\S+)$/m.exec(finalStage)?.[1];
    expect(execFileSync(found, ['--version'], { encoding: 'utf8' })).toContain(`${pinned} (Claude Code)`);
  });

  it('runs the agent as uid 1000 with the HOME and workspace the agent and the E2B provider use', () => {
    expect(/^USER (\S+)$/m.exec(finalStage)?.[1]).toBe('1000:1000');
    const env = /^ENV (.*)$/m.exec(finalStage)?.[1] ?? '';
    expect(env).toMatch(/\bHOME=\/home\/rclaude\b/);
    expect(env).toMatch(/\bRCLAUDE_WORKSPACE=\/workspace\b/);
    expect(finalStage).toMatch(/usermod --login rclaude --home \/home\/rclaude/);
    // What the agent reads (agent/src/main.ts), and where the E2B provider starts it.
    const agentMain = fs.readFileSync(path.join(repo, 'packages/agent/src/main.ts'), 'utf8');
    expect(agentMain).toContain('process.env.RCLAUDE_WORKSPACE');
    expect(agentMain).toContain('process.env.HOME');
    const e2bProvider = fs.readFileSync(path.join(repo, 'packages/proxy/src/providers/e2b.ts'), 'utf8');
    expect(e2bProvider).toContain("options.workspace ?? '/workspace'");
    expect(e2bProvider).toContain("user: options.user ?? 'rclaude'");
  });
});

// Last: these restart and replace the main server.
describe('reconciliation after a server restart', () => {
  it('fails tasks whose sandbox vanished while the server was down, and keeps the live ones', async () => {
    const live = {
      ecs: await startRunning('ecs', ['bash', '-c', 'echo alive-ecs > alive.txt; exec sleep 600']),
      e2b: await startRunning('e2b', ['bash', '-c', 'echo alive-e2b > alive.txt; exec sleep 600']),
    };
    const gone = { ecs: await startRunning('ecs', ['sleep', '600']), e2b: await startRunning('e2b', ['sleep', '600']) };
    const goneEcs = ecsTaskOf(gone.ecs.id)?.taskArn ?? '';
    const goneE2b = e2bSandboxOf(gone.e2b.id)?.sandboxId ?? '';

    await server.kill();
    // While nobody watches: ECS forgets one task, and one E2B sandbox is killed.
    await ecs.forget(goneEcs);
    await e2b.kill(goneE2b, 'external');
    server = await startServer({ port, dataDir: server.dataDir, env: mainServerEnv() });

    for (const task of [gone.ecs, gone.e2b]) {
      const ended = await until(`task ${task.id} to fail`, async () => {
        const t = await getTask(task.id);
        return t.status === 'failed' ? t : null;
      });
      expect(ended.statusReason).toBe('the sandbox was gone after a server restart');
    }
    for (const cloud of ['ecs', 'e2b'] as const) {
      // The agent finds the restarted server on its own and the task goes on.
      const r = await until(`the ${cloud} agent to reconnect`, async () => {
        const out = await cli(['exec', live[cloud].id, '--', 'cat', 'alive.txt']);
        return out.code === 0 ? out : null;
      });
      expect(r.stdout).toBe(`alive-${cloud}\n`);
      expect((await getTask(live[cloud].id)).status).toBe('running');
    }
  });

  it('stops ECS tasks and E2B sandboxes of this installation that no task record knows', async () => {
    // Sandboxes of tasks that ended earlier in this file can still be on their way out (a kill the old server
    // sent a moment ago); wait until every sandbox left belongs to a running task, so the orphans counted here
    // are exactly the ones the new server has to find.
    const before = await until(
      'only running tasks to hold sandboxes',
      async () => {
        const live = { ecs: ecs.tasks().filter((t) => t.desiredStatus === 'RUNNING'), e2b: e2b.sandboxes() };
        const owners = [
          ...live.ecs.map((t) => t.tags['rclaude:task-id']),
          ...live.e2b.map((s) => s.metadata.rclaudeTaskId),
        ];
        const statuses = await Promise.all(owners.map(async (id) => (id ? (await getTask(id)).status : 'none')));
        return statuses.every((s) => s === 'running') ? live : null;
      },
      60_000,
    );
    expect(before.ecs.length).toBeGreaterThanOrEqual(1);
    expect(before.e2b.length).toBeGreaterThanOrEqual(1);
    await server.stop({ keepData: true });
    // A server on an empty database (restored from an old backup, say): every running sandbox is an orphan, and
    // no task record names the ECS or E2B provider, so only provider.list() can find them.
    server = await startServer({ env: { ...storageEnv('fresh'), ...cloudEnv() } });
    const ecsOutcomes = await Promise.all(
      before.ecs.map((t) =>
        until(`ECS task ${t.taskArn} to stop`, async () =>
          t.lastStatus === 'STOPPED' ? `${t.taskArn} ${t.stopCode}: ${t.stoppedReason}` : null,
        ),
      ),
    );
    expect(ecsOutcomes).toEqual(before.ecs.map((t) => `${t.taskArn} UserInitiated: rclaude: orphaned sandbox`));
    for (const sandbox of before.e2b) {
      await until(`E2B sandbox ${sandbox.sandboxId} to be killed`, async () => sandbox.killed);
    }
    expect(before.e2b.map((s) => `${s.sandboxId} ${s.killed}`)).toEqual(before.e2b.map((s) => `${s.sandboxId} api`));
    const orphans = before.ecs.length + before.e2b.length;
    expect(server.log()).toMatch(
      new RegExp(`"stopped":${orphans},"failed":0,"msg":"reconciled sandboxes after start-up"`),
    );
  });
});
