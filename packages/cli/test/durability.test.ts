/**
 * Durable sessions through real processes on Postgres and Redis: a proxy killed with SIGKILL mid-stream,
 * Redis restarting, two proxies sharing one session, and start-up reconciliation.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  freePort,
  type RclaudeServer,
  rclaudeBin,
  runCli,
  startRclaudeServer,
  stopSandboxesAndRemove,
  TmuxTerminal,
  until,
} from '@rclaude/testkit';
import { Redis } from 'ioredis';
import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';

const DATABASE_URL = process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
const SECRET_KEY = randomBytes(32).toString('base64');

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn();
});

/** A fresh schema and Redis prefix; both removed after the test. */
function isolation(redisUrl = REDIS_URL) {
  const id = `dur_${randomBytes(4).toString('hex')}`;
  cleanups.push(async () => {
    const client = new pg.Client({ connectionString: DATABASE_URL });
    await client.connect();
    await client.query(`DROP SCHEMA IF EXISTS ${id} CASCADE`);
    await client.end();
    if (redisUrl === REDIS_URL) {
      const redis = new Redis(REDIS_URL);
      const keys = await redis.keys(`${id}:*`);
      if (keys.length) await redis.del(...keys);
      redis.disconnect();
    }
  });
  return {
    schema: id,
    env: {
      DATABASE_URL,
      RCLAUDE_DATABASE_SCHEMA: id,
      REDIS_URL: redisUrl,
      RCLAUDE_REDIS_PREFIX: id,
      RCLAUDE_SECRET_KEY: SECRET_KEY,
      AGENT_RECONNECT_GRACE_MS: '20000',
    },
  };
}

async function server(
  env: Record<string, string>,
  opts: { dataDir?: string; port?: number } = {},
): Promise<RclaudeServer> {
  const s = await startRclaudeServer({ env, ...opts });
  cleanups.push(async () => {
    await s.kill();
  });
  return s;
}

function dataDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rclaude-dur-'));
  cleanups.push(() => stopSandboxesAndRemove(dir));
  return dir;
}

async function taskOf(
  s: RclaudeServer,
  id: string,
): Promise<{ status: string; statusReason: string | null; exitCode: number | null }> {
  const res = await fetch(`${s.url}/api/tasks/${id}`, { headers: { authorization: `Bearer ${s.token}` } });
  return (await res.json()) as { status: string; statusReason: string | null; exitCode: number | null };
}

function expectLines(text: string, n: number): void {
  const lines = text.split(/\r?\n/).filter((l) => l.startsWith('line-'));
  expect(lines.length).toBe(n);
  for (let i = 0; i < n; i++) {
    if (lines[i] !== `line-${i + 1}`) throw new Error(`line ${i + 1} is "${lines[i]}"`);
  }
}

/** Prints line-1..line-N, pausing briefly every 1000 lines so the stream spans a few seconds. */
const paced = (n: number, pauseEvery = 1000, pause = '0.1') =>
  `i=1; while [ $i -le ${n} ]; do echo line-$i; if [ $((i % ${pauseEvery})) -eq 0 ]; then sleep ${pause}; fi; i=$((i+1)); done`;

