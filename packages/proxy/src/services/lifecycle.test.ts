/**
 * Idle stop and maximum lifetime decisions against real stores (PGlite with in-process sessions, and
 * Postgres with Redis), on a clock the test moves, so no assertion depends on timing.
 */
import { randomBytes } from 'node:crypto';
import type { Task, TaskStatus } from '@rclaude/protocol';
import type { Redis } from 'ioredis';
import { pino } from 'pino';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createTestDatabase } from '../../test/test-database.js';
import { connectTestRedis, deleteRedisPrefix, uniqueRedisPrefix } from '../../test/test-redis.js';
import type { Database } from '../db/database.js';
import { MemoryOutputLog } from '../stores/memory-output-log.js';
import { MemorySessionStore } from '../stores/memory-session-store.js';
import { PgTaskStore } from '../stores/pg-task-store.js';
import { RedisOutputLog } from '../stores/redis-output-log.js';
import { RedisSessionStore } from '../stores/redis-session-store.js';
import type { OutputLog, SessionStore } from '../stores/types.js';
import { formatSpan, LifecycleService } from './lifecycle.js';

const IDLE = 60_000;
const LIFETIME = 3_600_000;

describe.each(['embedded', 'postgres+redis'] as const)('LifecycleService on %s', (kind) => {
  let db: Database;
  let tasks: PgTaskStore;
  let sessions: SessionStore;
  let outputLog: OutputLog;
  let redis: Redis | null = null;
  const prefix = uniqueRedisPrefix();
  let clock = 0;
  let stops: { taskId: string; reason: string }[] = [];
  let lifecycle: LifecycleService;

  beforeAll(async () => {
    db = await createTestDatabase(kind === 'embedded' ? 'embedded' : 'postgres');
    tasks = new PgTaskStore(db.pool);
    if (kind === 'embedded') {
      sessions = new MemorySessionStore();
      outputLog = new MemoryOutputLog({ maxBytes: 1024 * 1024 });
    } else {
      redis = await connectTestRedis();
      sessions = new RedisSessionStore(redis, { prefix, clientTtlMs: 600_000 });
      outputLog = new RedisOutputLog(redis, { prefix, maxBytes: 1024 * 1024 });
    }
  });
  afterAll(async () => {
    if (redis) {
      await deleteRedisPrefix(redis, prefix);
      redis.disconnect();
    }
    await db?.close();
  });
  beforeEach(async () => {
    // Every test starts with no live task from the others.
    await db.pool.query(`UPDATE tasks SET status = 'stopped' WHERE status NOT IN ('succeeded', 'failed', 'stopped')`);
    clock = Date.now();
    stops = [];
    lifecycle = new LifecycleService({
      tasks,
      sessions,
      outputLog,
      idleTimeoutMs: IDLE,
      maxLifetimeMs: LIFETIME,
      log: pino({ level: 'silent' }),
      now: () => clock,
      stop: async (taskId, reason) => {
        stops.push({ taskId, reason });
        await tasks.transition(taskId, 'stopping', { statusReason: reason });
        await tasks.transition(taskId, 'stopped', { statusReason: reason, endedAt: new Date(clock) });
      },
    });
  });

  /** A running task with its main session; `createdAt` set to the test clock. */
  async function runningTask(status: TaskStatus = 'running'): Promise<Task> {
    const id = randomBytes(6).toString('hex');
    const task = await tasks.create({
      id,
      name: id,
      owner: 'u',
      provider: 'local',
      command: ['sh'],
      prompt: null,
      repo: null,
      branch: null,
      pushBranch: null,
      mainSessionId: `${id}_main`,
    });
    await db.pool.query('UPDATE tasks SET status = $2, created_at = $3 WHERE id = $1', [id, status, new Date(clock)]);
    await sessions.put({
      id: task.mainSessionId,
      taskId: id,
      sandboxId: `sb${id}`,
      kind: 'main',
      command: ['sh'],
      status: 'running',
      cols: 80,
      rows: 24,
      exitCode: null,
      holder: 'p1',
    });
    return task;
  }

  const advance = (ms: number) => {
    clock += ms;
  };

  it('stops a task after the idle timeout with no client and no output, saying why', async () => {
    const task = await runningTask();
    expect(await lifecycle.sweep()).toEqual({ idle: [], expired: [] });
    advance(IDLE - 1);
    expect((await lifecycle.sweep()).idle).toEqual([]);
    advance(1);
    expect(await lifecycle.sweep()).toEqual({ idle: [task.id], expired: [] });
    expect(stops).toEqual([{ taskId: task.id, reason: 'idle for 1 min: no input, no output' }]);
    expect((await tasks.get(task.id))?.status).toBe('stopped');
  });

  it('restarts the idle clock on output and while a client is attached', async () => {
    const task = await runningTask();
    await lifecycle.sweep();
    advance(IDLE - 1000);
    await outputLog.append(task.mainSessionId, 0, new TextEncoder().encode('tick'));
    await lifecycle.sweep();
    advance(IDLE - 1000);
    expect((await lifecycle.sweep()).idle).toEqual([]);
    await sessions.addClient(task.mainSessionId, 'viewer-1');
    advance(10 * IDLE);
    expect((await lifecycle.sweep()).idle).toEqual([]);
    await sessions.removeClient(task.mainSessionId, 'viewer-1');
    await lifecycle.sweep();
    advance(IDLE);
    expect((await lifecycle.sweep()).idle).toEqual([task.id]);
  });

  it('never stops a task while Claude is working, and notes a waiting Claude in the reason', async () => {
    const task = await runningTask();
    await tasks.update(task.id, { activity: 'working' });
    await lifecycle.sweep();
    advance(5 * IDLE);
    expect((await lifecycle.sweep()).idle).toEqual([]);
    await tasks.update(task.id, { activity: 'waiting' });
    await lifecycle.sweep();
    advance(IDLE);
    expect((await lifecycle.sweep()).idle).toEqual([task.id]);
    expect(stops[0]?.reason).toBe('idle for 1 min: no input, no output, Claude waiting for input');
  });

  it('never stops a prompt task before its prompt has finished, even before a hook says Claude is working', async () => {
    // Regression: `claude -p` starting up on a loaded machine (no output, no client, no hook yet) was stopped.
    const task = await runningTask();
    await db.pool.query('UPDATE tasks SET prompt = $2 WHERE id = $1', [task.id, 'think slowly']);
    await lifecycle.sweep();
    advance(5 * IDLE);
    expect((await lifecycle.sweep()).idle).toEqual([]);
    await tasks.update(task.id, { exitCode: 0 });
    await lifecycle.sweep();
    advance(IDLE);
    expect((await lifecycle.sweep()).idle).toEqual([task.id]);
  });

  it('idles out a finished prompt task (status idle) too, but leaves starting and stopping tasks alone', async () => {
    const idle = await runningTask('idle');
    const starting = await runningTask('starting');
    const stopping = await runningTask('stopping');
    await lifecycle.sweep();
    advance(IDLE);
    expect((await lifecycle.sweep()).idle).toEqual([idle.id]);
    expect(stops.map((s) => s.taskId)).not.toContain(starting.id);
    expect(stops.map((s) => s.taskId)).not.toContain(stopping.id);
  });

  it('stops any live task at its maximum lifetime, busy or not', async () => {
    const busy = await runningTask();
    const starting = await runningTask('starting');
    await tasks.update(busy.id, { activity: 'working' });
    await sessions.addClient(busy.mainSessionId, 'viewer-2');
    advance(LIFETIME - 1);
    await outputLog.append(busy.mainSessionId, 0, new TextEncoder().encode('busy'));
    expect(await lifecycle.sweep()).toEqual({ idle: [], expired: [] });
    advance(1);
    const result = await lifecycle.sweep();
    expect(result.idle).toEqual([]);
    expect(result.expired.sort()).toEqual([busy.id, starting.id].sort());
    expect(stops.every((s) => s.reason === 'reached the maximum lifetime of 1 h')).toBe(true);
  });

  /** A lifecycle that hibernates (as the server's does), recording what it did. */
  function hibernating(opts: { failCheckpoint?: boolean; intervalMs?: number } = {}) {
    const done = {
      hibernated: [] as string[],
      warnings: [] as { taskId: string; hibernateAt: string }[],
      checkpoints: [] as string[],
    };
    const service = new LifecycleService({
      tasks,
      sessions,
      outputLog,
      idleTimeoutMs: IDLE,
      maxLifetimeMs: LIFETIME,
      warningMs: 10_000,
      log: pino({ level: 'silent' }),
      now: () => clock,
      stop: async (taskId, reason) => {
        stops.push({ taskId, reason });
      },
      hibernate: async (taskId) => {
        if (opts.failCheckpoint) throw new Error('store down');
        done.hibernated.push(taskId);
        await tasks.transition(taskId, 'stopping', {});
        await tasks.transition(taskId, 'hibernated', {});
      },
      warn: async (taskId, data) => {
        done.warnings.push({ taskId, hibernateAt: data.hibernateAt });
      },
      checkpoint: async (task) => {
        done.checkpoints.push(task.id);
      },
      checkpointIntervalMs: opts.intervalMs ?? 0,
    });
    return { service, done };
  }

  it('hibernates an idle task even with a client attached, after warning once, and keystrokes put it off', async () => {
    const { service, done } = hibernating();
    const task = await runningTask();
    await sessions.addClient(task.mainSessionId, 'viewer-1');
    await service.sweep();
    advance(IDLE - 10_001);
    await service.sweep();
    expect(done.warnings).toEqual([]);
    advance(1);
    await service.sweep();
    await service.sweep();
    expect(done.warnings).toEqual([{ taskId: task.id, hibernateAt: new Date(clock + 10_000).toISOString() }]);
    // A keystroke (the gateway writes lastInputAt) restarts the clock, and a later idle period warns again.
    await sessions.patch(task.mainSessionId, { lastInputAt: clock });
    advance(9_000);
    expect((await service.sweep()).idle).toEqual([]);
    advance(IDLE - 1);
    expect((await service.sweep()).idle).toEqual([]);
    expect(done.warnings).toHaveLength(2);
    advance(1);
    expect((await service.sweep()).idle).toEqual([task.id]);
    expect(done.hibernated).toEqual([task.id]);
    expect(stops).toEqual([]);
    expect((await tasks.get(task.id))?.status).toBe('hibernated');
  });

  it('never hibernates a working Claude, and keeps a task running when its checkpoint fails', async () => {
    const working = await runningTask();
    await tasks.update(working.id, { activity: 'working' });
    const { service, done } = hibernating({ failCheckpoint: true });
    const idle = await runningTask();
    await service.sweep();
    advance(IDLE);
    expect((await service.sweep()).idle).toEqual([]);
    expect((await tasks.get(idle.id))?.status).toBe('running');
    expect((await tasks.get(working.id))?.status).toBe('running');
    // The failed try restarts the clock: no retry on every sweep.
    advance(IDLE / 2);
    expect((await service.sweep()).idle).toEqual([]);
    expect(done.hibernated).toEqual([]);
  });

  it('checkpoints a task periodically while it changes, and not while nothing moves', async () => {
    const { service, done } = hibernating({ intervalMs: 5_000 });
    const task = await runningTask();
    await service.sweep();
    advance(5_000);
    await service.sweep();
    expect(done.checkpoints).toEqual([task.id]);
    advance(5_000);
    await service.sweep();
    expect(done.checkpoints).toEqual([task.id]);
    // Output moved, and the last checkpoint is older than the interval: the next sweep takes one.
    await outputLog.append(task.mainSessionId, 0, new TextEncoder().encode('work'));
    advance(1_000);
    await service.sweep();
    expect(done.checkpoints).toEqual([task.id, task.id]);
    // More output soon after waits for the interval.
    await outputLog.append(task.mainSessionId, 4, new TextEncoder().encode('more'));
    advance(4_000);
    await service.sweep();
    expect(done.checkpoints).toHaveLength(2);
    advance(1_000);
    await service.sweep();
    expect(done.checkpoints).toHaveLength(3);
  });

  it('does nothing with both limits off', async () => {
    const task = await runningTask();
    const off = new LifecycleService({
      tasks,
      sessions,
      outputLog,
      idleTimeoutMs: 0,
      maxLifetimeMs: 0,
      log: pino({ level: 'silent' }),
      now: () => clock,
      stop: async (taskId, reason) => {
        stops.push({ taskId, reason });
      },
    });
    await off.sweep();
    advance(100 * LIFETIME);
    expect(await off.sweep()).toEqual({ idle: [], expired: [] });
    expect((await tasks.get(task.id))?.status).toBe('running');
  });
});

describe('formatSpan / sweep interval', () => {
  it('says spans the way reasons read', () => {
    expect(formatSpan(1500)).toBe('1.5 s');
    expect(formatSpan(30 * 60_000)).toBe('30 min');
    expect(formatSpan(24 * 3_600_000)).toBe('24 h');
  });

  it('sweeps four times per shortest limit, between 100 ms and 30 s', () => {
    const make = (idleTimeoutMs: number, maxLifetimeMs: number) =>
      new LifecycleService({
        tasks: {} as never,
        sessions: {} as never,
        outputLog: {} as never,
        stop: async () => undefined,
        idleTimeoutMs,
        maxLifetimeMs,
        log: pino({ level: 'silent' }),
      }).sweepIntervalMs;
    expect(make(2000, 20_000)).toBe(500);
    expect(make(30 * 60_000, 24 * 3_600_000)).toBe(30_000);
    expect(make(0, 200)).toBe(100);
    expect(make(0, 0)).toBe(30_000);
  });
});
