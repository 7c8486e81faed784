import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { createServer } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import type { AppError } from '@rclaude/protocol';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
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

/** A throwaway redis-server without persistence: a restart loses everything, scripts included. */
async function startRedis(port: number): Promise<ChildProcess> {
  const child = spawn(
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
    { stdio: 'ignore' },
  );
  const probe = new Redis(port, '127.0.0.1', { lazyConnect: true, retryStrategy: () => null, maxRetriesPerRequest: 0 });
  probe.on('error', () => undefined);
  try {
    for (let attempt = 0; attempt < 100; attempt++) {
      try {
        await probe.connect();
        await probe.ping();
        return child;
      } catch {
        probe.disconnect();
        await sleep(50);
      }
    }
    throw new Error(`redis-server on port ${port} did not start`);
  } finally {
    probe.disconnect();
  }
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGKILL');
  await once(child, 'exit');
}

describe('Redis stores across a Redis restart', () => {
  const children: ChildProcess[] = [];
  const clients: Redis[] = [];
  afterAll(async () => {
    for (const c of clients) c.disconnect();
    for (const c of children) await stop(c);
  });

  it('reconnect, reload their scripts, resume the bus, and accept output again after skipTo', async () => {
    const port = await freePort();
    children.push(await startRedis(port));
    const redis = new Redis(port, '127.0.0.1', { retryStrategy: () => 50 });
    redis.on('error', () => undefined);
    clients.push(redis);
    const prefix = 'rclaude-restart';
    const log = new RedisOutputLog(redis, { prefix, maxBytes: 1 << 20 });
    const sessions = new RedisSessionStore(redis, { prefix });
    const bus = new RedisBus(redis, { prefix });
    const received: string[] = [];
    await bus.subscribe('session:s1', (m) => received.push(m));
    expect(await log.append('s_r', 0, Buffer.from('0123456789'))).toBe(10);
    expect(await sessions.addClient('s_r', 'k1')).toBe(1);

    await stop(children[0]!);
    children.push(await startRedis(port));

    // Everything was lost: the log is empty and the agent's resend from 10 is a gap until skipTo.
    expect(await log.bounds('s_r')).toEqual({ start: 0, end: 0 });
    const gap = await log.append('s_r', 10, Buffer.from('abc')).catch((e: unknown) => e);
    expect((gap as AppError).code).toBe('CONFLICT');
    expect(await log.skipTo('s_r', 10)).toBe(10);
    expect(await log.append('s_r', 10, Buffer.from('abc'))).toBe(13);
    const read = await log.read('s_r', 0, 100);
    expect(read.offset).toBe(10);
    expect(Buffer.from(read.data).toString()).toBe('abc');
    expect(await sessions.countClients('s_r')).toBe(0);
    expect(await sessions.addClient('s_r', 'k1')).toBe(1);

    // ioredis re-subscribes by itself; publish until the subscription is back (bounded).
    for (let i = 0; i < 100 && !received.includes('after'); i++) {
      await bus.publish('session:s1', 'after');
      await sleep(50);
    }
    expect(received).toContain('after');
    await bus.close();
  });
});
