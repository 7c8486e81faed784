/**
 * A proxy for tests, built by the production composition root ({@link composeServer}) from a config parsed
 * by `loadConfig`, on 127.0.0.1 port 0, with a throwaway data directory and, on Postgres and Redis, a fresh
 * schema and key prefix that `close()` removes again.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { type ComposedServer, composeServer, type ServerDeps } from '../src/compose-server.js';
import { type Config, loadConfig } from '../src/config.js';
import { dropTestSchema, randomSchemaName, testDatabaseUrl } from './test-database.js';
import { connectTestRedis, deleteRedisPrefix, testRedisUrl, uniqueRedisPrefix } from './test-redis.js';

/**
 * Where a test server keeps its state. `embedded`: in-memory PGlite, sessions in the process.
 * `postgres`: the machine's Postgres (fresh schema), sessions in the process. `postgres+redis`: Postgres and
 * the machine's Redis (fresh key prefix), as a multi-proxy installation runs.
 */
export type TestServerKind = 'embedded' | 'postgres' | 'postgres+redis';

export interface TestServerOptions {
  /** Environment variables over the test defaults (e.g. a short IDLE_TIMEOUT_MS), parsed like the real ones. */
  env?: Record<string, string>;
  /** Parts to swap (clock, providers, logger, login limits). */
  deps?: ServerDeps;
  /** Serve from this server's database schema and Redis prefix (a second proxy of one installation). */
  shareStateWith?: TestServer;
}

export interface TestServer extends ComposedServer {
  kind: TestServerKind;
  /** The Postgres schema this server uses, or null when embedded. */
  schema: string | null;
  /** Closes the server and removes its data directory; the one that made them also drops schema and prefix. */
  close(): Promise<void>;
}

/** Starts a composed proxy for a test. Close it in afterAll. */
export async function startTestServer(kind: TestServerKind, options: TestServerOptions = {}): Promise<TestServer> {
  const shared = options.shareStateWith;
  const schema = shared ? shared.schema : kind === 'embedded' ? null : randomSchemaName();
  const sharedPrefix = shared?.config.REDIS_URL ? shared.config.RCLAUDE_REDIS_PREFIX : null;
  const ownPrefix = kind === 'postgres+redis' ? (options.env?.RCLAUDE_REDIS_PREFIX ?? uniqueRedisPrefix()) : null;
  const prefix = shared ? sharedPrefix : ownPrefix;
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'rclaude-proxy-test-'));
  const config: Config = loadConfig({
    RCLAUDE_DATA_DIR: dataDir,
    HOST: '127.0.0.1',
    PORT: '0',
    LOG_LEVEL: 'debug',
    RCLAUDE_SECRET_KEY: randomBytes(32).toString('base64'),
    ...(schema ? { DATABASE_URL: testDatabaseUrl(), RCLAUDE_DATABASE_SCHEMA: schema } : {}),
    ...(prefix ? { REDIS_URL: testRedisUrl(), RCLAUDE_REDIS_PREFIX: prefix } : {}),
    ...options.env,
  });
  const removeOwnState = async () => {
    fs.rmSync(dataDir, { recursive: true, force: true });
    if (shared) return;
    if (schema) await dropTestSchema(schema).catch(() => undefined);
    if (prefix) {
      const redis = await connectTestRedis();
      await deleteRedisPrefix(redis, prefix);
      await redis.quit();
    }
  };
  let server: ComposedServer;
  try {
    server = await composeServer(config, { inMemoryDatabase: true, ...options.deps });
  } catch (err) {
    await removeOwnState();
    throw err;
  }
  return {
    ...server,
    kind,
    schema,
    async close() {
      await server.close();
      await removeOwnState();
    },
  };
}
