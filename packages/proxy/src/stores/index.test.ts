import { createServer } from 'node:net';
import { AppError } from '@rclaude/protocol';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { randomSchemaName, testDatabaseUrl } from '../../test/test-database.js';
import { connectTestRedis, deleteRedisPrefix, testRedisUrl, uniqueRedisPrefix } from '../../test/test-redis.js';
import { quoteSchema } from '../db/migrate.js';
import { createStores, type Stores } from './index.js';
import { MemoryBus } from './memory-bus.js';
import { MemoryOutputLog } from './memory-output-log.js';
import { MemorySessionStore } from './memory-session-store.js';
import { RedisBus } from './redis-bus.js';
import { RedisOutputLog } from './redis-output-log.js';
import { RedisSessionStore } from './redis-session-store.js';

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** One pass through every store, as a proxy would use them. */
async function exercise(stores: Stores): Promise<void> {
  const task = await stores.tasks.create({
    id: 'taskcompose1',
    name: 'compose',
    owner: 'u1',
    provider: 'local',
    command: null,
    prompt: 'hi',
    repo: null,
    branch: null,
    pushBranch: null,
    mainSessionId: 's_compose',
  });
  expect(await stores.tasks.transition(task.id, 'starting')).toMatchObject({ status: 'starting' });
  await stores.sandboxes.create({
    sandboxId: 'sb_compose',
    taskId: task.id,
    provider: 'local',
    ref: null,
    tokenHash: 'h',
    state: 'starting',
    workspace: null,
  });
  expect((await stores.sandboxes.getByTask(task.id))?.sandboxId).toBe('sb_compose');
  await stores.sessions.put({
    id: 's_compose',
    taskId: task.id,
    sandboxId: 'sb_compose',
    kind: 'main',
    command: ['claude'],
    status: 'running',
    cols: 80,
    rows: 24,
    exitCode: null,
    holder: 'p1',
  });
  expect((await stores.sessions.get('s_compose'))?.holder).toBe('p1');
  expect(await stores.outputLog.append('s_compose', 0, Buffer.from('hello'))).toBe(5);
  let received: (message: string) => void = () => undefined;
  const got = new Promise<string>((resolve) => {
    received = resolve;
  });
  const off = await stores.bus.subscribe('session:s_compose', (m) => received(m));
  await stores.bus.publish('session:s_compose', 'ping');
  expect(await got).toBe('ping');
  await off();
}

describe('createStores', () => {
  it('composes embedded Postgres and in-process stores when no URLs are given', async () => {
    const stores = await createStores({ databaseUrl: null, redisUrl: null, dataDir: null, outputLogMaxBytes: 1 << 20 });
    try {
      expect(stores.db.kind).toBe('embedded');
      expect(stores.redis).toBeNull();
      expect(stores.sessions).toBeInstanceOf(MemorySessionStore);
      expect(stores.outputLog).toBeInstanceOf(MemoryOutputLog);
      expect(stores.bus).toBeInstanceOf(MemoryBus);
      await exercise(stores);
      const health = await stores.health();
      expect(health.db.ok).toBe(true);
      expect(health.redis).toBeNull();
    } finally {
      await stores.close();
    }
  });

  it('composes Postgres and Redis stores when both URLs are given', async () => {
    const schema = randomSchemaName();
    const prefix = uniqueRedisPrefix();
    const stores = await createStores({
      databaseUrl: testDatabaseUrl(),
      redisUrl: testRedisUrl(),
      dataDir: null,
      databaseSchema: schema,
      redisPrefix: prefix,
      outputLogMaxBytes: 1 << 20,
    });
    try {
      expect(stores.db.kind).toBe('postgres');
      expect(stores.redis).not.toBeNull();
      expect(stores.sessions).toBeInstanceOf(RedisSessionStore);
      expect(stores.outputLog).toBeInstanceOf(RedisOutputLog);
      expect(stores.bus).toBeInstanceOf(RedisBus);
      await exercise(stores);
      expect(await stores.redis?.exists(`${prefix}:session:s_compose`, `${prefix}:output:s_compose`)).toBe(2);
      const tables = await stores.db.pool.query('SELECT 1 FROM information_schema.tables WHERE table_schema = $1', [
        schema,
      ]);
      expect(tables.rowCount).toBeGreaterThan(0);
      const health = await stores.health();
      expect(health.db.ok).toBe(true);
      expect(health.redis?.ok).toBe(true);
    } finally {
      await stores.db.pool.query(`DROP SCHEMA IF EXISTS ${quoteSchema(schema)} CASCADE`);
      const redis = await connectTestRedis();
      await deleteRedisPrefix(redis, prefix);
      await redis.quit();
      await stores.close();
    }
  });

  it('fails start-up with INTERNAL, password redacted, when Redis cannot be reached', async () => {
    const port = await freePort();
    const schema = randomSchemaName();
    const err = await createStores({
      databaseUrl: testDatabaseUrl(),
      redisUrl: `redis://:sekrit@127.0.0.1:${port}`,
      dataDir: null,
      databaseSchema: schema,
      outputLogMaxBytes: 1 << 20,
    }).catch((e: unknown) => e);
    const admin = new pg.Client({ connectionString: testDatabaseUrl() });
    await admin.connect();
    await admin.query(`DROP SCHEMA IF EXISTS ${quoteSchema(schema)} CASCADE`);
    await admin.end();
    expect(err).toBeInstanceOf(AppError);
    expect((err as AppError).code).toBe('INTERNAL');
    expect((err as AppError).message).toContain(`cannot reach Redis at redis://:***@127.0.0.1:${port}`);
    expect((err as AppError).message).not.toContain('sekrit');
  });
});
