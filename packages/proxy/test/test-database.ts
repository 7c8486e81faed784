import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { createDatabase, type Database } from '../src/db/database.js';
import { quoteSchema } from '../src/db/migrate.js';

/** Which database a test runs against: the machine's Postgres, or an in-memory PGlite. */
export type TestDatabaseKind = 'postgres' | 'embedded';

/** `TEST_DATABASE_URL`, or the local server the test machines run. */
export function testDatabaseUrl(): string {
  return process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
}

/** A fresh, unique schema name (`t_` + 16 hex digits). */
export function randomSchemaName(): string {
  return `t_${randomBytes(8).toString('hex')}`;
}

/**
 * A migrated database for one test suite. Postgres: a fresh schema on the test server, dropped by
 * `close()`. Embedded: a new in-memory PGlite. Connection errors surface (a missing server fails the
 * suite; it is never skipped).
 */
export async function createTestDatabase(kind: TestDatabaseKind): Promise<Database> {
  if (kind === 'embedded') return createDatabase({ url: null, dataDir: null });
  const schema = randomSchemaName();
  const db = await createDatabase({ url: testDatabaseUrl(), dataDir: null, schema, poolMax: 4 });
  return {
    ...db,
    async close() {
      try {
        await db.pool.query(`DROP SCHEMA IF EXISTS ${quoteSchema(schema)} CASCADE`);
      } finally {
        await db.close();
      }
    },
  };
}

/** Drops a schema made for a test (over its own short connection: the server's pool may be closed already). */
export async function dropTestSchema(schema: string): Promise<void> {
  const client = new pg.Client({ connectionString: testDatabaseUrl() });
  await client.connect();
  try {
    await client.query(`DROP SCHEMA IF EXISTS ${quoteSchema(schema)} CASCADE`);
  } finally {
    await client.end();
  }
}
