import { AppError } from '@rclaude/protocol';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase } from '../../test/test-database.js';
import type { Database } from '../db/database.js';
import type { Provider, SandboxHandle, SandboxSpec } from '../providers/types.js';
import { PgSandboxStore } from '../stores/pg-sandbox-store.js';
import type { SandboxRecord } from '../stores/types.js';
import { WarmPool } from './warm-pool.js';

const log = pino({ level: 'silent' });

/** A provider that starts nothing: it records what it was asked, and can be told to fail. */
class RecordingProvider implements Provider {
  readonly name = 'local' as const;
  readonly size = { vcpu: 0, memoryMiB: 0 };
  readonly started: SandboxSpec[] = [];
  readonly stopped: string[] = [];
  failNext = 0;
  async start(spec: SandboxSpec): Promise<SandboxHandle> {
    this.started.push(spec);
    if (this.failNext > 0) {
      this.failNext--;
      throw new AppError('SANDBOX_START_FAILED', 'no room');
    }
    return { sandboxId: spec.sandboxId, provider: 'local', ref: `pid-${spec.sandboxId}` };
  }
  async inspect() {
    return { state: 'running' as const, exitCode: null, reason: null };
  }
  async stop(handle: SandboxHandle): Promise<void> {
    this.stopped.push(handle.sandboxId);
  }
  async list(): Promise<SandboxHandle[]> {
    return [];
  }
  async close(): Promise<void> {}
}

