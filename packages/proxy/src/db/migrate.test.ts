import { AppError } from '@rclaude/protocol';
import pg from 'pg';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { randomSchemaName, testDatabaseUrl } from '../../test/test-database.js';
import { createDatabase, type Database } from './database.js';
import { type Migration, migrate, quoteSchema } from './migrate.js';
import { migrations } from './migrations/index.js';

const good: Migration = {
  id: 1,
  name: 'one',
  sql: 'CREATE TABLE one (id int PRIMARY KEY); CREATE TABLE two (id int);',
};
const bad: Migration = { id: 2, name: 'broken', sql: 'CREATE TABLE three (id int); SELECT 1 / 0;' };

async function tablesIn(pool: pg.Pool, schema: string): Promise<string[]> {
  const res = await pool.query<{ table_name: string }>(
    'SELECT table_name FROM information_schema.tables WHERE table_schema = $1 ORDER BY table_name',
    [schema],
  );
  return res.rows.map((r) => r.table_name);
}

describe('migrate on Postgres', () => {
  const pools: pg.Pool[] = [];
  const schemas: string[] = [];
  const admin = new pg.Pool({ connectionString: testDatabaseUrl(), max: 2 });

  function newPool(schema: string): pg.Pool {
    const pool = new pg.Pool({
      connectionString: testDatabaseUrl(),
      max: 2,
      onConnect: async (c) => {
        await c.query(`SET search_path TO ${quoteSchema(schema)}`);
      },
    });
    pools.push(pool);
    return pool;
  }

  function freshSchema(): string {
    const schema = randomSchemaName();
    schemas.push(schema);
    return schema;
  }

  afterEach(async () => {
    await Promise.all(pools.splice(0).map((p) => p.end()));
  });
  afterAll(async () => {
    for (const s of schemas) await admin.query(`DROP SCHEMA IF EXISTS ${quoteSchema(s)} CASCADE`);
    await admin.end();
  });

  it('applies each migration exactly once when two proxies migrate a fresh schema at the same moment', async () => {
    for (let round = 0; round < 5; round++) {
      const schema = freshSchema();
      const [a, b] = [newPool(schema), newPool(schema)];
      const results = await Promise.all([migrate(a, { schema }), migrate(b, { schema })]);
      const ids = migrations.map((m) => m.id);
      // One caller applied everything, the other found the schema current.
      expect([...results].sort((x, y) => y.length - x.length)).toEqual([ids, []]);
      const recorded = await admin.query(`SELECT id FROM ${quoteSchema(schema)}.rclaude_migrations ORDER BY id`);
      expect(recorded.rows.map((r) => r.id)).toEqual(ids);
      expect(await tablesIn(admin, schema)).toEqual(
        expect.arrayContaining(['rclaude_migrations', 'sandboxes', 'task_events', 'tasks']),
      );
    }
  });

  it('rolls back every migration of a run when one fails, and says which', async () => {
    const schema = freshSchema();
    const pool = newPool(schema);
    const err = await migrate(pool, { schema, migrations: [good, bad] }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AppError);
    expect((err as AppError).message).toBe('database migration 2-broken failed');
    expect(await tablesIn(admin, schema)).toEqual([]);
    // The pool is still usable afterwards.
    expect(await migrate(pool, { schema, migrations: [good] })).toEqual([1]);
  });

  it('applies only migrations added since the last run', async () => {
    const schema = freshSchema();
    const pool = newPool(schema);
    expect(await migrate(pool, { schema, migrations: [good] })).toEqual([1]);
    const added: Migration = { id: 2, name: 'added', sql: 'ALTER TABLE one ADD COLUMN note text' };
    expect(await migrate(pool, { schema, migrations: [good, added] })).toEqual([2]);
    expect(await migrate(pool, { schema, migrations: [good, added] })).toEqual([]);
  });

  it('refuses migration lists whose ids do not increase', async () => {
    const pool = newPool(freshSchema());
    await expect(migrate(pool, { migrations: [good, { ...bad, id: 1 }] })).rejects.toThrow(/must increase/);
  });
});

describe('migrate on embedded PGlite', () => {
  let db: Database | undefined;
  afterAll(async () => {
    await db?.close();
  });

  it('migrates at start-up, is idempotent, and rolls back a failed run', async () => {
    db = await createDatabase({ url: null, dataDir: null });
    expect(await migrate(db.pool)).toEqual([]);
    const schema = randomSchemaName();
    const err = await migrate(db.pool, { schema, migrations: [good, bad] }).catch((e: unknown) => e);
    expect((err as AppError).message).toBe('database migration 2-broken failed');
    expect(await tablesIn(db.pool, schema)).toEqual([]);
    expect(await migrate(db.pool, { schema, migrations: [good] })).toEqual([1]);
    expect(await tablesIn(db.pool, schema)).toEqual(['one', 'rclaude_migrations', 'two']);
  });
});