describe('durable sessions on Postgres and Redis', () => {
  it('survives a proxy killed with SIGKILL mid-stream: every line exactly once, in order', async () => {
    const iso = isolation();
    const dir = dataDir();
    const first = await server(iso.env, { dataDir: dir });
    const port = Number(new URL(first.url).port);
    const started = await runCli(['run', '--detach', '--', 'sh', '-c', paced(30_000)], { env: first.cliEnv() });
    const id = started.stdout.trim();
    await until('output to flow', async () => {
      const r = await runCli(['logs', id], { env: first.cliEnv() });
      return r.stdout.includes('line-2000');
    });
    await first.kill();
    const second = await server(iso.env, { dataDir: dir, port });
    const done = await until('the task to finish', async () => {
      const t = await taskOf(second, id);
      return t.status === 'succeeded' || t.status === 'failed' ? t : null;
    });
    expect(done.status).toBe('succeeded');
    const logs = await runCli(['logs', id], { env: second.cliEnv() });
    expect(logs.code).toBe(0);
    expectLines(logs.stdout, 30_000);
  });

  it('recovers when Redis restarts: the attached CLI finishes with the remote exit code', async () => {
    const port = await freePort();
    let redis = startRedis(port);
    cleanups.push(() => {
      redis.kill('SIGKILL');
    });
    await waitForRedis(port);
    const iso = isolation(`redis://127.0.0.1:${port}`);
    const s = await server(iso.env, { dataDir: dataDir() });
    const run = runCli(['run', '--', 'sh', '-c', `${paced(3000, 100, '0.2')}; exit 6`], {
      env: s.cliEnv(),
      timeoutMs: 90_000,
    });
    await new Promise((r) => setTimeout(r, 2500));
    redis.kill('SIGKILL');
    await new Promise((r) => setTimeout(r, 500));
    redis = startRedis(port);
    const r = await run;
    expect(r.code).toBe(6);
    // Lines printed after Redis came back were all delivered.
    expect(r.stdout).toContain('line-3000');
  });

  it('lets a task started through one proxy be attached and driven through another', async () => {
    const iso = isolation();
    const a = await server(iso.env, { dataDir: dataDir() });
    const b = await server(iso.env, { dataDir: dataDir() });
    const started = await runCli(['run', '--detach', '--', 'bash', '--norc'], { env: a.cliEnv() });
    const id = started.stdout.trim();
    await until('the task to run', async () => (await taskOf(a, id)).status === 'running');
    const env = Object.entries(b.cliEnv())
      .map(([k, v]) => `${k}=${v}`)
      .join(' ');
    const t = new TmuxTerminal(`env ${env} ${rclaudeBin()} attach ${id}`);
    cleanups.push(() => t.close());
    await t.waitFor((screen) => screen.includes('attached to'));
    t.type('echo via-b-$((3*4))\r');
    await t.waitFor((screen) => screen.includes('via-b-12'));
    t.type('exit 9\r');
    await until('the CLI to exit', async () => t.exitStatus() !== null);
    expect(t.exitStatus()).toBe(9);
    expect((await taskOf(a, id)).exitCode).toBe(9);
  });

  it('reconciles at start-up: a task whose sandbox vanished fails; a sandbox without a live task is stopped', async () => {
    const iso = isolation();
    const dir = dataDir();
    const first = await server(iso.env, { dataDir: dir });
    const port = Number(new URL(first.url).port);
    const gone = (await runCli(['run', '--detach', '--', 'sleep', '600'], { env: first.cliEnv() })).stdout.trim();
    const orphan = (await runCli(['run', '--detach', '--', 'sleep', '600'], { env: first.cliEnv() })).stdout.trim();
    await until(
      'both to run',
      async () =>
        (await taskOf(first, gone)).status === 'running' && (await taskOf(first, orphan)).status === 'running',
    );
    await first.kill();
    const pidOf = async (taskId: string) => {
      const client = new pg.Client({ connectionString: DATABASE_URL });
      await client.connect();
      const { rows } = await client.query(`SELECT ref FROM ${iso.schema}.sandboxes WHERE task_id = $1`, [taskId]);
      await client.end();
      return Number.parseInt(String(rows[0]?.ref), 10);
    };
    const gonePid = await pidOf(gone);
    const orphanPid = await pidOf(orphan);
    process.kill(gonePid, 'SIGKILL');
    // The orphan's task disappears from the database while the server is down.
    const client = new pg.Client({ connectionString: DATABASE_URL });
    await client.connect();
    await client.query(`DELETE FROM ${iso.schema}.task_events WHERE task_id = $1`, [orphan]);
    await client.query(`DELETE FROM ${iso.schema}.tasks WHERE id = $1`, [orphan]);
    await client.end();

    const second = await server(iso.env, { dataDir: dir, port });
    const t = await taskOf(second, gone);
    expect(t.status).toBe('failed');
    expect(t.statusReason).toMatch(/sandbox was gone/);
    await until('the orphan sandbox to be stopped', async () => !alive(orphanPid), 10_000);
  });
});

describe('durable sessions on the embedded defaults', () => {
  it('keeps a running session through a server restart (SIGKILL): the agent reconnects and the terminal works', async () => {
    const dir = dataDir();
    const first = await server({ AGENT_RECONNECT_GRACE_MS: '20000' }, { dataDir: dir });
    const port = Number(new URL(first.url).port);
    const id = (await runCli(['run', '--detach', '--', 'bash', '--norc'], { env: first.cliEnv() })).stdout.trim();
    await until('the task to run', async () => (await taskOf(first, id)).status === 'running');
    await first.kill();
    const second = await server({ AGENT_RECONNECT_GRACE_MS: '20000' }, { dataDir: dir, port });
    const env = Object.entries(second.cliEnv())
      .map(([k, v]) => `${k}=${v}`)
      .join(' ');
    const t = new TmuxTerminal(`env ${env} ${rclaudeBin()} attach ${id}`);
    cleanups.push(() => t.close());
    await t.waitFor((screen) => screen.includes('attached to'), 30_000);
    t.type('echo after-restart-$((20+1))\r');
    await t.waitFor((screen) => screen.includes('after-restart-21'), 30_000);
    t.type('exit 3\r');
    await until('the CLI to exit', async () => t.exitStatus() !== null);
    expect(t.exitStatus()).toBe(3);
  });
});

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function startRedis(port: number): ChildProcess {
  return spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], {
    stdio: 'ignore',
  });
}

async function waitForRedis(port: number): Promise<void> {
  await until('redis to start', async () => {
    const r = new Redis({
      port,
      host: '127.0.0.1',
      lazyConnect: true,
      maxRetriesPerRequest: 0,
      retryStrategy: () => null,
    });
    r.on('error', () => undefined);
    try {
      await r.connect();
      return (await r.ping()) === 'PONG';
    } catch {
      return false;
    } finally {
      r.disconnect();
    }
  });
}
