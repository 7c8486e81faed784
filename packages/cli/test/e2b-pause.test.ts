/**
 * Hibernation on E2B pauses the sandbox with its memory (adr/0025), end to end: a real `rclaude server`
 * (embedded storage, local checkpoint store) whose REAL E2B SDK talks to the testkit emulator, each emulated
 * sandbox running the real agent, which dials the server. The checkpoint is always taken first; a resume
 * continues the paused sandbox (same processes, same memory) and falls back to the checkpoint when the paused
 * sandbox is gone. Driven through the linked CLI, in a real terminal where it matters.
 *
 * Runs from the built dist: `npx turbo run build` first.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { SessionInfo, Task, TaskEvent } from '@rclaude/protocol';
import {
  type E2bEmulator,
  type EmulatedE2bSandbox,
  freePort,
  type RclaudeServer,
  runCli,
  startE2bEmulator,
  startRclaudeServer,
  Terminals,
  until,
} from '@rclaude/testkit';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';

const AGENT_ENTRY = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../agent/dist/main.js');
/** Long enough that a CLI on a loaded machine attaches and types before the task could idle out. */
const IDLE_MS = 6000;
const GRACE_MS = 2000;

let e2b: E2bEmulator;
let server: RclaudeServer;
/** The server's port and environment, kept for its restart: agents keep dialling the URL they were given. */
let port: number;
let serverEnv: Record<string, string>;
const terminals = new Terminals();
/** Every E2B sandbox that ran a command, so a killed one can still be found by its task. */
const seen = new Set<string>();

beforeAll(async () => {
  if (!fs.existsSync(AGENT_ENTRY)) throw new Error(`${AGENT_ENTRY} is missing: run \`npx tsc -b packages/cli\` first`);
  e2b = await startE2bEmulator({
    commandFor: (ctx) => {
      seen.add(ctx.sandboxId);
      if (!ctx.command?.includes('rclaude-agent')) return null;
      return {
        argv: [process.execPath, AGENT_ENTRY],
        env: { RCLAUDE_WORKSPACE: ctx.fs.workspace, HOME: ctx.fs.home, RCLAUDE_LOG_LEVEL: 'warn' },
      };
    },
    templates: { 'rclaude-sandbox': { cpuCount: 2, memoryMB: 4096 } },
  });
  port = await freePort();
  serverEnv = {
    RCLAUDE_PROVIDER: 'e2b',
    E2B_API_KEY: e2b.apiKey,
    E2B_API_URL: e2b.apiUrl,
    E2B_SANDBOX_URL: e2b.sandboxUrl,
    IDLE_TIMEOUT_MS: String(IDLE_MS),
    RCLAUDE_HIBERNATE_WARNING_MS: '2000',
    AGENT_RECONNECT_GRACE_MS: String(GRACE_MS),
  };
  server = await startRclaudeServer({ env: serverEnv, port, timeoutMs: 60_000 });
}, 120_000);

afterEach(() => {
  terminals.closeAll();
});

afterAll(async () => {
  await server?.stop();
  await e2b?.close();
});

const cli = (args: string[]) => runCli(args, { env: server.cliEnv(), timeoutMs: 60_000 });
const getTask = (id: string) => server.requestOk<Task>('GET', `/api/tasks/${id}`);
const events = async (id: string) =>
  (await server.requestOk<{ events: TaskEvent[] }>('GET', `/api/tasks/${id}/events`)).events;
const messages = async (id: string) =>
  (await events(id)).map((e) => `${e.type}: ${String(e.data.message ?? e.data.reason ?? '')}`);
const statusIs = (id: string, status: Task['status'], withinMs = 60_000) =>
  until(`task ${id} to be ${status}`, async () => ((await getTask(id)).status === status ? true : null), withinMs);

function sandboxOf(taskId: string): EmulatedE2bSandbox {
  const found = [...seen].map((id) => e2b.sandbox(id)).filter((s) => s?.metadata.rclaudeTaskId === taskId);
  const sandbox = found.at(-1);
  if (!sandbox) throw new Error(`no E2B sandbox for task ${taskId}`);
  return sandbox;
}

/** The process state letter of `pid` in /proc (`T`: stopped), or null when it is gone. */
function procState(pid: number): string | null {
  try {
    return /^State:\s+(\S)/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? null;
  } catch {
    return null;
  }
}

const isPausedNote = (e: TaskEvent) => e.type === 'info' && /paused with its memory/.test(String(e.data.message));

