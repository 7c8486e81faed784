import { AppError } from '@rclaude/protocol';
import pg from 'pg';
import { startEmbeddedPostgres } from './embedded.js';
import { type StoreLogger, silentLogger } from './logger.js';
import { migrate, quoteSchema } from './migrate.js';

export interface DatabaseConfig {
  /** `postgres://` URL of a real server; null runs the embedded PGlite instead. */
  url: string | null;
  /** Embedded only: PGlite's data directory (e.g. `$XDG_DATA_HOME/rclaude/pgdata`); null keeps it in memory. */
  dataDir: string | null;
  /** Tables live in this schema, created if missing (tests use a fresh one); null uses the server's search_path. */
  schema?: string | null;
  /** Connections to a real server (default 10). The embedded database always has exactly 1. */
  poolMax?: number;
  /** Apply pending migrations before returning (default true). */
  migrate?: boolean;
}

/**
 * The one Postgres handle of a proxy: a `pg.Pool` that reaches either a real server or the embedded
 * PGlite, so every store runs the same SQL on both.
 *
 * Embedded mode has ONE connection: a caller holding `pool.connect()` must not call `pool.query` until it
 * releases, or it waits on itself forever. Prefer single statements (CTEs) over client-held transactions.
 */
export interface Database {
  readonly kind: 'postgres' | 'embedded';
  readonly pool: pg.Pool;
  readonly schema: string | null;
  /** Ends the pool, then (embedded) stops the socket server and closes PGlite. */
  close(): Promise<void>;
}

/** Opens the database chosen by `config.url` and (by default) migrates it. */
export async function createDatabase(config: DatabaseConfig, logger: StoreLogger = silentLogger): Promise<Database> {
  const schema = config.schema ?? null;
  if (schema) quoteSchema(schema);
  const embedded = config.url ? null : await startEmbeddedPostgres(config.dataDir);
  // pg-pool awaits this before lending a new connection, so no query can run on another search_path.
  const onConnect = schema
    ? async (client: pg.ClientBase): Promise<void> => {
        await client.query(`SET search_path TO ${quoteSchema(schema)}`);
      }
    : undefined;
  const pool = embedded
    ? new pg.Pool({
        host: embedded.host,
        port: embedded.port,
        user: 'postgres',
        database: 'postgres',
        max: 1,
        // Keep the one connection: an idle close and re-dial buys nothing on a loopback socket.
        idleTimeoutMillis: 0,
        application_name: 'rclaude',
        onConnect,
      })
    : new pg.Pool({
        connectionString: config.url ?? undefined,
        max: config.poolMax ?? 10,
        application_name: 'rclaude',
        onConnect,
      });
  // An idle client losing its connection is reported here; without a listener it would crash the process.
  pool.on('error', (err) => logger.warn({ err }, 'database connection lost'));

  const close = async (): Promise<void> => {
    await pool.end();
    await embedded?.stop();
  };
  try {
    if (config.migrate ?? true) await migrate(pool, { schema });
    else await pool.query('SELECT 1');
  } catch (err) {
    await close().catch(() => undefined);
    if (err instanceof AppError) throw err;
    throw new AppError('INTERNAL', `cannot reach Postgres at ${redactUrl(config.url ?? '')}`, { cause: err });
  }
  return { kind: embedded ? 'embedded' : 'postgres', pool, schema, close };
}

/** The URL without its password, for messages and logs. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return '(unparsable database URL)';
  }
}
