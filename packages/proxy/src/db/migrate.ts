import { AppError } from '@rclaude/protocol';
import type pg from 'pg';
import { migrations as allMigrations } from './migrations/index.js';

/** One versioned schema change. `sql` may hold several statements; it runs inside the migration transaction. */
export interface Migration {
  /** Positive, strictly increasing across the list; recorded in `rclaude_migrations` once applied. */
  id: number;
  name: string;
  sql: string;
}

export interface MigrateOptions {
  /** Schema to create (if missing) and migrate; null or omitted uses the connection's search_path. */
  schema?: string | null;
  /** Defaults to every migration of this version. */
  migrations?: readonly Migration[];
}

// Arbitrary constant ('rcla' in ASCII) paired with a hash of the search_path, so proxies migrating the
// same schema serialize while tests migrating their own fresh schemas do not wait on each other.
const LOCK_CLASS = 0x72636c61;

/** Validates a schema name before it is spliced into SQL (identifiers cannot be bound as parameters). */
export function quoteSchema(schema: string): string {
  if (!/^[A-Za-z_][A-Za-z0-9_]{0,62}$/.test(schema)) {
    throw new AppError('INTERNAL', `invalid database schema name "${schema}"`);
  }
  return `"${schema}"`;
}

/**
 * Applies pending migrations in one transaction under a transaction-scoped advisory lock, so two
 * proxies starting together apply each migration exactly once and a failure leaves nothing half-done.
 * Returns the ids applied by this call (empty when the schema was already current).
 *
 * Holds one pooled client throughout and issues no `pool.query` meanwhile: with the embedded
 * database's single connection that would deadlock.
 */
export async function migrate(pool: pg.Pool, options: MigrateOptions = {}): Promise<number[]> {
  const list = options.migrations ?? allMigrations;
  checkOrder(list);
  const client = await pool.connect();
  const applied: number[] = [];
  let current: Migration | null = null;
  try {
    await client.query('BEGIN');
    if (options.schema) await client.query(`SET LOCAL search_path TO ${quoteSchema(options.schema)}`);
    await client.query(`SELECT pg_advisory_xact_lock(${LOCK_CLASS}, hashtext(current_setting('search_path')))`);
    if (options.schema) await client.query(`CREATE SCHEMA IF NOT EXISTS ${quoteSchema(options.schema)}`);
    await client.query(
      `CREATE TABLE IF NOT EXISTS rclaude_migrations (
         id integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`,
    );
    const done = await client.query<{ id: number }>('SELECT id FROM rclaude_migrations');
    const doneIds = new Set(done.rows.map((r) => r.id));
    for (const m of list) {
      if (doneIds.has(m.id)) continue;
      current = m;
      await client.query(m.sql);
      await client.query('INSERT INTO rclaude_migrations (id, name) VALUES ($1, $2)', [m.id, m.name]);
      applied.push(m.id);
    }
    await client.query('COMMIT');
    client.release();
    return applied;
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    // A client whose transaction state is unknown must not go back to the pool.
    client.release(err instanceof Error ? err : true);
    const what = current ? `migration ${current.id}-${current.name}` : 'migration set-up';
    throw new AppError('INTERNAL', `database ${what} failed`, { cause: err });
  }
}

function checkOrder(list: readonly Migration[]): void {
  let last = 0;
  for (const m of list) {
    if (!Number.isInteger(m.id) || m.id <= last) {
      throw new AppError('INTERNAL', `migration ids must increase: ${m.id} after ${last}`);
    }
    last = m.id;
  }
}
