import { setTimeout as sleep } from 'node:timers/promises';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectTestRedis, deleteRedisPrefix, uniqueRedisPrefix } from '../../test/test-redis.js';
import { MemorySessionStore } from './memory-session-store.js';
import { RedisSessionStore } from './redis-session-store.js';
import type { SessionState, SessionStore } from './types.js';

function newState(id: string, taskId: string, overrides: Partial<SessionState> = {}): SessionState {
  return {
    id,
    taskId,
    sandboxId: `sb_${taskId}`,
    kind: 'main',
    command: ['claude', '--flag', 'with space'],
    status: 'starting',
    cols: 120,
    rows: 40,
    exitCode: null,
    holder: null,
    ...overrides,
  };
}

interface Harness {
  store: SessionStore;
  close(): Promise<void>;
}

const implementations: [string, () => Promise<Harness>][] = [
  ['memory', async () => ({ store: new MemorySessionStore(), close: async () => undefined })],
  [
    'redis',
    async () => {
      const redis = await connectTestRedis();
      const prefix = uniqueRedisPrefix();
      return {
        store: new RedisSessionStore(redis, { prefix }),
        async close() {
          await deleteRedisPrefix(redis, prefix);
          await redis.quit();
        },
      };
    },
  ],
];

describe.each(implementations)('SessionStore contract (%s)', (_name, make) => {
  let h: Harness;
  beforeAll(async () => {
    h = await make();
  });
  afterAll(async () => {
    await h?.close();
  });

  it('stores, reads, patches and deletes a session', async () => {
    const state = newState('s_put', 'task_put');
    await h.store.put(state);
    expect(await h.store.get('s_put')).toEqual(state);
    await h.store.patch('s_put', { status: 'exited', exitCode: 3, holder: 'proxy-a', cols: undefined });
    expect(await h.store.get('s_put')).toEqual({ ...state, status: 'exited', exitCode: 3, holder: 'proxy-a' });
    await h.store.patch('s_put', { holder: null });
    expect((await h.store.get('s_put'))?.holder).toBeNull();
    await h.store.delete('s_put');
    expect(await h.store.get('s_put')).toBeNull();
    expect(await h.store.listByTask('task_put')).toEqual([]);
  });

  it("keeps a session's optional env (regression: the Redis store dropped a task's env)", async () => {
    const state = { ...newState('s_env', 'task_env'), env: { GREETING: 'hello world', EMPTY: '' } };
    await h.store.put(state);
    expect((await h.store.get('s_env'))?.env).toEqual({ GREETING: 'hello world', EMPTY: '' });
    expect((await h.store.listByTask('task_env'))[0]?.env).toEqual({ GREETING: 'hello world', EMPTY: '' });
    await h.store.delete('s_env');
  });

  it('does not create a session by patching a missing one', async () => {
    await h.store.patch('s_missing', { status: 'running' });
    expect(await h.store.get('s_missing')).toBeNull();
  });

  it('hands out values, not live references', async () => {
    const state = newState('s_copy', 'task_copy');
    await h.store.put(state);
    state.command.push('mutated');
    const got = await h.store.get('s_copy');
    got?.command.push('again');
    expect((await h.store.get('s_copy'))?.command).toEqual(['claude', '--flag', 'with space']);
  });

  it('lists the sessions of a task, following a move to another task', async () => {
    await h.store.put(newState('s_l1', 'task_l'));
    await h.store.put(newState('s_l2', 'task_l', { kind: 'shell', command: ['bash', '-l'] }));
    await h.store.put(newState('s_other', 'task_other'));
    expect((await h.store.listByTask('task_l')).map((s) => s.id).sort()).toEqual(['s_l1', 's_l2']);
    await h.store.patch('s_l2', { taskId: 'task_other' });
    expect((await h.store.listByTask('task_l')).map((s) => s.id)).toEqual(['s_l1']);
    expect((await h.store.listByTask('task_other')).map((s) => s.id).sort()).toEqual(['s_l2', 's_other']);
    await h.store.put(newState('s_l1', 'task_moved'));
    expect(await h.store.listByTask('task_l')).toEqual([]);
  });

  it('counts attached clients, once per key', async () => {
    expect(await h.store.countClients('s_c')).toBe(0);
    expect(await h.store.addClient('s_c', 'proxy-a:sock1')).toBe(1);
    expect(await h.store.addClient('s_c', 'proxy-b:sock2')).toBe(2);
    expect(await h.store.addClient('s_c', 'proxy-a:sock1')).toBe(2);
    expect(await h.store.countClients('s_c')).toBe(2);
    expect(await h.store.removeClient('s_c', 'proxy-a:sock1')).toBe(1);
    expect(await h.store.removeClient('s_c', 'proxy-a:sock1')).toBe(1);
    expect(await h.store.removeClient('s_c', 'proxy-b:sock2')).toBe(0);
    expect(await h.store.removeClient('s_never', 'x')).toBe(0);
  });

  it('keeps the final screen of a session until it is deleted', async () => {
    await h.store.put(newState('s_screen', 'task_screen'));
    expect(await h.store.getScreen('s_screen')).toBeNull();
    const screen = { data: '\u001b[2J\u001b[Hhello\u0000 \u00e9', offset: 1234, cols: 80, rows: 24 };
    await h.store.putScreen('s_screen', screen);
    expect(await h.store.getScreen('s_screen')).toEqual(screen);
    await h.store.addClient('s_screen', 'k');
    await h.store.delete('s_screen');
    expect(await h.store.getScreen('s_screen')).toBeNull();
    expect(await h.store.countClients('s_screen')).toBe(0);
  });
});

describe('RedisSessionStore client expiry', () => {
  let redis: Redis;
  const prefix = uniqueRedisPrefix();
  beforeAll(async () => {
    redis = await connectTestRedis();
  });
  afterAll(async () => {
    await deleteRedisPrefix(redis, prefix);
    await redis.quit();
  });

  it("ages out a dead proxy's clients while a live proxy's longer-lived clients stay", async () => {
    const dead = new RedisSessionStore(redis, { prefix, clientTtlMs: 300 });
    const live = new RedisSessionStore(redis, { prefix, clientTtlMs: 60_000 });
    await live.addClient('s_exp', 'proxy-live:1');
    // Added after the long-lived one: must not shorten the whole set's expiry (regression).
    await dead.addClient('s_exp', 'proxy-dead:1');
    await dead.addClient('s_exp', 'proxy-dead:2');
    expect(await live.countClients('s_exp')).toBe(3);
    await sleep(600);
    // Only the live proxy refreshes; the dead one's entries are past their expiry.
    expect(await live.countClients('s_exp')).toBe(1);
    expect(await live.addClient('s_exp', 'proxy-live:1')).toBe(1);
    expect(await redis.zcard(`${prefix}:session:s_exp:clients`)).toBe(1);
  });

  it('drops the whole client set once nobody refreshes it', async () => {
    const store = new RedisSessionStore(redis, { prefix, clientTtlMs: 200 });
    await store.addClient('s_gone', 'proxy-x:1');
    await sleep(500);
    expect(await redis.exists(`${prefix}:session:s_gone:clients`)).toBe(0);
  });
});