/** Starts a detached E2B task running `command`; its id, once it runs. */
async function startE2b(command: string[]): Promise<string> {
  const started = await cli(['run', '--detach', '--json', '--provider', 'e2b', '--', ...command]);
  expect(started.code, started.stderr).toBe(0);
  const { id } = JSON.parse(started.stdout) as Task;
  await statusIs(id, 'running');
  return id;
}

/**
 * Waits for the task to hibernate with its sandbox recorded paused (the timeline's note comes after the record:
 * a server killed before it would kill the sandbox); the sandbox.
 */
async function pausedSandboxOf(id: string): Promise<EmulatedE2bSandbox> {
  await statusIs(id, 'hibernated', 60_000);
  await until('the pause on the timeline', async () => (await events(id)).some(isPausedNote));
  const sandbox = sandboxOf(id);
  expect(sandbox.paused).not.toBeNull();
  return sandbox;
}

/** A quiet `bash` task in a terminal, with `V` set in the shell's memory; its id and the shell's pid. */
async function shellWithState(name: string, value: string): Promise<{ id: string; pid: number }> {
  const t = terminals.rclaude(server.cliEnv(), `run --provider e2b --name ${name} -- bash --norc -i`);
  await t.waitFor((s) => /bash-\S+[#$] /.test(s), 60_000);
  t.type(`V=${value}; echo "pid=$$"`);
  t.keys('Enter');
  const screen = await t.waitFor((s) => /pid=\d+/.test(s), 30_000);
  const pid = Number(/pid=(\d+)/.exec(screen)?.[1]);
  const { tasks } = await server.requestOk<{ tasks: Task[] }>('GET', `/api/tasks?q=${name}`);
  const id = tasks.find((x) => x.name === name)?.id ?? '';
  expect(id).not.toBe('');
  return { id, pid };
}

describe('hibernation on E2B', () => {
  it('pauses the sandbox with its memory after the checkpoint; a resume continues the same shell with its variables', async () => {
    const { id, pid } = await shellWithState('pause-e2b', 'kept-in-memory');
    const sandbox = sandboxOf(id);
    await statusIs(id, 'hibernated', 30_000);
    const before = await until('the pause on the timeline', async () => {
      const all = await events(id);
      return all.some(isPausedNote) ? all : null;
    });
    // The checkpoint comes first (the fallback must exist), then the pause.
    const checkpointAt = before.findIndex((e) => e.type === 'checkpoint' && e.data.trigger === 'hibernate');
    const pausedAt = before.findIndex(isPausedNote);
    expect(checkpointAt).toBeGreaterThanOrEqual(0);
    expect(pausedAt).toBeGreaterThan(checkpointAt);
    await until('the sandbox to be paused', async () => sandbox.paused !== null);
    expect(sandbox.killed).toBeNull();
    expect(e2b.requestsOf('pauseSandbox').at(-1)?.body).toEqual({ memory: true });
    // Every process of the sandbox is stopped where it is, the PTY's shell (in its own session) too.
    expect(procState(pid)).toBe('T');
    for (const p of sandbox.processes.values()) expect(procState(p.pid)).toBe('T');

    // The proxy notices the frozen agent is gone (its pings go unanswered); the task stays hibernated, not lost,
    // through the whole reconnect grace period.
    const session = `${id}_main`;
    await until(
      'the proxy to see the paused agent drop',
      async () => !(await server.requestOk<SessionInfo>('GET', `/api/sessions/${session}`)).agentConnected,
      40_000,
    );
    await new Promise((r) => setTimeout(r, GRACE_MS + 1000)); // the test is about time passing: the grace period
    expect((await getTask(id)).status).toBe('hibernated');

    // `rclaude attach` resumes it: the same shell, its variable still set.
    const back = terminals.rclaude(server.cliEnv(), `attach ${id}`);
    await statusIs(id, 'running', 30_000);
    expect(sandboxOf(id).sandboxId).toBe(sandbox.sandboxId);
    expect(procState(pid)).not.toBe('T');
    await until(
      'the agent to reconnect',
      async () => (await server.requestOk<SessionInfo>('GET', `/api/sessions/${session}`)).agentConnected,
      30_000,
    );
    // The terminal comes back as it was left: its screen, then the same shell.
    await back.waitFor((s) => s.includes(`pid=${pid}`), 30_000);
    back.type('echo "again V=$V pid=$$"');
    back.keys('Enter');
    await back.waitFor((s) => s.includes(`again V=kept-in-memory pid=${pid}`), 30_000);
    const said = await messages(id);
    expect(said).toContain('status: resumed the paused sandbox with its memory');
    expect(said.filter((m) => m.startsWith('restore'))).toEqual([]);
    expect(e2b.requestsOf('connectSandbox').length).toBeGreaterThan(0);
    await server.requestOk('POST', `/api/tasks/${id}/stop`, { body: { force: true } });
  });

  it('restores the checkpoint in a new sandbox when the paused sandbox is gone', async () => {
    const id = await startE2b(['sleep', '600']);
    const wrote = await cli(['exec', id, '--', 'sh', '-c', 'echo saved-before-pause > kept.txt']);
    expect(wrote.code, wrote.stderr).toBe(0);
    const paused = await pausedSandboxOf(id);
    await e2b.vanish(paused.sandboxId);

    await server.requestOk('POST', `/api/tasks/${id}/resume`, { body: {} });
    await statusIs(id, 'running', 60_000);
    expect(sandboxOf(id).sandboxId).not.toBe(paused.sandboxId);
    const read = await cli(['exec', id, '--', 'cat', 'kept.txt']);
    expect(read.stdout.trim()).toBe('saved-before-pause');
    const said = await messages(id);
    expect(said.some((m) => /the paused sandbox could not be resumed \(the provider no longer has it\)/.test(m))).toBe(
      true,
    );
    expect((await events(id)).some((e) => e.type === 'restore')).toBe(true);
    await server.requestOk('POST', `/api/tasks/${id}/stop`, { body: { force: true } });
  });

  it('resume --at a checkpoint restores it in a new sandbox and kills the paused one', async () => {
    const id = await startE2b(['sleep', '600']);
    const paused = await pausedSandboxOf(id);
    const { checkpoints } = await server.requestOk<{ checkpoints: { id: string }[] }>(
      'GET',
      `/api/tasks/${id}/checkpoints`,
    );
    const at = checkpoints[0]?.id ?? '';
    await server.requestOk('POST', `/api/tasks/${id}/resume`, { body: { at } });
    await statusIs(id, 'running', 60_000);
    expect(paused.killed).toBe('api');
    expect(sandboxOf(id).sandboxId).not.toBe(paused.sandboxId);
    expect((await events(id)).find((e) => e.type === 'restore')?.data.checkpointId).toBe(at);
    await server.requestOk('POST', `/api/tasks/${id}/stop`, { body: { force: true } });
  });

  it('stopping or deleting a hibernated task kills its paused sandbox', async () => {
    const stopped = await startE2b(['sleep', '600']);
    const deleted = await startE2b(['sleep', '600']);
    const sandboxes = [await pausedSandboxOf(stopped), await pausedSandboxOf(deleted)];

    const pids = sandboxes.flatMap((s) => [...s.processes.keys()]);
    expect(pids.length).toBeGreaterThanOrEqual(2);
    const r = await cli(['stop', stopped]);
    expect(r.code, r.stderr).toBe(0);
    expect((await getTask(stopped)).status).toBe('stopped');
    await server.requestOk('DELETE', `/api/tasks/${deleted}`);
    for (const s of sandboxes) await until('the paused sandbox to be killed', async () => s.killed === 'api');
    expect(pids.map(procState)).toEqual(pids.map(() => null));
  });

  it('a server restarted while a task is paused keeps the paused sandbox, and resumes it', async () => {
    const id = await startE2b(['sleep', '600']);
    const sandbox = await pausedSandboxOf(id);
    const agentPid = [...sandbox.processes.keys()][0] ?? -1;

    await server.kill();
    server = await startRclaudeServer({ env: serverEnv, port, dataDir: server.dataDir, timeoutMs: 60_000 });
    // The server is up once its start-up reconciliation is done.
    expect(sandbox.killed).toBeNull();
    expect((await getTask(id)).status).toBe('hibernated');

    await server.requestOk('POST', `/api/tasks/${id}/resume`, { body: {} });
    await statusIs(id, 'running', 30_000);
    expect(sandbox.paused).toBeNull();
    // The same agent, found by the new server with the token it held.
    const r = await until('the agent to answer the new server', async () => {
      const out = await cli(['exec', id, '--', 'sh', '-c', 'echo "$PPID"']);
      return out.code === 0 ? out : null;
    });
    expect(r.stdout.trim()).not.toBe('');
    expect(sandbox.processes.has(agentPid)).toBe(true);
    expect(sandboxOf(id).sandboxId).toBe(sandbox.sandboxId);
    await server.requestOk('POST', `/api/tasks/${id}/stop`, { body: { force: true } });
    await until('the sandbox to be killed', async () => sandbox.killed === 'api');
  });
});
