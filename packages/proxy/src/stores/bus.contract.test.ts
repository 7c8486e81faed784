import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectTestRedis, testRedisUrl, uniqueRedisPrefix } from '../../test/test-redis.js';
import { MemoryBus } from './memory-bus.js';
import { RedisBus } from './redis-bus.js';
import type { Bus } from './types.js';

interface Harness {
  /** Two buses as two proxies would hold them (Redis: each on its own connections). */
  a: Bus;
  b: Bus;
  close(): Promise<void>;
}

const implementations: [string, () => Promise<Harness>][] = [
  [
    'memory',
    async () => {
      // In-process there is one proxy: both "proxies" share the one bus.
      const bus = new MemoryBus();
      return { a: bus, b: bus, close: () => bus.close() };
    },
  ],
  [
    'redis',
    async () => {
      const prefix = uniqueRedisPrefix();
      const [ra, rb] = await Promise.all([connectTestRedis(), connectTestRedis()]);
      const a = new RedisBus(ra, { prefix });
      const b = new RedisBus(rb, { prefix });
      return {
        a,
        b,
        async close() {
          await Promise.all([a.close(), b.close()]);
          await Promise.all([ra.quit(), rb.quit()]);
        },
      };
    },
  ],
];

/** Collects messages and lets a test wait until a given one has arrived. */
function collector() {
  const messages: string[] = [];
  const waiters: { until: string; resolve: () => void }[] = [];
  return {
    messages,
    handler: (m: string) => {
      messages.push(m);
      for (const w of waiters.filter((w) => w.until === m)) w.resolve();
    },
    waitFor(m: string): Promise<void> {
      if (messages.includes(m)) return Promise.resolve();
      return new Promise((resolve) => waiters.push({ until: m, resolve }));
    },
  };
}

describe.each(implementations)('Bus contract (%s)', (name, make) => {
  let h: Harness;
  beforeAll(async () => {
    h = await make();
  });
  afterAll(async () => {
    await h?.close();
  });

  it('says whether other processes get what it publishes (only through Redis)', () => {
    expect(h.a.shared).toBe(name === 'redis');
  });

  it("delivers a message published by either proxy, this one's included, in order", async () => {
    const seen = collector();
    const off = await h.a.subscribe('session:s1', seen.handler);
    await h.b.publish('session:s1', '{"end":1}');
    await h.a.publish('session:s1', '{"end":2}');
    await h.b.publish('session:s1', 'last');
    await seen.waitFor('last');
    expect(seen.messages).toEqual(['{"end":1}', '{"end":2}', 'last']);
    await off();
  });

  it('delivers to every subscriber, and only on its own channel', async () => {
    const one = collector();
    const two = collector();
    const other = collector();
    const offs = await Promise.all([
      h.a.subscribe('task:t1', one.handler),
      h.b.subscribe('task:t1', two.handler),
      h.b.subscribe('task:t2', other.handler),
    ]);
    await h.a.publish('task:t1', 'x');
    await h.a.publish('task:t2', 'done');
    await Promise.all([one.waitFor('x'), two.waitFor('x'), other.waitFor('done')]);
    expect(one.messages).toEqual(['x']);
    expect(two.messages).toEqual(['x']);
    expect(other.messages).toEqual(['done']);
    await Promise.all(offs.map((off) => off()));
  });

  it('stops delivering to an unsubscribed handler while others on the channel keep receiving', async () => {
    const gone = collector();
    const stays = collector();
    const offGone = await h.a.subscribe('chan:u', gone.handler);
    const offStays = await h.a.subscribe('chan:u', stays.handler);
    await h.b.publish('chan:u', 'first');
    await Promise.all([gone.waitFor('first'), stays.waitFor('first')]);
    await offGone();
    await offGone();
    await h.b.publish('chan:u', 'second');
    await stays.waitFor('second');
    expect(gone.messages).toEqual(['first']);
    await offStays();
    // Subscribing again after the channel was fully unsubscribed works.
    const again = collector();
    const offAgain = await h.a.subscribe('chan:u', again.handler);
    await h.b.publish('chan:u', 'third');
    await again.waitFor('third');
    expect(again.messages).toEqual(['third']);
    await offAgain();
  });

  it('gives a handler subscribed twice two deliveries, and one after one unsubscribe', async () => {
    const seen = collector();
    const off1 = await h.a.subscribe('chan:twice', seen.handler);
    const off2 = await h.a.subscribe('chan:twice', seen.handler);
    await h.b.publish('chan:twice', 'm');
    await h.b.publish('chan:twice', 'end1');
    await seen.waitFor('end1');
    await off1();
    await h.b.publish('chan:twice', 'end2');
    await seen.waitFor('end2');
    expect(seen.messages.filter((m) => m === 'm')).toHaveLength(2);
    expect(seen.messages.filter((m) => m === 'end2')).toHaveLength(1);
    await off2();
  });

  it('keeps delivering to other handlers when one throws', async () => {
    const seen = collector();
    const offBad = await h.a.subscribe('chan:throw', () => {
      throw new Error('handler bug');
    });
    const offGood = await h.a.subscribe('chan:throw', seen.handler);
    await h.b.publish('chan:throw', 'one');
    await h.b.publish('chan:throw', 'two');
    await seen.waitFor('two');
    expect(seen.messages).toEqual(['one', 'two']);
    await offBad();
    await offGood();
  });
});

describe('RedisBus isolation', () => {
  let r1: Redis;
  let r2: Redis;
  beforeAll(async () => {
    [r1, r2] = await Promise.all([connectTestRedis(), connectTestRedis()]);
  });
  afterAll(async () => {
    await Promise.all([r1.quit(), r2.quit()]);
  });

  it('keeps installations with different prefixes apart, and publishes under the prefix', async () => {
    const p1 = uniqueRedisPrefix();
    const mine = new RedisBus(r1, { prefix: p1 });
    const theirs = new RedisBus(r2, { prefix: uniqueRedisPrefix() });
    const seenMine = collector();
    const seenTheirs = collector();
    await mine.subscribe('session:s', seenMine.handler);
    await theirs.subscribe('session:s', seenTheirs.handler);
    await theirs.publish('session:s', 'theirs');
    await r2.publish(`${p1}:session:s`, 'raw');
    await mine.publish('session:s', 'mine');
    await Promise.all([seenMine.waitFor('mine'), seenTheirs.waitFor('theirs')]);
    expect(seenMine.messages).toEqual(['raw', 'mine']);
    expect(seenTheirs.messages).toEqual(['theirs']);
    await Promise.all([mine.close(), theirs.close()]);
  });
});

describe('RedisBus lifecycle', () => {
  it('regression: closing a bus that never subscribed does not open its subscriber connection', async () => {
    const redis = new Redis(testRedisUrl(), { lazyConnect: true });
    await redis.connect();
    const bus = new RedisBus(redis, { prefix: uniqueRedisPrefix() });
    const subscriber = (bus as unknown as { subscriber: Redis }).subscriber;
    await bus.close();
    expect(subscriber.status).toBe('end');
    await redis.quit();
  });
});
