import type { Redis } from 'ioredis';
import { createDatabase, type Database } from '../db/database.js';
import { checkDatabase, type HealthCheck } from '../db/health.js';
import { type StoreLogger, silentLogger } from '../db/logger.js';
import { MemoryBus } from './memory-bus.js';
import { MemoryOutputLog } from './memory-output-log.js';
import { MemorySessionStore } from './memory-session-store.js';
import { PgApprovalStore } from './pg-approval-store.js';
import { PgCheckpointStore } from './pg-checkpoint-store.js';
import { PgSandboxStore } from './pg-sandbox-store.js';
import { PgTaskStore } from './pg-task-store.js';
import { RedisBus } from './redis-bus.js';
import { checkRedis, connectRedis } from './redis-connection.js';
import { RedisOutputLog } from './redis-output-log.js';
import { RedisSessionStore } from './redis-session-store.js';
import type {
  ApprovalStore,
  Bus,
  CheckpointRecordStore,
  OutputLog,
  SandboxStore,
  SessionStore,
  TaskStore,
} from './types.js';

export { checkDatabase, type HealthCheck } from '../db/health.js';
export { checkRedis } from './redis-connection.js';

export interface StoresConfig {
  /** DATABASE_URL; null runs the embedded PGlite. */
  databaseUrl: string | null;
  /** REDIS_URL; null keeps sessions, output logs and the bus in this process (one proxy only). */
  redisUrl: string | null;
  /** Embedded database directory (e.g. `$XDG_DATA_HOME/rclaude/pgdata`); null keeps it in memory. */
  dataDir: string | null;
  /** Postgres schema for the tables; null uses the server's search_path. */
  databaseSchema?: string | null;
  /** Prefix of every Redis key and channel (default `rclaude`). */
  redisPrefix?: string;
  /** OUTPUT_LOG_MAX_BYTES: output kept per session. */
  outputLogMaxBytes: number;
  /** How long a client attachment counts without a refresh (Redis only; default 60 s). */
  sessionClientTtlMs?: number;
}

export interface StoresDeps {
  logger?: StoreLogger;
}

export interface StoresHealth {
  db: HealthCheck;
  /** Null in in-process mode, where there is no Redis to ask. */
  redis: HealthCheck | null;
}

/** Every store a proxy needs, plus the connections behind them (for other stores and Socket.io's adapter). */
export interface Stores {
  tasks: TaskStore;
  sandboxes: SandboxStore;
  checkpoints: CheckpointRecordStore;
  approvals: ApprovalStore;
  sessions: SessionStore;
  outputLog: OutputLog;
  bus: Bus;
  db: Database;
  /** The shared Redis command connection, or null in-process. Duplicate it for extra subscribers. */
  redis: Redis | null;
  /** For `/readyz`: never throws. */
  health(): Promise<StoresHealth>;
  /** Closes the bus, Redis and the database, in that order. */
  close(): Promise<void>;
}

/**
 * Composes the stores: Postgres when `databaseUrl` is set, else embedded PGlite (migrated either way);
 * Redis when `redisUrl` is set, else in-process. Fails (AppError INTERNAL) when a configured server
 * cannot be reached.
 */
export async function createStores(config: StoresConfig, deps: StoresDeps = {}): Promise<Stores> {
  const logger = deps.logger ?? silentLogger;
  const prefix = config.redisPrefix ?? 'rclaude';
  const db = await createDatabase(
    { url: config.databaseUrl, dataDir: config.dataDir, schema: config.databaseSchema ?? null },
    logger,
  );
  let redis: Redis | null = null;
  try {
    redis = config.redisUrl ? await connectRedis(config.redisUrl, logger) : null;
  } catch (err) {
    await db.close().catch(() => undefined);
    throw err;
  }
  const live = redis
    ? {
        sessions: new RedisSessionStore(redis, { prefix, clientTtlMs: config.sessionClientTtlMs }),
        outputLog: new RedisOutputLog(redis, { prefix, maxBytes: config.outputLogMaxBytes }),
        bus: new RedisBus(redis, { prefix, logger }),
      }
    : {
        sessions: new MemorySessionStore(),
        outputLog: new MemoryOutputLog({ maxBytes: config.outputLogMaxBytes }),
        bus: new MemoryBus(logger),
      };
  const connection = redis;
  return {
    tasks: new PgTaskStore(db.pool),
    sandboxes: new PgSandboxStore(db.pool),
    checkpoints: new PgCheckpointStore(db.pool),
    approvals: new PgApprovalStore(db.pool),
    ...live,
    db,
    redis: connection,
    async health() {
      const [dbCheck, redisCheck] = await Promise.all([
        checkDatabase(db.pool),
        connection ? checkRedis(connection) : Promise.resolve(null),
      ]);
      return { db: dbCheck, redis: redisCheck };
    },
    async close() {
      await live.bus.close();
      if (connection) await connection.quit().catch(() => connection.disconnect());
      await db.close();
    },
  };
}
