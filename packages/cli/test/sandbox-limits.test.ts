/**
 * Local sandbox limits from inside real sandboxes: a fork bomb, a memory bomb and a disk fill, each bounded in
 * count and time and stopping by itself, end only their own sandbox, with the limit's reason on the task's
 * timeline, while another task goes on streaming with its output intact and the next task starts normally.
 * Real server (embedded storage) with small limits, the real agent under bubblewrap.
 *
 * Runs from the built dist: `npx tsc -b packages/cli` first.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Task, TaskEvent } from '@rclaude/protocol';
import { type RclaudeServer, runCli, startRclaudeServer, until } from '@rclaude/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const PIDS = 64;
const MEMORY = '160MiB';
const DISK = '48MiB';

describe('local sandbox limits', () => {
  let server: RclaudeServer;
  let bystander: Task;

  beforeAll(async () => {
    server = await startRclaudeServer({
      env: {
        RCLAUDE_SANDBOX_MEMORY: MEMORY,
        RCLAUDE_SANDBOX_PIDS: String(PIDS),
        RCLAUDE_SANDBOX_CPUS: '1',
        RCLAUDE_SANDBOX_DISK: DISK,
        RCLAUDE_SANDBOX_DISK_CHECK_MS: '500',
      },
      timeoutMs: 90_000,
    });
    // Streams a numbered line five times a second for the whole file.
    bystander = await startTask(['bash', '-c', 'for i in $(seq 1 3000); do echo "tick-$i"; sleep 0.2; done']);
  }, 150_000);

  afterAll(async () => {
    if (process.env.RCLAUDE_TEST_LOG) fs.writeFileSync(process.env.RCLAUDE_TEST_LOG, server?.log() ?? '');
    await server?.stop();
  });

  const getTask = async (id: string) => (await server.request<Task>('GET', `/api/tasks/${id}`)).body;

  async function startTask(command: string[]): Promise<Task> {
    const created = await server.request<Task>('POST', '/api/tasks', { body: { command, cols: 100, rows: 30 } });
    expect(created.status).toBe(201);
    return created.body;
  }

  /** Waits for a task to end; a limit not enforced fails here within `withinMs`, not by hanging. */
  const ended = (id: string, withinMs: number) =>
    until(
      `task ${id} to end`,
      async () => {
        const t = await getTask(id);
        return t.endedAt ? t : null;
      },
      withinMs,
      200,
    );

  /** The task's timeline says it failed for `reason`. */
  async function expectFailedFor(task: Task, reason: string): Promise<void> {
    const done = await ended(task.id, 60_000);
    expect(done.status, server.log().slice(-3000)).toBe('failed');
    expect(done.statusReason).toBe(reason);
    const events = (await server.request<{ events: TaskEvent[] }>('GET', `/api/tasks/${task.id}/events`)).body.events;
    expect(events.some((e) => e.type === 'status' && e.data.status === 'failed' && e.data.reason === reason)).toBe(
      true,
    );
    // Its cgroup is removed once its processes are gone.
    const record = path.join(server.dataDir, 'sandboxes');
    await until('the cgroups of ended sandboxes to be removed', () =>
      fs
        .readdirSync(record)
        .filter((id) => fs.existsSync(path.join(record, id, 'fault')))
        .every((id) =>
          (JSON.parse(fs.readFileSync(path.join(record, id, 'cgroup.json'), 'utf8')) as string[]).every(
            (d) => !fs.existsSync(d),
          ),
        ),
    );
  }

  /** The bystander is still running, and its output is every tick from 1 on, in order, none missing. */
  async function expectBystanderIntact(): Promise<void> {
    expect((await getTask(bystander.id)).status).toBe('running');
    const logs = await runCli(['logs', bystander.id], { env: server.cliEnv(), timeoutMs: 60_000 });
    expect(logs.code, logs.stderr).toBe(0);
    const ticks = [...logs.stdout.matchAll(/tick-(\d+)/g)].map((m) => Number(m[1]));
    expect(ticks.length).toBeGreaterThan(5);
    expect(ticks).toEqual(ticks.map((_, i) => i + 1));
  }

  it('contains a fork bomb, ends only its sandbox with the process limit, and the next task starts normally', async () => {
    await until('the bystander to run', async () => (await getTask(bystander.id)).status === 'running');
    // The bomb stops by itself after 20 s (timeout kills its process group) if the limit did not end it first.
    const bomb = await startTask(['bash', '-c', "timeout -s KILL 20 bash -c ':(){ :|:& };:'; sleep 60"]);
    await expectFailedFor(bomb, `the sandbox reached its process limit (${PIDS})`);
    const next = await startTask(['bash', '-c', 'echo next-task-ok']);
    const done = await ended(next.id, 60_000);
    expect(done).toMatchObject({ status: 'succeeded', exitCode: 0 });
    await expectBystanderIntact();
  });

  it('ends a sandbox that runs out of memory with the memory reason only', async () => {
    // Allocates and touches 1 MiB at a time until killed; 60 s at most.
    const bomb = await startTask([
      'timeout',
      '-s',
      'KILL',
      '60',
      'node',
      '-e',
      'const a = []; for (;;) a.push(Buffer.alloc(1 << 20, 1));',
    ]);
    await expectFailedFor(bomb, 'the sandbox ran out of memory (limit 160 MiB)');
    await expectBystanderIntact();
  });

  it('ends a sandbox whose workspace outgrows its disk limit', async () => {
    // 96 MiB of real blocks, written once; then it only waits (60 s at most).
    const fill = await startTask(['bash', '-c', 'head -c 96M /dev/zero > /workspace/fill; sleep 60']);
    await expectFailedFor(fill, 'the sandbox workspace exceeded 48 MiB (its disk limit)');
    await expectBystanderIntact();
  });
});
