import { mkdtemp, rm } from 'node:fs/promises';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { AppError } from '@rclaude/protocol';
import { afterAll, describe, expect, it } from 'vitest';
import { createDatabase } from './database.js';
import { checkDatabase } from './health.js';

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** Whether the embedded server's Unix socket (`<host>/.s.PGSQL.<port>`, as pg dials it) accepts a connection. */
function canConnect(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(path.join(host, `.s.PGSQL.${port}`));
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

describe('embedded database', () => {
  const dirs: string[] = [];
  afterAll(async () => {
    for (const dir of dirs) await rm(dir, { recursive: true, force: true });
  });

  it('queues concurrent queries on its single connection instead of failing them', async () => {
    const db = await createDatabase({ url: null, dataDir: null });
    try {
      expect(db.kind).toBe('embedded');
      expect(db.pool.options.max).toBe(1);
      const results = await Promise.all(
        Array.from({ length: 100 }, (_, i) => db.pool.query<{ n: number }>('SELECT $1::int AS n', [i])),
      );
      expect(results.map((r) => r.rows[0]?.n)).toEqual(Array.from({ length: 100 }, (_, i) => i));
      // A transaction on a borrowed client and queries queued behind it both complete, in order.
      const client = await db.pool.connect();
      await client.query('BEGIN');
      await client.query('CREATE TABLE t (n int)');
      const queued = db.pool.query<{ c: number }>('SELECT count(*)::int AS c FROM t');
      await client.query('INSERT INTO t VALUES (1), (2)');
      await client.query('COMMIT');
      client.release();
      expect((await queued).rows[0]?.c).toBe(2);
    } finally {
      await db.close();
    }
  });

  it('regression: a failed query does not break the next ones (pg-pool re-dials; one socket slot refused it)', async () => {
    const db = await createDatabase({ url: null, dataDir: null });
    try {
      const outcomes = await Promise.allSettled(
        Array.from({ length: 30 }, (_, i) => db.pool.query(i % 3 === 0 ? 'SELECT 1 / 0' : 'SELECT 1')),
      );
      const failures = outcomes.filter((o) => o.status === 'rejected').map((o) => (o.reason as Error).message);
      expect(failures).toEqual(Array.from({ length: 10 }, () => 'division by zero'));
      expect((await db.pool.query('SELECT 2 AS two')).rows).toEqual([{ two: 2 }]);
    } finally {
      await db.close();
    }
  });

  it('keeps data in its directory across restarts, refuses a second opener, and stops its server on close', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'rclaude-pgdata-'));
    dirs.push(dir);
    const dataDir = path.join(dir, 'pgdata');
    const first = await createDatabase({ url: null, dataDir });
    await first.pool.query(
      `INSERT INTO sandboxes (sandbox_id, provider, token_hash, state) VALUES ('sb1', 'local', 'h', 'starting')`,
    );
    const second = await createDatabase({ url: null, dataDir }).catch((e: unknown) => e);
    expect(second).toBeInstanceOf(AppError);
    expect((second as AppError).code).toBe('CONFLICT');
    const { host, port } = first.pool.options as { host: string; port: number };
    // A Unix socket in a private directory, not a TCP port: sandboxes share the host's loopback network.
    expect(host.startsWith('/')).toBe(true);
    expect(await canConnect(host, port)).toBe(true);
    await first.close();
    expect(await canConnect(host, port)).toBe(false);

    const reopened = await createDatabase({ url: null, dataDir });
    try {
      const res = await reopened.pool.query('SELECT sandbox_id FROM sandboxes');
      expect(res.rows).toEqual([{ sandbox_id: 'sb1' }]);
    } finally {
      await reopened.close();
    }
  });

  it('reports health, and reports a closed pool as unhealthy without throwing', async () => {
    const db = await createDatabase({ url: null, dataDir: null });
    expect(await checkDatabase(db.pool)).toMatchObject({ ok: true });
    await db.close();
    const after = await checkDatabase(db.pool);
    expect(after.ok).toBe(false);
    expect(after.error).toBeTruthy();
  });
});

describe('database at a URL', () => {
  it('fails start-up with INTERNAL naming the server, without its password, when nothing listens', async () => {
    const port = await freePort();
    const err = await createDatabase({ url: `postgres://u:hunter2@127.0.0.1:${port}/db`, dataDir: null }).catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(AppError);
    expect((err as AppError).code).toBe('INTERNAL');
    expect((err as AppError).message).toBe(`cannot reach Postgres at postgres://u:***@127.0.0.1:${port}/db`);
  });
});