async function until<T>(what: string, fn: () => T | Promise<T>, timeoutMs = 10_000): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v as NonNullable<T>;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('WarmPool', () => {
  let db: Database;
  let sandboxes: PgSandboxStore;

  beforeAll(async () => {
    db = await createTestDatabase('postgres');
    sandboxes = new PgSandboxStore(db.pool);
  });
  afterAll(async () => {
    await db?.close();
  });

  /** A pool, plus a stand-in for the agent gateway: each started sandbox's agent "connects" on demand. */
  function setup(size: number, retryDelayMs = 50) {
    const provider = new RecordingProvider();
    const registry = new Registry();
    const pool = new WarmPool({
      size,
      provider,
      sandboxes,
      proxyUrl: () => 'http://127.0.0.1:1',
      maxLifetimeMs: 60_000,
      log,
      registry,
      retryDelayMs,
    });
    const connections = new Map<string, { record: SandboxRecord; disconnect: () => void }>();
    const connect = async (sandboxId: string) => {
      const record = await sandboxes.get(sandboxId);
      if (!record) throw new Error(`no record for ${sandboxId}`);
      let onDown = () => {};
      pool.agentConnected(record, (cb) => {
        onDown = cb;
      });
      connections.set(sandboxId, { record, disconnect: () => onDown() });
      return record;
    };
    /** Connects the agent of every sandbox started so far that has not connected yet. */
    const connectAll = async () => {
      for (const spec of provider.started) {
        if (!connections.has(spec.sandboxId) && !provider.stopped.includes(spec.sandboxId)) {
          if ((await sandboxes.get(spec.sandboxId))?.state === 'pooled') await connect(spec.sandboxId);
        }
      }
    };
    return { pool, provider, registry, connections, connect, connectAll };
  }

  it('fills to its size with task-less sandboxes that carry only the agent credentials', async () => {
    const { pool, provider } = setup(3);
    pool.start();
    await until('three pooled records', async () => {
      const states = await Promise.all(provider.started.map((s) => sandboxes.get(s.sandboxId)));
      return states.length === 3 && states.every((r) => r?.state === 'pooled' && r.taskId === null);
    });
    for (const spec of provider.started) {
      expect(spec.taskId).toBeNull();
      expect(spec.owner).toBeNull();
      expect(Object.keys(spec.env).sort()).toEqual(['RCLAUDE_AGENT_TOKEN', 'RCLAUDE_PROXY_URL', 'RCLAUDE_SANDBOX_ID']);
    }
    // Started is not ready: no claim before an agent is connected.
    expect(pool.ready).toBe(0);
    expect(pool.claim('local', 'task00001')).toBeNull();
    await pool.close();
  });

  it('hands each ready sandbox to one task only, binds it, and starts a replacement', async () => {
    const { pool, provider, connectAll, registry } = setup(2);
    pool.start();
    await until('two ready', async () => {
      await connectAll();
      return pool.ready === 2;
    });
    const first = pool.claim('local', 'task00001');
    const second = pool.claim('local', 'task00002');
    expect(first && second).toBeTruthy();
    expect(first?.sandboxId).not.toBe(second?.sandboxId);
    // The gateway's record for the connection now belongs to the task (agent events are recorded for it).
    expect(first?.record).toMatchObject({ taskId: 'task00001', state: 'claimed' });
    expect(pool.claim('local', 'task00003')).toBeNull();
    // Claimed sandboxes are never offered again; the pool refills with new ones.
    await until('two new ready', async () => {
      await connectAll();
      return pool.ready === 2;
    });
    const third = pool.claim('local', 'task00004');
    expect([first?.sandboxId, second?.sandboxId]).not.toContain(third?.sandboxId);
    expect(provider.started.length).toBeGreaterThanOrEqual(4);
    expect(provider.stopped).toEqual([]);
    const metrics = await registry.metrics();
    expect(metrics).toMatch(/rclaude_warm_pool_claims_total\{result="hit"\} 3/);
    expect(metrics).toMatch(/rclaude_warm_pool_claims_total\{result="miss"\} 1/);
    await pool.close();
  });

  it('offers nothing for another provider', async () => {
    const { pool, connectAll } = setup(1);
    pool.start();
    await until('one ready', async () => {
      await connectAll();
      return pool.ready === 1;
    });
    expect(pool.claim('ecs', 'task00001')).toBeNull();
    expect(pool.ready).toBe(1);
    await pool.close();
  });

  it('stops and replaces a pooled sandbox whose agent disconnects', async () => {
    const { pool, provider, connections, connectAll } = setup(1);
    pool.start();
    await until('one ready', async () => {
      await connectAll();
      return pool.ready === 1;
    });
    const [lostId, conn] = [...connections.entries()][0] as [string, { disconnect: () => void }];
    conn.disconnect();
    expect(pool.ready).toBe(0);
    await until('the lost sandbox stopped', async () => (await sandboxes.get(lostId))?.state === 'stopped');
    expect(provider.stopped).toContain(lostId);
    await until('a replacement ready', async () => {
      await connectAll();
      return pool.ready === 1;
    });
    expect(pool.claim('local', 'task00001')?.sandboxId).not.toBe(lostId);
    await pool.close();
  });

  it('retries a failed start after a pause instead of spinning', async () => {
    const { pool, provider, connectAll } = setup(1, 200);
    provider.failNext = 3;
    pool.start();
    await until('one ready after failures', async () => {
      await connectAll();
      return pool.ready === 1;
    });
    // Three failures, each followed by the retry pause, then a success: four starts, not hundreds.
    expect(provider.started.length).toBe(4);
    const failed = provider.started.slice(0, 3).map((s) => s.sandboxId);
    for (const id of failed) expect((await sandboxes.get(id))?.state).toBe('stopped');
    await pool.close();
  });

  it('stops what it still holds when closed, and starts nothing after', async () => {
    const { pool, provider, connectAll } = setup(2);
    pool.start();
    await until('two ready', async () => {
      await connectAll();
      return pool.ready === 2;
    });
    const claimed = pool.claim('local', 'task00001');
    await pool.close();
    // A replacement that was still starting is stopped as soon as its start returns.
    const unclaimed = () => provider.started.map((s) => s.sandboxId).filter((id) => id !== claimed?.sandboxId);
    await until('every unclaimed sandbox stopped', () => unclaimed().every((id) => provider.stopped.includes(id)));
    for (const id of unclaimed()) expect((await sandboxes.get(id))?.state).toBe('stopped');
    // The claimed one belongs to its task: the pool leaves it alone.
    expect(provider.stopped).not.toContain(claimed?.sandboxId);
    const count = provider.started.length;
    expect(pool.claim('local', 'task00002')).toBeNull();
    await new Promise((r) => setTimeout(r, 100));
    expect(provider.started.length).toBe(count);
  });
});
