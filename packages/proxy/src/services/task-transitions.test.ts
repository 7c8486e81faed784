/**
 * Task transitions against real stores (PGlite, in-process sessions), with the edges faked: what reaches
 * clients goes through the TaskPublisher only, and the end of a task stops its sandbox once, after its output
 * has settled.
 */
import { randomBytes } from 'node:crypto';
import type { SessionStatusInfo, Task, TaskEvent } from '@rclaude/protocol';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createTestDatabase } from '../../test/test-database.js';
import type { Database } from '../db/database.js';
import { createMetrics } from '../metrics.js';
import { MemorySessionStore } from '../stores/memory-session-store.js';
import { PgSandboxStore } from '../stores/pg-sandbox-store.js';
import { PgTaskStore } from '../stores/pg-task-store.js';
import type { SandboxRecord } from '../stores/types.js';
import type { TaskPublisher } from './task-publisher.js';
import { TaskTransitions } from './task-transitions.js';

describe('TaskTransitions', () => {
  let db: Database;
  let tasks: PgTaskStore;
  let sandboxes: PgSandboxStore;
  const sessions = new MemorySessionStore();
  const metrics = createMetrics();
  /** Everything the edges saw, in order. */
  let seen: string[];
  let published: { updated: Task[]; events: TaskEvent[] };
  let transitions: TaskTransitions;
  /** What the fake provider does when asked to pause, and how a resume ends (null: it runs again). */
  let canPause: boolean;
  let resumeFails: string | null;

  beforeAll(async () => {
    db = await createTestDatabase('embedded');
    tasks = new PgTaskStore(db.pool);
    sandboxes = new PgSandboxStore(db.pool);
  });
  afterAll(async () => {
    await db?.close();
  });
  beforeEach(() => {
    seen = [];
    canPause = false;
    resumeFails = null;
    published = { updated: [], events: [] };
    const publisher: TaskPublisher = {
      taskUpdated: (task) => {
        published.updated.push(task);
        seen.push(`updated ${task.status}`);
      },
      taskEvent: (task, ev) => {
        published.events.push(ev);
        seen.push(
          `event ${ev.type} ${String(ev.data.status ?? '')} of ${task.id === ev.taskId ? 'its task' : task.id}`,
        );
      },
      sessionStatus: (info: SessionStatusInfo) => seen.push(`session ${info.sessionId}`),
    };
    transitions = new TaskTransitions({
      tasks,
      sandboxes,
      sessions,
      hub: {
        settled: async (sessionId) => {
          seen.push(`settled ${sessionId}`);
        },
      },
      cost: { computeCostUsd: () => 0.25 },
      metrics,
      publisher,
      timers: { disarmSandbox: (sandboxId) => seen.push(`disarm ${sandboxId}`) },
      sandboxControl: {
        stop: async (record: SandboxRecord, reason: string) => {
          seen.push(`stop ${record.sandboxId}: ${reason}`);
          await sandboxes.update(record.sandboxId, { state: 'stopped' });
        },
        hibernate: async (record: SandboxRecord, reason: string) => {
          if (!canPause) {
            seen.push(`stop ${record.sandboxId}: ${reason}`);
            return 'stopped';
          }
          seen.push(`pause ${record.sandboxId}`);
          await sandboxes.update(record.sandboxId, { state: 'paused' });
          return 'paused';
        },
        resume: async (record: SandboxRecord, lifetimeMs: number) => {
          seen.push(`resume ${record.sandboxId} for ${lifetimeMs} ms`);
          if (resumeFails === null) await sandboxes.update(record.sandboxId, { state: 'claimed' });
          return resumeFails;
        },
      },
      maxLifetimeMs: 3_600_000,
    });
  });

  async function liveTask(prompt: string | null = null): Promise<{ task: Task; sandboxId: string }> {
    const id = randomBytes(6).toString('hex');
    const task = await tasks.create({
      id,
      name: id,
      owner: 'u1',
      provider: 'local',
      command: prompt ? null : ['sh'],
      prompt,
      repo: null,
      branch: null,
      pushBranch: null,
      mainSessionId: `${id}_main`,
    });
    const sandboxId = `sb${id}`;
    await sandboxes.create({
      sandboxId,
      taskId: id,
      provider: 'local',
      ref: `ref-${id}`,
      tokenHash: 'h',
      state: 'claimed',
      workspace: null,
    });
    await sessions.put({
      id: task.mainSessionId,
      taskId: id,
      sandboxId,
      kind: 'main',
      command: ['sh'],
      status: 'running',
      cols: 80,
      rows: 24,
      exitCode: null,
      holder: 'p1',
    });
    return { task, sandboxId };
  }

  it('stores a move, records it on the timeline and publishes the event, then the task', async () => {
    const { task } = await liveTask();
    const moved = await transitions.transition(task.id, 'starting', {}, 'starting sandbox');
    expect(moved?.status).toBe('starting');
    expect(seen).toEqual(['event status starting of its task', 'updated starting']);
    const timeline = await tasks.listEvents(task.id);
    expect(timeline.map((e) => e.data)).toEqual([{ status: 'starting', reason: 'starting sandbox' }]);
    expect(published.events).toEqual(timeline);

    seen = [];
    // `starting` may not go back to `queued`: nothing is stored or published.
    expect(await transitions.transition(task.id, 'queued', {}, 'back')).toBeNull();
    expect(seen).toEqual([]);
  });

  it('ends a task once: its cost and end time, settled output, timers cancelled, then its sandbox stopped', async () => {
    const { task, sandboxId } = await liveTask();
    await transitions.transition(task.id, 'starting', {}, 'starting sandbox');
    await transitions.transition(task.id, 'running', {}, 'running');
    seen = [];
    await transitions.endTask(task.id, 'failed', { statusReason: 'the agent did not connect', exitCode: 3 });
    expect(seen).toEqual([
      'event status failed of its task',
      'updated failed',
      `settled ${task.mainSessionId}`,
      `disarm ${sandboxId}`,
      `stop ${sandboxId}: the agent did not connect`,
    ]);
    const ended = await tasks.get(task.id);
    expect(ended).toMatchObject({ status: 'failed', statusReason: 'the agent did not connect', exitCode: 3 });
    expect(ended?.computeCostUsd).toBe(0.25);
    expect(ended?.endedAt).not.toBeNull();
    expect((await tasks.listEvents(task.id)).at(-1)?.data).toEqual({
      status: 'failed',
      reason: 'the agent did not connect',
      exitCode: 3,
    });

    seen = [];
    await transitions.endTask(task.id, 'stopped', { statusReason: 'again' });
    expect(seen).toEqual([]);
    expect((await tasks.get(task.id))?.status).toBe('failed');
  });

  it('stops a finished prompt task with its own outcome, through stopping', async () => {
    const { task } = await liveTask('say hi');
    await transitions.transition(task.id, 'starting', {}, 'starting sandbox');
    await transitions.transition(task.id, 'running', {}, 'running');
    const idle = await transitions.transition(task.id, 'idle', { exitCode: 0 }, 'prompt exited with code 0');
    if (!idle) throw new Error('the task did not go idle');
    seen = [];
    const stopped = await transitions.stopTask(idle, 'stopped by user');
    expect(stopped.status).toBe('succeeded');
    expect(seen.filter((s) => s.startsWith('updated'))).toEqual(['updated stopping', 'updated succeeded']);

    const { task: other } = await liveTask();
    await transitions.stopBySystem(other.id, 'idle for 30 min');
    expect(await tasks.get(other.id)).toMatchObject({ status: 'stopped', statusReason: 'idle for 30 min' });
    await expect(transitions.stopBySystem('no-such-task', 'x')).resolves.toBeUndefined();
  });

  /** A running task ended `hibernated`, its sandbox paused or not as the fake provider decides. */
  async function hibernated(): Promise<{ task: Task; sandboxId: string }> {
    const { task, sandboxId } = await liveTask();
    await transitions.transition(task.id, 'starting', {}, 'starting sandbox');
    await transitions.transition(task.id, 'running', {}, 'running');
    await transitions.transition(task.id, 'stopping', {}, 'hibernated: idle');
    seen = [];
    await transitions.endTask(task.id, 'hibernated', { statusReason: 'hibernated: idle' });
    const now = await tasks.get(task.id);
    if (!now) throw new Error('the task is gone');
    return { task: now, sandboxId };
  }

  const notes = async (taskId: string) =>
    (await tasks.listEvents(taskId)).filter((e) => e.type === 'info').map((e) => String(e.data.message));

  it('pauses a hibernated task where the provider can, says so, and a resume continues that sandbox', async () => {
    canPause = true;
    const { task, sandboxId } = await hibernated();
    expect(seen.filter((s) => !s.startsWith('event') && !s.startsWith('updated'))).toEqual([
      `settled ${task.mainSessionId}`,
      `disarm ${sandboxId}`,
      `pause ${sandboxId}`,
    ]);
    expect(await notes(task.id)).toEqual([expect.stringMatching(/^the sandbox was paused with its memory/)]);
    expect((await transitions.pausedSandbox(task))?.sandboxId).toBe(sandboxId);

    const starting = await transitions.transition(task.id, 'starting', {}, 'resuming the paused sandbox');
    const paused = await sandboxes.get(sandboxId);
    if (!starting || !paused) throw new Error('no resume');
    expect(await transitions.resumePaused(starting, paused)).toBeNull();
    expect(seen.at(-3)).toBe(`resume ${sandboxId} for 3600000 ms`);
    expect(await tasks.get(task.id)).toMatchObject({
      status: 'running',
      statusReason: 'resumed the paused sandbox with its memory',
    });
    expect((await sandboxes.get(sandboxId))?.state).toBe('claimed');
  });

  it('kills a paused sandbox that does not resume, and one whose hibernated task is stopped', async () => {
    canPause = true;
    const gone = await hibernated();
    const starting = await transitions.transition(gone.task.id, 'starting', {}, 'resuming the paused sandbox');
    const record = await sandboxes.get(gone.sandboxId);
    if (!starting || !record) throw new Error('no resume');
    resumeFails = 'the provider no longer has it';
    seen = [];
    expect(await transitions.resumePaused(starting, record)).toBe('the provider no longer has it');
    expect(seen).toEqual([
      `resume ${gone.sandboxId} for 3600000 ms`,
      `stop ${gone.sandboxId}: the paused sandbox could not be resumed: the provider no longer has it`,
    ]);
    expect((await tasks.get(gone.task.id))?.status).toBe('starting');

    const stopped = await hibernated();
    seen = [];
    expect((await transitions.stopTask(stopped.task, 'stopped by user')).status).toBe('stopped');
    expect(seen.filter((s) => s.startsWith('stop'))).toEqual([`stop ${stopped.sandboxId}: stopped by user`]);
    expect(await transitions.pausedSandbox(stopped.task)).toBeNull();
  });

  it("stops a hibernated task's sandbox where the provider cannot pause, and says it was released", async () => {
    const { task, sandboxId } = await hibernated();
    expect(seen).toContain(`stop ${sandboxId}: hibernated`);
    expect(await notes(task.id)).toEqual([expect.stringMatching(/^the sandbox was released/)]);
    expect(await transitions.pausedSandbox(task)).toBeNull();
  });
});
